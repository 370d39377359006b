"""How many LLM calls can stopping save on a practice file, and can a run tell when more rounds are futile?

    PYTHONPATH=. python research/critic/stopping_ceiling.py results/practice/dev-confidence.jsonl

Per run (a question's chains), its F1 at a round is the mean of its chains' F1 there; calls are one
decomposition and one batched reasoning call per round, and "with verification" one more call unless the
run stopped on a sufficient chain (a trusted critic's stop skips it), as the loop counts them.

1. A correctness critic (SIM-RAG's) stops a run when some chain's answer is right. The oracle that knows
   the labels bounds what any such critic can save: runs whose answers stay wrong search to the end.
2. Stopping those early too costs no F1 where later rounds would not improve the answer: the oracle that
   knows that bounds any stop rule. Whether a run's state tells it: for every run and round but the last,
   the mean of its chains' critic features, labelled "gain" when the last round's F1 is above this one's;
   the out-of-fold AUC of a logistic model of gain (the critic's training, `fit_logistic`, grouped by
   question), and what stopping at the first round of low predicted gain would have cost.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from evaluation.critic_evaluation import oracle_decide
from evaluation.critic_training import DEFAULT_FEATURES, fit_logistic
from evaluation.practice_file import load_practice, question_key

GAIN_CUTS = (0.1, 0.15, 0.2, 0.25, 0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="practice JSONL")
    parser.add_argument("--features", default=",".join(DEFAULT_FEATURES), help="comma-separated feature names")
    args = parser.parse_args()
    features = args.features.split(",")
    out = sys.stdout  # the report is the script's output
    runs: dict[tuple[Any, ...], dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in load_practice(args.data):
        runs[(question_key(r), r.get("sample", 0))][int(r["round"])].append(r)
    keys = sorted(runs, key=str)
    last = {key: max(runs[key]) for key in keys}
    f1 = {key: {k: float(np.mean([r["f1"] for r in rs])) for k, rs in runs[key].items()} for key in keys}
    rows = [(key, k) for key in keys for k in sorted(runs[key]) if k < last[key]]
    x = np.array([[np.mean([r["features"].get(f, 0.0) for r in runs[key][k]]) for f in features] for key, k in rows])
    y = np.array([int(f1[key][last[key]] > f1[key][k] + 1e-9) for key, k in rows])
    _, info, p = fit_logistic(x, y, [str(key[0]) for key, _ in rows], features, seed=0)
    gain = dict(zip(rows, p, strict=True))

    def calls(stop_at: dict[Any, int]) -> float:
        return float(np.mean([1 + stop_at[key] for key in keys]))

    def stopped(stop_at: dict[Any, int]) -> str:
        return f"run F1 {np.mean([f1[key][stop_at[key]] for key in keys]):.3f}, {calls(stop_at):.2f} LLM calls/q"

    right = {
        key: min((k for k, rs in runs[key].items() if any(oracle_decide(r)[0] for r in rs)), default=None)
        for key in keys
    }
    oracle = {key: last[key] if k is None else k for key, k in right.items()}
    verified = sum(k is None for k in right.values()) / len(keys)  # runs that reach verification
    no_regret = {key: min(k for k in f1[key] if f1[key][k] >= f1[key][last[key]] - 1e-9) for key in keys}
    out.write(f"{len(keys)} runs, {len(rows)} run states before the last round; gain at {y.mean():.3f} of them\n")
    out.write(f"every round: {stopped(last)}; {calls(last) + 1:.2f} with verification\n")
    out.write(
        f"oracle correctness critic (the run stops at its first right answer): {calls(oracle):.2f} LLM calls/q; "
        f"{calls(oracle) + verified:.2f} with verification where it did not stop\n"
    )
    out.write(f"oracle stop (where later rounds do not improve the answer): {stopped(no_regret)}\n")
    out.write(f"gain model, out of fold ({info['folds']} folds, C {info['C']}): AUC {roc_auc_score(y, p):.3f}\n")
    for cut in GAIN_CUTS:
        stop_at = {
            key: next((k for k in sorted(f1[key]) if k < last[key] and gain[(key, k)] < cut), last[key]) for key in keys
        }
        out.write(f"stop at the first round of predicted gain < {cut}: {stopped(stop_at)}\n")


if __name__ == "__main__":
    main()
