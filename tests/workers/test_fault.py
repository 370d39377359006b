"""A worker killed with SIGKILL in the middle of a task: the job still completes, on another worker."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.workers.harness import build_test_index, fake_runtime, start_worker, wait_for_worker, worker_config
from workers.app import configure
from workers.dispatch import CeleryDispatcher
from workers.jobs import JobRecord, new_job_id
from workers.payloads import AskPayload
from workers.redis_store import RedisJobStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHORT_VISIBILITY = {"SLEUTH_VISIBILITY_TIMEOUT_S": "1"}


def _wait_state(store: RedisJobStore, job_id: str, states: set[str], timeout: float) -> JobRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = store.get(job_id)
        if record is not None and record.state in states:
            return record
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {states}: {store.get(job_id)}")


def test_a_killed_worker_s_job_completes_on_another(tmp_path: Path, fresh_redis: str) -> None:
    build_test_index(tmp_path / "indexes", "a-docs")
    store = RedisJobStore(fresh_redis)
    first = start_worker(tmp_path, fresh_redis, name="doomed", env=SHORT_VISIBILITY)
    second = None
    try:
        wait_for_worker(store, "doomed@test")
        config = worker_config(tmp_path, fresh_redis, visibility_timeout_s=1)
        dispatcher = CeleryDispatcher(configure(config, fake_runtime))
        record = JobRecord(id=new_job_id(), kind="ask", owner="t", index="a-docs")
        store.create(record)
        payload = AskPayload(question="Answer slowly: who founded Acme Corp?", index="a-docs")
        dispatcher.submit("ask", record.id, payload.model_dump())
        running = _wait_state(store, record.id, {"running"}, timeout=30)
        assert running.attempts == 1
        time.sleep(0.3)
        os.kill(first.pid, signal.SIGKILL)  # mid-task: the message stays unacknowledged
        first.wait(timeout=10)
        assert store.get(record.id).state == "running"  # type: ignore[union-attr]
        second = start_worker(tmp_path, fresh_redis, name="rescuer", env=SHORT_VISIBILITY)
        done = _wait_state(store, record.id, {"succeeded", "failed", "cancelled"}, timeout=60)
        assert done.state == "succeeded", done
        assert done.attempts == 2 and done.worker != running.worker
        assert done.result is not None and done.result["answer"] == "Paris"
        restarts = [e for _, e in store.events(record.id, -1, 0) if e.get("stage") == "restart"]
        assert restarts == [{"stage": "restart", "attempt": 2, "worker": done.worker}]
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
