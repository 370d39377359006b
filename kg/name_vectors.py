"""Vectors of entity names, their FAISS index, and synonym pairs from nearest neighbours.

Two vectorisers: `surface`, hashed character trigrams of the normalised name (microseconds a name, so
it costs nothing next to NER on a CPU; it finds spelling and form variants: "Ed Wood" ~ "Edward Wood",
"Acme Corp" ~ "Acme Corporation"), and `embedder`, the index's sentence embedder (semantic aliases
too, at the embedder's speed: the choice on a GPU). Synonym pairs come from a k-nearest-neighbour search
in a FAISS index (HNSW above `exact_threshold` names), so the cost grows near-linearly with the number
of entities, never with all pairs.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from kg.graph import normalize_name
from retrieval.dense_index import DenseIndex, DenseIndexConfig
from retrieval.embedders import Embedder
from retrieval.errors import ConfigError

NAME_INDEX = "names.faiss"
_SEARCH_BATCH = 4096


class NameVectorizer(Protocol):
    @property
    def kind(self) -> str: ...

    def vectorize(self, names: Sequence[str]) -> np.ndarray: ...


class SurfaceNameVectorizer:
    """Hashed character trigrams of the normalised name, L2-normalised."""

    kind = "surface"

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension

    def vectorize(self, names: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(names), self.dimension), dtype=np.float32)
        for row, name in enumerate(names):
            padded = f" {normalize_name(name)} "
            for start in range(len(padded) - 2):
                vectors[row, zlib.crc32(padded[start : start + 3].encode()) % self.dimension] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


class EmbedderNameVectorizer:
    """The sentence embedder applied to names."""

    kind = "embedder"

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    def vectorize(self, names: Sequence[str]) -> np.ndarray:
        return self._embedder.embed(list(names))


def make_vectorizer(kind: str, embedder: Embedder | None) -> NameVectorizer:
    if kind == "surface":
        return SurfaceNameVectorizer()
    if kind == "embedder":
        if embedder is None:
            raise ConfigError("name vectors of kind 'embedder' need an embedder")
        return EmbedderNameVectorizer(embedder)
    raise ConfigError(f"unknown name vector kind {kind!r}: use surface or embedder")


@dataclass(frozen=True)
class SynonymConfig:
    vectors: str = "surface"  # surface | embedder
    neighbours: int = 8
    threshold: float = 0.7  # cosine similarity of two names for a synonym edge
    exact_threshold: int = 20_000  # names; HNSW above

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ConfigError(f"synonym threshold must be in (0, 1], got {self.threshold}")
        if self.neighbours < 1:
            raise ConfigError(f"synonym neighbours must be at least 1, got {self.neighbours}")


class NameIndex:
    """Entity names in a FAISS index: nearest names to a mention, and synonym pairs."""

    def __init__(self, index: DenseIndex, vectorizer: NameVectorizer) -> None:
        self.index = index
        self.vectorizer = vectorizer

    @classmethod
    def build(cls, vectors: np.ndarray, vectorizer: NameVectorizer, config: SynonymConfig) -> NameIndex:
        kind = "flat" if len(vectors) < config.exact_threshold else "hnsw"
        # a light HNSW: synonym candidates need no exhaustive recall, and on 97k names these settings
        # build and search in 11 s against 81 s for the passage index's (M 32, efConstruction 200)
        # while finding 96% of its pairs
        dense = DenseIndexConfig(kind=kind, use_gpu=False, hnsw_m=16, hnsw_ef_construction=40, hnsw_ef_search=32)
        return cls(DenseIndex.build(vectors, dense), vectorizer)

    @classmethod
    def load(cls, directory: Path, vectorizer: NameVectorizer) -> NameIndex:
        return cls(DenseIndex.load(directory / NAME_INDEX), vectorizer)

    def save(self, directory: Path) -> None:
        self.index.save(directory / NAME_INDEX)

    def nearest(self, mentions: Sequence[str], k: int = 3) -> list[list[tuple[int, float]]]:
        if not mentions or self.index.ntotal == 0:
            return [[] for _ in mentions]
        return self.index.search(self.vectorizer.vectorize(mentions), k)

    def synonym_pairs(self, vectors: np.ndarray, config: SynonymConfig) -> list[tuple[int, int, float]]:
        """(a, b, similarity) with a < b for indexed names whose vectors (given, in index order) are close."""
        pairs: dict[tuple[int, int], float] = {}
        k = min(config.neighbours + 1, len(vectors))
        for start in range(0, len(vectors), _SEARCH_BATCH):
            for offset, ranked in enumerate(self.index.search(vectors[start : start + _SEARCH_BATCH], k)):
                a = start + offset
                for b, score in ranked:
                    if b != a and score >= config.threshold:
                        pairs[(min(a, b), max(a, b))] = round(float(score), 4)
        return sorted((a, b, s) for (a, b), s in pairs.items())
