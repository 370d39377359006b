"""Operations run through `execute` in this process: results, error codes, idempotency, cancellation."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reasoning.settings import SystemSettings
from tests.fakes import GazetteerExtractor, HashingEmbedder
from tests.workers.harness import EMBEDDER, build_test_index, fake_runtime, worker_config
from workers.jobs import LOST_CODE, JobRecord, new_job_id
from workers.memory_store import MemoryJobStore
from workers.operations import (
    MAX_ATTEMPTS,
    JobCancelled,
    JobContext,
    error_code,
    execute,
    run_add_documents,
    run_ask,
    run_build,
)
from workers.payloads import AddDocumentsPayload, AskPayload, BuildPayload
from workers.runtime import WorkerRuntime
from workers.sharded_build import CancellableEmbedder, CancellableExtractor

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


def test_the_runtime_builds_its_system_from_the_system_settings(tmp_path: Path) -> None:
    system = SystemSettings(seed=7, critic_dir=tmp_path / "critic", max_question_chars=50)
    runtime = fake_runtime(worker_config(tmp_path, system=system))
    assert runtime.system.settings == system  # the seed and the trained critic `sleuth ask` would use
    assert runtime.embedder() is runtime.system.embedder(EMBEDDER)  # one embedder cache, the system's


def test_a_missing_trained_critic_fails_the_job_naming_it(tmp_path: Path) -> None:
    build_test_index(tmp_path / "indexes", "a-docs")
    absent = tmp_path / "no-critic"
    runtime = fake_runtime(worker_config(tmp_path, system=SystemSettings(critic_dir=absent)))
    store = MemoryJobStore()
    record = _job(store)
    execute(run_ask, record.id, AskPayload(question="Who?", index="a-docs", budget="fast").model_dump(), runtime, store)
    failed = store.get(record.id)
    assert failed is not None and failed.state == "failed" and failed.error is not None
    assert failed.error["code"] == "critic_unavailable" and str(absent) in failed.error["message"]


def test_a_job_whose_worker_keeps_dying_is_failed_not_retried_for_ever(runtime: WorkerRuntime) -> None:
    store = MemoryJobStore()
    record = _job(store)
    for _ in range(MAX_ATTEMPTS):
        store.start(record.id, "w")  # each start whose worker died before finishing
    execute(run_ask, record.id, AskPayload(question="Who?", index="a-docs").model_dump(), runtime, store)
    failed = store.get(record.id)
    assert failed is not None and failed.state == "failed" and failed.error is not None
    assert failed.error["code"] == LOST_CODE and failed.attempts == MAX_ATTEMPTS + 1
    assert store.usage()["questions"] == 0


def test_shard_work_stops_between_batches_once_cancelled() -> None:
    cancel = threading.Event()
    inner = HashingEmbedder()
    embedder = CancellableEmbedder(inner, cancel)
    texts = [f"text {i}" for i in range(150)]
    assert np.array_equal(embedder.embed(texts), inner.embed(texts))  # batches change nothing
    assert inner.calls == 3 + 1  # 64 + 64 + 22, then the whole
    cancel.set()
    with pytest.raises(JobCancelled):
        embedder.embed(texts)
    extractor = CancellableExtractor(GazetteerExtractor({"Paris": "GPE"}), cancel)
    with pytest.raises(JobCancelled):
        list(extractor.extract(["Paris"]))


def test_a_worker_refuses_a_source_file_that_links_out_of_the_data_root(runtime: WorkerRuntime, tmp_path: Path) -> None:
    """The API checks a source when it accepts it; a link placed in the folder after that is refused by the
    worker that reads it, for a build and for an add alike."""
    secret = tmp_path / "secret.txt"
    secret.write_text("The launch code is 0000.")
    folder = runtime.config.data_root / "docsdir"
    folder.mkdir(parents=True)
    (folder / "ok.txt").write_text("Acme Corp is in Berlin.")
    (folder / "evil.txt").symlink_to(secret)
    store = MemoryJobStore()
    build = _job(store, "build")
    execute(run_build, build.id, BuildPayload(index="b-docs", sources=[str(folder)]).model_dump(), runtime, store)
    add = _job(store, "add_documents")
    execute(
        run_add_documents,
        add.id,
        AddDocumentsPayload(index="a-docs", sources=[str(folder)]).model_dump(),
        runtime,
        store,
    )
    for record in (build, add):
        failed = store.get(record.id)
        assert failed is not None and failed.state == "failed", failed
        assert "evil.txt" in failed.error["message"] and "0000" not in str(failed.result)  # type: ignore[index]
    assert not (runtime.config.index_root / "b-docs").exists()
