"""Operations run through `execute` in this process: results, error codes, idempotency, cancellation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.workers.harness import build_test_index, fake_runtime, worker_config
from workers.jobs import JobRecord, new_job_id
from workers.memory_store import MemoryJobStore
from workers.operations import JobContext, error_code, execute, run_add_documents, run_ask
from workers.payloads import AddDocumentsPayload, AskPayload
from workers.runtime import WorkerRuntime

pytestmark = pytest.mark.unit


@pytest.fixture
def runtime(tmp_path: Path) -> WorkerRuntime:
    build_test_index(tmp_path / "indexes", "a-docs")
    return fake_runtime(worker_config(tmp_path))


def _job(store: MemoryJobStore, kind: str = "ask") -> JobRecord:
    record = JobRecord(id=new_job_id(), kind=kind, owner="t", index="a-docs")
    store.create(record)
    return record


def test_ask_succeeds_once(runtime: WorkerRuntime) -> None:
    store = MemoryJobStore()
    record = _job(store)
    payload = AskPayload(question="Who founded Acme Corp?", index="a-docs").model_dump()
    execute(run_ask, record.id, payload, runtime, store)
    done = store.get(record.id)
    assert done is not None and done.state == "succeeded" and done.result["answer"] == "Paris"  # type: ignore[index]
    assert store.usage()["questions"] == 1
    execute(run_ask, record.id, payload, runtime, store)  # redelivered: nothing happens
    assert store.usage()["questions"] == 1 and store.get(record.id).attempts == 1  # type: ignore[union-attr]


def test_errors_become_codes(runtime: WorkerRuntime) -> None:
    store = MemoryJobStore()
    record = _job(store)
    execute(run_ask, record.id, AskPayload(question="   ", index="a-docs").model_dump(), runtime, store)
    failed = store.get(record.id)
    assert failed is not None and failed.state == "failed" and failed.error["code"] == "invalid_request"  # type: ignore[index]

    def broken(_: JobContext, __: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("secret detail")

    other = _job(store)
    execute(broken, other.id, {}, runtime, store)
    error = store.get(other.id).error  # type: ignore[union-attr]
    assert error == {"code": "internal_error", "message": "RuntimeError: the job failed"}
    assert error_code(ValueError()) == "internal_error"


def test_a_cancelled_queued_job_never_runs(runtime: WorkerRuntime) -> None:
    store = MemoryJobStore()
    record = _job(store)
    store.request_cancel(record.id)
    execute(run_ask, record.id, AskPayload(question="Who?", index="a-docs").model_dump(), runtime, store)
    assert store.get(record.id).state == "cancelled"  # type: ignore[union-attr]
    assert store.usage()["questions"] == 0


def test_add_documents_is_idempotent_by_job(runtime: WorkerRuntime) -> None:
    store = MemoryJobStore()
    record = _job(store, "add_documents")
    payload = AddDocumentsPayload(index="a-docs", documents=[{"id": "n1", "text": "Carol White lives in Lisbon."}])  # type: ignore[list-item]
    context = JobContext(record, runtime, store)
    first = run_add_documents(context, payload.model_dump())
    second = run_add_documents(context, payload.model_dump())  # the same job again, e.g. after a crash
    assert (first["documents_added"], second["documents_added"], second["already_applied"]) == (1, 0, True)
    assert second["index"]["documents"] == 6
