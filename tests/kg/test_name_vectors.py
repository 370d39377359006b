from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kg.name_vectors import NameIndex, SurfaceNameVectorizer, SynonymConfig, make_vectorizer
from retrieval.errors import ConfigError

pytestmark = pytest.mark.unit

NAMES = ["acme corp", "acme corporation", "berlin", "berlin germany", "paris", "alice smith", "alice smyth"]


def test_surface_vectors_are_normalised_and_deterministic() -> None:
    vectors = SurfaceNameVectorizer().vectorize(["Acme Corp", "acme corp", ""])
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0) and not vectors[2].any()
    assert np.array_equal(vectors[0], vectors[1])


def test_synonym_pairs_from_nearest_neighbours(tmp_path: Path) -> None:
    vectorizer = SurfaceNameVectorizer()
    config = SynonymConfig(threshold=0.6, neighbours=3)
    index = NameIndex.build(NAMES, vectorizer, config)
    found = index.synonym_pairs(config)
    pairs = {(NAMES[a], NAMES[b]) for a, b in zip(found.a.tolist(), found.b.tolist(), strict=True)}
    assert ("acme corp", "acme corporation") in pairs and ("alice smith", "alice smyth") in pairs
    assert not any("paris" in pair for pair in pairs)
    index.save(tmp_path)
    again = NameIndex.load(tmp_path, vectorizer)
    assert again.nearest(["Acme Corporation"], 1)[0][0][0] == 1
    assert again.nearest([], 1) == []


def test_hnsw_above_the_exact_threshold() -> None:
    vectorizer = SurfaceNameVectorizer()
    index = NameIndex.build(NAMES, vectorizer, SynonymConfig(exact_threshold=3))
    assert index.index.kind == "hnsw"


def test_bad_configuration() -> None:
    with pytest.raises(ConfigError):
        SynonymConfig(threshold=0)
    with pytest.raises(ConfigError, match="need an embedder"):
        make_vectorizer("embedder", None)
    with pytest.raises(ConfigError, match="unknown name vector kind"):
        make_vectorizer("fancy", None)


@pytest.mark.parametrize("exact_threshold", [20_000, 100])
def test_the_index_is_the_one_dense_index_builds(exact_threshold: int, tmp_path: Path) -> None:
    """Storage allocated up front and names vectorised a batch at a time change nothing in the file
    (one FAISS thread: HNSW insertion on several threads is not deterministic)."""
    import faiss

    from retrieval.dense_index import DenseIndex, DenseIndexConfig

    names = [f"name {i} {chr(97 + i % 26)}{i % 7}" for i in range(300)]
    vectorizer = SurfaceNameVectorizer()
    kind = "flat" if len(names) < exact_threshold else "hnsw"
    settings = DenseIndexConfig(kind=kind, use_gpu=False, hnsw_m=16, hnsw_ef_construction=40, hnsw_ef_search=32)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        built = NameIndex.build(names, vectorizer, SynonymConfig(exact_threshold=exact_threshold))
        reference = DenseIndex.build(vectorizer.vectorize(names), settings)
    finally:
        faiss.omp_set_num_threads(threads)
    built.index.save(tmp_path / "built.faiss")
    reference.save(tmp_path / "reference.faiss")
    assert built.index.kind == kind and built.index.describe() == reference.describe()
    assert (tmp_path / "built.faiss").read_bytes() == (tmp_path / "reference.faiss").read_bytes()
