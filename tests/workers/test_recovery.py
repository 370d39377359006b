"""A worker recovers by itself: a pool child killed with SIGKILL is replaced and its job still completes, a
job whose worker died with no redelivery ends failed (not running), and /readyz drops a dead worker fast.

Real redis-server, real Celery worker processes (tests.workers.fake_worker) and the API on a loopback port.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.workers.harness import (
    auth,
    build_test_index,
    service_client,
    start_worker,
    wait_for_worker,
    wait_job,
)
from workers.app import HEARTBEAT_TTL_S
from workers.jobs import LOST_CODE, JobRecord
from workers.redis_store import RedisJobStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW_WARM_UP = {"SLEUTH_TEST_WARM_UP_S": "6"}  # longer than Celery's default 4 s for a child to report up
READY_BOUND_S = HEARTBEAT_TTL_S + 2  # /readyz forgets a dead worker within its heartbeat's life (and a poll)
QUESTION = {"question": "Who founded Acme Corp?", "index": "a-docs", "wait": False}
SLOW_QUESTION = {**QUESTION, "question": "Answer slowly: who founded Acme Corp?"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    build_test_index(tmp_path / "indexes", "a-docs")
    (tmp_path / "data").mkdir()
    return tmp_path


@pytest.fixture
def client(root: Path, fresh_redis: str) -> Iterator[httpx.Client]:
    with service_client(root, fresh_redis) as http:
        yield http


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(timeout=20)


def _ask(client: httpx.Client, question: dict[str, Any]) -> str:
    response = client.post("/v1/ask", json=question, headers=auth("tenant-a"))
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def _wait_running(store: RedisJobStore, job_id: str, timeout: float = 60) -> JobRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = store.get(job_id)
        if record is not None and record.state == "running" and record.worker:
            return record
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never ran: {store.get(job_id)}")


def _not_ready_after(client: httpx.Client, since: float) -> float:
    """Seconds from `since` (a monotonic time) until /readyz answers 503."""
    while time.monotonic() - since < READY_BOUND_S + 10:
        if client.get("/readyz").status_code == 503:
            return time.monotonic() - since
        time.sleep(0.2)
    raise AssertionError("/readyz still counts the dead worker")


def test_a_killed_pool_child_is_replaced_and_its_job_completes(
    root: Path, fresh_redis: str, client: httpx.Client
) -> None:
    """`--pool prefork --concurrency 1` whose models take 6 s to load; its child is killed mid-job."""
    store = RedisJobStore(fresh_redis)
    worker = start_worker(root, fresh_redis, name="pre", env=SLOW_WARM_UP, pool="prefork")
    try:
        wait_for_worker(store, "pre@test", timeout=60)
        job_id = _ask(client, SLOW_QUESTION)
        running = _wait_running(store, job_id)
        child = int(str(running.worker).rsplit(":", 1)[1])
        assert child != worker.pid
        time.sleep(0.3)
        os.kill(child, signal.SIGKILL)  # as the OOM killer would
        done = wait_job(client, job_id, "tenant-a", timeout=90)
        assert done["state"] == "succeeded", done
        assert done["attempts"] == 2  # requeued, and run by the replacement child
        assert store.get(job_id).worker != running.worker  # type: ignore[union-attr]
        following = wait_job(client, _ask(client, QUESTION), "tenant-a", timeout=60)
        assert following["state"] == "succeeded" and following["result"]["answer"] == "Paris"
        assert worker.poll() is None
        assert client.get("/readyz").status_code == 200
        worker.send_signal(signal.SIGKILL)  # the whole worker now: its orphaned child must stop counting
        worker.wait(timeout=10)
        assert _not_ready_after(client, time.monotonic()) <= READY_BOUND_S
    finally:
        _stop(worker)
        log = (root / "worker-pre.log").read_text(errors="replace")
        assert "Timed out waiting for UP message" not in log


def test_a_job_whose_worker_died_without_redelivery_ends_failed(
    root: Path, fresh_redis: str, client: httpx.Client
) -> None:
    """The whole worker killed mid-job and nothing redelivers it: failed as worker_lost once its lease (here
    visibility 1 s + lease 2 s) runs out, read through the API; a worker that comes later does not revive it."""
    lease = {"SLEUTH_VISIBILITY_TIMEOUT_S": "1", "SLEUTH_JOB_LEASE_S": "2"}
    store = RedisJobStore(fresh_redis)
    doomed = start_worker(root, fresh_redis, name="doomed", env=lease)
    later = None
    try:
        wait_for_worker(store, "doomed@test")
        assert client.get("/readyz").status_code == 200
        job_id = _ask(client, SLOW_QUESTION)
        _wait_running(store, job_id)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        killed = time.monotonic()
        failed = wait_job(client, job_id, "tenant-a", timeout=30)
        assert time.monotonic() - killed < 3 + 3  # the lease's 3 s, and a renewal's quarter of it
        assert failed["state"] == "failed" and failed["error"]["code"] == LOST_CODE, failed
        assert "stopped while running the job" in failed["error"]["message"]
        assert _not_ready_after(client, killed) <= READY_BOUND_S
        later = start_worker(root, fresh_redis, name="later", env=lease)  # restores the unacknowledged message
        wait_for_worker(store, "later@test")
        following = wait_job(client, _ask(client, QUESTION), "tenant-a", timeout=60)
        assert following["state"] == "succeeded"
        assert client.get(f"/v1/jobs/{job_id}", headers=auth("tenant-a")).json()["state"] == "failed"
    finally:
        _stop(doomed)
        _stop(later)
