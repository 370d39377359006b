"""The array edge accumulator and fold against a dict of edges, the way the graph was accumulated before."""

from __future__ import annotations

import random

import numpy as np
import pytest

from kg.edge_accumulator import EdgeAccumulator
from kg.edge_fold import EdgeEntries, ReducedEdges, edge_group, edge_table, fold, pair_key
from kg.graph import COOCCURRENCE, RELATION, SYNONYM

pytestmark = pytest.mark.unit

Key = tuple[int, int]  # pair, group
Reference = dict[Key, tuple[float, list[int]]]
GROUPS = [edge_group(COOCCURRENCE), edge_group(SYNONYM), *(edge_group(RELATION, r) for r in range(3))]


def _add(reference: Reference, key: Key, weight: float, row: int, cap: int) -> None:
    """The old `_link`: weights add up in order, the first `cap` distinct rows are kept."""
    total, support = reference.get(key, (0.0, []))
    if row >= 0 and len(support) < cap and row not in support:
        support = [*support, row]
    reference[key] = (total + weight, support)


def _as_dict(parts: list[ReducedEdges]) -> Reference:
    found: Reference = {}
    for edges in parts:
        keys = list(zip(edges.pair.tolist(), edges.group.tolist(), strict=True))
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        assert not found or max(found) < keys[0]  # the parts follow each other in key order
        indptr = edges.support_indptr
        for i, key in enumerate(keys):
            found[key] = (float(edges.weight[i]), edges.support_rows[indptr[i] : indptr[i + 1]].tolist())
    return found


def _occurrences(seed: int, count: int) -> list[tuple[int, int, float, int]]:
    rng = random.Random(seed)
    found = []
    row = 0
    for _ in range(count):
        row += rng.random() < 0.3
        a, b = sorted(rng.sample(range(12), 2))
        group = rng.choice(GROUPS)
        supported = rng.random() < 0.9
        found.append((pair_key(a, b), group, rng.choice([0.1, 0.3, 1.0, rng.random()]), row if supported else -1))
    return found


@pytest.mark.parametrize(("buffer_entries", "part_edges"), [(1, 2), (2, 5), (7, 1 << 18), (50, 8), (1 << 20, 1 << 18)])
@pytest.mark.parametrize("cap", [0, 1, 3, 16])
def test_weights_and_supports_are_the_dicts(buffer_entries: int, part_edges: int, cap: int) -> None:
    accumulator = EdgeAccumulator(cap, buffer_entries=buffer_entries, part_edges=part_edges)
    reference: Reference = {}
    for pair, group, weight, row in _occurrences(seed=buffer_entries * 31 + cap, count=600):
        accumulator.add([pair], group, weight, row)
        _add(reference, (pair, group), weight, row, cap)
    parts = accumulator.parts()
    assert _as_dict(parts) == reference  # float64 weights bit for bit
    assert max(len(p) for p in parts) <= part_edges + len(GROUPS)  # a pair's groups are not split
    table = edge_table(parts)
    assert len(table) == len(accumulator) == len(reference) and int(table.support_indptr[-1]) == len(table.support_rows)


def test_rows_may_come_back_and_out_of_order() -> None:
    accumulator = EdgeAccumulator(3, buffer_entries=1)
    reference: Reference = {}
    for row in [5, 2, 5, 9, 2, 1, 7]:
        accumulator.add([pair_key(0, 1)], GROUPS[0], 0.5, row)
        _add(reference, (pair_key(0, 1), GROUPS[0]), 0.5, row, 3)
    assert _as_dict(accumulator.parts()) == reference == {(pair_key(0, 1), GROUPS[0]): (3.5, [5, 2, 9])}


def test_a_table_folded_into_another_is_the_dict_merge() -> None:
    """What `merge_graphs` does: the second table's edges, each with its support, added to the first."""
    first, second = EdgeAccumulator(4, buffer_entries=5), EdgeAccumulator(4, buffer_entries=5)
    reference: Reference = {}
    for accumulator, seed in ((first, 1), (second, 2)):
        for pair, group, weight, row in _occurrences(seed, 300):
            accumulator.add([pair], group, weight, row)
    for pair, group, weight, row in _occurrences(1, 300):
        _add(reference, (pair, group), weight, row, 4)
    table = second.edge_table()  # float32 weights, as saved
    added = ReducedEdges.of_table(table)
    for key, (weight, support) in _as_dict([added]).items():
        _add(reference, key, weight, support[0] if support else -1, 4)
        for row in support[1:]:
            _add(reference, key, 0.0, row, 4)
    entries = EdgeEntries.of_table(table, table.src.astype(np.int64), table.dst.astype(np.int64), added.group)
    (table_first,) = first.parts()
    assert _as_dict([fold(table_first, entries, 4)]) == reference


def test_edge_table_types_and_relations() -> None:
    accumulator = EdgeAccumulator(2)
    accumulator.add([pair_key(3, 1)], edge_group(RELATION, 2), 1.0, 0)  # directed: src 3, dst 1
    accumulator.add([pair_key(1, 3)], edge_group(COOCCURRENCE), 1.0, 0)
    accumulator.add([pair_key(1, 3)], edge_group(SYNONYM), 0.9, -1)
    accumulator.add([pair_key(1, 3)], edge_group(RELATION, 0), 1.0, 4)
    table = accumulator.edge_table()
    rows = list(zip(table.src.tolist(), table.dst.tolist(), table.type.tolist(), table.relation.tolist(), strict=True))
    assert rows == [(1, 3, RELATION, 0), (1, 3, COOCCURRENCE, -1), (1, 3, SYNONYM, -1), (3, 1, RELATION, 2)]
    assert [table.support(i) for i in range(len(table))] == [[4], [0], [], [0]]
    assert edge_table([ReducedEdges.of_table(table)]).weight.tolist() == table.weight.tolist()
    with pytest.raises(ValueError, match="relation index"):
        edge_group(RELATION, -1)
