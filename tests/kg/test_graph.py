from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kg.assembly import GraphAssembler
from kg.graph import GRAPH_DIR, KnowledgeGraph, entity_id, normalize_name, title_aliases
from kg.name_vectors import SynonymPairs
from kg.ner import Mention
from retrieval.errors import IndexLoadError

pytestmark = pytest.mark.unit


def test_normalize_name() -> None:
    assert normalize_name("The Beatles") == "beatles"
    assert normalize_name("  Ed  Wood's ") == "ed wood"
    assert normalize_name("U.S.A.") == "u s a"
    assert title_aliases("Ed Wood (film)") == ["ed wood"]
    assert title_aliases("Ed Wood") == []
    assert entity_id("ed wood") == entity_id("ed wood") != entity_id("ed woods")
    assert entity_id("x").startswith("entity-")


def _assembled() -> KnowledgeGraph:
    assembler = GraphAssembler()
    assembler.add_passage(0, "Alice", [Mention("Acme", "ORG", 0, 0, 4), Mention("Bob", "PERSON", 0, 9, 12)])
    assembler.add_passage(1, "Acme", [Mention("Berlin", "GPE", 0, 0, 6)])
    assembler.add_relation(0, "Alice", "founded", "Acme")
    assembler.add_synonyms(SynonymPairs.of([(0, 1, 0.9)]))
    return assembler.finish(3)


def test_round_trip(tmp_path: Path) -> None:
    graph = _assembled()
    graph.save(tmp_path / GRAPH_DIR)
    loaded = KnowledgeGraph.load(tmp_path / GRAPH_DIR)
    assert loaded.entities == graph.entities and loaded.relations == ["founded"]
    assert (loaded.mentions != graph.mentions).nnz == 0
    for name in ("src", "dst", "type", "weight", "relation", "support_indptr", "support_rows"):
        assert np.array_equal(getattr(loaded.edges, name), getattr(graph.edges, name))
    assert loaded.counts() == graph.counts()
    assert loaded.num_passages == 3


def test_lookups_and_networkx_view() -> None:
    graph = _assembled()
    alice, acme = graph.find("alice"), graph.find("ACME")
    assert alice is not None and acme is not None and graph.find(graph.entities[acme].id) == acme
    assert graph.find("nobody") is None
    assert graph.passages_of_entity(acme) == [0, 1]
    assert set(graph.entities_of_passage(0)) == {alice, acme, graph.find("bob")}
    edge = graph.nx.get_edge_data(alice, acme)
    assert set(edge["types"]) == {"cooccurrence", "relation", "synonym"}
    assert (alice, "founded") in edge["relations"] and 0 in edge["support"]


def test_corrupt_or_missing_graph_files(tmp_path: Path) -> None:
    _assembled().save(tmp_path / GRAPH_DIR)
    (tmp_path / GRAPH_DIR / "edges.npz").write_bytes(b"garbage")
    with pytest.raises(IndexLoadError, match="corrupt"):
        KnowledgeGraph.load(tmp_path / GRAPH_DIR)
    (tmp_path / GRAPH_DIR / "entities.json").unlink()
    with pytest.raises(IndexLoadError, match="missing"):
        KnowledgeGraph.load(tmp_path / GRAPH_DIR)
