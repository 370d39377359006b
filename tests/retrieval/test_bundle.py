from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.builder import build_index
from retrieval.bundle import IndexBundle
from retrieval.errors import IndexLoadError
from retrieval.searcher import Searcher
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.unit


@pytest.fixture
def index(small_dump: Path, tmp_path: Path) -> Path:
    build_index([small_dump], tmp_path / "index", HashingEmbedder())
    return tmp_path / "index"


def _edit_manifest(index: Path, **changes: object) -> None:
    data = json.loads((index / "manifest.json").read_text())
    data.update(changes)
    (index / "manifest.json").write_text(json.dumps(data))


def test_not_an_index(tmp_path: Path) -> None:
    with pytest.raises(IndexLoadError, match="not a directory"):
        IndexBundle.open(tmp_path / "missing")
    with pytest.raises(IndexLoadError, match="manifest.json is missing"):
        IndexBundle.open(tmp_path)


def test_schema_version_mismatch(index: Path) -> None:
    _edit_manifest(index, schema_version=99)
    with pytest.raises(IndexLoadError, match="schema version 99, but this Sleuth reads version 1; rebuild"):
        IndexBundle.open(index)


def test_corrupt_manifest(index: Path) -> None:
    (index / "manifest.json").write_text("{not json")
    with pytest.raises(IndexLoadError, match="manifest.json is corrupt"):
        IndexBundle.open(index)


def test_missing_file_is_named(index: Path) -> None:
    (index / "dense.faiss").unlink()
    with pytest.raises(IndexLoadError, match="incomplete: missing dense.faiss"):
        IndexBundle.open(index)


def test_embedder_mismatch(index: Path) -> None:
    with pytest.raises(IndexLoadError, match="built with embedder 'fake-hashing' .*not 'other-model'"):
        IndexBundle.open(index, embedder_name="other-model")
    searcher = Searcher(IndexBundle.open(index), embedder=HashingEmbedder(dimension=32, name="fake-hashing"))
    with pytest.raises(IndexLoadError, match="dimension 64.*dimension 32"):
        searcher.search("engine", "dense")


def test_count_mismatch_between_manifest_and_indexes(index: Path) -> None:
    data = json.loads((index / "manifest.json").read_text())
    data["counts"]["passages"] = 5
    (index / "manifest.json").write_text(json.dumps(data))
    bundle = IndexBundle.open(index)
    with pytest.raises(IndexLoadError, match="holds 4 passages, the manifest says 5"):
        _ = bundle.store
