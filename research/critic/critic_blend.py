"""Do the logistic and the cross-encoder critics read different things? Their out-of-fold probabilities.

    PYTHONPATH=. python research/critic/critic_blend.py results/practice/dev-answers.jsonl [--folds 6] [--epochs 2]

Both critics' training is cross-validated over the same folds of practice questions (as `sleuth critic eval
--folds K [--cross-encoder]` does); the script prints each one's AUC, the correlation of their probabilities
and the AUC of their rank average at a few weights. The weights are judged on the same questions, so the
best of them flatters the blend. The cross-encoder fine-tunes K times on the CPU (3-5 minutes a fold).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from evaluation.critic_training import DEFAULT_FEATURES, cross_validated_decisions, labels
from evaluation.practice_file import load_practice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="practice JSONL")
    parser.add_argument("--folds", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=2, help="cross-encoder epochs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = sys.stdout  # the report is the script's output
    records = load_practice(args.data)
    y = labels(records)
    probabilities = {}
    for name, epochs in (("logistic", None), ("cross-encoder", args.epochs)):
        decided = cross_validated_decisions(records, DEFAULT_FEATURES, args.folds, args.seed, None, epochs)
        probabilities[name] = np.array([decided[id(r)][1] for r in records])
        out.write(f"{name}: out-of-fold AUC {roc_auc_score(y, probabilities[name]):.3f}\n")
        out.flush()
    logistic, encoder = probabilities["logistic"], probabilities["cross-encoder"]
    out.write(f"correlation of the two: {np.corrcoef(logistic, encoder)[0, 1]:.2f}\n")
    for weight in (0.25, 0.5, 0.75):
        blend = weight * rankdata(encoder) + (1 - weight) * rankdata(logistic)
        out.write(f"rank average, cross-encoder weight {weight}: AUC {roc_auc_score(y, blend):.3f}\n")


if __name__ == "__main__":
    main()
