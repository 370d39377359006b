"""The work behind each job, as plain functions: Celery tasks and the embedded thread pool both call them.

`execute` is the one wrapper: it marks the job running (doing nothing for a job that is finished, so a
redelivered task is harmless), runs the operation, and records its result or its error. A job started more
than `MAX_ATTEMPTS` times (its worker died under it again and again: the OOM killer, a native crash) is
failed as `worker_lost` instead of being run once more. Operations are
the functions the command line calls (`build_index` with the graph stage, the system's `ask`, ...).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reasoning.trained_critic import CriticArtifactError
from retrieval.builder import build_index
from retrieval.bundle import IndexBundle
from retrieval.documents import Document
from retrieval.errors import (
    ConfigError,
    DependencyError,
    IndexLoadError,
    InputDataError,
    InputNotFoundError,
    OutputExistsError,
    SleuthError,
)
from retrieval.incremental import BundleUpdate, add_documents
from retrieval.progress import StageProgress
from retrieval.readers import read_documents
from workers.indexes import IndexSummary
from workers.jobs import LOST_CODE, JobRecord, JobStore, error_info
from workers.payloads import AddDocumentsPayload, AskPayload, BuildPayload
from workers.runtime import WorkerRuntime

if TYPE_CHECKING:
    from reasoning.trace import TraceEvent

log = logging.getLogger(__name__)

Operation = Callable[["JobContext", dict[str, Any]], "dict[str, Any] | None"]
_CANCEL_POLL_S = 0.25
MAX_ATTEMPTS = 3  # starts of one job (first run and redeliveries) before it is failed as worker_lost
ERROR_CODES: tuple[tuple[type[Exception], str], ...] = (
    (InputNotFoundError, "source_not_found"),
    (InputDataError, "invalid_input"),
    (OutputExistsError, "conflict"),
    (IndexLoadError, "index_unavailable"),
    (ConfigError, "invalid_request"),
    (DependencyError, "unavailable"),
    (CriticArtifactError, "critic_unavailable"),  # the budget's trained critic is missing or corrupt
)


class JobCancelled(Exception):
    """Raised by an operation that saw its job's cancel request."""


class JobContext:
    def __init__(self, record: JobRecord, runtime: WorkerRuntime, store: JobStore) -> None:
        self.record = record
        self.job_id = record.id
        self.runtime = runtime
        self.store = store

    def event(self, stage: str, **data: Any) -> None:
        self.store.append_event(self.job_id, {"stage": stage, **data})

    def cancel_requested(self) -> bool:
        return cancel_requested(self.store, self.job_id)

    def cancel_event(self) -> contextlib.AbstractContextManager[threading.Event]:
        """An Event set when the job's cancel is requested (polled from the store in a thread)."""
        return watch_cancel(self.store, self.job_id)


def cancel_requested(store: JobStore, job_id: str) -> bool:
    """Whether the job should stop: its cancel was requested, or it is gone or finished (lost, failed)."""
    record = store.get(job_id)
    return record is None or record.cancel_requested or record.finished


@contextlib.contextmanager
def watch_cancel(store: JobStore, job_id: str) -> Iterator[threading.Event]:
    """An Event set within `_CANCEL_POLL_S` of the job's cancel request (polled from the store in a thread)."""
    cancel, done = threading.Event(), threading.Event()

    def watch() -> None:
        while not done.wait(_CANCEL_POLL_S):
            try:
                stop = cancel_requested(store, job_id)
            except Exception:
                log.warning("job %s: reading its cancel flag failed", job_id)
                continue
            if stop:
                cancel.set()
                return

    watcher = threading.Thread(target=watch, name=f"cancel-{job_id[:8]}", daemon=True)
    watcher.start()
    try:
        yield cancel
    finally:
        done.set()
        watcher.join()


def error_code(exc: BaseException) -> str:
    for kind, code in ERROR_CODES:
        if isinstance(exc, kind):
            return code
    return "internal_error"


def _cancelled_types() -> tuple[type[BaseException], ...]:
    try:
        from reasoning.system import CancelledError
    except ImportError:
        return (JobCancelled,)
    return (JobCancelled, CancelledError)


def execute(
    operation: Operation, job_id: str, payload: dict[str, Any], runtime: WorkerRuntime, store: JobStore
) -> None:
    record = store.start(job_id, runtime.name)
    if record is None:
        log.info("job %s is finished or unknown; nothing to do", job_id)
        return
    if record.cancel_requested:
        store.finish(job_id, "cancelled")
        return
    if record.attempts > MAX_ATTEMPTS:
        message = f"its worker died each time it ran ({MAX_ATTEMPTS} attempts); not retried again"
        store.finish(job_id, "failed", error=error_info(LOST_CODE, message))
        return
    if record.attempts > 1:
        store.append_event(job_id, {"stage": "restart", "attempt": record.attempts, "worker": runtime.name})
    context = JobContext(record, runtime, store)
    try:
        result = operation(context, payload)
    except _cancelled_types():
        store.finish(job_id, "cancelled", error=error_info("cancelled", "the job was cancelled"))
    except SleuthError as exc:
        store.finish(job_id, "failed", error=error_info(error_code(exc), str(exc)))
    except Exception as exc:
        log.exception("job %s failed", job_id)
        store.finish(job_id, "failed", error=error_info("internal_error", f"{type(exc).__name__}: the job failed"))
    else:
        if result is not None:
            store.finish(job_id, "succeeded", result=result)


class JobProgress:
    """A ProgressReporter that writes the current stage and count to the job (at most twice a second)."""

    def __init__(self, context: JobContext) -> None:
        self._context = context

    def start(self, stage: str, total: int | None, unit: str) -> StageProgress:
        self._context.event("stage", name=stage, total=total, unit=unit)
        return _StageCounter(self._context, stage, total, unit)


class _StageCounter:
    def __init__(self, context: JobContext, stage: str, total: int | None, unit: str) -> None:
        self._context, self._stage, self._total, self._unit = context, stage, total, unit
        self._done = 0
        self._last = 0.0
        self._write()

    def advance(self, n: int = 1) -> None:
        self._done += n
        if time.monotonic() - self._last > 0.5:
            self._write()

    def close(self) -> None:
        self._write()

    def _write(self) -> None:
        self._last = time.monotonic()
        progress = {"stage": self._stage, "done": self._done, "total": self._total, "unit": self._unit}
        self._context.store.progress(self._context.job_id, progress)


def run_ask(context: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    request = AskPayload.model_validate(payload)
    directory = context.runtime.index_dir(request.index)
    store, job_id = context.store, context.job_id

    def listener(event: TraceEvent) -> None:
        store.append_event(job_id, event.to_json())

    with context.cancel_event() as cancel:
        result = context.runtime.system.ask(
            request.question,
            directory,
            method=request.method,
            budget=request.budget,
            overrides=request.overrides or None,
            listener=listener,
            cancel=cancel,
        )
    for note in request.notes:  # in the trace and the job's events, after the answer
        result.trace.record("note", message=note)
    cost = result.cost
    usage = {
        "llm_calls": cost.llm_calls,
        "prompt_tokens": cost.prompt_tokens,
        "completion_tokens": cost.completion_tokens,
        "questions": 1,
    }
    store.add_usage(usage)
    return result.to_json(include_trace=request.trace) | ({"notes": request.notes} if request.notes else {})


def run_build(context: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """A whole build in this process, as `sleuth index build` runs it."""
    request = BuildPayload.model_validate(payload)
    runtime = context.runtime
    embedder = runtime.embedder()
    stages = [runtime.graph_stage(embedder, request.options.kg_synonyms)] if request.options.kg else []
    directory = runtime.registry.directory(request.index)
    manifest = build_index(
        [Path(s) for s in request.sources],
        directory,
        embedder,
        request.options.build_options(runtime.config.data_root),
        overwrite=request.overwrite,
        progress=JobProgress(context),
        extra_stages=stages,
    )
    runtime.forget_index(request.index)
    return {"index": IndexSummary.of(request.index, manifest.data).__dict__}


def run_add_documents(context: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    request = AddDocumentsPayload.model_validate(payload)
    runtime = context.runtime
    directory = runtime.registry.directory(request.index)
    manifest = IndexBundle.open(directory).manifest
    embedder = runtime.embedder(manifest.embedder_name)
    result = add_documents(
        directory,
        _documents(request, runtime.config.data_root),
        embedder,
        update_id=context.job_id,
        updates=_graph_updates(runtime, manifest.data, embedder),
        progress=JobProgress(context),
    )
    runtime.forget_index(request.index)
    return {
        "index": IndexSummary.of(request.index, result.manifest.data).__dict__,
        "documents_added": result.documents,
        "passages_added": result.passages,
        "already_applied": result.already_applied,
    }


def _documents(request: AddDocumentsPayload, root: Path) -> Iterable[Document]:
    if request.documents:
        return (d.document(i) for i, d in enumerate(request.documents, start=1))
    paths = [Path(s) for s in request.sources]
    return read_documents(paths, request.options.fields(), skip_invalid=request.options.skip_invalid, root=root)


def _graph_updates(runtime: WorkerRuntime, manifest: dict[str, Any], embedder: Any) -> list[BundleUpdate]:
    graph = manifest.get("graph") or {}
    if not graph.get("built"):
        return []
    from kg.graph_update import GraphUpdate

    uses_embedder = (graph.get("synonyms") or {}).get("vectors") == "embedder"
    return [GraphUpdate(runtime.extractor(), embedder=embedder if uses_embedder else None)]


OPERATIONS: dict[str, Operation] = {"ask": run_ask, "build": run_build, "add_documents": run_add_documents}
