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
    vectors = vectorizer.vectorize(NAMES)
    config = SynonymConfig(threshold=0.6, neighbours=3)
    index = NameIndex.build(vectors, vectorizer, config)
    pairs = {(NAMES[a], NAMES[b]) for a, b, _ in index.synonym_pairs(vectors, config)}
    assert ("acme corp", "acme corporation") in pairs and ("alice smith", "alice smyth") in pairs
    assert not any("paris" in pair for pair in pairs)
    index.save(tmp_path)
    again = NameIndex.load(tmp_path, vectorizer)
    assert again.nearest(["Acme Corporation"], 1)[0][0][0] == 1
    assert again.nearest([], 1) == []


def test_hnsw_above_the_exact_threshold() -> None:
    vectorizer = SurfaceNameVectorizer()
    vectors = vectorizer.vectorize(NAMES)
    index = NameIndex.build(vectors, vectorizer, SynonymConfig(exact_threshold=3))
    assert index.index.kind == "hnsw"


def test_bad_configuration() -> None:
    with pytest.raises(ConfigError):
        SynonymConfig(threshold=0)
    with pytest.raises(ConfigError, match="need an embedder"):
        make_vectorizer("embedder", None)
    with pytest.raises(ConfigError, match="unknown name vector kind"):
        make_vectorizer("fancy", None)
