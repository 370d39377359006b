"""Stop decisions judged by what stopping costs, not by whether the answer is right.

    PYTHONPATH=. python research/critic/stop_regret.py results/practice/dev-confidence.jsonl [--threshold 0.15]

`sleuth critic eval` scores a critic's "sufficient" against the practice label (the chain's answer is
right, SIM-RAG's definition). A stop can also be judged by its regret: stopping a chain at a round is right
where its later rounds end no better (the last round's F1 is not above this round's), and going on is right
where they end better. Over every chain state before its chain's last round (where the decision changes
nothing), this prints each critic's accuracy on that label, its balanced accuracy (the mean of the shares
it gets right among the states where going on gains and among those where it does not: most states gain
nothing, so stopping always is "accurate"), the share of its stops that cost nothing, and the share of the
chains' F1 gain it keeps. The trained critic is the shipped training method
cross-validated (6 folds by question, each state judged by a model that never saw its question) at the
given threshold; the prompted and feature critics are the decisions practice recorded.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.critic_evaluation import oracle_decide, recorded
from evaluation.critic_stopping import Decide
from evaluation.critic_training import DEFAULT_FEATURES, cross_validated_decisions
from evaluation.practice_file import load_practice, question_key
from evaluation.statistics import question_bootstrap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="practice JSONL")
    parser.add_argument("--threshold", type=float, default=0.15, help="the trained critic's stop threshold")
    parser.add_argument("--folds", type=int, default=6)
    args = parser.parse_args()
    records = load_practice(args.data)
    chains: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        chains[(question_key(r), r.get("sample", 0), r.get("chain", 0))].append(r)
    states, gains = [], []  # every chain state but its chain's last, and the F1 going on to the last round adds
    for rounds in chains.values():
        rounds.sort(key=lambda r: int(r["round"]))
        states += rounds[:-1]
        gains += [float(rounds[-1]["f1"]) - float(r["f1"]) for r in rounds[:-1]]
    gain = np.array(gains)
    gains_f1 = gain > 1e-9
    trained = cross_validated_decisions(records, DEFAULT_FEATURES, args.folds, 0, args.threshold)
    critics: dict[str, Decide] = {
        f"trained (p >= {args.threshold}, {args.folds}-fold)": lambda r: trained[id(r)],
        "prompted": recorded("prompted"),
        "feature": recorded("feature"),
        "oracle correctness (answer right)": oracle_decide,
        "never stop": lambda r: (False, 0.0),
        "always stop": lambda r: (True, 1.0),
    }
    out = sys.stdout  # the report is the script's output
    out.write(
        f"{len(states)} chain states before their chain's last round; going on gains F1 at {gains_f1.mean():.3f} "
        f"of them, loses at {np.mean(gain < -1e-9):.3f}\n\n"
        "| critic | states | accuracy | balanced accuracy | stops | stops that cost nothing | F1 gain kept |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n"
    )
    stops_of = {}
    for name, decide in critics.items():
        decided = [decide(r) for r in states]
        judged = np.array([d is not None for d in decided])
        stops = np.array([d is not None and d[0] for d in decided])[judged]
        stops_of[name] = stops if judged.all() else None
        g, up = gain[judged], gains_f1[judged]
        free = f"{np.mean(~up[stops]):.3f}" if stops.any() else "-"
        total = np.clip(g, 0.0, None).sum()
        kept = np.clip(g[~stops], 0.0, None).sum() / total if total else 1.0
        cells = [str(len(g)), f"{np.mean(stops != up):.3f}", f"{_balanced(stops, up):.3f}", f"{stops.mean():.3f}"]
        out.write(f"| {name} | {' | '.join([*cells, free, f'{kept:.3f}'])} |\n")
    first, second = list(critics)[:2]
    a, b = stops_of[first], stops_of[second]
    if a is None or b is None:
        return  # the interval needs both critics' decisions on every state

    def difference(picked: np.ndarray) -> float | None:
        if gains_f1[picked].all() or not gains_f1[picked].any():
            return None
        return _balanced(a[picked], gains_f1[picked]) - _balanced(b[picked], gains_f1[picked])

    diff, low, high, _ = question_bootstrap([question_key(r) for r in states], difference, 2000, 0)
    out.write(
        f"\nbalanced accuracy, {first} minus {second}: {diff:+.3f} [{low:+.3f}, {high:+.3f}] "
        "(95%, bootstrap over questions)\n"
    )


def _balanced(stops: np.ndarray, gain: np.ndarray) -> float:
    """The mean of the shares of right decisions among the states where going on gains and where it does not."""
    return float((np.mean(stops[~gain]) + np.mean(~stops[gain])) / 2)


if __name__ == "__main__":
    main()
