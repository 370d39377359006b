from __future__ import annotations

import math
import statistics
import time
from typing import Any, cast

import numpy as np
import pytest
import scipy.sparse as sp

from kg.exploration import ExplorationConfig, GraphExplorer, GraphPath, Neighbour, RankedPassage
from kg.graph import (
    COOCCURRENCE,
    RELATION,
    SYNONYM,
    EdgeTable,
    Entity,
    KnowledgeGraph,
    entity_id,
    normalize_name,
)
from retrieval.errors import ConfigError

pytestmark = pytest.mark.unit

ALICE, ACME_CORP, BERLIN, ACME, Y1990, GERMANY, BOB, ZETA, CAROL, DAVE, ORPHAN = range(11)
ENTITIES = [
    ("Alice", "PERSON"),
    ("Acme Corp", "ORG"),
    ("Berlin", "GPE"),
    ("Acme", "ORG"),
    ("1990", "DATE"),
    ("Germany", "GPE"),
    ("Bob", "PERSON"),
    ("Zeta Inc", "ORG"),
    ("Carol", "PERSON"),
    ("Dave", "PERSON"),
    ("Orphan", "PERSON"),
]
# Passage row -> the entities it mentions. 1990 is in every passage, Germany in six of eight.
PASSAGES = [
    [ALICE, ACME_CORP, Y1990, GERMANY, DAVE],  # 0 Alice works for Acme Corp (1990)
    [ACME_CORP, BERLIN, Y1990, GERMANY],  # 1 Acme Corp is headquartered in Berlin: the bridge
    [BERLIN, GERMANY, Y1990, DAVE],  # 2 Berlin is the capital of Germany
    [ACME, BERLIN, Y1990, GERMANY],  # 3 Acme was founded in Berlin in 1990
    [BOB, GERMANY, Y1990],  # 4 Bob lives in Germany
    [ZETA, BOB, Y1990, GERMANY],  # 5 Zeta Inc employs Bob
    [ZETA, Y1990],  # 6 Zeta Inc (1990)
    [CAROL, Y1990],  # 7 Carol (1990)
]
RELATIONS = ["works_for", "headquartered_in", "capital_of", "based_in", "employs"]
# (src, dst, type, weight, relation label or None, support rows)
EDGES = [
    (ALICE, ACME_CORP, RELATION, 1.0, "works_for", [0]),
    (ALICE, ACME_CORP, COOCCURRENCE, 1.0, None, [0]),
    (ACME_CORP, BERLIN, RELATION, 1.0, "headquartered_in", [1]),
    (BERLIN, GERMANY, RELATION, 1.0, "capital_of", [2]),
    (ACME_CORP, ACME, SYNONYM, 1.0, None, []),
    (ACME, BERLIN, RELATION, 0.5, "based_in", [3]),
    (ALICE, DAVE, COOCCURRENCE, 0.5, None, [0]),
    (BERLIN, DAVE, COOCCURRENCE, 1.0, None, [2]),
    (ALICE, Y1990, COOCCURRENCE, 1.0, None, [0]),
    (ACME, Y1990, COOCCURRENCE, 1.0, None, [3]),
    (Y1990, ZETA, COOCCURRENCE, 1.0, None, [6]),
    (Y1990, CAROL, COOCCURRENCE, 1.0, None, [7]),
    (GERMANY, BOB, COOCCURRENCE, 1.0, None, [4]),
    (ZETA, BOB, RELATION, 1.0, "employs", [5]),
]


def make_graph() -> KnowledgeGraph:
    rows = [(e, p) for p, mentioned in enumerate(PASSAGES) for e in mentioned]
    mentions = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.int32), ([e for e, _ in rows], [p for _, p in rows])),
        shape=(len(ENTITIES), len(PASSAGES)),
    )
    df = np.diff(mentions.indptr)
    entities = [
        Entity(entity_id(normalize_name(name)), normalize_name(name), name, label, int(df[i]))
        for i, (name, label) in enumerate(ENTITIES)
    ]
    support = [e[5] for e in EDGES]
    edges = EdgeTable(
        src=np.array([e[0] for e in EDGES], dtype=np.int32),
        dst=np.array([e[1] for e in EDGES], dtype=np.int32),
        type=np.array([e[2] for e in EDGES], dtype=np.int8),
        weight=np.array([e[3] for e in EDGES], dtype=np.float32),
        relation=np.array([RELATIONS.index(e[4]) if e[4] else -1 for e in EDGES], dtype=np.int32),
        support_indptr=np.concatenate([[0], np.cumsum([len(s) for s in support])]).astype(np.int64),
        support_rows=np.array([r for s in support for r in s], dtype=np.int32),
    )
    return KnowledgeGraph(entities, mentions, edges, RELATIONS)


@pytest.fixture(scope="module")
def explorer() -> GraphExplorer:
    return GraphExplorer(make_graph())


FLAT = ExplorationConfig(hub_label_factor=1.0, specificity_exponent=0.0)


def rows(ranked: list[RankedPassage]) -> list[int]:
    return [r.row for r in ranked]


# -- specificity ---------------------------------------------------------------------------------------


def test_specificity_is_one_for_rare_entities_and_low_for_hubs(explorer: GraphExplorer) -> None:
    assert explorer.specificity(ALICE) == pytest.approx(1.0)
    assert explorer.specificity(ACME_CORP) == pytest.approx(math.log(1 + 8 / 2) / math.log(9))
    assert explorer.specificity(Y1990) == pytest.approx(0.5 * math.log(2) / math.log(9))
    assert explorer.specificity(BERLIN) == pytest.approx(0.5 * math.log(1 + 8 / 3) / math.log(9))
    assert explorer.specificity(ORPHAN) == pytest.approx(1.0)  # in no passage: treated as in one
    assert explorer.specificity(Y1990) < 0.2 and explorer.specificity(GERMANY) < 0.2
    assert all(0 < explorer.specificity(e) <= 1 for e in range(len(ENTITIES)))


def test_flat_specificity() -> None:
    flat = GraphExplorer(make_graph(), FLAT)
    assert [flat.specificity(e) for e in range(len(ENTITIES))] == [1.0] * len(ENTITIES)


# -- neighbours ----------------------------------------------------------------------------------------


def test_neighbours_one_hop_ranked_by_weight_times_specificity(explorer: GraphExplorer) -> None:
    found = explorer.neighbours([ALICE])
    assert [n.entity for n in found] == [ACME_CORP, DAVE, Y1990]
    acme_corp = found[0]
    assert acme_corp == Neighbour(ACME_CORP, 1, (ALICE, ACME_CORP), ("relation",), 2.0, (0,))
    assert found[1].edge_types == ("cooccurrence",) and found[1].weight == 0.5


def test_neighbours_two_hops_keep_the_best_path_and_its_support(explorer: GraphExplorer) -> None:
    found = explorer.neighbours([ALICE], hops=2)
    assert [(n.entity, n.hops) for n in found] == [
        (ACME_CORP, 1),
        (DAVE, 1),
        (Y1990, 1),
        (ACME, 2),
        (BERLIN, 2),
    ]
    berlin = found[-1]
    assert berlin.via == (ALICE, ACME_CORP, BERLIN)  # weight 2.0 beats Alice - Dave - Berlin at 0.5
    assert berlin.edge_types == ("relation", "relation")
    assert berlin.weight == 2.0 and berlin.support == (0, 1)
    acme = found[3]
    assert acme.via == (ALICE, ACME_CORP, ACME) and acme.edge_types == ("relation", "synonym")
    assert acme.support == (0,)


def test_hubs_are_reached_but_not_walked_through(explorer: GraphExplorer) -> None:
    found = {n.entity: n for n in explorer.neighbours([ALICE], hops=4)}
    assert Y1990 in found and GERMANY in found
    assert found[GERMANY].via == (ALICE, ACME_CORP, BERLIN, GERMANY)
    assert not {ZETA, CAROL, BOB} & set(found)  # only reachable through 1990 or Germany


def test_a_hub_seed_is_expanded(explorer: GraphExplorer) -> None:
    assert {n.entity for n in explorer.neighbours([Y1990])} == {ALICE, ACME, ZETA, CAROL}


def test_neighbours_of_several_seeds_exclude_the_seeds_and_respect_limit(explorer: GraphExplorer) -> None:
    found = explorer.neighbours([BERLIN, ALICE], hops=1)
    entities = [n.entity for n in found]
    assert ALICE not in entities and BERLIN not in entities
    assert len(entities) == len(set(entities))
    assert explorer.neighbours([BERLIN, ALICE], hops=1, limit=2) == found[:2]
    assert explorer.neighbours([ORPHAN], hops=3) == []


# -- paths ---------------------------------------------------------------------------------------------


def test_paths_ordered_by_length_then_weight(explorer: GraphExplorer) -> None:
    found = explorer.paths(ALICE, BERLIN)
    assert [p.entities for p in found] == [
        (ALICE, ACME_CORP, BERLIN),  # 2 edges, weight 2.0
        (ALICE, DAVE, BERLIN),  # 2 edges, weight 0.5
        (ALICE, ACME_CORP, ACME, BERLIN),  # 3 edges, weight 1.0
    ]
    assert found[0] == GraphPath(
        entities=(ALICE, ACME_CORP, BERLIN),
        edge_types=(("relation", "cooccurrence"), ("relation",)),
        relations=("works_for", "headquartered_in"),
        length=2,
        weight=2.0,
        support=(0, 1),
    )
    assert found[1].relations == ("", "") and found[1].support == (0, 2)
    assert found[2].edge_types[1] == ("synonym",) and found[2].support == (0, 3)


def test_paths_walked_backwards_mark_inverse_relations(explorer: GraphExplorer) -> None:
    first = explorer.paths(BERLIN, ALICE, n=1)
    assert first[0].entities == (BERLIN, ACME_CORP, ALICE)
    assert first[0].relations == ("headquartered_in^-1", "works_for^-1")


def test_paths_bounded_by_length_and_count(explorer: GraphExplorer) -> None:
    assert [p.length for p in explorer.paths(ALICE, BERLIN, max_length=2)] == [2, 2]
    assert len(explorer.paths(ALICE, BERLIN, n=1)) == 1
    assert explorer.paths(ALICE, BERLIN, max_length=1) == []
    assert explorer.paths(ALICE, ACME_CORP, max_length=1)[0].entities == (ALICE, ACME_CORP)


def test_no_path_gives_empty_list(explorer: GraphExplorer) -> None:
    assert explorer.paths(ALICE, ORPHAN) == []
    assert explorer.paths(ALICE, CAROL) == []  # the only route runs through the 1990 hub
    assert explorer.paths(ALICE, ALICE) == []
    assert explorer.paths(ALICE, Y1990)[0].entities == (ALICE, Y1990)  # a hub endpoint is fine


# -- personalised PageRank -----------------------------------------------------------------------------


def test_ppr_ranks_the_bridge_passage_above_unrelated_ones(explorer: GraphExplorer) -> None:
    ranked = explorer.personalized_pagerank({ALICE: 1.0}, top_k=8)
    order = rows(ranked)
    assert order[0] == 0
    assert all(order.index(1) < order.index(other) for other in (4, 5, 6, 7) if other in order)
    assert order[:3] == sorted(order[:3], key=lambda r: -ranked[order.index(r)].score)
    assert sum(r.score for r in ranked) <= 1.0


def test_ppr_hub_passages_do_not_win(explorer: GraphExplorer) -> None:
    order = rows(explorer.personalized_pagerank({ALICE: 1.0, Y1990: 1.0}, top_k=8))
    assert order[0] == 0
    assert order.index(1) < order.index(6) and order.index(1) < order.index(7)


def test_hub_down_weighting_keeps_a_hub_seed_from_swamping_results(explorer: GraphExplorer) -> None:
    flat = GraphExplorer(make_graph(), FLAT)

    def hub_share(ranked: list[RankedPassage]) -> float:  # mass on passages reached only through 1990
        scores = {r.row: r.score for r in ranked}
        return (scores.get(6, 0.0) + scores.get(7, 0.0)) / sum(scores.values())

    seeds = {ALICE: 1.0, Y1990: 1.0}
    weighted, unweighted = (
        explorer.personalized_pagerank(seeds, top_k=8),
        flat.personalized_pagerank(seeds, top_k=8),
    )
    assert hub_share(weighted) < 0.5 * hub_share(unweighted)
    without_hub = rows(explorer.personalized_pagerank({ALICE: 1.0}, top_k=3))
    assert rows(weighted)[:3] == without_hub


def test_ppr_passage_seeds(explorer: GraphExplorer) -> None:
    alone = explorer.personalized_pagerank({}, {5: 1.0}, top_k=3)
    assert alone[0].row == 5
    mixed = rows(explorer.personalized_pagerank({ALICE: 1.0}, {5: 1.0}, top_k=8))
    assert mixed.index(5) < mixed.index(4) and 0 in mixed[:2]


def test_ppr_empty_or_dead_seeds_give_nothing(explorer: GraphExplorer) -> None:
    assert explorer.personalized_pagerank({}) == []
    assert explorer.personalized_pagerank({}, {}) == []
    assert explorer.personalized_pagerank({ALICE: 0.0}) == []
    assert explorer.personalized_pagerank({ALICE: 1.0}, top_k=0) == []
    assert explorer.personalized_pagerank({ORPHAN: 1.0}) == []  # dangling: all mass restarts at the seed


def test_ppr_is_deterministic(explorer: GraphExplorer) -> None:
    seeds = {ALICE: 0.7, BOB: 0.3}
    first = explorer.personalized_pagerank(seeds, {2: 0.2}, top_k=8)
    assert explorer.personalized_pagerank(seeds, {2: 0.2}, top_k=8) == first
    assert GraphExplorer(make_graph()).personalized_pagerank(seeds, {2: 0.2}, top_k=8) == first


def test_ppr_ties_break_by_row() -> None:
    entities = [Entity(f"entity-{i}", f"e{i}", f"E{i}", "PERSON", 1) for i in range(2)]
    mentions = sp.csr_matrix(np.eye(2, dtype=np.int32))  # entity i is in passage i only: a perfect tie
    empty = np.zeros(0, dtype=np.int32)
    edges = EdgeTable(
        empty,
        empty,
        empty.astype(np.int8),
        empty.astype(np.float32),
        empty,
        np.zeros(1, dtype=np.int64),
        empty,
    )
    symmetric = GraphExplorer(KnowledgeGraph(entities, mentions, edges, []))
    ranked = symmetric.personalized_pagerank({1: 1.0, 0: 1.0})
    assert [r.row for r in ranked] == [0, 1] and ranked[0].score == ranked[1].score
    assert rows(symmetric.personalized_pagerank({1: 1.0, 0: 1.0}, top_k=1)) == [0]


# -- validation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("damping", 1.0),
        ("damping", -0.1),
        ("damping", float("nan")),
        ("iterations", 0),
        ("tolerance", 0.0),
        ("hub_label_factor", 0.0),
        ("hub_label_factor", 1.5),
        ("synonym_weight", -1.0),
        ("entity_edge_weight", float("inf")),
        ("max_path_length", 0),
        ("hub_expand_min", 1.1),
        ("specificity_exponent", -1.0),
        ("max_path_candidates", 0),
    ],
)
def test_config_validation_names_the_bad_value(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        ExplorationConfig(**cast(dict[str, Any], {field: value}))


def test_bad_arguments_raise(explorer: GraphExplorer) -> None:
    with pytest.raises(ValueError, match="entity 99"):
        explorer.neighbours([99])
    with pytest.raises(ValueError, match="hops"):
        explorer.neighbours([ALICE], hops=0)
    with pytest.raises(ValueError, match="max_length"):
        explorer.paths(ALICE, BERLIN, max_length=0)
    with pytest.raises(ValueError, match="passage row 8"):
        explorer.personalized_pagerank({}, {8: 1.0})
    with pytest.raises(ValueError, match="seed weights"):
        explorer.personalized_pagerank({ALICE: -1.0})


# -- latency -------------------------------------------------------------------------------------------


def random_graph(passages: int, entities: int, edges: int, seed: int = 7) -> KnowledgeGraph:
    rng = np.random.default_rng(seed)
    per_passage = rng.integers(4, 16, size=passages)
    passage_of = np.repeat(np.arange(passages), per_passage)
    entity_of = np.minimum(rng.zipf(1.3, size=len(passage_of)) - 1, entities - 1)  # a few hubs, a long tail
    mentions = sp.csr_matrix(
        (np.ones(len(passage_of), dtype=np.int32), (entity_of, passage_of)), shape=(entities, passages)
    )
    df = np.diff((mentions > 0).astype(np.int32).tocsr().indptr)
    labels = np.array(["PERSON", "ORG", "GPE", "DATE", "WORK_OF_ART"])[rng.integers(0, 5, size=entities)]
    nodes = [Entity(f"entity-{i}", f"e{i}", f"E{i}", str(labels[i]), int(df[i])) for i in range(entities)]
    src, dst = rng.integers(0, entities, size=edges), rng.integers(0, entities, size=edges)
    kinds = rng.integers(0, 3, size=edges).astype(np.int8)
    table = EdgeTable(
        src=src.astype(np.int32),
        dst=dst.astype(np.int32),
        type=kinds,
        weight=rng.uniform(0.5, 3.0, size=edges).astype(np.float32),
        relation=np.where(kinds == RELATION, 0, -1).astype(np.int32),
        support_indptr=np.arange(edges + 1, dtype=np.int64),
        support_rows=rng.integers(0, passages, size=edges).astype(np.int32),
    )
    return KnowledgeGraph(nodes, mentions, table, ["related_to"])


@pytest.mark.slow
def test_ppr_latency_on_a_corpus_sized_graph() -> None:
    explorer = GraphExplorer(random_graph(15_000, 50_000, 300_000))
    rng = np.random.default_rng(11)
    timings = []
    for _ in range(20):
        seeds = {int(e): 1.0 for e in rng.integers(0, 50_000, size=3)}
        start = time.perf_counter()
        ranked = explorer.personalized_pagerank(seeds, {int(rng.integers(0, 15_000)): 0.2}, top_k=100)
        timings.append(time.perf_counter() - start)
        assert len(ranked) == 100
    assert statistics.median(timings) < 0.1
