"""The records that flow through index building and search."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Document:
    """One record of a dump, as read: its id is the dump's own id."""

    doc_id: str
    title: str
    text: str
    source: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrievable unit: a document, or one chunk of a long one, with the document's title."""

    id: str
    doc_id: str
    title: str
    text: str
    chunk: int = 0

    @property
    def embedding_text(self) -> str:
        """The text the embedder and BM25 see: the title kept with every passage."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True, slots=True)
class Hit:
    """A passage returned by a retriever, with its score and 1-based rank."""

    passage: Passage
    score: float
    rank: int
    scores: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.passage.id,
            "doc_id": self.passage.doc_id,
            "title": self.passage.title,
            "text": self.passage.text,
            "score": self.score,
            "rank": self.rank,
        }


def passage_id(doc_id: str, text: str) -> str:
    """Stable, content-derived passage id: the same document text always gets the same id."""
    digest = hashlib.blake2b(f"{doc_id}\x1f{text}".encode(), digest_size=8).hexdigest()
    return f"passage-{digest}"
