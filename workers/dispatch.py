"""Where a submitted job runs: a thread pool in this process (embedded mode) or a Celery queue.

Both sit behind one `Dispatcher` interface, so the API neither knows nor cares which one it has; the job
record in the store is the same either way.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from workers.jobs import JobStore
from workers.operations import OPERATIONS, execute
from workers.runtime import WorkerRuntime

log = logging.getLogger(__name__)

TASK_NAMES = {"ask": "sleuth.ask", "build": "sleuth.build", "add_documents": "sleuth.documents.add"}
QUEUE_OF = {"ask": "gpu", "build": "cpu", "add_documents": "gpu"}  # embedding work goes to the GPU queue


class Dispatcher(Protocol):
    def submit(self, kind: str, job_id: str, payload: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class ThreadDispatcher:
    """Runs jobs in this process, `workers` at a time: the embedded mode, one machine and no Redis."""

    def __init__(self, runtime: WorkerRuntime, store: JobStore, workers: int = 2) -> None:
        self._runtime = runtime
        self._store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sleuth-job")

    def submit(self, kind: str, job_id: str, payload: dict[str, Any]) -> None:
        self._pool.submit(execute, OPERATIONS[kind], job_id, payload, self._runtime, self._store)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class CeleryDispatcher:
    """Sends jobs to Celery workers by task name (the API never imports the task code)."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def submit(self, kind: str, job_id: str, payload: dict[str, Any]) -> None:
        self._app.send_task(TASK_NAMES[kind], args=(job_id, payload), queue=QUEUE_OF[kind], task_id=job_id)

    def close(self) -> None:
        pass
