"""The index bundle: a directory with manifest.json, the passage store, the FAISS and the BM25 index.

Loading checks the manifest and says exactly what is wrong: schema version, embedder, missing files.
The indexes are opened lazily, so reading the manifest or a passage costs no model or index load.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.bm25_index import BM25Index
from retrieval.dense_index import DenseIndex
from retrieval.errors import IndexLoadError
from retrieval.passage_store import PassageStore

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
PASSAGES = "passages.sqlite"
DENSE = "dense.faiss"
BM25 = "bm25"
REQUIRED_FILES = (PASSAGES, DENSE, BM25)


@dataclass(frozen=True)
class Manifest:
    """What a bundle holds and how it was built; `data` is the manifest.json object."""

    data: dict[str, Any]

    @property
    def schema_version(self) -> int:
        return int(self.data["schema_version"])

    @property
    def embedder_name(self) -> str:
        return str(self.data["embedder"]["name"])

    @property
    def embedder_dimension(self) -> int:
        return int(self.data["embedder"]["dimension"])

    @property
    def passage_count(self) -> int:
        return int(self.data["counts"]["passages"])

    def write(self, directory: Path) -> None:
        text = json.dumps(self.data, indent=2, sort_keys=False)
        (directory / MANIFEST).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        if not directory.is_dir():
            raise IndexLoadError(f"no index at {directory}: not a directory (build one with `sleuth index build`)")
        if not path.is_file():
            raise IndexLoadError(f"{directory} is not a Sleuth index: {MANIFEST} is missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IndexLoadError(f"{path} is corrupt: {exc}") from exc
        return cls(_validated(data, path))


def _validated(data: object, path: Path) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise IndexLoadError(f"{path} is corrupt: expected a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise IndexLoadError(
            f"{path}: index schema version {version!r}, but this Sleuth reads version {SCHEMA_VERSION}; "
            "rebuild the index with `sleuth index build`"
        )
    for key in ("embedder", "counts", "dense", "bm25"):
        if not isinstance(data.get(key), dict):
            raise IndexLoadError(f"{path} is corrupt: the {key!r} section is missing")
    return data


class IndexBundle:
    """An opened, checked index bundle."""

    def __init__(self, directory: Path, manifest: Manifest) -> None:
        self.directory = directory
        self.manifest = manifest

    @classmethod
    def open(cls, directory: Path, *, embedder_name: str | None = None) -> IndexBundle:
        """Open and check a bundle; `embedder_name`, when given, must be the one it was built with."""
        directory = Path(directory)
        manifest = Manifest.read(directory)
        missing = [name for name in REQUIRED_FILES if not (directory / name).exists()]
        if missing:
            raise IndexLoadError(f"index {directory} is incomplete: missing {', '.join(missing)}")
        if embedder_name is not None and embedder_name != manifest.embedder_name:
            raise IndexLoadError(
                f"index {directory} was built with embedder {manifest.embedder_name!r} "
                f"(dimension {manifest.embedder_dimension}), not {embedder_name!r}: "
                "search with the same embedder or rebuild the index"
            )
        return cls(directory, manifest)

    @functools.cached_property
    def store(self) -> PassageStore:
        store = PassageStore.open(self.directory / PASSAGES)
        if len(store) != self.manifest.passage_count:
            raise IndexLoadError(
                f"index {self.directory}: the passage store holds {len(store)} passages, "
                f"the manifest says {self.manifest.passage_count}"
            )
        return store

    @functools.cached_property
    def bm25(self) -> BM25Index:
        index = BM25Index.load(self.directory / BM25, mmap=True)
        self._check_count("BM25", index.num_documents)
        return index

    @functools.cached_property
    def dense(self) -> DenseIndex:
        index = DenseIndex.load(self.directory / DENSE)
        self._check_count("FAISS", index.ntotal)
        if index.dimension != self.manifest.embedder_dimension:
            raise IndexLoadError(
                f"index {self.directory}: FAISS dimension {index.dimension} differs from the embedder's "
                f"{self.manifest.embedder_dimension} in the manifest"
            )
        return index

    def _check_count(self, what: str, count: int) -> None:
        if count != self.manifest.passage_count:
            raise IndexLoadError(
                f"index {self.directory}: the {what} index holds {count} passages, "
                f"the manifest says {self.manifest.passage_count}"
            )
