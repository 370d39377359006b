"""Fusion of ranked runs from several retrievers, as pure functions.

A run is a sequence of ``(key, score)`` pairs, best first; keys are passage rows (``int``) or ids (``str``).
Both functions return one fused run sorted by ``(-score, key)``, so equal scores always come out in the same
order. A key repeated inside one run counts once, at its first (best) position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

from retrieval.errors import ConfigError

K = TypeVar("K", int, str)
Ranked = Sequence[tuple[K, float]]

__all__ = ["K", "Ranked", "reciprocal_rank_fusion", "weighted_score_fusion"]


def reciprocal_rank_fusion(
    runs: Sequence[Ranked[K]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Reciprocal rank fusion: each run adds ``weight / (k + rank)`` to a key, rank counted from 1."""
    if k < 0:
        raise ConfigError(f"RRF constant k must be >= 0, got {k}")
    run_weights = _validated_weights(weights, len(runs))
    fused: dict[K, float] = {}
    for run, weight in zip(runs, run_weights, strict=True):
        for rank, key in enumerate(_unique_keys(run), start=1):
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
    return _sorted_run(fused)


def weighted_score_fusion(runs: Sequence[Ranked[K]], weights: Sequence[float] | None = None) -> list[tuple[K, float]]:
    """Weighted sum of per-run min-max normalised scores; a key missing from a run gets 0 from it.

    A run whose scores are all equal (a single hit, for instance) normalises to 1.0 for every key.
    """
    run_weights = _validated_weights(weights, len(runs))
    fused: dict[K, float] = {}
    for run, weight in zip(runs, run_weights, strict=True):
        for key, score in _min_max_normalised(run).items():
            fused[key] = fused.get(key, 0.0) + weight * score
    return _sorted_run(fused)


def _validated_weights(weights: Sequence[float] | None, n_runs: int) -> list[float]:
    if weights is None:
        return [1.0] * n_runs
    if len(weights) != n_runs:
        raise ConfigError(f"fusion weights: expected {n_runs} weights (one per run), got {len(weights)}")
    for weight in weights:
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"fusion weights must be finite and non-negative, got {weight}")
    return [float(weight) for weight in weights]


def _unique_keys(run: Ranked[K]) -> list[K]:
    seen: set[K] = set()
    keys: list[K] = []
    for key, _ in run:
        if key not in seen:
            seen.add(key)
            keys.append(key)
    return keys


def _min_max_normalised(run: Ranked[K]) -> dict[K, float]:
    scores: dict[K, float] = {}
    for key, score in run:
        scores.setdefault(key, float(score))
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return dict.fromkeys(scores, 1.0)
    return {key: (score - low) / (high - low) for key, score in scores.items()}


def _sorted_run(fused: dict[K, float]) -> list[tuple[K, float]]:
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
