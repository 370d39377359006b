"""Set `sleuth eval` runs of one method side by side on the questions they all answered.

    python scripts/compare_runs.py --method sleuth --budget balanced \
        prompted=results/eval/dev trained=results/eval/critic/trained none=results/eval/critic/none

Each LABEL=DIR is a run folder (its predictions.jsonl, else its scores.jsonl). Per dataset, only the
questions every run answered without failing count, so the rows compare like with like; the table gives
EM, F1, LLM calls, tokens and seconds per question, each run's LLM calls against the first run's, and its F1
against the first run's with a 95% interval from a paired bootstrap over the questions (seeded): on a few
dozen questions one answer moves F1 by several points, and the interval says how far apart two runs truly are.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from evaluation.run_file import RunFile, ScoredRecord


def load(directory: Path, method: str, budget: str) -> dict[tuple[str, str], ScoredRecord]:
    for name in ("predictions.jsonl", "scores.jsonl"):
        if (directory / name).is_file():
            records = RunFile(directory / name).records().values()
            return {(r.dataset, r.id): r for r in records if r.method == method and r.budget == budget and not r.failed}
    raise SystemExit(f"{directory}: no predictions.jsonl or scores.jsonl")


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def paired_interval(diffs: Sequence[float], draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the mean of `diffs` resampled with replacement (per question)."""
    if not diffs:
        return 0.0, 0.0
    rng = random.Random(seed)
    means = sorted(mean(rng.choices(diffs, k=len(diffs))) for _ in range(draws))
    return means[int(0.025 * draws)], means[int(0.975 * draws) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", metavar="LABEL=DIR")
    parser.add_argument("--method", default="sleuth")
    parser.add_argument("--budget", default="balanced")
    args = parser.parse_args(argv)
    runs = {}
    for item in args.runs:
        label, _, directory = item.partition("=")
        if not directory:
            parser.error(f"expected LABEL=DIR, got {item!r}")
        runs[label] = load(Path(directory), args.method, args.budget)
    common = sorted(set.intersection(*(set(r) for r in runs.values())))
    groups = {dataset: [k for k in common if k[0] == dataset] for dataset in sorted({k[0] for k in common})}
    groups["all"] = common
    out = sys.stdout
    out.write("| set | run | N | EM | F1 | F1 vs first [95% CI] | LLM calls/q | vs first | tokens/q | s/q |\n")
    out.write("|---|---|---:|---:|---:|---|---:|---:|---:|---:|\n")
    first = next(iter(runs.values()))
    for dataset, keys in groups.items():
        first_calls = mean([first[k].llm_calls for k in keys])
        for label, records in runs.items():
            rows = [records[k] for k in keys]
            calls = mean([r.llm_calls for r in rows])
            change = f"{(calls / first_calls - 1) * 100:+.0f}%" if first_calls else "-"
            diffs = [records[k].f1 - first[k].f1 for k in keys]
            low, high = paired_interval(diffs)
            out.write(
                f"| {dataset} | {label} | {len(rows)} | {mean([r.em for r in rows]):.3f} | "
                f"{mean([r.f1 for r in rows]):.3f} | {mean(diffs):+.3f} [{low:+.3f}, {high:+.3f}] | {calls:.2f} | "
                f"{change} | {mean([r.tokens for r in rows]):,.0f} | {mean([r.seconds for r in rows]):.1f} |\n"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
