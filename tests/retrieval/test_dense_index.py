from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval.dense_index import DenseIndex, DenseIndexConfig, choose_index_kind, ivf_list_count
from retrieval.errors import ConfigError, IndexLoadError

pytestmark = pytest.mark.unit

DIM = 32


def _normalised(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def _clustered(n: int, seed: int = 7, clusters: int = 50) -> np.ndarray:
    """Seeded vectors around a few centres, like real embeddings (uniform noise has no structure)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, DIM))
    return _normalised(centres[rng.integers(0, clusters, n)] + 0.5 * rng.standard_normal((n, DIM)))


def _queries(vectors: np.ndarray, n: int, seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = vectors[rng.choice(len(vectors), n, replace=False)]
    return _normalised(picked + 0.1 * rng.standard_normal(picked.shape))


def _recall_at_10(found: list[list[tuple[int, float]]], truth: list[list[tuple[int, float]]]) -> float:
    hits = [len({row for row, _ in a} & {row for row, _ in b}) for a, b in zip(found, truth, strict=True)]
    return sum(hits) / (10 * len(truth))


@pytest.fixture(scope="module")
def corpus() -> np.ndarray:
    return _clustered(5_000)


@pytest.fixture(scope="module")
def flat(corpus: np.ndarray) -> DenseIndex:
    return DenseIndex.build(corpus, DenseIndexConfig(kind="flat"))


def test_flat_top1_is_the_vector_itself(corpus: np.ndarray, flat: DenseIndex) -> None:
    results = flat.search(corpus[:50], k=3)
    assert [hits[0][0] for hits in results] == list(range(50))
    assert all(hits[0][1] == pytest.approx(1.0, abs=1e-5) for hits in results)
    assert all(len(hits) == 3 for hits in results)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_recall_against_flat(corpus: np.ndarray, flat: DenseIndex, kind: str) -> None:
    queries = _queries(corpus, 200)
    index = DenseIndex.build(corpus, DenseIndexConfig(kind=kind), batch_size=1_000)
    assert index.kind == kind
    assert index.ntotal == len(corpus)
    assert _recall_at_10(index.search(queries, k=10), flat.search(queries, k=10)) >= 0.9


def test_auto_kind_by_threshold() -> None:
    config = DenseIndexConfig(exact_threshold=100)
    assert choose_index_kind(99, config) == "flat"
    assert choose_index_kind(100, config) == "hnsw"
    assert choose_index_kind(10**9, DenseIndexConfig()) == "hnsw"
    assert choose_index_kind(10, DenseIndexConfig(kind="ivf")) == "ivf"
    vectors = _clustered(150)
    assert DenseIndex.build(vectors, DenseIndexConfig(exact_threshold=151)).kind == "flat"
    assert DenseIndex.build(vectors, DenseIndexConfig(exact_threshold=150)).kind == "hnsw"


def test_ivf_list_count() -> None:
    assert ivf_list_count(5_000, DenseIndexConfig()) == 5_000 // 39
    assert ivf_list_count(1_000_000, DenseIndexConfig()) == 4_000
    assert ivf_list_count(10, DenseIndexConfig()) == 1
    assert ivf_list_count(100, DenseIndexConfig(ivf_nlist=7)) == 7
    with pytest.raises(ConfigError):
        ivf_list_count(5, DenseIndexConfig(ivf_nlist=7))


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_save_load_round_trip(tmp_path: Path, corpus: np.ndarray, kind: str) -> None:
    index = DenseIndex.build(corpus[:2_000], DenseIndexConfig(kind=kind))
    path = tmp_path / "dense" / "index.faiss"
    index.save(path)
    loaded = DenseIndex.load(path)
    assert (loaded.kind, loaded.dimension, loaded.ntotal) == (kind, DIM, 2_000)
    assert loaded.describe() == index.describe()
    queries = _queries(corpus[:2_000], 20)
    assert loaded.search(queries, k=10) == index.search(queries, k=10)


def test_load_restores_search_parameters_from_config(tmp_path: Path, corpus: np.ndarray) -> None:
    DenseIndex.build(corpus[:2_000], DenseIndexConfig(kind="hnsw")).save(tmp_path / "h.faiss")
    DenseIndex.build(corpus[:2_000], DenseIndexConfig(kind="ivf")).save(tmp_path / "i.faiss")
    hnsw = DenseIndex.load(tmp_path / "h.faiss", DenseIndexConfig(hnsw_ef_search=64))
    ivf = DenseIndex.load(tmp_path / "i.faiss", DenseIndexConfig(ivf_nprobe=4))
    assert hnsw.describe()["parameters"] == {"m": 32, "ef_construction": 200, "ef_search": 64}
    assert ivf.describe()["parameters"] == {"nlist": 2_000 // 39, "nprobe": 4}
    with pytest.raises(IndexLoadError, match="ivf"):
        DenseIndex.load(tmp_path / "h.faiss", DenseIndexConfig(kind="ivf"))


def test_load_missing_or_corrupt(tmp_path: Path, flat: DenseIndex) -> None:
    with pytest.raises(IndexLoadError, match="missing"):
        DenseIndex.load(tmp_path / "absent.faiss")
    (tmp_path / "garbage.faiss").write_bytes(b"not a faiss index at all")
    with pytest.raises(IndexLoadError, match=r"garbage\.faiss"):
        DenseIndex.load(tmp_path / "garbage.faiss")
    flat.save(tmp_path / "whole.faiss")
    (tmp_path / "cut.faiss").write_bytes((tmp_path / "whole.faiss").read_bytes()[:1_000])
    with pytest.raises(IndexLoadError, match=r"cut\.faiss"):
        DenseIndex.load(tmp_path / "cut.faiss")


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_add_appends_rows(corpus: np.ndarray, kind: str) -> None:
    index = DenseIndex.build(corpus[:1_000], DenseIndexConfig(kind=kind))
    index.add(corpus[1_000:1_200])
    assert index.ntotal == 1_200
    assert [hits[0][0] for hits in index.search(corpus[1_000:1_010], k=1)] == list(range(1_000, 1_010))
    with pytest.raises(ConfigError):
        index.add(np.zeros((2, DIM + 1), dtype=np.float32))


def test_k_clamped_and_padding_dropped() -> None:
    vectors = _clustered(5)
    index = DenseIndex.build(vectors)
    results = index.search(vectors[:2], k=50)
    assert [len(hits) for hits in results] == [5, 5]
    assert index.search(vectors[:2], k=0) == [[], []]
    assert len(index.search(vectors[0], k=3)) == 1  # a 1-D array is one query
    with pytest.raises(ConfigError):
        index.search(vectors[:1], k=-1)
    with pytest.raises(ConfigError):
        index.search(np.zeros((1, DIM + 1), dtype=np.float32))


def test_ties_broken_by_row() -> None:
    vectors = _clustered(100)
    for row in (70, 3, 41):
        vectors[row] = vectors[10]
    index = DenseIndex.build(vectors)
    rows = [row for row, _ in index.search(vectors[10:11], k=4)[0]]
    assert rows == [3, 10, 41, 70]


def test_memmap_input_and_progress(tmp_path: Path) -> None:
    vectors = _clustered(1_000)
    stored = np.lib.format.open_memmap(tmp_path / "v.npy", mode="w+", dtype=np.float32, shape=vectors.shape)
    stored[:] = vectors
    seen: list[int] = []
    index = DenseIndex.build(stored, DenseIndexConfig(kind="ivf"), batch_size=300, on_progress=seen.append)
    assert seen == [300, 300, 300, 100]
    assert index.ntotal == 1_000


def test_ivf_build_is_deterministic(corpus: np.ndarray) -> None:
    queries = _queries(corpus, 20)
    config = DenseIndexConfig(kind="ivf", ivf_nprobe=2)
    first = DenseIndex.build(corpus, config).search(queries, k=10)
    assert DenseIndex.build(corpus, config).search(queries, k=10) == first


def test_empty_flat_index() -> None:
    index = DenseIndex.build(np.zeros((0, DIM), dtype=np.float32))
    assert (index.kind, index.ntotal) == ("flat", 0)
    assert index.search(_clustered(2), k=5) == [[], []]
    with pytest.raises(ConfigError):
        DenseIndex.build(np.zeros((0, DIM), dtype=np.float32), DenseIndexConfig(kind="ivf"))


def test_describe(flat: DenseIndex) -> None:
    described = flat.describe()
    assert described["kind"] == "flat"
    assert described["dimension"] == DIM
    assert described["ntotal"] == 5_000
    assert described["metric"] == "inner_product"
    assert described["gpu"] is flat.on_gpu
    assert isinstance(described["faiss_version"], str)
    json.dumps(described)


@pytest.mark.parametrize(
    "settings",
    [
        {"kind": "annoy"},
        {"exact_threshold": -1},
        {"hnsw_m": 1},
        {"hnsw_ef_search": 0},
        {"hnsw_ef_construction": 0},
        {"ivf_nlist": 0},
        {"ivf_nprobe": 0},
        {"seed": -3},
    ],
)
def test_config_validation(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        DenseIndexConfig(**settings)  # type: ignore[arg-type]


def test_bad_vectors() -> None:
    with pytest.raises(ConfigError):
        DenseIndex.build(np.zeros(DIM, dtype=np.float32))
    with pytest.raises(ConfigError):
        DenseIndex.build(_clustered(10), batch_size=0)
