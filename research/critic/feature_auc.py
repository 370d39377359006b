"""How well does each critic feature alone tell sufficient chain states from insufficient ones?

    PYTHONPATH=. python research/critic/feature_auc.py results/practice/dev-confidence.jsonl [--features a,b,...]

Among the records whose chain has an answer (without one a chain is never sufficient), the AUC of each
feature's raw value, over all of them and apart for yes/no and open answers: 0.5 is no signal, below 0.5
a signal the wrong way round.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from evaluation.critic_training import DEFAULT_FEATURES, labels
from evaluation.practice_file import load_practice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="practice JSONL")
    parser.add_argument("--features", default=",".join(DEFAULT_FEATURES), help="comma-separated feature names")
    args = parser.parse_args()
    out = sys.stdout  # the report is the script's output
    answered = [r for r in load_practice(args.data) if r["features"]["has_answer"]]
    groups = {
        "all answers": answered,
        "yes/no": [r for r in answered if r["features"]["yes_no"]],
        "open": [r for r in answered if not r["features"]["yes_no"]],
    }
    out.write(
        "| feature | " + " | ".join(f"{name} ({len(rs)}, {_positives(rs)} sufficient)" for name, rs in groups.items())
    )
    out.write(" |\n|---|" + "---:|" * len(groups) + "\n")
    for feature in args.features.split(","):
        out.write(f"| {feature} | " + " | ".join(_auc(rs, feature) for rs in groups.values()) + " |\n")


def _positives(records: list[dict[str, Any]]) -> int:
    return int(labels(records).sum())


def _auc(records: list[dict[str, Any]], feature: str) -> str:
    y = labels(records)
    x = np.array([r["features"][feature] for r in records])
    if y.all() or not y.any() or np.ptp(x) == 0:
        return "-"
    return f"{roc_auc_score(y, x):.3f}"


if __name__ == "__main__":
    main()
