from __future__ import annotations

import json
from pathlib import Path

import pytest

import kg.ner
from kg import graph_search
from kg.graph_search import GraphIndex, GraphSearcher, GraphWalk, walk_from_query
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
        relation_model="scripted",
    )
    manifest = build_index([dump], tmp_path / "index", HashingEmbedder(), extra_stages=[stage]).data
    llm = manifest["graph"]["llm_relations"]
    assert llm.pop("seconds") >= 0 and llm.pop("errors") == ["not JSON: Expecting value"]
    assert llm == {
        "used": True,
        "model": "scripted",
        "limit": 2,
        "passages": 2,
        "triples": 1,
        "triples_parsed": 1,
        "failures": 1,
        "invalid_json": 1,
        "failed_calls": 0,
        "invalid_triples": 0,
        "ungrounded_triples": 0,
        "duplicate_triples": 0,
    }
    assert manifest["graph"]["counts"]["relation_edges"] == 1 and manifest["graph"]["counts"]["passages"] == 6
    assert "llm-relations" in manifest["build"]["stages"]


def test_without_an_llm_the_manifest_says_so(graph_index_dir: Path) -> None:
    section = IndexBundle.open(graph_index_dir).manifest.data["graph"]["llm_relations"]
    assert section == {"used": False, "reason": "no LLM given (sleuth index build --kg-llm SPEC)"}
    with pytest.raises(ConfigError, match="at least 1 passage, got -1"):
        GraphBuildConfig(llm_limit=-1)


def test_relation_edges_join_the_walk(tmp_path: Path) -> None:
    """Bob Jones's page says nothing of Acme; the relation an LLM read there links them, so the walk
    from Bob Jones reaches the Acme page, and the PPR seeding is the one `sleuth search` and chains share."""
    dump = write_jsonl(tmp_path / "d.jsonl", DOCS)
    plain = KnowledgeGraphStage(GazetteerExtractor(NAMES))
    build_index([dump], tmp_path / "plain", HashingEmbedder(), extra_stages=[plain])
    triple = {"subject": "Bob Jones", "relation": "worked for", "object": "Acme Corporation"}
    triples = json.dumps({"triples": [triple]})
    with_relations = KnowledgeGraphStage(
        GazetteerExtractor(NAMES),
        triples=LLMTripleExtractor(ScriptedLLM([("Title: Bob Jones", triples)], default='{"triples": []}')),
    )
    build_index([dump], tmp_path / "relations", HashingEmbedder(), extra_stages=[with_relations])

    def walk(index: Path, anchors: tuple[int, ...] = ()) -> GraphWalk:
        graph = GraphIndex(IndexBundle.open(index), GazetteerExtractor(NAMES))
        return walk_from_query(graph, "Where did Bob Jones work?", 5, anchors=anchors)

    def rank_of(walk: GraphWalk, index: Path, doc_id: str) -> int:
        store = IndexBundle.open(index).store
        ids = [p.doc_id for p in store.get_rows([row for row, _ in walk.rows])]
        return ids.index(doc_id) + 1 if doc_id in ids else 0

    before, after = walk(tmp_path / "plain"), walk(tmp_path / "relations")
    assert [e.name for e in after.linked] == ["Bob Jones"] and set(after.seeds) == {after.linked[0].entity}
    assert 0 < rank_of(after, tmp_path / "relations", "acme") < rank_of(before, tmp_path / "plain", "acme")
    anchored = walk(tmp_path / "relations", anchors=(0,))
    assert next(iter(anchored.seeds)) == 0 and anchored.seeds[0] == 1.0


def test_walk_without_seeds_ranks_nothing(graph_index_dir: Path) -> None:
    graph = GraphIndex(IndexBundle.open(graph_index_dir), GazetteerExtractor(NAMES))
    assert walk_from_query(graph, "nothing known here", 5) == GraphWalk([], {}, [])


def test_question_ner_loads_once_per_process(graph_index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexes opened (and reopened after updates) share one NER model: loading it again at every open
    would hold the open between the manifest and the graph files for a second or more."""
    loads: list[int] = []

    class CountingExtractor(GazetteerExtractor):
        def __init__(self) -> None:
            loads.append(1)
            super().__init__(NAMES)

    monkeypatch.setattr(kg.ner, "SpacyEntityExtractor", CountingExtractor)
    graph_search._question_ner.cache_clear()
    try:
        first = graph_search.graph_index_with_ner(IndexBundle.open(graph_index_dir))
        second = graph_search.graph_index_with_ner(IndexBundle.open(graph_index_dir))
    finally:
        graph_search._question_ner.cache_clear()
    assert loads == [1]
    assert first.linker.extractor is second.linker.extractor
