"""A build on Celery workers: prepare (cpu) -> one embedding task per shard (gpu) and one NER task per shard
(cpu), in parallel -> merge (cpu), as a Celery chord. See `retrieval.sharding` for the approach.

The work directory lives beside the index, under the index root, which every worker must share (one
volume in docker-compose, a network file system across machines). A shard task that fails marks the job
failed itself, so the job never waits on a merge that will not come.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from retrieval.errors import SleuthError
from retrieval.sharding import ShardPlan, embed_shard, finish_sharded_build, prepare_shards
from workers.indexes import IndexSummary
from workers.jobs import JobStore, error_info
from workers.operations import JobCancelled, JobContext, JobProgress, error_code
from workers.payloads import BuildPayload
from workers.runtime import WorkerRuntime

log = logging.getLogger(__name__)


def start_sharded_build(context: JobContext, payload: dict[str, Any]) -> None:
    """Prepare the shards and send the chord; the merge task finishes the job (returns None: not done yet)."""
    from celery import chord

    from workers.tasks import embed_shard_task, extract_shard_task, finish_build_task

    request = BuildPayload.model_validate(payload)
    runtime = context.runtime
    if context.record.attempts > 1 and context.record.progress.get("stage") == "shards":
        log.info("build %s: shards were sent before this redelivery; not sending them again", context.job_id)
        return None
    out = runtime.registry.directory(request.index)
    if out.exists() and not request.overwrite:
        from retrieval.staging import check_replaceable

        check_replaceable(out, overwrite=False, marker="manifest.json")
    plan = prepare_shards(
        [Path(s) for s in request.sources],
        out,
        runtime.embedder(),
        request.options.build_options(),
        build_id=context.job_id,
        shard_size=runtime.config.shard_size,
    )
    context.event("shards", shards=len(plan.shards), passages=plan.passages)
    context.store.progress(context.job_id, {"stage": "shards", "shards": len(plan.shards), "done": 0})
    workdir = str(plan.workdir)
    header = [embed_shard_task.si(context.job_id, workdir, i).set(queue="gpu") for i in range(len(plan.shards))]
    if request.options.kg:
        header += [extract_shard_task.si(context.job_id, workdir, i).set(queue="cpu") for i in range(len(plan.shards))]
    chord(header)(finish_build_task.si(context.job_id, workdir, payload).set(queue="cpu"))
    return None


def _guarded(job_id: str, store: JobStore, action: str) -> None:
    record = store.get(job_id)
    if record is None or record.finished:
        raise JobCancelled(f"job {job_id} is finished; skipping {action}")
    if record.cancel_requested:
        store.finish(job_id, "cancelled", error=error_info("cancelled", "the job was cancelled"))
        raise JobCancelled(f"job {job_id} was cancelled")


def run_shard(job_id: str, workdir: str, shard: int, kind: str, runtime: WorkerRuntime, store: JobStore) -> None:
    """Embed (kind "embed") or extract entities from (kind "ner") one shard; a failure fails the job."""
    _guarded(job_id, store, f"{kind} shard {shard}")
    plan = ShardPlan.read(Path(workdir))
    try:
        if kind == "embed":
            embed_shard(plan, shard, runtime.embedder(str(plan.embedder["name"])))
        else:
            from kg.sharded_graph import extract_shard

            extract_shard(plan, shard, runtime.extractor(), runtime.extractor_info())
    except Exception as exc:
        code = error_code(exc) if isinstance(exc, SleuthError) else "internal_error"
        store.finish(job_id, "failed", error=error_info(code, f"{kind} shard {shard}: {exc}"))
        raise
    store.append_event(job_id, {"stage": "shard", "kind": kind, "shard": shard, "worker": runtime.name})


def finish_build(job_id: str, workdir: str, payload: dict[str, Any], runtime: WorkerRuntime, store: JobStore) -> None:
    _guarded(job_id, store, "the merge")
    request = BuildPayload.model_validate(payload)
    record = store.get(job_id)
    assert record is not None
    context = JobContext(record, runtime, store)
    try:
        plan = ShardPlan.read(Path(workdir))
        stages = []
        if request.options.kg:
            from kg.name_vectors import SynonymConfig
            from kg.sharded_graph import stored_graph_stage

            synonyms = SynonymConfig(vectors=request.options.kg_synonyms)
            embedder = runtime.embedder(str(plan.embedder["name"])) if synonyms.vectors == "embedder" else None
            stages.append(stored_graph_stage(plan, embedder, synonyms=synonyms))
        manifest = finish_sharded_build(
            plan,
            request.options.build_options(),
            overwrite=request.overwrite,
            extra_stages=stages,
            progress=JobProgress(context),
        )
    except Exception as exc:
        code = error_code(exc) if isinstance(exc, SleuthError) else "internal_error"
        if code == "internal_error":
            log.exception("build %s: the merge failed", job_id)
        store.finish(job_id, "failed", error=error_info(code, f"merge: {exc}"))
        raise
    runtime.forget_index(request.index)
    store.finish(job_id, "succeeded", result={"index": IndexSummary.of(request.index, manifest.data).__dict__})
