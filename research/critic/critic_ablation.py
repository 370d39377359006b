"""Does a critic feature help? Out-of-fold AUC with and without it, and a paired bootstrap over questions.

    PYTHONPATH=. python research/critic/critic_ablation.py results/practice/dev-confidence.jsonl \
        --add answer_confidence,answer_min_confidence [--folds 6] [--resamples 2000]

Both feature sets are cross-validated over the same folds of practice questions (as `sleuth critic eval
--folds K --features ...` does); the interval is the 2.5-97.5 percentiles of the AUC difference when the
questions are resampled with replacement (a question's records move together).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from evaluation.critic_training import DEFAULT_FEATURES, cross_validated_decisions, labels
from evaluation.practice_file import load_practice, question_key
from evaluation.statistics import question_bootstrap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="practice JSONL")
    parser.add_argument("--add", required=True, help="comma-separated features added to the base set")
    parser.add_argument("--folds", type=int, default=6)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = sys.stdout  # the report is the script's output
    added = tuple(args.add.split(","))
    base = tuple(f for f in DEFAULT_FEATURES if f not in added)
    records = load_practice(args.data)
    y = labels(records)
    scores = {}
    for name, features in (("base", base), ("with", base + added)):
        decided = cross_validated_decisions(records, features, args.folds, args.seed, None)
        scores[name] = np.array([decided[id(r)][1] for r in records])
        out.write(f"{name} ({len(features)} features): out-of-fold AUC {roc_auc_score(y, scores[name]):.3f}\n")

    def difference(picked: np.ndarray) -> float | None:
        if y[picked].all() or not y[picked].any():
            return None
        return float(
            roc_auc_score(y[picked], scores["with"][picked]) - roc_auc_score(y[picked], scores["base"][picked])
        )

    point, low, high, used = question_bootstrap(
        [question_key(r) for r in records], difference, args.resamples, args.seed
    )
    out.write(f"AUC difference with - base: {point:+.3f} [{low:+.3f}, {high:+.3f}] ({used} resamples)\n")


if __name__ == "__main__":
    main()
