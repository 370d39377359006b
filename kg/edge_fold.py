"""Edges as sorted numeric arrays, and folding edge occurrences into them.

An edge is a key (`pair`, `group`): `pair` packs the source and target entity (`src << 32 | dst`,
`src < dst` for undirected edges), `group` its type and relation (see `edge_group`), so that sorting by
(pair, group) sorts by (src, dst, type, relation), the edge table's order. `ReducedEdges` holds unique
keys sorted, a float64 weight each, and the first `max_support` distinct rows that supported each edge
(CSR): about 28 bytes an edge and 4 a support row. `fold` adds occurrences (`EdgeEntries`: pair, group,
weight, row, in the order they came) to it.

The fold keeps the accumulation of the dict it replaced exactly: an edge's weight is its previous weight
plus the new occurrences' weights one by one in the order they came (np.bincount adds in input order),
and its support keeps the order in which rows first came, each row once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from kg.graph import COOCCURRENCE, RELATION, SYNONYM, EdgeTable

_RELATIONS = 1 << 30  # groups below are relation edges, by relation index
_COOCCURRENCE_GROUP = _RELATIONS
_SYNONYM_GROUP = _RELATIONS + 1
_LOW = np.int64(0xFFFFFFFF)


def edge_group(kind: int, relation: int = -1) -> int:
    """The group of an edge type and relation: relation edges by relation, then co-occurrence, synonym."""
    if kind == RELATION:
        if not 0 <= relation < _RELATIONS:
            raise ValueError(f"relation index out of range: {relation}")
        return relation
    return {COOCCURRENCE: _COOCCURRENCE_GROUP, SYNONYM: _SYNONYM_GROUP}[kind]


def edge_groups(kind: np.ndarray, relation: np.ndarray) -> np.ndarray:
    """`edge_group` of each (type, relation) of a table."""
    other = np.where(kind == COOCCURRENCE, _COOCCURRENCE_GROUP, _SYNONYM_GROUP)
    return np.where(kind == RELATION, relation, other).astype(np.int32)


def pair_key(a: int, b: int) -> int:
    return (a << 32) | b


def pair_keys(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    return (src.astype(np.int64) << 32) | dst.astype(np.int64)


@dataclass(frozen=True)
class ReducedEdges:
    """Unique edges sorted by (pair, group), with weights and capped supports (CSR)."""

    pair: np.ndarray  # int64
    group: np.ndarray  # int32
    weight: np.ndarray  # float64
    support_indptr: np.ndarray  # int64, len(pair) + 1
    support_rows: np.ndarray  # int32

    @classmethod
    def empty(cls) -> ReducedEdges:
        return cls(
            np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0), np.zeros(1, np.int64), np.zeros(0, np.int32)
        )

    @classmethod
    def of_table(cls, table: EdgeTable) -> ReducedEdges:
        return cls(
            pair_keys(table.src, table.dst),
            edge_groups(table.type, table.relation),
            table.weight.astype(np.float64),
            table.support_indptr.astype(np.int64),
            table.support_rows.astype(np.int32),
        )

    def __len__(self) -> int:
        return len(self.pair)

    def split(self, limit: int) -> list[ReducedEdges]:
        """Pieces of limit/2 to limit edges, cut between pairs (the groups of a pair stay together)."""
        if len(self) <= limit:
            return [self]
        every = np.arange(max(1, limit // 2), len(self), max(1, limit // 2))
        cuts = np.unique(np.concatenate([[0], np.searchsorted(self.pair, self.pair[every]), [len(self)]]))
        return [self._piece(a, b) for a, b in pairwise(cuts.tolist())]

    def _piece(self, start: int, end: int) -> ReducedEdges:
        first, last = int(self.support_indptr[start]), int(self.support_indptr[end])
        return ReducedEdges(
            self.pair[start:end].copy(),
            self.group[start:end].copy(),
            self.weight[start:end].copy(),
            self.support_indptr[start : end + 1] - first,
            self.support_rows[first:last].copy(),
        )


def edge_table(parts: Sequence[ReducedEdges]) -> EdgeTable:
    """The edge table of parts that follow each other in key order, filled one part at a time."""
    edges, rows = sum(len(p) for p in parts), sum(len(p.support_rows) for p in parts)
    table = EdgeTable(
        src=np.empty(edges, np.int32),
        dst=np.empty(edges, np.int32),
        type=np.empty(edges, np.int8),
        weight=np.empty(edges, np.float32),
        relation=np.empty(edges, np.int32),
        support_indptr=np.empty(edges + 1, np.int64),
        support_rows=np.empty(rows, np.int32),
    )
    edge = row = 0
    for part in parts:
        end, row_end = edge + len(part), row + len(part.support_rows)
        relation = part.group < _RELATIONS
        table.src[edge:end] = part.pair >> 32
        table.dst[edge:end] = part.pair & _LOW
        table.type[edge:end] = np.where(
            relation, RELATION, np.where(part.group == _COOCCURRENCE_GROUP, COOCCURRENCE, SYNONYM)
        )
        table.weight[edge:end] = part.weight
        table.relation[edge:end] = np.where(relation, part.group, -1)
        table.support_indptr[edge:end] = part.support_indptr[:-1] + row
        table.support_rows[row:row_end] = part.support_rows
        edge, row = end, row_end
    table.support_indptr[edge] = row
    return table


@dataclass(frozen=True)
class EdgeEntries:
    """Edge occurrences in the order they came: pair, group, weight and supporting row (-1: none)."""

    pair: np.ndarray  # int64
    group: np.ndarray  # int32
    weight: np.ndarray  # float64
    row: np.ndarray  # int32

    @classmethod
    def of_table(cls, table: EdgeTable, src: np.ndarray, dst: np.ndarray, group: np.ndarray) -> EdgeEntries:
        """A table's edges (with these endpoints and groups) as occurrences: one per support row, the
        first carrying the weight (the others 0.0), one without a row for an edge without support."""
        counts = np.diff(table.support_indptr)
        per_edge = np.maximum(counts, 1)
        edge = np.repeat(np.arange(len(table), dtype=np.int64), per_edge)
        first = np.zeros(len(edge), dtype=bool)
        first[np.cumsum(per_edge) - per_edge] = True
        weight = np.zeros(len(edge))
        weight[first] = table.weight.astype(np.float64)
        row = np.full(len(edge), -1, dtype=np.int32)
        row[np.repeat(counts > 0, per_edge)] = table.support_rows
        return cls(pair_keys(src, dst)[edge], group[edge].astype(np.int32), weight, row)

    def take(self, indices: np.ndarray) -> EdgeEntries:
        return EdgeEntries(self.pair[indices], self.group[indices], self.weight[indices], self.row[indices])


def fold(table: ReducedEdges, entries: EdgeEntries, max_support: int) -> ReducedEdges:
    """`table` with the occurrences `entries` added (see the module docstring)."""
    if len(entries.pair) == 0:
        return table
    pair, group, inverse = _unique_keys(entries)
    found, position = _locate(table, pair, group)
    start = np.zeros(len(pair))
    start[found] = table.weight[position[found]]
    index = np.concatenate([np.arange(len(pair)), inverse])
    weight = np.bincount(index, weights=np.concatenate([start, entries.weight]), minlength=len(pair))
    support = _merged_support(table, found, position, inverse, entries.row, max_support)
    return _insert(table, (pair, group), found, position, weight, support)


def _unique_keys(entries: EdgeEntries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (pair, group) keys sorted, and each entry's index among them."""
    order = np.lexsort((entries.group, entries.pair))
    pair, group = entries.pair[order], entries.group[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (pair[1:] != pair[:-1]) | (group[1:] != group[:-1])
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return pair[new], group[new], inverse


def _locate(table: ReducedEdges, pair: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each key: whether the table has it, and its index there (or where it would be inserted)."""
    low = np.searchsorted(table.pair, pair, side="left")
    high = np.searchsorted(table.pair, pair, side="right")
    one = np.flatnonzero(high - low == 1)  # the pair has one edge in the table: the usual case
    position = low.copy()
    position[one] += table.group[low[one]] < group[one]
    for i in np.flatnonzero(high - low > 1):
        position[i] = low[i] + int(np.searchsorted(table.group[low[i] : high[i]], group[i]))
    found = np.zeros(len(position), dtype=bool)
    inside = np.flatnonzero(position < len(table))
    found[inside] = (table.pair[position[inside]] == pair[inside]) & (table.group[position[inside]] == group[inside])
    return found, position


def _merged_support(
    table: ReducedEdges,
    found: np.ndarray,
    position: np.ndarray,
    inverse: np.ndarray,
    rows: np.ndarray,
    max_support: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each key's support (counts, rows): its rows in the table, then new rows in the order they came,
    each row once, at most `max_support`."""
    old_counts = np.zeros(len(found), dtype=np.int64)
    old_counts[found] = np.diff(table.support_indptr)[position[found]]
    key_of_old = np.repeat(np.arange(len(found)), old_counts)
    old_starts = table.support_indptr[position[found]]
    offsets = np.arange(len(key_of_old)) - np.repeat(np.cumsum(old_counts) - old_counts, old_counts)
    old_rows = table.support_rows[np.repeat(old_starts, old_counts[found]) + offsets]
    has_row = rows >= 0
    key = np.concatenate([key_of_old, inverse[has_row]])
    row = np.concatenate([old_rows, rows[has_row]])
    arrival = np.arange(len(key))
    by_row = np.lexsort((arrival, row, key))
    first = np.ones(len(by_row), dtype=bool)
    first[1:] = (key[by_row][1:] != key[by_row][:-1]) | (row[by_row][1:] != row[by_row][:-1])
    kept = np.sort(by_row[first])  # each (key, row) once, at its first arrival
    kept = kept[np.argsort(key[kept], kind="stable")]
    counts = np.bincount(key[kept], minlength=len(found))
    rank = np.arange(len(kept)) - np.repeat(np.cumsum(counts) - counts, counts)
    capped = kept[rank < max_support]
    return np.minimum(counts, max_support), row[capped].astype(np.int32)


def _insert(
    table: ReducedEdges,
    keys: tuple[np.ndarray, np.ndarray],
    found: np.ndarray,
    position: np.ndarray,
    weight: np.ndarray,
    support: tuple[np.ndarray, np.ndarray],
) -> ReducedEdges:
    """The table with found keys updated and new keys inserted in order."""
    new = ~found
    at = position[new]
    pair = np.insert(table.pair, at, keys[0][new])
    group = np.insert(table.group, at, keys[1][new])
    final = position + np.cumsum(new) - new  # each key's index in the new table
    weights = np.insert(table.weight, at, 0.0)
    weights[final] = weight
    counts, rows = support
    old_counts = np.insert(np.diff(table.support_indptr), at, 0)
    source = np.zeros(len(pair), dtype=bool)  # True: the support comes from `rows`
    source[final] = True
    lengths = np.where(source, 0, old_counts)
    lengths[final] = counts
    indptr = np.zeros(len(pair) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    old_starts = np.insert(table.support_indptr[:-1], at, 0)
    new_starts = np.zeros(len(pair), dtype=np.int64)
    new_starts[final] = len(table.support_rows) + np.cumsum(counts) - counts
    starts = np.where(source, new_starts, old_starts)
    pool = np.concatenate([table.support_rows, rows])
    offsets = np.arange(int(indptr[-1])) - np.repeat(indptr[:-1], lengths)
    return ReducedEdges(pair, group, weights, indptr, pool[np.repeat(starts, lengths) + offsets])
