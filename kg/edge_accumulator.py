"""Entity-entity edges accumulated in numeric arrays instead of a dict of Python objects.

Each occurrence of an edge appends (pair, group, weight, row) to growable buffers (see `kg.edge_fold`
for the keys). When the buffers hold `buffer_entries` occurrences, or an eighth as many as there are
edges, they are folded into the reduced edges. Those are kept in parts of at most `part_edges` edges,
each covering a range of pairs, so that a fold copies one part at a time: the memory a fold needs beside
the edges themselves stays at about one part and the buffer, and the edges cost about 28 bytes each plus
4 per support row.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from itertools import repeat

import numpy as np

from kg.edge_fold import EdgeEntries, ReducedEdges, edge_table, fold
from kg.graph import EdgeTable


class EdgeAccumulator:
    """Edge occurrences in, the reduced edges out, their weights and supports as `fold` makes them."""

    def __init__(self, max_support: int, *, buffer_entries: int = 1 << 18, part_edges: int = 1 << 18) -> None:
        if buffer_entries < 1 or part_edges < 2:
            raise ValueError(f"buffer_entries must be >= 1 and part_edges >= 2, got {buffer_entries}, {part_edges}")
        self.max_support = max_support
        self.buffer_entries = buffer_entries
        self.part_edges = part_edges
        self._parts = [ReducedEdges.empty()]
        self._starts = np.zeros(1, dtype=np.int64)  # the first pair of each part's range
        self._edges = 0
        self._clear_buffer()

    def _clear_buffer(self) -> None:
        self._pair, self._group, self._weight, self._row = array("q"), array("i"), array("d"), array("i")

    def __len__(self) -> int:
        self.flush()
        return self._edges

    def add(self, pairs: Sequence[int], group: int, weight: float, row: int) -> None:
        """Occurrences of these pair keys, all of one group, weight and row (-1: no support)."""
        n = len(pairs)
        self._pair.extend(pairs)
        self._group.extend(repeat(group, n))
        self._weight.extend(repeat(weight, n))
        self._row.extend(repeat(row, n))
        if len(self._pair) >= max(self.buffer_entries, self._edges // 8):
            self.flush()

    def add_entries(self, entries: EdgeEntries) -> None:
        self.flush()
        self._fold(entries)

    def flush(self) -> None:
        if not self._pair:
            return
        entries = EdgeEntries(
            np.array(self._pair, dtype=np.int64),
            np.array(self._group, dtype=np.int32),
            np.array(self._weight, dtype=np.float64),
            np.array(self._row, dtype=np.int32),
        )
        self._clear_buffer()
        self._fold(entries)

    def _fold(self, entries: EdgeEntries) -> None:
        """Each part folds the occurrences in its range (in the order they came), then splits if too big."""
        part = np.searchsorted(self._starts, entries.pair, side="right") - 1
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part, np.arange(len(self._parts) + 1), sorter=order)
        parts: list[ReducedEdges] = []
        starts: list[int] = []
        for i, start in enumerate(self._starts.tolist()):
            table, self._parts[i] = self._parts[i], ReducedEdges.empty()  # the old part goes once folded
            chosen = order[bounds[i] : bounds[i + 1]]
            if len(chosen):
                table = fold(table, entries.take(chosen), self.max_support)
            pieces = table.split(self.part_edges)
            parts.extend(pieces)
            starts.extend([start, *(int(piece.pair[0]) for piece in pieces[1:])])
        self._parts, self._starts = parts, np.asarray(starts, dtype=np.int64)
        self._edges = sum(len(p) for p in parts)

    def parts(self) -> list[ReducedEdges]:
        """The reduced edges, in parts that follow each other in key order."""
        self.flush()
        return list(self._parts)

    def edge_table(self) -> EdgeTable:
        return edge_table(self.parts())
