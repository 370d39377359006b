"""The indexes a service holds: one bundle directory per name under the index root."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.bundle import MANIFEST, IndexBundle
from retrieval.errors import IndexLoadError, OutputExistsError
from workers.paths import INDEX_NAME, check_index_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexSummary:
    name: str
    documents: int
    passages: int
    embedder: str
    graph: bool
    created_at: str
    updated_at: str | None
    updates: int

    @classmethod
    def of(cls, name: str, data: dict[str, Any]) -> IndexSummary:
        counts = data.get("counts", {})
        return cls(
            name=name,
            documents=int(counts.get("documents", 0)),
            passages=int(counts.get("passages", 0)),
            embedder=str(data.get("embedder", {}).get("name", "")),
            graph=bool((data.get("graph") or {}).get("built")),
            created_at=str(data.get("created_at", "")),
            updated_at=data.get("updated_at"),
            updates=len(data.get("updates", [])),
        )


class IndexRegistry:
    def __init__(self, index_root: Path) -> None:
        self.root = index_root.expanduser().resolve()

    def directory(self, name: str) -> Path:
        return self.root / check_index_name(name)

    def exists(self, name: str) -> bool:
        return (self.directory(name) / MANIFEST).is_file()

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if INDEX_NAME.match(p.name) and (p / MANIFEST).is_file())

    def summary(self, name: str) -> IndexSummary:
        return IndexSummary.of(name, IndexBundle.open(self.directory(name)).manifest.data)

    def manifest(self, name: str) -> dict[str, Any]:
        return dict(IndexBundle.open(self.directory(name)).manifest.data)

    def delete(self, name: str) -> None:
        """Remove an index in one step (renamed away, then deleted); refused while a build writes it."""
        directory = self.directory(name)
        if not (directory / MANIFEST).is_file():
            raise IndexLoadError(f"no index {name!r}")
        lock_path = directory.parent / f".{directory.name}.lock"
        with open(lock_path, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputExistsError(f"index {name!r} is being built or updated; try again later") from None
            retired = Path(tempfile.mkdtemp(prefix=f".{directory.name}.retired-", dir=directory.parent))
            os.rename(directory, retired / directory.name)
            fcntl.flock(handle, fcntl.LOCK_UN)
        shutil.rmtree(retired, ignore_errors=True)
        log.info("deleted index %s", name)
