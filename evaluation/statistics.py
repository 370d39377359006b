"""How far apart two systems truly are on a few dozen questions: the paired bootstrap over questions.

On 30 questions one answer moves F1 by several points, so a difference between two runs (or two critics
judged on the same practice records) is reported with a 95% interval. Both sides are scored on the same
questions (paired), and the questions are resampled with replacement, a question's records moving
together (clustered): a question with six chain states counts as one draw, not six. The draws are seeded,
so a report is reproduced exactly.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence

import numpy as np

RESAMPLES = 2000


def question_bootstrap(
    questions: Sequence[Hashable],
    difference: Callable[[np.ndarray], float | None],
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[float, float, float, int]:
    """A paired difference over records, `difference(indices)` of the records' positions, with the 2.5th
    and 97.5th percentiles of it when the questions (`questions[i]` is record i's) are resampled with
    replacement, a question's records moving together (seeded). A resample the difference cannot score
    (None: one class only, say) is skipped. Returns (difference on all, low, high, resamples used)."""
    rows: dict[Hashable, list[int]] = {}
    for i, question in enumerate(questions):
        rows.setdefault(question, []).append(i)
    keys = list(rows)  # in order of first appearance, so the draws do not depend on how ids sort
    rng = random.Random(seed)
    found = []
    for _ in range(resamples):
        picked = np.array([i for q in rng.choices(keys, k=len(keys)) for i in rows[q]], dtype=np.int64)
        if (value := difference(picked)) is not None:
            found.append(value)
    point = difference(np.arange(len(questions), dtype=np.int64))
    if point is None or not found:
        raise ValueError("the difference cannot be scored on these records (one class only)")
    low, high = percentile_interval(found)
    return point, low, high, len(found)


def mean_difference_interval(
    differences: Sequence[float], resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float, float]:
    """The mean of per-question differences (one each) and its 95% interval from the bootstrap above.
    No questions: (0, 0, 0)."""
    if not differences:
        return 0.0, 0.0, 0.0
    point, low, high, _ = question_bootstrap(range(len(differences)), lambda p: _mean(differences, p), resamples, seed)
    return point, low, high


def percentile_interval(values: Sequence[float]) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of `values` as order statistics (no interpolation): of 2,000
    values, the 51st and the 1,950th smallest."""
    ordered = sorted(values)
    return ordered[int(0.025 * len(ordered))], ordered[int(0.975 * len(ordered)) - 1]


def _mean(values: Sequence[float], picked: np.ndarray) -> float:
    chosen = [values[i] for i in picked]
    return sum(chosen) / len(chosen)
