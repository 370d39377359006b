from __future__ import annotations

import pytest

from kg.assembly import GraphAssembler
from kg.graph import KnowledgeGraph
from kg.linking import EntityLinker, LinkingConfig
from kg.name_vectors import NameIndex, SurfaceNameVectorizer, SynonymConfig
from kg.ner import Mention
from tests.fakes import GazetteerExtractor

pytestmark = pytest.mark.unit


def _graph() -> KnowledgeGraph:
    assembler = GraphAssembler()
    assembler.add_passage(0, "Ed Wood (film)", [Mention("Tim Burton", "PERSON", 0, 0, 10)])
    assembler.add_passage(1, "Ed Wood", [Mention("Hollywood", "GPE", 0, 0, 9)])
    assembler.add_passage(2, "Wood", [])
    assembler.add_passage(3, "Scott Derrickson", [])
    return assembler.finish()


def _names(graph: KnowledgeGraph) -> NameIndex:
    vectorizer = SurfaceNameVectorizer()
    keys = [e.key for e in graph.entities]
    return NameIndex.build(keys, vectorizer, SynonymConfig())


def test_longest_exact_match_wins() -> None:
    graph = _graph()
    linked = EntityLinker(graph).link("Who directed Ed Wood with Tim Burton?")
    assert sorted((e.name, e.method, e.score) for e in linked) == [
        ("Ed Wood", "exact", 1.0),
        ("Tim Burton", "exact", 1.0),
    ]


def test_alias_and_single_words() -> None:
    graph = _graph()
    linked = EntityLinker(graph).link("Is wood in Hollywood?")
    names = {e.name: e for e in linked}
    assert names["Hollywood"].score == LinkingConfig().single_word_score
    assert names["Wood"].score == LinkingConfig().single_word_score * 0.5  # lower-case: weaker


def test_similar_names_through_ner_mentions() -> None:
    graph = _graph()
    linker = EntityLinker(graph, _names(graph), GazetteerExtractor({"Scot Derrickson": "PERSON"}))
    linked = linker.link("When was Scot Derrickson born?")
    assert [(e.name, e.method) for e in linked] == [("Scott Derrickson", "similar")]
    assert 0 < linked[0].score < 1


def test_nothing_to_link_is_not_an_error() -> None:
    graph = _graph()
    linker = EntityLinker(graph, _names(graph), GazetteerExtractor({}))
    assert linker.link("What is the answer to this?") == []
    assert linker.link("") == []
