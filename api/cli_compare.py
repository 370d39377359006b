"""`sleuth eval compare`: finished `sleuth eval` runs side by side on the questions they all answered.

    sleuth eval compare --method sleuth --budget balanced \
        none=results/eval/critic/none shipped=results/eval/critic/shipped prompted=results/eval/dev
    sleuth eval compare rag=results/eval/hop-dev-v2+results/eval/hop-dev-v3-rag@rag/fast \
        sleuth=results/eval/hop-dev-v4@sleuth/balanced

A run is LABEL=DIR, or LABEL=DIR+DIR+... (their answers pooled), with @METHOD/BUDGET where it is not
--method / --budget.

It prints a Markdown table (evaluation.run_comparison): per set and over all, each run's EM, F1, cost, and
its F1 and LLM calls against the first run's, with a paired-bootstrap 95% interval of the F1 difference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evaluation.run_comparison import compare_runs, load_run, pool_runs, render_comparison
from retrieval.errors import ConfigError


def add_compare_command(eval_parser: argparse.ArgumentParser) -> None:
    """`compare` under `sleuth eval`, whose own options then run the harness as before."""
    commands = eval_parser.add_subparsers(dest="eval_command", metavar="compare", title="other commands")
    compare = commands.add_parser(
        "compare",
        help="set finished runs side by side (F1 with paired-bootstrap intervals, cost)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    compare.add_argument(
        "runs",
        nargs="+",
        metavar="LABEL=DIR[+DIR...][@METHOD/BUDGET]",
        help="a run (folders pooled with +, its method and budget after @) and its label; the first is the reference",
    )
    compare.add_argument("--method", default="sleuth", help="the method whose answers to compare (default sleuth)")
    compare.add_argument("--budget", default="balanced", help="the budget whose answers to compare (default balanced)")
    compare.set_defaults(handler=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    runs = {}
    for item in args.runs:
        label, _, directory = item.partition("=")
        if not label or not directory:
            raise ConfigError(f"expected LABEL=DIR, got {item!r}")
        if label in runs:
            raise ConfigError(f"the label {label!r} is given twice")
        folders, _, answers = directory.partition("@")
        method, _, budget = answers.partition("/") if answers else (args.method, "/", args.budget)
        if not method or not budget:
            raise ConfigError(f"expected @METHOD/BUDGET after the folders, got {item!r}")
        names = folders.split("+")
        runs[label] = pool_runs([load_run(Path(name), method, budget) for name in names], names)
    sys.stdout.write(render_comparison(compare_runs(runs)))
    return 0
