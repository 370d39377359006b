from __future__ import annotations

import pytest

from kg.assembly import AssemblyConfig, GraphAssembler
from kg.graph import COOCCURRENCE, SYNONYM
from kg.ner import Mention

pytestmark = pytest.mark.unit


def _m(text: str, sentence: int = 0, label: str = "PERSON") -> Mention:
    return Mention(text, label, sentence, 0, len(text))


def _edges(graph):  # type: ignore[no-untyped-def]
    names = [e.key for e in graph.entities]
    return {
        (names[graph.edges.src[i]], names[graph.edges.dst[i]], int(graph.edges.type[i])): (
            float(graph.edges.weight[i]),
            graph.edges.support(i),
        )
        for i in range(len(graph.edges))
    }


def test_title_links_to_every_mention_and_sentences_pair_up() -> None:
    assembler = GraphAssembler()
    assembler.add_passage(0, "Page", [_m("A", 0), _m("Bee", 0), _m("Cee", 1)])
    edges = _edges(assembler.finish())
    assert ("page", "bee", COOCCURRENCE) in edges or ("bee", "page", COOCCURRENCE) in edges
    pairs = {tuple(sorted((a, b))) for a, b, _ in edges}
    assert pairs == {("bee", "page"), ("cee", "page")}  # "A" is too short to be an entity
    assembler.add_passage(1, "", [_m("Bee", 0), _m("Cee", 0)])
    edges = _edges(assembler.finish())
    weight, support = edges[("bee", "cee", COOCCURRENCE)]
    assert weight == 1.0 and support == [1]


def test_names_merge_on_normalised_key_and_keep_the_commonest_form() -> None:
    assembler = GraphAssembler()
    assembler.add_passage(0, "", [_m("The Beatles"), _m("Beatles")])
    assembler.add_passage(1, "", [_m("Beatles")])
    graph = assembler.finish()
    assert [(e.key, e.name, e.passages) for e in graph.entities] == [("beatles", "Beatles", 2)]


def test_support_is_capped_and_weights_add_up() -> None:
    assembler = GraphAssembler(AssemblyConfig(max_support=2))
    for row in range(5):
        assembler.add_passage(row, "", [_m("Ann"), _m("Ben")])
    weight, support = _edges(assembler.finish())[("ann", "ben", COOCCURRENCE)]
    assert weight == 5.0 and support == [0, 1]


def test_labels_titles_synonyms_and_relations() -> None:
    assembler = GraphAssembler()
    assembler.add_passage(0, "Ed Wood (film)", [_m("Ed Wood", label="PERSON")])
    assert assembler.add_relation(0, "Ed Wood", "directed", "Glen or Glenda")
    assert not assembler.add_relation(0, "Ed Wood", "is", "  ")
    assert assembler.add_synonyms([(0, 1, 0.95), (1, 1, 1.0)]) == 1
    graph = assembler.finish()
    film = graph.entities[graph.find("Ed Wood (film)")]  # type: ignore[index]
    assert film.label == "TITLE" and film.aliases == ("ed wood",)
    assert graph.find("ed wood") != graph.find("Ed Wood (film)")  # a name beats another entity's alias
    assert graph.relations == ["directed"]
    assert any(int(t) == SYNONYM for t in graph.edges.type)
