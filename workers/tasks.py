"""Celery tasks: thin wrappers that hand each message to the plain functions in `operations`/`sharded_build`.

Each task holds its job's lease while it runs (`workers.leases`), taken before it waits for its process's
models, so a job is failed as `worker_lost` only when no worker holds it for the lease's whole life.
"""

from __future__ import annotations

import contextlib
from typing import Any

from workers.app import app, get_config, get_runtime, get_store
from workers.leases import holding
from workers.operations import execute, run_add_documents, run_ask
from workers.sharded_build import finish_build, run_shard, start_sharded_build


def _held(job_id: str) -> contextlib.AbstractContextManager[None]:
    """The job's lease, held by this process for as long as the task runs."""
    return holding(get_store(), job_id, get_config().lease_ttl_s)


@app.task(name="sleuth.ask", acks_late=True, reject_on_worker_lost=True)
def ask_task(job_id: str, payload: dict[str, Any]) -> None:
    with _held(job_id):
        execute(run_ask, job_id, payload, get_runtime(), get_store())


@app.task(name="sleuth.build", acks_late=True, reject_on_worker_lost=True)
def build_task(job_id: str, payload: dict[str, Any]) -> None:
    with _held(job_id):
        execute(start_sharded_build, job_id, payload, get_runtime(), get_store())


@app.task(name="sleuth.documents.add", acks_late=True, reject_on_worker_lost=True)
def add_documents_task(job_id: str, payload: dict[str, Any]) -> None:
    with _held(job_id):
        execute(run_add_documents, job_id, payload, get_runtime(), get_store())


@app.task(name="sleuth.build.embed_shard", acks_late=True, reject_on_worker_lost=True)
def embed_shard_task(job_id: str, workdir: str, shard: int) -> None:
    with _held(job_id):
        run_shard(job_id, workdir, shard, "embed", get_runtime(), get_store())


@app.task(name="sleuth.build.extract_shard", acks_late=True, reject_on_worker_lost=True)
def extract_shard_task(job_id: str, workdir: str, shard: int) -> None:
    with _held(job_id):
        run_shard(job_id, workdir, shard, "ner", get_runtime(), get_store())


@app.task(name="sleuth.build.finish", acks_late=True, reject_on_worker_lost=True)
def finish_build_task(job_id: str, workdir: str, payload: dict[str, Any]) -> None:
    with _held(job_id):
        finish_build(job_id, workdir, payload, get_runtime(), get_store())
