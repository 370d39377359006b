"""Vectors of entity names, their FAISS index, and synonym pairs from nearest neighbours.

Two vectorisers: `surface`, hashed character trigrams of the normalised name (microseconds a name, so
it costs nothing next to NER on a CPU; it finds spelling and form variants: "Ed Wood" ~ "Edward Wood",
"Acme Corp" ~ "Acme Corporation"), and `embedder`, the index's sentence embedder (semantic aliases
too, at the embedder's speed: the choice on a GPU). Synonym pairs come from a k-nearest-neighbour search
in a FAISS index (HNSW above `exact_threshold` names), so the cost grows near-linearly with the number
of entities, never with all pairs. Names are vectorised and added a batch of 65,536 at a time (the
batches DenseIndex adds anyway), and the synonym search reads the vectors back from the index, so the
index holds the only copy of them. (`embedder` vectors of a batch can differ in the last bits from those
of all names embedded at once; `surface` vectors cannot.)
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kg.graph import normalize_name
from retrieval.dense_index import DenseIndex, DenseIndexConfig
from retrieval.embedders import Embedder
from retrieval.errors import ConfigError, DependencyError

NAME_INDEX = "names.faiss"
_SEARCH_BATCH = 4096
_ADD_BATCH = 65_536  # DenseIndex adds in batches of this size too: the HNSW graph is the same either way


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
        vectors /= np.where(norms == 0, 1.0, norms)  # in place: a batch of 65,536 names is 64 MiB
        return vectors


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


@dataclass(frozen=True)
class SynonymPairs:
    """Entity pairs a < b whose names are close, with their similarity (rounded to 4 decimals)."""

    a: np.ndarray  # int64
    b: np.ndarray  # int64
    similarity: np.ndarray  # float64

    @classmethod
    def of(cls, pairs: Iterable[tuple[int, int, float]]) -> SynonymPairs:
        listed = list(pairs)
        return cls(
            np.asarray([p[0] for p in listed], dtype=np.int64),
            np.asarray([p[1] for p in listed], dtype=np.int64),
            np.asarray([p[2] for p in listed], dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.a)


class NameIndex:
    """Entity names in a FAISS index: nearest names to a mention, and synonym pairs."""

    def __init__(self, index: DenseIndex, vectorizer: NameVectorizer) -> None:
        self.index = index
        self.vectorizer = vectorizer

    @classmethod
    def build(cls, names: Sequence[str], vectorizer: NameVectorizer, config: SynonymConfig) -> NameIndex:
        first = vectorizer.vectorize(names[:_ADD_BATCH])
        kind = "flat" if len(names) < config.exact_threshold else "hnsw"
        index = cls(_empty_index(kind, first.shape[1], len(names)), vectorizer)
        index.index.add(first)
        del first  # one batch of vectors at a time
        index.add(names[_ADD_BATCH:])
        return index

    def add(self, names: Sequence[str]) -> None:
        """Vectorise and index more names; they get the next rows."""
        for start in range(0, len(names), _ADD_BATCH):
            self.index.add(self.vectorizer.vectorize(names[start : start + _ADD_BATCH]))

    @classmethod
    def load(cls, directory: Path, vectorizer: NameVectorizer) -> NameIndex:
        return cls(DenseIndex.load(directory / NAME_INDEX), vectorizer)

    def save(self, directory: Path) -> None:
        self.index.save(directory / NAME_INDEX)

    def nearest(self, mentions: Sequence[str], k: int = 3) -> list[list[tuple[int, float]]]:
        if not mentions or self.index.ntotal == 0:
            return [[] for _ in mentions]
        return self.index.search(self.vectorizer.vectorize(mentions), k)

    def synonym_pairs(self, config: SynonymConfig, first: int = 0) -> SynonymPairs:
        """Pairs of the indexed names from row `first` on with any indexed name whose vector is close
        (a pair found twice keeps the similarity found last); sorted by (a, b)."""
        keys, scores = array("q"), array("d")
        total = self.index.ntotal
        k = min(config.neighbours + 1, total)
        for start in range(first, total, _SEARCH_BATCH):
            vectors = self.index.reconstruct(range(start, min(start + _SEARCH_BATCH, total)))
            if vectors is None:
                raise ConfigError("the name index cannot give its vectors back (a flat or HNSW CPU index can)")
            for a, ranked in enumerate(self.index.search(vectors, k), start=start):
                for b, score in ranked:
                    if b != a and score >= config.threshold:
                        keys.append((min(a, b) << 32) | max(a, b))
                        scores.append(score)
        return _last_of_each(np.array(keys, dtype=np.int64), np.array(scores, dtype=np.float64))


def _empty_index(kind: str, dimension: int, capacity: int) -> DenseIndex:
    """An empty flat or HNSW inner-product index, as DenseIndex.build makes it, whose vector storage is
    allocated for `capacity` vectors at once: FAISS grows it by doubling as batches are added, which at
    287k names held 1.5x the vectors for a moment. (The vector is resized up and back down: its
    capacity stays.)"""
    try:
        import faiss
    except ImportError as exc:
        raise DependencyError("faiss is not installed: pip install faiss-cpu (or faiss-gpu)") from exc
    # a light HNSW: synonym candidates need no exhaustive recall, and on 97k names these settings build
    # and search in 11 s against 81 s for the passage index's (M 32, efConstruction 200) while finding
    # 96% of its pairs
    parameters: dict[str, object] = {"m": 16, "ef_construction": 40, "ef_search": 32} if kind == "hnsw" else {}
    config = DenseIndexConfig(kind=kind, use_gpu=False, hnsw_m=16, hnsw_ef_construction=40, hnsw_ef_search=32)
    index: Any
    storage: Any
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.hnsw_ef_construction
        index.hnsw.efSearch = config.hnsw_ef_search
        storage = faiss.downcast_index(index.storage)
    else:
        index = storage = faiss.IndexFlatIP(dimension)
    storage.codes.resize(capacity * storage.code_size)
    storage.codes.resize(0)
    return DenseIndex(index, kind, config, parameters)


def _last_of_each(keys: np.ndarray, scores: np.ndarray) -> SynonymPairs:
    """One pair per key, with the score it came with last, sorted by key."""
    unique, last = np.unique(keys[::-1], return_index=True)
    rounded = [round(score, 4) for score in scores[::-1][last].tolist()]
    return SynonymPairs(unique >> 32, unique & 0xFFFFFFFF, np.asarray(rounded, dtype=np.float64))
