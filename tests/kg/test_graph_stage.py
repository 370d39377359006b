from __future__ import annotations

import json
from pathlib import Path

import pytest

from kg.graph_search import GraphIndex, GraphSearcher
from kg.graph_stage import GraphBuildConfig, KnowledgeGraphStage
from kg.openie import LLMTripleExtractor
from reasoning.llm.scripted import ScriptedLLM
from retrieval.builder import build_index
from retrieval.bundle import IndexBundle
from retrieval.errors import ConfigError, IndexLoadError
from retrieval.searcher import Searcher
from tests.conftest import DOCS, NAMES, write_jsonl
from tests.fakes import GazetteerExtractor, HashingEmbedder

pytestmark = pytest.mark.unit


def _searcher(index: Path) -> GraphSearcher:
    bundle = IndexBundle.open(index)
    extractor = GazetteerExtractor(NAMES)
    return GraphSearcher(Searcher(bundle, embedder=HashingEmbedder()), lambda b: GraphIndex(b, extractor))


def test_build_records_the_graph_in_the_manifest(graph_index_dir: Path) -> None:
    manifest = IndexBundle.open(graph_index_dir).manifest.data
    section = manifest["graph"]
    assert section["built"] and section["counts"]["entities"] >= 8 and section["counts"]["passages"] == 5
    assert section["counts"]["synonym_edges"] >= 1  # Acme Corp ~ Acme Corporation
    assert {"ner", "synonyms", "graph"} <= set(manifest["build"]["stages"])
    assert (graph_index_dir / "graph" / "names.faiss").exists()


def test_graph_modes_find_the_bridge_passage(graph_index_dir: Path) -> None:
    searcher = _searcher(graph_index_dir)
    hits = searcher.search("Where is the company that Alice Smith founded based?", "graph", 3).hits
    assert {h.passage.doc_id for h in hits[:2]} == {"alice", "acme"}
    assert [e.name for e in searcher.last_queries[0].linked] == ["Alice Smith"]
    fused = searcher.search("Where is the company that Alice Smith founded based?", "hybrid+graph", 3).hits
    assert [h.rank for h in fused] == [1, 2, 3] and "acme" in {h.passage.doc_id for h in fused}


def test_no_linkable_entity_returns_nothing_with_a_reason(graph_index_dir: Path) -> None:
    searcher = _searcher(graph_index_dir)
    assert searcher.search("what about nothing known", "graph", 3).hits == []
    assert "no entity" in (searcher.last_queries[0].reason or "")
    with pytest.raises(ConfigError, match="unknown search mode"):
        searcher.search("x", "telepathy")


def test_index_without_graph_is_a_clear_error(small_dump: Path, tmp_path: Path) -> None:
    build_index([small_dump], tmp_path / "plain", HashingEmbedder())
    searcher = GraphSearcher(Searcher(IndexBundle.open(tmp_path / "plain"), embedder=HashingEmbedder()))
    with pytest.raises(IndexLoadError, match="no knowledge graph .*--no-kg"):
        searcher.search("Alice", "graph")
    assert searcher.search("London", "bm25", 1).hits[0].passage.doc_id == "d4"


def test_corrupted_graph_file_is_a_clear_error_at_load(graph_index_dir: Path) -> None:
    (graph_index_dir / "graph" / "mentions.npz").write_bytes(b"\x00" * 10)
    with pytest.raises(IndexLoadError, match="knowledge graph .* corrupt"):
        _searcher(graph_index_dir).search("Alice Smith", "graph")


def test_passages_without_entities_and_llm_relations(tmp_path: Path) -> None:
    docs = [*DOCS, {"id": "plain", "title": "", "text": "nothing named here at all"}]
    dump = write_jsonl(tmp_path / "d.jsonl", docs)
    triples = json.dumps({"triples": [{"subject": "Alice Smith", "relation": "founded", "object": "Acme Corp"}]})
    stage = KnowledgeGraphStage(
        GazetteerExtractor(NAMES),
        GraphBuildConfig(llm_limit=2),
        triples=LLMTripleExtractor(ScriptedLLM([("Title: Alice Smith", triples)], default="broken")),
    )
    manifest = build_index([dump], tmp_path / "index", HashingEmbedder(), extra_stages=[stage]).data
    llm = manifest["graph"]["llm_relations"]
    assert llm == {"used": True, "passages": 2, "triples": 1, "invalid_json": 1, "invalid_triples": 0}
    assert manifest["graph"]["counts"]["relation_edges"] == 1 and manifest["graph"]["counts"]["passages"] == 6
