"""Dense inner-product index over passage embeddings, on FAISS, its kind chosen by corpus size.

Below ``exact_threshold`` vectors the index is exact (flat inner product); at or above it, HNSW. IVF is
there on request. Vectors are L2-normalised float32, so inner product is cosine similarity. Rows of the
index are passage rows (0..N-1). With faiss-gpu and a visible GPU, flat and IVF indexes build and search on
the GPU (HNSW stays on the CPU); the saved file is always a CPU index written by ``faiss.write_index``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import ConfigError, DependencyError, IndexLoadError

logger = logging.getLogger(__name__)

KINDS = ("auto", "flat", "hnsw", "ivf")
GPU_MAX_K = 2048  # faiss-gpu's largest k per search
_TRAIN_POINTS_PER_LIST = 100  # IVF k-means sample size per list (faiss caps at 256)
_MIN_POINTS_PER_LIST = 39  # below this faiss warns that k-means has too few points


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise DependencyError("faiss is not installed: pip install faiss-cpu (or faiss-gpu)") from exc
    return faiss


@dataclass(frozen=True)
class DenseIndexConfig:
    """Which FAISS index to build and how to search it."""

    kind: str = "auto"
    exact_threshold: int = 200_000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 128
    ivf_nlist: int | None = None
    ivf_nprobe: int = 16
    use_gpu: bool | None = None
    seed: int = 1234

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown dense index kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        minimums = {
            "exact_threshold": 0,
            "hnsw_m": 2,
            "hnsw_ef_construction": 1,
            "hnsw_ef_search": 1,
            "ivf_nprobe": 1,
            "seed": 0,
        }
        for name, minimum in minimums.items():
            if getattr(self, name) < minimum:
                raise ConfigError(f"dense index {name} must be >= {minimum}, got {getattr(self, name)}")
        if self.ivf_nlist is not None and self.ivf_nlist < 1:
            raise ConfigError(f"dense index ivf_nlist must be >= 1 or None, got {self.ivf_nlist}")


_DEFAULT_CONFIG = DenseIndexConfig()


def choose_index_kind(n_vectors: int, config: DenseIndexConfig) -> str:
    """The configured kind, or for ``auto``: flat below ``exact_threshold`` vectors, hnsw at or above."""
    if config.kind != "auto":
        return config.kind
    return "flat" if n_vectors < config.exact_threshold else "hnsw"


def ivf_list_count(n_vectors: int, config: DenseIndexConfig) -> int:
    """``ivf_nlist``, or about 4*sqrt(n) clamped to [1, n // 39] so every list has training points."""
    if config.ivf_nlist is not None:
        if config.ivf_nlist > n_vectors:
            raise ConfigError(f"ivf_nlist={config.ivf_nlist} needs at least as many vectors, got {n_vectors}")
        return config.ivf_nlist
    return max(1, min(round(4 * math.sqrt(n_vectors)), n_vectors // _MIN_POINTS_PER_LIST))


def _gpu_available(faiss: Any) -> bool:
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def _wants_gpu(kind: str, config: DenseIndexConfig) -> bool:
    available = _gpu_available(_faiss())
    if config.use_gpu and not available:
        raise DependencyError("use_gpu is set but no GPU is usable: install faiss-gpu and make a GPU visible")
    if kind == "hnsw":
        if config.use_gpu:
            logger.info("HNSW has no GPU version in faiss: it stays on the CPU")
        return False
    return available if config.use_gpu is None else config.use_gpu


def _new_cpu_index(kind: str, dimension: int, n_vectors: int, config: DenseIndexConfig) -> Any:
    faiss = _faiss()
    if kind == "flat":
        return faiss.IndexFlatIP(dimension)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.hnsw_ef_construction
        index.hnsw.efSearch = config.hnsw_ef_search
        return index
    if n_vectors == 0:
        raise ConfigError("an IVF index needs training vectors; got 0")
    nlist = ivf_list_count(n_vectors, config)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    index.nprobe = min(config.ivf_nprobe, nlist)
    index.cp.seed = config.seed
    return index


def _kind_of(index: Any, path: Path) -> str:
    faiss = _faiss()
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise IndexLoadError(f"FAISS index {path} does not use the inner-product metric")
    for kind, cls in (("hnsw", faiss.IndexHNSWFlat), ("ivf", faiss.IndexIVFFlat), ("flat", faiss.IndexFlat)):
        if isinstance(index, cls):
            return kind
    raise IndexLoadError(f"FAISS index {path} is a {type(index).__name__}, not flat, HNSW or IVF")


def _parameters(index: Any, kind: str) -> dict[str, object]:
    """Search and build parameters read from a CPU index."""
    if kind == "hnsw":
        hnsw = index.hnsw
        return {"m": hnsw.nb_neighbors(1), "ef_construction": hnsw.efConstruction, "ef_search": hnsw.efSearch}
    if kind == "ivf":
        return {"nlist": index.nlist, "nprobe": index.nprobe}
    return {}


def _as_matrix(vectors: np.ndarray, dimension: int | None = None) -> np.ndarray:
    if vectors.ndim != 2 or vectors.shape[1] == 0:
        raise ConfigError(f"vectors must be a 2-D array (n, dimension), got shape {vectors.shape}")
    if dimension is not None and vectors.shape[1] != dimension:
        raise ConfigError(f"vectors have dimension {vectors.shape[1]}, the index has {dimension}")
    return np.ascontiguousarray(vectors, dtype=np.float32)


def _training_sample(vectors: np.ndarray, nlist: int, seed: int) -> np.ndarray:
    """A seeded sample of rows, read in row order (kind to a memmap)."""
    n = len(vectors)
    size = min(n, nlist * _TRAIN_POINTS_PER_LIST)
    if size == n:
        return _as_matrix(vectors[:])
    rows = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    return _as_matrix(vectors[rows])


def _warn_if_not_normalised(batch: np.ndarray) -> None:
    norms = np.linalg.norm(batch, axis=1)
    if len(norms) and not np.allclose(norms, 1.0, atol=1e-3):
        logger.warning("dense vectors are not L2-normalised (norms %.3f..%.3f)", norms.min(), norms.max())


def _ranked(rows: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
    keep = rows >= 0
    rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores))
    return [(int(row), float(score)) for row, score in zip(rows[order], scores[order], strict=True)]


class DenseIndex:
    """A FAISS inner-product index whose search returns passage rows, best first."""

    def __init__(self, index: Any, kind: str, config: DenseIndexConfig, parameters: dict[str, object]) -> None:
        self.kind = kind
        self.config = config
        self.dimension = int(index.d)
        self._parameters = parameters
        self._gpu_resources: Any = None
        self._index = index

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        config: DenseIndexConfig = _DEFAULT_CONFIG,
        *,
        batch_size: int = 65_536,
        on_progress: Callable[[int], None] | None = None,
    ) -> DenseIndex:
        """Index (N, d) float32 vectors (a memmap is fine), added in batches; ``on_progress(batch size)``."""
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise ConfigError(f"vectors must be a 2-D array (n, dimension), got shape {vectors.shape}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        started = time.perf_counter()
        kind = choose_index_kind(len(vectors), config)
        cpu_index = _new_cpu_index(kind, int(vectors.shape[1]), len(vectors), config)
        index = cls(cpu_index, kind, config, _parameters(cpu_index, kind))
        index._place(_wants_gpu(kind, config))
        if kind == "ivf":
            index._index.train(_training_sample(vectors, int(cpu_index.nlist), config.seed))
        index._add_batches(vectors, batch_size, on_progress)
        logger.info(
            "FAISS %s index built: %d vectors of dimension %d in %.1fs%s",
            kind,
            index.ntotal,
            index.dimension,
            time.perf_counter() - started,
            " on GPU" if index.on_gpu else "",
        )
        return index

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def on_gpu(self) -> bool:
        return self._gpu_resources is not None

    def _place(self, use_gpu: bool) -> None:
        if not use_gpu:
            return
        faiss = _faiss()
        self._gpu_resources = faiss.StandardGpuResources()
        self._index = faiss.index_cpu_to_gpu(self._gpu_resources, 0, self._index)
        if self.kind == "ivf" and hasattr(self._index, "cp"):
            self._index.cp.seed = self.config.seed

    def _add_batches(self, vectors: np.ndarray, batch_size: int, on_progress: Callable[[int], None] | None) -> None:
        for start in range(0, len(vectors), batch_size):
            batch = _as_matrix(vectors[start : start + batch_size], self.dimension)
            if start == 0:
                _warn_if_not_normalised(batch)
            self._index.add(batch)
            if on_progress is not None:
                on_progress(len(batch))

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors; they get the next rows (ntotal, ntotal + 1, ...)."""
        if vectors.ndim != 2:
            raise ConfigError(f"vectors must be a 2-D array (n, dimension), got shape {vectors.shape}")
        self._add_batches(vectors, 65_536, None)

    def search(self, queries: np.ndarray, k: int = 10) -> list[list[tuple[int, float]]]:
        """Per query (a 1-D array is one query), up to k (row, score) pairs by (-score, row)."""
        matrix = _as_matrix(queries.reshape(1, -1) if queries.ndim == 1 else queries, self.dimension)
        if k < 0:
            raise ConfigError(f"k must be >= 0, got {k}")
        k = min(k, self.ntotal)
        if self.on_gpu and k > GPU_MAX_K:
            logger.warning("faiss-gpu returns at most %d results per query; k=%d capped", GPU_MAX_K, k)
            k = GPU_MAX_K
        if k == 0 or len(matrix) == 0:
            return [[] for _ in range(len(matrix))]
        scores, rows = self._index.search(matrix, k)
        return [_ranked(r, s) for r, s in zip(rows, scores, strict=True)]

    def reconstruct(self, rows: Sequence[int]) -> np.ndarray | None:
        """The stored vectors of `rows` (n, d), or None where the index cannot give them back (IVF without a
        direct map, some GPU indexes): the caller then embeds the passages again."""
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        try:
            return np.asarray(self._index.reconstruct_batch(np.asarray(rows, dtype=np.int64)), dtype=np.float32)
        except (RuntimeError, AttributeError):
            return None

    def _cpu_index(self) -> Any:
        return _faiss().index_gpu_to_cpu(self._index) if self.on_gpu else self._index

    def save(self, path: Path) -> None:
        """Write the index to one file (a GPU index is copied back to the CPU first)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _faiss().write_index(self._cpu_index(), str(path))

    @classmethod
    def load(cls, path: Path, config: DenseIndexConfig = _DEFAULT_CONFIG) -> DenseIndex:
        """Read an index; search settings (efSearch, nprobe) and GPU placement come from ``config``."""
        path = Path(path)
        if not path.is_file():
            raise IndexLoadError(f"FAISS index file missing: {path}")
        faiss = _faiss()
        try:
            cpu_index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise IndexLoadError(f"corrupt FAISS index file {path}: {str(exc).splitlines()[0]}") from exc
        kind = _kind_of(cpu_index, path)
        if config.kind not in ("auto", kind):
            raise IndexLoadError(f"FAISS index {path} is {kind}, the settings ask for {config.kind}")
        if kind == "hnsw":
            cpu_index.hnsw.efSearch = config.hnsw_ef_search
        elif kind == "ivf":
            cpu_index.nprobe = min(config.ivf_nprobe, cpu_index.nlist)
        index = cls(cpu_index, kind, config, _parameters(cpu_index, kind))
        index._place(_wants_gpu(kind, config))
        return index

    def describe(self) -> dict[str, object]:
        """Kind, size and parameters for the index manifest."""
        return {
            "kind": self.kind,
            "dimension": self.dimension,
            "ntotal": self.ntotal,
            "metric": "inner_product",
            "parameters": dict(self._parameters),
            "gpu": self.on_gpu,
            "faiss_version": _faiss().__version__,
        }
