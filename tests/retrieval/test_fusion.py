from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from retrieval.errors import ConfigError
from retrieval.fusion import reciprocal_rank_fusion, weighted_score_fusion

pytestmark = pytest.mark.unit


def test_rrf_values_and_order() -> None:
    bm25 = [(3, 12.0), (1, 9.0), (7, 1.0)]
    dense = [(1, 0.9), (5, 0.8), (3, 0.1)]
    fused = reciprocal_rank_fusion([bm25, dense], k=60)
    expected = {
        1: 1 / 62 + 1 / 61,
        3: 1 / 61 + 1 / 63,
        5: 1 / 62,
        7: 1 / 63,
    }
    assert [key for key, _ in fused] == [1, 3, 5, 7]
    for key, score in fused:
        assert score == pytest.approx(expected[key])


def test_rrf_ignores_scores_only_ranks_matter() -> None:
    assert reciprocal_rank_fusion([[("a", 100.0), ("b", -5.0)]]) == reciprocal_rank_fusion([[("a", 0.2), ("b", 0.1)]])


def test_rrf_weights() -> None:
    fused = reciprocal_rank_fusion([[(1, 1.0)], [(2, 1.0)]], k=0, weights=[1.0, 3.0])
    assert fused == [(2, 3.0), (1, 1.0)]


def test_rrf_zero_weight_keeps_keys_with_zero_score() -> None:
    fused = reciprocal_rank_fusion([[(1, 1.0)], [(2, 1.0)]], weights=[0.0, 1.0])
    assert fused == [(2, pytest.approx(1 / 61)), (1, 0.0)]


def test_rrf_ties_broken_by_key() -> None:
    fused = reciprocal_rank_fusion([[(9, 1.0), (4, 0.5)], [(4, 1.0), (9, 0.5)]])
    assert [key for key, _ in fused] == [4, 9]
    assert fused[0][1] == fused[1][1]
    string_keys = reciprocal_rank_fusion([[("zeta", 1.0)], [("alpha", 1.0)]])
    assert [key for key, _ in string_keys] == ["alpha", "zeta"]


def test_rrf_repeated_key_counts_once_at_best_rank() -> None:
    fused = reciprocal_rank_fusion([[(1, 3.0), (2, 2.0), (1, 1.0)]], k=0)
    assert fused == [(1, 1.0), (2, 0.5)]


def test_empty_runs() -> None:
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []
    assert weighted_score_fusion([]) == []
    assert weighted_score_fusion([[], [(1, 2.0)]]) == [(1, 1.0)]


def test_weighted_fusion_normalises_each_run() -> None:
    bm25 = [(1, 20.0), (2, 15.0), (3, 10.0)]
    dense = [(3, 0.9), (4, 0.5), (1, 0.1)]
    fused = dict(weighted_score_fusion([bm25, dense]))
    assert fused[1] == pytest.approx(1.0 + 0.0)
    assert fused[2] == pytest.approx(0.5)
    assert fused[3] == pytest.approx(0.0 + 1.0)
    assert fused[4] == pytest.approx(0.5)


def test_weighted_fusion_order_weights_and_ties() -> None:
    bm25 = [(1, 20.0), (2, 15.0), (3, 10.0)]
    dense = [(3, 0.9), (4, 0.5), (1, 0.1)]
    fused = weighted_score_fusion([bm25, dense], weights=[1.0, 2.0])
    assert fused == [
        (3, pytest.approx(2.0)),
        (1, pytest.approx(1.0)),
        (4, pytest.approx(1.0)),
        (2, pytest.approx(0.5)),
    ]
    assert [key for key, _ in weighted_score_fusion([bm25, dense])] == [1, 3, 2, 4]


def test_weighted_fusion_all_equal_scores_become_one() -> None:
    fused = weighted_score_fusion([[(5, 3.0), (2, 3.0)], [(7, 0.4)]])
    assert fused == [(2, 1.0), (5, 1.0), (7, 1.0)]


@pytest.mark.parametrize("fuse", [reciprocal_rank_fusion, weighted_score_fusion])
@pytest.mark.parametrize("weights", [[1.0], [1.0, 2.0, 3.0], [1.0, -0.5], [math.nan, 1.0], [math.inf, 1.0]])
def test_bad_weights(fuse: Callable[..., object], weights: list[float]) -> None:
    runs = [[(1, 1.0)], [(2, 1.0)]]
    with pytest.raises(ConfigError):
        fuse(runs, weights=weights)


def test_rrf_negative_k() -> None:
    with pytest.raises(ConfigError, match="-1"):
        reciprocal_rank_fusion([[(1, 1.0)]], k=-1)
