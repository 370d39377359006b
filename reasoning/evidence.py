"""Evidence: candidate passages with the signals that found them, the passages a chain holds, and the
few sentences of each that the LLM reads.

Reading whole passages is what makes a CPU slow (about 34 prompt tokens a second), so a chain shows the
LLM only the sentences of each passage most similar to what it is looking for (plus the title), and its
evidence list only grows, so that its prompts share their prefix from round to round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from reasoning.prompts import EvidenceLine
from reasoning.text import sentences, shorten
from retrieval.bundle import IndexBundle
from retrieval.documents import Passage
from retrieval.embedders import Embedder

MAX_SENTENCE_CHARS = 300


@dataclass
class Candidate:
    """A passage found for a chain in one round: which sources found it, at what rank, and its scores."""

    row: int
    passage: Passage
    ranks: dict[str, int] = field(default_factory=dict)  # source -> 1-based rank (hybrid, ppr, neighbour, path)
    fused: float = 0.0  # reciprocal-rank fusion over the sources
    criteria: dict[str, float] = field(default_factory=dict)
    score: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "passage_id": self.passage.id,
            "title": self.passage.title,
            "ranks": dict(self.ranks),
            "fused": round(self.fused, 5),
            "criteria": {k: round(v, 4) for k, v in self.criteria.items()},
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class EvidenceItem:
    """A passage a chain holds, numbered [number] in its prompts, with the sentences it shows the LLM."""

    number: int
    row: int
    passage: Passage
    sentences: tuple[str, ...]
    score: float
    round: int
    sources: tuple[str, ...]

    def line(self) -> EvidenceLine:
        return EvidenceLine(self.number, self.passage.title, " ".join(self.sentences))


class PassageVectors:
    """Unit vectors of passages (from the FAISS index when it can give them back, else embedded) and of
    texts, cached for the length of one question."""

    def __init__(self, bundle: IndexBundle, embedder: Embedder) -> None:
        self._bundle = bundle
        self._embedder = embedder
        self._passages: dict[int, np.ndarray] = {}
        self._texts: dict[str, np.ndarray] = {}

    def of_rows(self, rows: Sequence[int], passages: Sequence[Passage]) -> np.ndarray:
        missing = [i for i, row in enumerate(rows) if row not in self._passages]
        if missing:
            stored = self._bundle.dense.reconstruct([rows[i] for i in missing])
            if stored is None:
                stored = self._embedder.embed([passages[i].embedding_text for i in missing])
            for i, vector in zip(missing, stored, strict=True):
                self._passages[rows[i]] = _unit(vector)
        return np.stack([self._passages[row] for row in rows]) if rows else np.zeros((0, 1), dtype=np.float32)

    def of_texts(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._texts))
        if missing:
            for text, vector in zip(missing, self._embedder.embed(missing), strict=True):
                self._texts[text] = _unit(vector)
        return np.stack([self._texts[t] for t in texts]) if texts else np.zeros((0, 1), dtype=np.float32)


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def best_sentences(passage: Passage, query_vector: np.ndarray, vectors: PassageVectors, count: int) -> tuple[str, ...]:
    """The `count` sentences of a passage most similar to the query, in passage order (the first one is
    always kept: it usually names the subject)."""
    found = sentences(passage.text) or [passage.text]
    if len(found) <= count:
        return tuple(shorten(s, MAX_SENTENCE_CHARS) for s in found)
    similarity = vectors.of_texts(found) @ query_vector
    chosen = {0} | {int(i) for i in np.argsort(-similarity[1:], kind="stable")[: count - 1] + 1}
    return tuple(shorten(found[i], MAX_SENTENCE_CHARS) for i in sorted(chosen))
