"""Retrieval metrics as plain functions."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def distinct_in_order(ids: Iterable[str]) -> list[str]:
    """The ids in first-seen order without repeats (passages of one document count once)."""
    seen: set[str] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]


def recall_at_k(ranked_doc_ids: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Share of gold documents among the first k distinct retrieved documents."""
    gold_set = set(gold)
    if not gold_set:
        return 0.0
    top = set(distinct_in_order(ranked_doc_ids)[:k])
    return len(top & gold_set) / len(gold_set)


def all_found_at_k(ranked_doc_ids: Sequence[str], gold: Iterable[str], k: int) -> bool:
    gold_set = set(gold)
    return bool(gold_set) and gold_set <= set(distinct_in_order(ranked_doc_ids)[:k])


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]
