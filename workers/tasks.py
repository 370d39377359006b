"""Celery tasks: thin wrappers that hand each message to the plain functions in `operations`/`sharded_build`."""

from __future__ import annotations

from typing import Any

from workers.app import app, get_runtime, get_store
from workers.operations import execute, run_add_documents, run_ask
from workers.sharded_build import finish_build, run_shard, start_sharded_build


@app.task(name="sleuth.ask", acks_late=True, reject_on_worker_lost=True)
def ask_task(job_id: str, payload: dict[str, Any]) -> None:
    execute(run_ask, job_id, payload, get_runtime(), get_store())


@app.task(name="sleuth.build", acks_late=True, reject_on_worker_lost=True)
def build_task(job_id: str, payload: dict[str, Any]) -> None:
    execute(start_sharded_build, job_id, payload, get_runtime(), get_store())


@app.task(name="sleuth.documents.add", acks_late=True, reject_on_worker_lost=True)
def add_documents_task(job_id: str, payload: dict[str, Any]) -> None:
    execute(run_add_documents, job_id, payload, get_runtime(), get_store())


@app.task(name="sleuth.build.embed_shard", acks_late=True, reject_on_worker_lost=True)
def embed_shard_task(job_id: str, workdir: str, shard: int) -> None:
    run_shard(job_id, workdir, shard, "embed", get_runtime(), get_store())


@app.task(name="sleuth.build.extract_shard", acks_late=True, reject_on_worker_lost=True)
def extract_shard_task(job_id: str, workdir: str, shard: int) -> None:
    run_shard(job_id, workdir, shard, "ner", get_runtime(), get_store())


@app.task(name="sleuth.build.finish", acks_late=True, reject_on_worker_lost=True)
def finish_build_task(job_id: str, workdir: str, payload: dict[str, Any]) -> None:
    finish_build(job_id, workdir, payload, get_runtime(), get_store())
