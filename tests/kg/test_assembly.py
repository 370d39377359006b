from __future__ import annotations

import numpy as np
import pytest

from kg.assembly import AssemblyConfig, GraphAssembler
from kg.graph import COOCCURRENCE, SYNONYM
from kg.name_vectors import SynonymPairs
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
    assert assembler.add_synonyms(SynonymPairs.of([(0, 1, 0.95), (1, 1, 1.0)])) == 1
    graph = assembler.finish()
    film = graph.entities[graph.find("Ed Wood (film)")]  # type: ignore[index]
    assert film.label == "TITLE" and film.aliases == ("ed wood",)
    assert graph.find("ed wood") != graph.find("Ed Wood (film)")  # a name beats another entity's alias
    assert graph.relations == ["directed"]
    assert any(int(t) == SYNONYM for t in graph.edges.type)


def test_relation_arguments_become_mentions_of_their_passage_once() -> None:
    assembler = GraphAssembler()
    assembler.add_passage(0, "Ed Wood", [_m("Glen or Glenda", label="WORK_OF_ART")])
    assembler.add_passage(1, "Bela Lugosi", [])
    assert assembler.add_relation(0, "Ed Wood", "directed", "Glen or Glenda")  # both already mentioned
    assert assembler.add_relation(0, "Ed Wood", "cast", "Bela Lugosi")  # Lugosi: new in row 0
    assert assembler.add_relation(0, "Bela Lugosi", "starred in", "Glen or Glenda")
    assert assembler.add_relation(1, "Bela Lugosi", "born in", "Lugos")  # Lugos: no NER mention anywhere
    graph = assembler.finish()
    by_key = {e.key: (i, e) for i, e in enumerate(graph.entities)}
    assert {key: e.passages for key, (_, e) in by_key.items()} == {
        "ed wood": 1,
        "glen or glenda": 1,
        "bela lugosi": 2,
        "lugos": 1,
    }
    assert by_key["lugos"][1].label == "RELATION_ARG" and by_key["bela lugosi"][1].label == "TITLE"
    assert sorted(graph.passages_of_entity(by_key["bela lugosi"][0])) == [0, 1]
    assert graph.passages_of_entity(by_key["lugos"][0]) == [1]
    assert int(graph.mentions.max()) == 1 and graph.counts()["relation_edges"] == 4
    src, dst = graph.edges.src[graph.edges.type == 0], graph.edges.dst[graph.edges.type == 0]
    assert (by_key["bela lugosi"][0], by_key["lugos"][0]) in set(zip(src.tolist(), dst.tolist(), strict=True))
    assert graph.relations == ["directed", "cast", "starred in", "born in"]


def test_without_relations_the_mentions_are_the_ner_ones() -> None:
    assembler = GraphAssembler()
    assembler.add_passage(0, "Page", [_m("Bee"), _m("Cee", 1)])
    assembler.add_passage(1, "Other", [_m("Bee")])
    graph = assembler.finish(num_passages=3)
    assert graph.mentions.shape == (4, 3) and graph.mentions.nnz == 5
    assert [e.passages for e in graph.entities] == [1, 2, 1, 1]


def test_folding_often_changes_nothing() -> None:
    """The sample corpus's mentions assembled with a buffer of 3 occurrences (thousands of folds) into
    parts of 64 edges, and with the defaults (no fold before the end, one part) give the same graph."""
    from tests.kg.sample_graph import ReplayedMentions, documents

    replayed = ReplayedMentions.load()
    graphs = []
    for assembler in (GraphAssembler(buffer_entries=3, part_edges=64), GraphAssembler()):
        for row, doc in enumerate(documents()):
            assembler.add_passage(row, doc.title, replayed.by_text[doc.text])
        assembler.add_relation(0, "Tim Burton", "directed", "Ed Wood")
        graphs.append(assembler.finish())
    small, default = graphs
    assert small.entities == default.entities and (small.mentions != default.mentions).nnz == 0
    for name in ("src", "dst", "type", "weight", "relation", "support_indptr", "support_rows"):
        assert np.array_equal(getattr(small.edges, name), getattr(default.edges, name)), name
