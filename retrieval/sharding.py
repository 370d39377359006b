"""Sharded index builds: the costly per-passage work fanned out over workers, then merged.

1. `prepare_shards` (one worker) reads, chunks and stores every passage once, in a work directory beside
   the target (`.<name>.shards-<build id>/`, on storage all workers share), and cuts the passage rows into
   contiguous shards. Reading and chunking are cheap next to embedding and NER.
2. `embed_shard` (GPU workers, one call per shard) embeds the shard's rows into `embeddings/shard-N.npy`;
   the knowledge-graph side runs NER per shard the same way (`kg.sharded_graph`).
3. `finish_sharded_build` (one worker) concatenates the shard vectors in row order, builds FAISS and BM25
   and runs the further stages (the graph from the shards' mentions) in a staging directory that replaces
   the target in one step, exactly as `build_index` does.

Because shards are contiguous row ranges and are merged in row order, the result is the bundle a
single-process build makes of the same inputs. Every step is idempotent: a shard whose output file exists
is not redone, a prepared plan is reused, and the merge of a build that is already published is a no-op.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import resource
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.bm25_index import BM25Index
from retrieval.builder import NO_GRAPH, BuildOptions, BundleStage, StageClock, _versions, store_passages
from retrieval.bundle import BM25, DENSE, MANIFEST, PASSAGES, SCHEMA_VERSION, IndexBundle, Manifest
from retrieval.checksums import sha256_input
from retrieval.dense_index import DenseIndex
from retrieval.embedder_runtime import embedder_section, matching_embedder
from retrieval.embedders import Embedder
from retrieval.errors import ConfigError, IndexLoadError
from retrieval.passage_store import PassageStore
from retrieval.progress import ProgressReporter, SilentProgress
from retrieval.staging import staged_directory

log = logging.getLogger(__name__)

PLAN = "plan.json"
EMBEDDINGS_DIR = "embeddings"
_EMBED_BATCH = 1024


@dataclass(frozen=True)
class ShardPlan:
    build_id: str
    workdir: Path
    out: Path
    shards: tuple[tuple[int, int], ...]  # [start, end) passage rows
    passages: int
    documents: int
    embedder: dict[str, Any]
    chunking: dict[str, Any]
    sources: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(workdir=str(self.workdir), out=str(self.out), shards=[list(s) for s in self.shards])
        return data

    @classmethod
    def read(cls, workdir: Path) -> ShardPlan:
        try:
            data = json.loads((workdir / PLAN).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise IndexLoadError(f"no readable shard plan in {workdir}: {exc}") from exc
        data.update(
            workdir=Path(data["workdir"]), out=Path(data["out"]), shards=tuple(tuple(s) for s in data["shards"])
        )
        return cls(**data)


def shard_workdir(out: Path, build_id: str) -> Path:
    out = Path(out).absolute()
    return out.parent / f".{out.name}.shards-{build_id}"


def cut_shards(count: int, shard_size: int) -> tuple[tuple[int, int], ...]:
    if shard_size < 1:
        raise ConfigError(f"shard_size must be at least 1, got {shard_size}")
    return tuple((start, min(start + shard_size, count)) for start in range(0, count, shard_size))


def prepare_shards(
    inputs: Sequence[Path],
    out: Path,
    embedder: Embedder,
    options: BuildOptions,
    *,
    build_id: str,
    shard_size: int,
) -> ShardPlan:
    """Store the passages of `inputs` in the build's work directory and plan its shards (or reuse the plan)."""
    workdir = shard_workdir(out, build_id)
    if (workdir / PLAN).is_file():
        return ShardPlan.read(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    partial = workdir / "passages.partial.sqlite"
    partial.unlink(missing_ok=True)
    store = PassageStore.create(partial)
    try:
        sources, chunking = store_passages(inputs, store, embedder, options)
        passages, documents = len(store), store.document_count()
    finally:
        store.close()
    os.replace(partial, workdir / PASSAGES)
    described = [
        {
            "path": str(Path(p).absolute()),
            "format": s.format,
            "compression": s.compression,
            "sha256": sha256_input(Path(p)),
            "records": s.records,
            "skipped": s.skipped,
            "skipped_examples": s.skipped_examples,
        }
        for p, s in zip(inputs, sources, strict=True)
    ]
    plan = ShardPlan(
        build_id=build_id,
        workdir=workdir,
        out=Path(out).absolute(),
        shards=cut_shards(passages, shard_size),
        passages=passages,
        documents=documents,
        embedder=embedder_section(embedder),
        chunking=asdict(chunking),
        sources=described,
    )
    write_atomically(workdir / PLAN, json.dumps(plan.to_json(), indent=2))
    log.info("build %s: %d passages in %d shards", build_id, passages, len(plan.shards))
    return plan


def write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def shard_file(plan: ShardPlan, shard: int, folder: str, suffix: str) -> Path:
    return plan.workdir / folder / f"shard-{shard:05d}{suffix}"


def embed_shard(plan: ShardPlan, shard: int, embedder: Embedder) -> Path:
    """Embed the rows of one shard into its .npy file (skipped when the file exists)."""
    target = shard_file(plan, shard, EMBEDDINGS_DIR, ".npy")
    if target.is_file():
        return target
    if embedder.name != plan.embedder["name"]:
        raise ConfigError(f"build {plan.build_id} embeds with {plan.embedder['name']!r}, not {embedder.name!r}")
    embedder = matching_embedder(embedder, plan.embedder, f"build {plan.build_id}")  # its runtime, on every worker
    start, end = plan.shards[shard]
    store = PassageStore.open(plan.workdir / PASSAGES)
    try:
        vectors = np.zeros((end - start, embedder.dimension), dtype=np.float32)
        for at in range(start, end, _EMBED_BATCH):
            rows = list(range(at, min(at + _EMBED_BATCH, end)))
            vectors[at - start : at - start + len(rows)] = embedder.embed(
                [p.embedding_text for p in store.get_rows(rows)]
            )
    finally:
        store.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.stem + ".partial.npy")
    np.save(partial, vectors)
    os.replace(partial, target)
    return target


def finish_sharded_build(
    plan: ShardPlan,
    options: BuildOptions,
    *,
    overwrite: bool = False,
    extra_stages: Sequence[BundleStage] = (),
    progress: ProgressReporter | None = None,
) -> Manifest:
    """Merge the shards into the bundle at `plan.out`; a no-op returning its manifest when already published."""
    published = _published(plan)
    if published is not None:
        return published
    clock = StageClock(progress or SilentProgress())
    started = time.perf_counter()
    with staged_directory(plan.out, overwrite=overwrite, marker=MANIFEST) as staging:
        shutil.copy2(plan.workdir / PASSAGES, staging / PASSAGES)
        store = PassageStore.open(staging / PASSAGES)
        try:
            with clock.stage("bm25", plan.passages, "passages") as bar:
                bm25 = BM25Index.build((p.embedding_text for p in store.iter_passages()), options.bm25)
                bm25.save(staging / BM25)
                bar.advance(plan.passages)
            with clock.stage("faiss", plan.passages, "passages") as bar:
                dense = DenseIndex.build(_merged_vectors(plan, staging), options.dense, on_progress=bar.advance)
                dense.save(staging / DENSE)
            (staging / "embeddings.tmp.npy").unlink(missing_ok=True)
            sections = {"graph": NO_GRAPH} | {s.section: s.run(store, staging, clock) for s in extra_stages}
        finally:
            store.close()
        manifest = _manifest(plan, options, bm25, dense, sections, clock, started)
        manifest.write(staging)
    shutil.rmtree(plan.workdir, ignore_errors=True)
    return manifest


def _published(plan: ShardPlan) -> Manifest | None:
    try:
        manifest = IndexBundle.open(plan.out).manifest
    except IndexLoadError:
        return None
    if manifest.data.get("build", {}).get("build_id") == plan.build_id:
        shutil.rmtree(plan.workdir, ignore_errors=True)
        return manifest
    return None


def _merged_vectors(plan: ShardPlan, staging: Path) -> np.ndarray:
    dimension = int(plan.embedder["dimension"])
    path = staging / "embeddings.tmp.npy"
    vectors = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(plan.passages, dimension))
    for shard, (start, end) in enumerate(plan.shards):
        part = np.load(shard_file(plan, shard, EMBEDDINGS_DIR, ".npy"), mmap_mode="r")
        if part.shape != (end - start, dimension):
            raise IndexLoadError(f"shard {shard} of build {plan.build_id} has shape {part.shape}")
        vectors[start:end] = part
    vectors.flush()
    return vectors


def _manifest(
    plan: ShardPlan,
    options: BuildOptions,
    bm25: BM25Index,
    dense: DenseIndex,
    sections: dict[str, Any],
    clock: StageClock,
    started: float,
) -> Manifest:
    return Manifest(
        {
            "schema_version": SCHEMA_VERSION,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "sources": plan.sources,
            "counts": {
                "documents": plan.documents,
                "passages": plan.passages,
                "skipped_invalid": sum(int(s["skipped"]) for s in plan.sources),
            },
            "embedder": plan.embedder,
            "chunking": plan.chunking,
            "dense": dense.describe(),
            "bm25": bm25.describe(),
            **sections,
            "files": {"passages": PASSAGES, "dense": DENSE, "bm25": BM25},
            "build": {
                "build_id": plan.build_id,
                "sharded": {"shards": len(plan.shards), "shard_rows": [list(s) for s in plan.shards]},
                "stages": clock.stages,
                "total_seconds": round(time.perf_counter() - started, 3),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "skip_invalid": options.skip_invalid,
                "fields": asdict(options.fields),
            },
            "versions": _versions(),
        }
    )
