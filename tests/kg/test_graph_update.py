"""Extending the knowledge graph with new passages equals building it over all of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.graph import KnowledgeGraph
from kg.graph_search import GraphIndex
from kg.graph_stage import GraphBuildConfig, KnowledgeGraphStage
from kg.graph_update import GraphUpdate
from retrieval.builder import build_index
from retrieval.bundle import IndexBundle
from retrieval.documents import Document
from retrieval.incremental import add_documents
from tests.conftest import DOCS, NAMES, write_jsonl
from tests.fakes import GazetteerExtractor, HashingEmbedder

pytestmark = pytest.mark.unit

MORE_NAMES = {**NAMES, "Carol White": "PERSON", "Lisbon": "GPE"}
NEW = [
    Document("carol", "Carol White", "Carol White joined Acme Corp in Lisbon. She met Bob Jones in Paris."),
    Document("lisbon", "Lisbon", "Lisbon is a city. Carol White lived there."),
]


def _build(docs: list[dict[str, object]], out: Path) -> Path:
    dump = write_jsonl(out.parent / f"{out.name}.jsonl", docs)
    stage = KnowledgeGraphStage(GazetteerExtractor(MORE_NAMES), GraphBuildConfig())
    build_index([dump], out, HashingEmbedder(), extra_stages=[stage])
    return out


def _edges(graph: KnowledgeGraph, kinds: tuple[int, ...] = (0, 1)) -> set[tuple[str, str, int, float, tuple[int, ...]]]:
    return {
        (
            graph.entities[int(graph.edges.src[i])].key,
            graph.entities[int(graph.edges.dst[i])].key,
            int(graph.edges.type[i]),
            round(float(graph.edges.weight[i]), 4),
            tuple(sorted(graph.edges.support(i))),
        )
        for i in range(len(graph.edges))
        if int(graph.edges.type[i]) in kinds
    }


def test_extended_graph_matches_a_full_build(tmp_path: Path) -> None:
    index = _build(DOCS, tmp_path / "index")
    update = GraphUpdate(GazetteerExtractor(MORE_NAMES))
    add_documents(index, NEW, HashingEmbedder(), update_id="u1", updates=[update])
    full_docs = DOCS + [{"id": d.doc_id, "title": d.title, "text": d.text} for d in NEW]
    full = _build(full_docs, tmp_path / "full")
    extended, rebuilt = KnowledgeGraph.load(index / "graph"), KnowledgeGraph.load(full / "graph")
    assert extended.counts() == rebuilt.counts()
    assert {e.key: e.passages for e in extended.entities} == {e.key: e.passages for e in rebuilt.entities}
    assert _edges(extended) == _edges(rebuilt)  # co-occurrence and relation edges, with supports
    assert [e.key for e in extended.entities[: len(DOCS)]] == [e.key for e in rebuilt.entities[: len(DOCS)]]
    section = IndexBundle.open(index).manifest.data["graph"]
    assert section["counts"] == extended.counts()


def test_new_entities_are_linked_and_searchable(tmp_path: Path) -> None:
    index = _build(DOCS, tmp_path / "index")
    add_documents(index, NEW, HashingEmbedder(), update_id="u1", updates=[GraphUpdate(GazetteerExtractor(MORE_NAMES))])
    graph_index = GraphIndex(IndexBundle.open(index))
    carol = graph_index.graph.find("Carol White")
    assert carol is not None
    assert graph_index.linker.link("Where did Carol White live?")[0].entity == carol
    assert graph_index.linker.names.index.ntotal == graph_index.graph.num_entities
