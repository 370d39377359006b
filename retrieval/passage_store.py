"""The passage store: SQLite, random access by passage id or by row.

The row of a passage (0..N-1, in build order) is its position in the FAISS and BM25 indexes.
The reasoning loop reads passages from here, never from a corpus held in memory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from retrieval.documents import Document, Passage
from retrieval.errors import DuplicateDocumentError, IndexLoadError

_SCHEMA = """
CREATE TABLE documents (
    doc_id   TEXT PRIMARY KEY,
    source   TEXT NOT NULL,
    line     INTEGER NOT NULL,
    passages INTEGER NOT NULL
);
CREATE TABLE passages (
    row    INTEGER PRIMARY KEY,
    id     TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    chunk  INTEGER NOT NULL,
    title  TEXT NOT NULL,
    text   TEXT NOT NULL
);
CREATE INDEX passages_doc ON passages (doc_id);
"""

_COLUMNS = "row, id, doc_id, chunk, title, text"
_SQL_VARIABLES = 900  # stay under SQLite's default limit on bound parameters


class PassageStore:
    """Read and write access to the passages of one index bundle."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self._next_row = int(connection.execute("SELECT coalesce(max(row) + 1, 0) FROM passages").fetchone()[0])

    @classmethod
    def create(cls, path: Path) -> PassageStore:
        """A new, empty store for a build (in the build's temporary directory)."""
        db = sqlite3.connect(path)
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        return cls(db, path)

    @classmethod
    def open(cls, path: Path, *, writable: bool = False) -> PassageStore:
        if not path.is_file():
            raise IndexLoadError(f"passage store missing: {path}")
        mode = "rw" if writable else "ro"
        try:
            db = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, check_same_thread=False)
            db.execute("SELECT count(*) FROM passages").fetchone()
        except sqlite3.DatabaseError as exc:
            raise IndexLoadError(f"passage store {path} is not readable: {exc}") from exc
        return cls(db, path)

    def add_document(self, doc: Document, passages: Sequence[Passage]) -> None:
        """Store one document's passages at the next rows; duplicate document ids are an input error."""
        try:
            self._db.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?)", (doc.doc_id, doc.source, doc.line, len(passages))
            )
        except sqlite3.IntegrityError:
            first = self._db.execute("SELECT source, line FROM documents WHERE doc_id = ?", (doc.doc_id,)).fetchone()
            raise DuplicateDocumentError(
                f"duplicate document id {doc.doc_id!r} (first seen at {first[0]}:{first[1]})",
                source=doc.source,
                line=doc.line,
            ) from None
        start = self._next_row
        rows = [(start + i, p.id, p.doc_id, p.chunk, p.title, p.text) for i, p in enumerate(passages)]
        self._db.executemany(f"INSERT INTO passages ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", rows)
        self._next_row = start + len(rows)

    def commit(self) -> None:
        self._db.commit()

    def close(self) -> None:
        self._db.commit()
        self._db.close()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM passages").fetchone()[0])

    def document_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM documents").fetchone()[0])

    def get(self, passage_id: str) -> Passage | None:
        found = self.get_many([passage_id])
        return found[0] if found else None

    def get_many(self, passage_ids: Sequence[str]) -> list[Passage]:
        """Passages by id, in the order asked; unknown ids are left out."""
        by_id = {p.id: p for p in self._select("id", list(passage_ids))}
        return [by_id[i] for i in passage_ids if i in by_id]

    def get_rows(self, rows: Sequence[int]) -> list[Passage]:
        """Passages by row, in the order asked; rows out of range are left out."""
        found = {row: p for row, p in self._select_with_rows("row", [int(r) for r in rows])}
        return [found[r] for r in rows if r in found]

    def rows_of(self, passage_ids: Sequence[str]) -> dict[str, int]:
        result: dict[str, int] = {}
        for chunk in _chunks(list(passage_ids)):
            marks = ",".join("?" * len(chunk))
            for pid, row in self._db.execute(f"SELECT id, row FROM passages WHERE id IN ({marks})", chunk):
                result[pid] = int(row)
        return result

    def iter_passages(self, batch_size: int = 1024) -> Iterator[Passage]:
        """Every passage in row order, streamed."""
        cursor = self._db.execute(f"SELECT {_COLUMNS} FROM passages ORDER BY row")
        while batch := cursor.fetchmany(batch_size):
            for record in batch:
                yield _passage(record)

    def _select(self, column: str, keys: list[str]) -> Iterable[Passage]:
        return (p for _, p in self._select_with_rows(column, keys))

    def _select_with_rows(self, column: str, keys: Sequence[object]) -> Iterator[tuple[int, Passage]]:
        for chunk in _chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {_COLUMNS} FROM passages WHERE {column} IN ({marks})"
            for record in self._db.execute(query, chunk):
                yield int(record[0]), _passage(record)


def _passage(record: tuple[object, ...]) -> Passage:
    _, pid, doc_id, chunk, title, text = record
    return Passage(id=str(pid), doc_id=str(doc_id), title=str(title), text=str(text), chunk=int(chunk))  # type: ignore[call-overload]


def _chunks(items: list[object]) -> Iterator[list[object]]:
    for start in range(0, len(items), _SQL_VARIABLES):
        yield items[start : start + _SQL_VARIABLES]
