"""Whether two graph folders hold the same graph: file by file, and where edges differ, by how much.

The name index (names.faiss) of an HNSW build can differ between two runs of the same code (FAISS adds
to HNSW with several threads), and the synonym edges with it; the entities, mentions and the other
edges cannot.
"""

from __future__ import annotations

import filecmp
import json
from pathlib import Path
from typing import Any

import numpy as np

GRAPH_FILES = ("entities.json", "mentions.npz", "edges.npz", "graph.json", "names.faiss")
EDGE_TYPES = ("relation", "cooccurrence", "synonym")


def compare_graphs(first: Path, second: Path) -> dict[str, Any]:
    identical = {name: filecmp.cmp(first / name, second / name, shallow=False) for name in GRAPH_FILES}
    report: dict[str, Any] = {"identical_files": identical}
    if not identical["entities.json"]:
        report["entities"] = _entity_differences(first, second)
    if not identical["edges.npz"]:
        report["edges"] = _edge_differences(first, second)
    return report


def _entity_differences(first: Path, second: Path) -> dict[str, int]:
    a, b = (json.loads((p / "entities.json").read_text(encoding="utf-8")) for p in (first, second))
    return {"first": len(a), "second": len(b), "differing": sum(x != y for x, y in zip(a, b, strict=False))}


def _edge_differences(first: Path, second: Path) -> dict[str, dict[str, int]]:
    """Per edge type: edges in each, edges only in one, and shared edges whose weight or support differ."""
    tables = [dict(np.load(p / "edges.npz", allow_pickle=False)) for p in (first, second)]
    report = {}
    for kind, name in enumerate(EDGE_TYPES):
        (keys_a, rows_a), (keys_b, rows_b) = (_edges_of_type(table, kind) for table in tables)
        _, in_a, in_b = np.intersect1d(keys_a, keys_b, assume_unique=True, return_indices=True)
        weights_a, weights_b = (
            t["weight"][rows[index]] for t, rows, index in ((tables[0], rows_a, in_a), (tables[1], rows_b, in_b))
        )
        supports_differ = [
            _support(tables[0], int(rows_a[i])) != _support(tables[1], int(rows_b[j]))
            for i, j in zip(in_a.tolist(), in_b.tolist(), strict=True)
        ]
        report[name] = {
            "first": len(keys_a),
            "second": len(keys_b),
            "only_first": len(keys_a) - len(in_a),
            "only_second": len(keys_b) - len(in_b),
            "shared_differing": int(np.sum((weights_a != weights_b) | np.asarray(supports_differ, dtype=bool))),
        }
    return report


_KEY = np.dtype([("pair", "<i8"), ("relation", "<i4")])


def _edges_of_type(table: dict[str, np.ndarray], kind: int) -> tuple[np.ndarray, np.ndarray]:
    """The (src << 32 | dst, relation) keys of one edge type, and their rows in the table."""
    rows = np.flatnonzero(table["type"] == kind)
    keys = np.empty(len(rows), dtype=_KEY)
    keys["pair"] = (table["src"][rows].astype(np.int64) << 32) | table["dst"][rows].astype(np.int64)
    keys["relation"] = table["relation"][rows]
    return keys, rows


def _support(table: dict[str, np.ndarray], edge: int) -> list[int]:
    indptr = table["support_indptr"]
    return table["support_rows"][indptr[edge] : indptr[edge + 1]].tolist()
