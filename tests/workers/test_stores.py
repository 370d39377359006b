"""The job store contract, for the in-memory store and the Redis store alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from workers.jobs import LOST_CODE, JobRecord, JobStore, new_job_id
from workers.leases import holding
from workers.memory_store import MemoryJobStore

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[JobStore]:
    if request.param == "memory":
        yield MemoryJobStore()
        return
    from workers.redis_store import RedisJobStore

    yield RedisJobStore(request.getfixturevalue("fresh_redis"), ttl_s=600)


def _job(store: JobStore) -> JobRecord:
    record = JobRecord(id=new_job_id(), kind="ask", owner="k", index="a-docs")
    store.create(record)
    return record


def test_lifecycle_and_counts(store: JobStore) -> None:
    record = _job(store)
    assert store.get(record.id) == record
    assert store.counts_by_state()["queued"] == 1
    running = store.start(record.id, "w1")
    assert running is not None and running.state == "running" and running.attempts == 1
    store.progress(record.id, {"stage": "embed", "done": 3})
    assert store.get(record.id).progress == {"stage": "embed", "done": 3}  # type: ignore[union-attr]
    again = store.start(record.id, "w2")  # a redelivery
    assert again is not None and again.attempts == 2 and again.worker == "w2"
    done = store.finish(record.id, "succeeded", result={"answer": "x"})
    assert done is not None and done.state == "succeeded"
    assert store.start(record.id, "w3") is None  # a finished job is never run again
    late = store.finish(record.id, "failed", error={"code": "x", "message": "y"})
    assert late is not None and late.state == "succeeded"
    counts = store.counts_by_state()
    assert (counts["queued"], counts["running"], counts["succeeded"]) == (0, 0, 1)
    assert store.get("unknown") is None and store.start("unknown", "w") is None


def test_cancel(store: JobStore) -> None:
    queued = _job(store)
    assert store.request_cancel(queued.id).state == "cancelled"  # type: ignore[union-attr]
    assert store.start(queued.id, "w") is None
    running = _job(store)
    store.start(running.id, "w")
    record = store.request_cancel(running.id)
    assert record is not None and record.state == "running" and record.cancel_requested


def test_events_in_order_and_waiting(store: JobStore) -> None:
    record = _job(store)
    store.start(record.id, "w")
    assert [store.append_event(record.id, {"stage": s}) for s in ("a", "b")] == [0, 1]
    assert store.events(record.id, -1, 0) == [(0, {"stage": "a"}), (1, {"stage": "b"})]
    assert store.events(record.id, 0, 0) == [(1, {"stage": "b"})]
    threading.Timer(0.2, lambda: store.append_event(record.id, {"stage": "c"})).start()
    started = time.monotonic()
    assert store.events(record.id, 1, 5) == [(2, {"stage": "c"})]
    assert time.monotonic() - started < 3
    store.finish(record.id, "succeeded", result={})
    assert store.events(record.id, 2, 5) == []  # a finished job: no waiting


def test_usage_and_heartbeats(store: JobStore) -> None:
    store.add_usage({"llm_calls": 2, "prompt_tokens": 100, "completion_tokens": 7, "questions": 1, "other": 5})
    store.add_usage({"llm_calls": 1, "prompt_tokens": 10, "completion_tokens": 3, "questions": 1})
    assert store.usage() == {"llm_calls": 3, "prompt_tokens": 110, "completion_tokens": 10, "questions": 2}
    store.heartbeat("w1", {"models_loaded": True}, ttl_s=30)
    assert store.workers() == {"w1": {"models_loaded": True}}
    assert store.ping()


def test_progress_only_advances_within_its_stage(store: JobStore) -> None:
    record = _job(store)
    store.start(record.id, "w")
    store.progress(record.id, {"stage": "shards", "shards": 3, "done": 0})
    store.advance_progress(record.id, {"stage": "shards", "shards": 3, "done": 2})
    store.advance_progress(record.id, {"stage": "shards", "shards": 3, "done": 1})  # a late report
    assert store.get(record.id).progress["done"] == 2  # type: ignore[union-attr]
    store.progress(record.id, {"stage": "bm25", "done": 0})
    store.advance_progress(record.id, {"stage": "shards", "shards": 3, "done": 3})  # after the merge began
    assert store.get(record.id).progress == {"stage": "bm25", "done": 0}  # type: ignore[union-attr]


def test_a_running_job_whose_lease_ran_out_fails_as_lost(store: JobStore) -> None:
    held, lost, never_leased = _job(store), _job(store), _job(store)
    for record in (held, lost, never_leased):
        store.start(record.id, "w1")
    queued = _job(store)
    store.hold(queued.id, "w1", 0.2)
    store.hold(lost.id, "w1", 0.2)
    with holding(store, held.id, 1.2, worker="w2"):  # renewed every 0.5 s, so it outlives its first 1.2 s
        time.sleep(1.8)
        assert store.get(held.id).state == "running"  # type: ignore[union-attr]
        failed = store.get(lost.id)
        assert failed is not None and failed.state == "failed" and failed.error is not None
        assert failed.error["code"] == LOST_CODE and "w1" in failed.error["message"]
    assert store.get(never_leased.id).state == "running"  # type: ignore[union-attr]  # leases are opt-in
    assert store.get(queued.id).state == "queued"  # type: ignore[union-attr]  # only running jobs are lost
    assert store.counts_by_state()["failed"] == 1
    store.finish(held.id, "succeeded", result={})
    time.sleep(1.3)
    assert store.get(held.id).state == "succeeded"  # type: ignore[union-attr]  # a finished job stays so
