"""evaluation.statistics: the paired bootstrap over questions."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.statistics import mean_difference_interval, percentile_interval, question_bootstrap

pytestmark = pytest.mark.unit


def test_question_bootstrap_resamples_whole_questions_and_skips_unscorable_resamples() -> None:
    questions = ["a", "a", "b", "b", "c", "c"]
    right = np.array([1, 1, 0, 0, 1, 0])  # question b alone cannot be scored

    def share_right(picked: np.ndarray) -> float | None:
        return None if not right[picked].any() else float(right[picked].mean())

    point, low, high, used = question_bootstrap(questions, share_right, 500, 0)
    assert point == pytest.approx(0.5)
    assert 0 < used < 500  # resamples of b alone were skipped
    assert 0 < low < point < high <= 1.0
    assert question_bootstrap(questions, share_right, 500, 0) == (point, low, high, used)  # seeded
    with pytest.raises(ValueError, match="cannot be scored"):
        question_bootstrap(questions, lambda picked: None, 10, 0)


def test_a_question_s_records_move_together() -> None:
    questions = ["a", "a", "a", "b"]  # a resample holds a's three records or none of them
    sizes = set()

    def count(picked: np.ndarray) -> float:
        sizes.add(len(picked))
        return float(len(picked))

    question_bootstrap(questions, count, 200, 1)
    assert sizes <= {2, 4, 6}  # two draws of a question each: 1+1, 3+1 or 3+3 records


def test_mean_difference_interval_is_centred_and_seeded() -> None:
    point, low, high = mean_difference_interval([0.1] * 20 + [-0.1] * 20)
    assert point == pytest.approx(0.0)
    assert -0.1 < low < 0.0 < high < 0.1  # centred on no difference
    assert mean_difference_interval([0.1] * 20 + [-0.1] * 20) == (point, low, high)
    assert mean_difference_interval([]) == (0.0, 0.0, 0.0)
    assert mean_difference_interval([0.5] * 7) == pytest.approx((0.5, 0.5, 0.5))


def test_percentile_interval_takes_order_statistics() -> None:
    assert percentile_interval(list(range(2000))[::-1]) == (50, 1949)
    assert percentile_interval([3.0]) == (3.0, 3.0)
