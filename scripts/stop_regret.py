"""Stop decisions judged by what stopping costs, not by whether the answer is right.

    PYTHONPATH=. python scripts/stop_regret.py results/practice/dev-confidence.jsonl [--threshold 0.15]

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.critic_evaluation import oracle_decide
from evaluation.critic_training import DEFAULT_FEATURES, cross_validated_decisions
from evaluation.practice_file import load_practice, question_key, recorded_decision

Decide = Callable[[dict[str, Any]], bool | None]


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
    states = []  # (record, F1 gain of going on to the chain's last round)
    for rounds in chains.values():
        rounds.sort(key=lambda r: int(r["round"]))
        states += [(r, float(rounds[-1]["f1"]) - float(r["f1"])) for r in rounds[:-1]]
    trained = cross_validated_decisions(records, DEFAULT_FEATURES, args.folds, 0, args.threshold)
    critics: dict[str, Decide] = {
        f"trained (p >= {args.threshold}, {args.folds}-fold)": lambda r: trained[id(r)][0],
        "prompted": lambda r: _recorded(r, "prompted"),
        "feature": lambda r: _recorded(r, "feature"),
        "oracle correctness (answer right)": lambda r: oracle_decide(r)[0],
        "never stop": lambda r: False,
        "always stop": lambda r: True,
    }
    regret = np.array([gain > 1e-9 for _, gain in states])
    out = sys.stdout  # the report is the script's output
    out.write(
        f"{len(states)} chain states before their chain's last round; going on gains F1 at {regret.mean():.3f} "
        f"of them, loses at {np.mean([g < -1e-9 for _, g in states]):.3f}\n\n"
        "| critic | states | accuracy | balanced accuracy | stops | stops that cost nothing | F1 gain kept |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n"
    )
    for name, decide in critics.items():
        judged = [(bool(d), g) for r, g in states if (d := decide(r)) is not None]
        total_gain = sum(max(g, 0.0) for _, g in judged)
        stops = np.array([d for d, _ in judged])
        gains = np.array([g for _, g in judged])
        gain = gains > 1e-9
        right = stops != gain
        balanced = _balanced(stops, gain)
        free = f"{np.mean(~gain[stops]):.3f}" if stops.any() else "-"
        kept = sum(max(g, 0.0) for d, g in judged if not d) / total_gain if total_gain else 1.0
        cells = [str(len(judged)), f"{right.mean():.3f}", f"{balanced:.3f}", f"{stops.mean():.3f}", free, f"{kept:.3f}"]
        out.write(f"| {name} | {' | '.join(cells)} |\n")
    names = list(critics)
    diff, low, high = _paired_interval(states, critics[names[0]], critics[names[1]])
    out.write(
        f"\nbalanced accuracy, {names[0]} minus {names[1]}: {diff:+.3f} [{low:+.3f}, {high:+.3f}] "
        "(95%, bootstrap over questions)\n"
    )


def _balanced(stops: np.ndarray, gain: np.ndarray) -> float:
    return float((np.mean(stops[~gain]) + np.mean(~stops[gain])) / 2)


def _paired_interval(
    states: list[tuple[dict[str, Any], float]], first: Decide, second: Decide, reps: int = 2000
) -> tuple[float, float, float]:
    """The balanced accuracy of `first` minus `second`, with a 95% bootstrap interval resampling questions."""
    by_question: dict[str, list[int]] = defaultdict(list)
    for i, (r, _) in enumerate(states):
        by_question[question_key(r)].append(i)
    groups = list(by_question.values())
    a = np.array([bool(first(r)) for r, _ in states])
    b = np.array([bool(second(r)) for r, _ in states])
    gain = np.array([g > 1e-9 for _, g in states])
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(reps):
        picked = np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])
        if gain[picked].all() or not gain[picked].any():
            continue
        diffs.append(_balanced(a[picked], gain[picked]) - _balanced(b[picked], gain[picked]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return _balanced(a, gain) - _balanced(b, gain), float(low), float(high)


def _recorded(record: dict[str, Any], critic: str) -> bool | None:
    found = recorded_decision(record, critic)
    return None if found is None else found[0]


if __name__ == "__main__":
    main()
