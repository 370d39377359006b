"""Incremental add: documents appended to the store, FAISS and BM25 without a rebuild; crash-safe; idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.builder import build_index
from retrieval.bundle import IndexBundle
from retrieval.documents import Document
from retrieval.errors import ConfigError, InputDataError
from retrieval.incremental import add_documents
from retrieval.searcher import Searcher
from tests.fakes import FailingEmbedder, HashingEmbedder

pytestmark = pytest.mark.unit

NEW = [
    Document("d5", "Grace Hopper", "Grace Hopper wrote the first compiler for a computer language."),
    Document("d6", "COBOL", "COBOL is a programming language designed in 1959."),
]


@pytest.fixture
def index(small_dump: Path, tmp_path: Path) -> Path:
    build_index([small_dump], tmp_path / "index", HashingEmbedder())
    return tmp_path / "index"


def test_added_documents_are_searchable_in_every_mode(index: Path) -> None:
    result = add_documents(index, NEW, HashingEmbedder(), update_id="u1")
    assert (result.documents, result.passages, result.already_applied) == (2, 2, False)
    bundle = IndexBundle.open(index)
    assert bundle.manifest.data["counts"]["documents"] == 6 and bundle.manifest.passage_count == 6
    assert bundle.manifest.data["updates"][0]["id"] == "u1"
    searcher = Searcher(bundle, embedder=HashingEmbedder())
    for mode in ("bm25", "dense", "hybrid"):
        assert searcher.search("Grace Hopper compiler", mode, 1).hits[0].passage.doc_id == "d5"


def test_the_same_as_a_build_of_everything(index: Path, small_dump: Path, tmp_path: Path) -> None:
    add_documents(index, NEW, HashingEmbedder(), update_id="u1")
    whole = tmp_path / "whole.jsonl"
    whole.write_text(
        small_dump.read_text()
        + "".join(f'{{"id": "{d.doc_id}", "title": "{d.title}", "text": "{d.text}"}}\n' for d in NEW)
    )
    build_index([whole], tmp_path / "rebuilt", HashingEmbedder())
    added, rebuilt = IndexBundle.open(index), IndexBundle.open(tmp_path / "rebuilt")
    for query in ("Analytical Engine", "programming language", "capital of England"):
        assert _rounded(added.bm25.search(query, 6)) == _rounded(rebuilt.bm25.search(query, 6))
    vectors = HashingEmbedder().embed(["computer program"])
    assert _rounded(added.dense.search(vectors, 6)[0]) == _rounded(rebuilt.dense.search(vectors, 6)[0])


def test_repeating_an_update_changes_nothing(index: Path) -> None:
    add_documents(index, NEW, HashingEmbedder(), update_id="u1")
    again = add_documents(index, NEW, HashingEmbedder(), update_id="u1")
    assert again.already_applied and again.documents == 0
    assert IndexBundle.open(index).manifest.passage_count == 6


def test_a_failed_update_leaves_the_index_as_it_was(index: Path) -> None:
    before = (index / "manifest.json").read_text()
    with pytest.raises(RuntimeError, match="on purpose"):
        add_documents(index, NEW, FailingEmbedder(fail_on_call=1, name="fake-hashing"), update_id="u1")
    assert (index / "manifest.json").read_text() == before
    bundle = IndexBundle.open(index)
    assert len(bundle.store) == bundle.manifest.passage_count == 4 and bundle.dense.ntotal == 4
    assert not list(index.parent.glob(".index.building-*"))


def test_duplicates_and_empty_updates_are_input_errors(index: Path) -> None:
    with pytest.raises(InputDataError, match="duplicate document id 'd1'"):
        add_documents(index, [Document("d1", "x", "dup")], HashingEmbedder(), update_id="u1")
    with pytest.raises(InputDataError, match="no documents"):
        add_documents(index, [], HashingEmbedder(), update_id="u2")
    assert IndexBundle.open(index).manifest.passage_count == 4


def test_an_index_with_a_graph_needs_the_graph_update(graph_index_dir: Path) -> None:
    with pytest.raises(ConfigError, match="knowledge graph"):
        add_documents(graph_index_dir, NEW, HashingEmbedder(), update_id="u1")
    assert IndexBundle.open(graph_index_dir).manifest.passage_count == 5


def _rounded(ranked: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return [(row, round(score, 5)) for row, score in ranked]
