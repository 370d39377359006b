"""A build on Celery workers: prepare (cpu) -> one embedding task per shard (gpu) and one NER task per shard
(cpu), in parallel -> merge (cpu), as a Celery chord. See `retrieval.sharding` for the approach.

The work directory lives beside the index, under the index root, which every worker must share (one
volume in docker-compose, a network file system across machines). A shard task that fails marks the job
failed itself, so the job never waits on a merge that will not come.

A shard task watches its job's cancel flag and stops between two embedder batches (or two NER texts); the
task that ends a build (cancelled, failed, or finding it ended) removes its work directory, and so does
every later task of that build. The job's progress counts the shard tasks done as they finish:
`{"stage": "shards", "shards": N, "tasks": T, "done": D}`.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.embedders import Embedder
from retrieval.errors import SleuthError
from retrieval.sharding import (
    EMBEDDINGS_DIR,
    ShardPlan,
    embed_shard,
    finish_sharded_build,
    prepare_shards,
    shard_workdir,
)
from workers.indexes import IndexSummary
from workers.jobs import JobStore, error_info
from workers.operations import JobCancelled, JobContext, JobProgress, error_code, watch_cancel
from workers.payloads import BuildPayload
from workers.runtime import WorkerRuntime

if TYPE_CHECKING:
    from kg.ner import EntityExtractor, Mention

log = logging.getLogger(__name__)

_DEFAULT_BATCH = 64  # texts per embed call between cancel checks, for an embedder without a batch_size
_SHARD_FILE = re.compile(r"^shard-\d+\.(npy|json)$")


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
    try:
        plan = prepare_shards(
            [Path(s) for s in request.sources],
            out,
            runtime.embedder(),
            request.options.build_options(runtime.config.data_root),
            build_id=context.job_id,
            shard_size=runtime.config.shard_size,
        )
    except Exception:
        remove_workdir(shard_workdir(out, context.job_id))  # the job fails: nothing will use what was stored
        raise
    if context.cancel_requested():
        remove_workdir(plan.workdir)
        raise JobCancelled(f"build {context.job_id} was cancelled before its shards were sent")
    tasks = len(plan.shards) * (2 if request.options.kg else 1)
    context.event("shards", shards=len(plan.shards), passages=plan.passages)
    progress = {"stage": "shards", "shards": len(plan.shards), "tasks": tasks, "done": 0}
    context.store.progress(context.job_id, progress)
    workdir = str(plan.workdir)
    header = [embed_shard_task.si(context.job_id, workdir, i).set(queue="gpu") for i in range(len(plan.shards))]
    if request.options.kg:
        header += [extract_shard_task.si(context.job_id, workdir, i).set(queue="cpu") for i in range(len(plan.shards))]
    chord(header)(finish_build_task.si(context.job_id, workdir, payload).set(queue="cpu"))
    return None


def remove_workdir(workdir: Path | str) -> None:
    """Remove a build's shard work directory (nothing when it is gone already)."""
    shutil.rmtree(workdir, ignore_errors=True)


def _still_running(job_id: str, store: JobStore, workdir: str, action: str) -> bool:
    """Whether the build goes on; when it ended or its cancel was requested, end it, clean up, say False."""
    record = store.get(job_id)
    if record is not None and not record.finished and not record.cancel_requested:
        return True
    if record is not None and not record.finished:
        store.finish(job_id, "cancelled", error=error_info("cancelled", "the job was cancelled"))
    log.info("build %s ended or was cancelled; skipping %s", job_id, action)
    remove_workdir(workdir)
    return False


def run_shard(job_id: str, workdir: str, shard: int, kind: str, runtime: WorkerRuntime, store: JobStore) -> None:
    """Embed (kind "embed") or extract entities from (kind "ner") one shard; a failure fails the job.

    Stops between batches when the job's cancel is requested (the job ends cancelled, its work directory
    removed); a task of a build that already ended only removes the work directory."""
    action = f"{kind} shard {shard}"
    if not _still_running(job_id, store, workdir, action):
        return
    try:
        with watch_cancel(store, job_id) as cancel:
            _work_on_shard(ShardPlan.read(Path(workdir)), shard, kind, runtime, cancel)
    except JobCancelled:
        _still_running(job_id, store, workdir, f"the rest of {action}")
        return
    except Exception as exc:
        if not _still_running(job_id, store, workdir, f"the rest of {action}"):
            return  # the build ended under it (cancelled, failed elsewhere): not this shard's failure
        code = error_code(exc) if isinstance(exc, SleuthError) else "internal_error"
        store.finish(job_id, "failed", error=error_info(code, f"{action}: {exc}"))
        remove_workdir(workdir)
        raise
    store.append_event(job_id, {"stage": "shard", "kind": kind, "shard": shard, "worker": runtime.name})
    if _still_running(job_id, store, workdir, "reporting progress"):  # it may have ended while this ran
        _report_shards_done(job_id, Path(workdir), store)


def _work_on_shard(plan: ShardPlan, shard: int, kind: str, runtime: WorkerRuntime, cancel: threading.Event) -> None:
    if kind == "embed":
        embedder = CancellableEmbedder(runtime.embedder(str(plan.embedder["name"])), cancel)
        embed_shard(plan, shard, embedder)
    else:
        from kg.sharded_graph import extract_shard

        extractor = CancellableExtractor(runtime.extractor(), cancel)
        extract_shard(plan, shard, extractor, runtime.extractor_info())


def _report_shards_done(job_id: str, workdir: Path, store: JobStore) -> None:
    """Progress from the shard outputs on disk (so a redelivered shard is not counted twice)."""
    from kg.sharded_graph import MENTIONS_DIR

    record = store.get(job_id)
    if record is None or record.progress.get("stage") != "shards":
        return
    done = sum(_shard_files(workdir / folder) for folder in (EMBEDDINGS_DIR, MENTIONS_DIR))
    store.advance_progress(job_id, {**record.progress, "done": done})


def _shard_files(folder: Path) -> int:
    try:
        return sum(1 for path in folder.iterdir() if _SHARD_FILE.match(path.name))
    except FileNotFoundError:
        return 0


class CancellableEmbedder:
    """An embedder that embeds in its own batch size and raises JobCancelled between batches once `cancel` is set."""

    def __init__(self, inner: Embedder, cancel: threading.Event) -> None:
        self._inner = inner
        self._cancel = cancel
        self.batch_size = max(1, int(getattr(inner, "batch_size", _DEFAULT_BATCH)))

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def max_tokens(self) -> int:
        return self._inner.max_tokens

    def count_tokens(self, text: str) -> int:
        return self._inner.count_tokens(text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        parts = []
        for at in range(0, len(texts), self.batch_size):
            if self._cancel.is_set():
                raise JobCancelled("cancelled between embedding batches")
            parts.append(self._inner.embed(texts[at : at + self.batch_size]))
        if not parts:
            return self._inner.embed(texts)
        return np.concatenate(parts).astype(np.float32, copy=False)


class CancellableExtractor:
    """An entity extractor that raises JobCancelled before its next text once `cancel` is set."""

    def __init__(self, inner: EntityExtractor, cancel: threading.Event) -> None:
        self._inner = inner
        self._cancel = cancel

    def extract(self, texts: Iterable[str]) -> Iterator[list[Mention]]:
        return self._inner.extract(self._until_cancelled(texts))

    def _until_cancelled(self, texts: Iterable[str]) -> Iterator[str]:
        for text in texts:
            if self._cancel.is_set():
                raise JobCancelled("cancelled between NER texts")
            yield text


def finish_build(job_id: str, workdir: str, payload: dict[str, Any], runtime: WorkerRuntime, store: JobStore) -> None:
    """Merge the shards and publish the index; a build that ended (or whose cancel was requested) is only
    cleaned up."""
    if not _still_running(job_id, store, workdir, "the merge"):
        return
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
        remove_workdir(workdir)
        raise
    runtime.forget_index(request.index)
    store.finish(job_id, "succeeded", result={"index": IndexSummary.of(request.index, manifest.data).__dict__})
