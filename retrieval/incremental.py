"""Incremental add: new documents into an existing index bundle without a full rebuild.

The new documents are chunked with the bundle's own chunking settings and appended to the passage store
at the next rows; their embeddings are added to the FAISS index (no re-embedding of what is there); BM25
is re-indexed from the stored passages, because bm25s cannot add documents (its IDF and length
normalisation change with every document anyway) and re-indexing costs seconds per 100k passages.
Further sections (the knowledge graph) are extended by `BundleUpdate`s that the caller passes in.

The update is crash-safe like a build: everything is written into a staging copy of the bundle (the
passage store copied, the other files written fresh, never hard-linked files written in place) that
replaces the bundle in one step (see `staging`). Each update carries an id, recorded in the manifest, so
a repeated update (a redelivered task) changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.bm25_index import BM25Index
from retrieval.builder import StageClock
from retrieval.bundle import BM25, DENSE, MANIFEST, PASSAGES, IndexBundle, Manifest
from retrieval.chunking import Chunker, ChunkingConfig
from retrieval.dense_index import DenseIndex
from retrieval.documents import Document
from retrieval.embedder_runtime import matching_embedder
from retrieval.embedders import Embedder
from retrieval.errors import ConfigError, InputDataError
from retrieval.passage_store import PassageStore
from retrieval.progress import ProgressReporter, SilentProgress
from retrieval.staging import staged_directory

log = logging.getLogger(__name__)
# an update waits this long for a build or another update of the same index to finish (they queue, not fail)
ADD_LOCK_WAIT_S = 600.0

UPDATES_KEPT = 200  # update records kept in the manifest (the newest)
_EMBED_BATCH = 1024


class BundleUpdate(Protocol):
    """Extends one further section of a bundle (the knowledge graph is one) with the passages at rows
    `first_row..len(store)-1`, writing into `staging`; returns the section's new manifest entry."""

    @property
    def section(self) -> str: ...

    def run(
        self, bundle: IndexBundle, store: PassageStore, first_row: int, staging: Path, clock: StageClock
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AddResult:
    manifest: Manifest
    documents: int  # documents added by this call (0 when the update had been applied already)
    passages: int
    already_applied: bool = False


def applied_update(manifest: Manifest, update_id: str) -> dict[str, Any] | None:
    for record in manifest.data.get("updates", []):
        if record.get("id") == update_id:
            return dict(record)
    return None


def add_documents(
    directory: Path,
    documents: Iterable[Document],
    embedder: Embedder,
    *,
    update_id: str,
    updates: Sequence[BundleUpdate] = (),
    progress: ProgressReporter | None = None,
) -> AddResult:
    """Append `documents` to the bundle at `directory`; a duplicate document id is an input error.

    Idempotent by `update_id`: when an update with that id was applied already, nothing changes and the
    result says so.
    """
    try:
        return _add(Path(directory).absolute(), documents, embedder, update_id, updates, progress)
    except _AlreadyApplied as done:
        log.info("update %s was applied to %s already", update_id, directory)
        return done.result


def _add(
    directory: Path,
    documents: Iterable[Document],
    embedder: Embedder,
    update_id: str,
    updates: Sequence[BundleUpdate],
    progress: ProgressReporter | None,
) -> AddResult:
    clock = StageClock(progress or SilentProgress())
    started = time.perf_counter()
    IndexBundle.open(directory, embedder_name=embedder.name)  # fails fast on a missing index
    with staged_directory(directory, overwrite=True, marker=MANIFEST, lock_wait_s=ADD_LOCK_WAIT_S) as staging:
        bundle = IndexBundle.open(directory, embedder_name=embedder.name)  # read under the build lock
        embedder = matching_embedder(embedder, bundle.manifest.data["embedder"], f"index {directory}")
        done = applied_update(bundle.manifest, update_id)
        if done is not None:
            raise _AlreadyApplied(AddResult(bundle.manifest, 0, 0, already_applied=True))
        _check_sections(bundle, updates)
        shutil.copy2(directory / PASSAGES, staging / PASSAGES)  # a copy: the store is written in place
        store = PassageStore.open(staging / PASSAGES, writable=True)
        try:
            first_row = len(store)
            added_docs = _append(store, documents, embedder, bundle.manifest, clock)
            sections = _rebuild_indexes(bundle, store, first_row, embedder, staging, clock)
            sections |= {u.section: u.run(bundle, store, first_row, staging, clock) for u in updates}
            counts = {"documents": store.document_count(), "passages": len(store)}
        finally:
            store.close()
        _link_others(directory, staging, handled={PASSAGES, DENSE, BM25, MANIFEST, *sections})
        record: dict[str, Any] = {
            "id": update_id,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "documents": added_docs,
            "passages": counts["passages"] - first_row,
            "seconds": round(time.perf_counter() - started, 3),
            "stages": clock.stages,
        }
        manifest = _updated_manifest(bundle.manifest, counts, sections, record)
        manifest.write(staging)
    added_passages = counts["passages"] - first_row
    log.info("added %d documents (%d passages) to %s", added_docs, added_passages, directory)
    return AddResult(manifest, added_docs, added_passages)


class _AlreadyApplied(Exception):
    def __init__(self, result: AddResult) -> None:
        super().__init__("update already applied")
        self.result = result


def _check_sections(bundle: IndexBundle, updates: Sequence[BundleUpdate]) -> None:
    graph = bundle.manifest.data.get("graph") or {}
    if graph.get("built") and "graph" not in {u.section for u in updates}:
        raise ConfigError(
            f"index {bundle.directory} has a knowledge graph: adding documents needs the graph update as well"
        )


def _append(
    store: PassageStore, documents: Iterable[Document], embedder: Embedder, manifest: Manifest, clock: StageClock
) -> int:
    chunking = ChunkingConfig(**manifest.data["chunking"])
    chunker = Chunker(embedder, chunking)
    count = 0
    with clock.stage("chunk+store", None, "docs") as bar:
        for doc in documents:
            store.add_document(doc, chunker.chunk(doc))
            count += 1
            bar.advance()
        store.commit()
    if count == 0:
        raise InputDataError("no documents to add")
    return count


def _rebuild_indexes(
    bundle: IndexBundle, store: PassageStore, first_row: int, embedder: Embedder, staging: Path, clock: StageClock
) -> dict[str, Any]:
    with clock.stage("bm25", len(store), "passages") as bar:
        bm25 = BM25Index.build((p.embedding_text for p in store.iter_passages()), bundle.bm25.config)
        bm25.save(staging / BM25)
        bar.advance(len(store))
    dense = DenseIndex.load(bundle.directory / DENSE)
    new_rows = list(range(first_row, len(store)))
    with clock.stage("embed+add", len(new_rows), "passages") as bar:
        for start in range(0, len(new_rows), _EMBED_BATCH):
            passages = store.get_rows(new_rows[start : start + _EMBED_BATCH])
            vectors = embedder.embed([p.embedding_text for p in passages])
            dense.add(np.ascontiguousarray(vectors, dtype=np.float32))
            bar.advance(len(passages))
        dense.save(staging / DENSE)
    return {"bm25": bm25.describe(), "dense": {**bundle.manifest.data["dense"], **dense.describe()}}


def _link_others(source: Path, staging: Path, handled: set[str]) -> None:
    """Files of the bundle this update does not rewrite are hard-linked (never written afterwards)."""
    for path in sorted(source.iterdir()):
        if path.name in handled or (staging / path.name).exists():
            continue
        if path.is_dir():
            shutil.copytree(path, staging / path.name, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(path), str(staging / path.name))


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _updated_manifest(
    manifest: Manifest, counts: dict[str, int], sections: dict[str, Any], record: dict[str, Any]
) -> Manifest:
    data = dict(manifest.data)
    data["counts"] = {**data["counts"], **counts}
    data.update(sections)
    data["updates"] = [*data.get("updates", []), record][-UPDATES_KEPT:]
    data["updated_at"] = record["at"]
    return Manifest(data)
