"""Batch index building: document dump(s) -> passages -> passage store, BM25 and FAISS -> index bundle.

Every stage streams (a dump never has to fit in memory): documents are chunked and stored one by one,
BM25 and the embedder read passages back from the store in batches, and vectors go to a memory-mapped
file on disk until FAISS takes them. The bundle is built in a temporary directory and swapped into
place at the end (see `staging`), so a failed or killed build leaves the previous index as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import platform
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.bm25_index import BM25Config, BM25Index
from retrieval.bundle import BM25, DENSE, MANIFEST, PASSAGES, SCHEMA_VERSION, Manifest
from retrieval.checksums import sha256_input
from retrieval.chunking import Chunker, ChunkingConfig
from retrieval.dense_index import DenseIndex, DenseIndexConfig
from retrieval.embedder_runtime import embedder_section
from retrieval.embedders import Embedder
from retrieval.errors import DuplicateDocumentError
from retrieval.passage_store import PassageStore
from retrieval.progress import ProgressReporter, SilentProgress, StageProgress
from retrieval.readers import FieldMapping, SourceStats, read_documents, skip_document
from retrieval.staging import staged_directory

log = logging.getLogger(__name__)

_EMBEDDINGS = "embeddings.tmp.npy"
NO_GRAPH: dict[str, Any] = {"built": False, "reason": "built without a knowledge graph (--no-kg)"}
_VERSIONED = ("sleuth", "numpy", "faiss-cpu", "faiss-gpu-cu12", "bm25s", "torch", "sentence-transformers")


@dataclass(frozen=True)
class BuildOptions:
    fields: FieldMapping = field(default_factory=FieldMapping)
    skip_invalid: bool = False
    max_passage_tokens: int | None = None  # None: the embedder's input limit
    overlap_tokens: int = 32
    bm25: BM25Config = field(default_factory=BM25Config)
    dense: DenseIndexConfig = field(default_factory=DenseIndexConfig)
    embed_batch: int = 1024  # texts per embedder call (the embedder sorts and batches inside)
    root: Path | None = None  # refuse inputs, and files in input directories, that resolve outside it

    def __post_init__(self) -> None:
        if self.embed_batch < 1:
            raise ValueError(f"embed_batch must be at least 1, got {self.embed_batch}")


class StageClock:
    """Runs stages with a progress counter each and records their time and item counts."""

    def __init__(self, progress: ProgressReporter) -> None:
        self._progress = progress
        self.stages: dict[str, dict[str, float]] = {}

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None, unit: str) -> Iterator[StageProgress]:
        counter = _CountingProgress(self._progress.start(name, total, unit))
        start = time.perf_counter()
        try:
            yield counter
        finally:
            counter.close()
        seconds = time.perf_counter() - start
        rate = counter.count / seconds if seconds > 0 else 0.0
        self.stages[name] = {
            "seconds": round(seconds, 3),
            "items": counter.count,
            "per_second": round(rate, 1),
        }
        log.info("stage %s: %d %s in %.1f s", name, counter.count, unit, seconds)


class BundleStage(Protocol):
    """A further stage of a build, run once the passages are stored: it writes into the staging
    directory and returns its manifest section (the knowledge graph is one)."""

    @property
    def section(self) -> str: ...

    def run(self, store: PassageStore, staging: Path, clock: StageClock) -> dict[str, Any]: ...


class _CountingProgress:
    def __init__(self, inner: StageProgress) -> None:
        self._inner = inner
        self.count = 0

    def advance(self, n: int = 1) -> None:
        self.count += n
        self._inner.advance(n)

    def close(self) -> None:
        self._inner.close()


def build_index(
    inputs: Sequence[Path],
    out: Path,
    embedder: Embedder,
    options: BuildOptions | None = None,
    *,
    overwrite: bool = False,
    progress: ProgressReporter | None = None,
    extra_stages: Sequence[BundleStage] = (),
) -> Manifest:
    """Build an index bundle at `out` from one or more dumps and return its manifest.

    Without a stage for the "graph" section the manifest records that no graph was built.
    """
    options = options or BuildOptions()
    clock = StageClock(progress or SilentProgress())
    started = time.perf_counter()
    with (
        staged_directory(Path(out), overwrite=overwrite, marker=MANIFEST) as staging,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as hasher,
    ):
        checksums = [hasher.submit(sha256_input, Path(p)) for p in inputs]
        store = PassageStore.create(staging / PASSAGES)
        try:
            sources, chunking = _store_passages(inputs, store, embedder, options, clock)
            bm25 = _build_bm25(store, options.bm25, staging, clock)
            dense = _build_dense(store, embedder, options, staging, clock)
            sections = {"graph": NO_GRAPH} | {s.section: s.run(store, staging, clock) for s in extra_stages}
            counts = {"documents": store.document_count(), "passages": len(store)}
        finally:
            store.close()
        manifest = Manifest(
            {
                "schema_version": SCHEMA_VERSION,
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "sources": _describe_sources(inputs, sources, checksums),
                "counts": {**counts, "skipped_invalid": sum(s.skipped for s in sources)},
                "embedder": embedder_section(embedder),
                "chunking": asdict(chunking),
                "dense": dense.describe(),
                "bm25": bm25.describe(),
                **sections,
                "files": {"passages": PASSAGES, "dense": DENSE, "bm25": BM25},
                "build": _build_section(clock, started, options),
                "versions": _versions(),
            }
        )
        manifest.write(staging)
    return manifest


def _store_passages(
    inputs: Sequence[Path], store: PassageStore, embedder: Embedder, options: BuildOptions, clock: StageClock
) -> tuple[list[SourceStats], ChunkingConfig]:
    with clock.stage("read+chunk+store", None, "docs") as bar:
        return store_passages(inputs, store, embedder, options, on_document=bar.advance)


def store_passages(
    inputs: Sequence[Path],
    store: PassageStore,
    embedder: Embedder,
    options: BuildOptions | None = None,
    *,
    on_document: Callable[[], None] | None = None,
) -> tuple[list[SourceStats], ChunkingConfig]:
    """Read the dumps, chunk each document to fit the embedder, and store the passages. A duplicate
    document id stops the build, or with `skip_invalid` is skipped and counted like any invalid record."""
    options = options or BuildOptions()
    max_tokens = options.max_passage_tokens or embedder.max_tokens
    overlap = min(options.overlap_tokens, max_tokens // 2 - 1)
    chunking = ChunkingConfig(max_tokens=max_tokens, overlap_tokens=overlap)
    chunker = Chunker(embedder, chunking)
    sources: list[SourceStats] = []
    paths = [Path(p) for p in inputs]
    documents = read_documents(
        paths, options.fields, skip_invalid=options.skip_invalid, stats=sources, root=options.root
    )
    for doc in documents:
        try:
            store.add_document(doc, chunker.chunk(doc))
        except DuplicateDocumentError as exc:
            if not options.skip_invalid:
                raise
            skip_document(sources[-1], doc, exc.reason)
            continue
        if on_document is not None:
            on_document()
    store.commit()
    return sources, chunking


def _build_bm25(store: PassageStore, config: BM25Config, staging: Path, clock: StageClock) -> BM25Index:
    with clock.stage("bm25", len(store), "passages") as bar:
        texts = (p.embedding_text for p in store.iter_passages())
        index = BM25Index.build(texts, config, on_progress=bar.advance)
        index.save(staging / BM25)
    return index


def _build_dense(
    store: PassageStore, embedder: Embedder, options: BuildOptions, staging: Path, clock: StageClock
) -> DenseIndex:
    count = len(store)
    path = staging / _EMBEDDINGS
    vectors = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(count, embedder.dimension))
    with clock.stage("embed", count, "passages") as bar:
        row = 0
        for batch in _batches((p.embedding_text for p in store.iter_passages()), options.embed_batch):
            vectors[row : row + len(batch)] = embedder.embed(batch)
            row += len(batch)
            bar.advance(len(batch))
        vectors.flush()
    with clock.stage("faiss", count, "passages") as bar:
        index = DenseIndex.build(vectors, options.dense, on_progress=bar.advance)
        index.save(staging / DENSE)
    del vectors
    path.unlink()
    return index


def _batches(texts: Iterator[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _describe_sources(
    inputs: Sequence[Path], sources: list[SourceStats], checksums: list[Future[str]]
) -> list[dict[str, Any]]:
    described = []
    for path, stats, checksum in zip(inputs, sources, checksums, strict=True):
        path = Path(path)
        described.append(
            {
                "path": str(path.absolute()),
                "format": stats.format,
                "compression": stats.compression,
                "sha256": checksum.result(),
                "bytes": path.stat().st_size if path.is_file() else None,
                "records": stats.records,
                "skipped": stats.skipped,
                "skipped_examples": stats.skipped_examples,
            }
        )
    return described


def _build_section(clock: StageClock, started: float, options: BuildOptions) -> dict[str, Any]:
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "stages": clock.stages,
        "total_seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "skip_invalid": options.skip_invalid,
        "fields": asdict(options.fields),
    }


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in _VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return versions
