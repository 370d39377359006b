"""`sleuth allocation fit`: the compute allocation model (predicted F1 by configuration and question type)
from benchmark runs, with its predictions checked on held-apart questions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from retrieval.staging import write_text_atomically


def add_allocation_commands(commands: argparse._SubParsersAction) -> None:
    allocation = commands.add_parser("allocation", help="fit the budget allocation model from `sleuth eval` runs")
    sub = allocation.add_subparsers(dest="allocation_command", required=True, metavar="SUBCOMMAND")
    fit = sub.add_parser("fit", help="fit it and print predicted against measured F1 on held-apart questions")
    fit.add_argument("--predictions", required=True, type=Path, metavar="FILE", help="a run's predictions.jsonl")
    fit.add_argument("--out", required=True, type=Path, metavar="FILE", help="the allocation model (JSON)")
    fit.add_argument("--method", default="sleuth", help="the method whose configurations to model (sleuth)")
    fit.add_argument("--holdout-share", type=float, default=0.3, help="share of the questions held apart (0.3)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--alpha", type=float, default=1.0, help="ridge penalty on standardised columns (1.0)")
    fit.set_defaults(handler=run_allocation_fit)


def run_allocation_fit(args: argparse.Namespace) -> int:
    from evaluation.allocation import fit_allocation, render_comparison

    model = fit_allocation(args.predictions, args.method, share=args.holdout_share, seed=args.seed, alpha=args.alpha)
    write_text_atomically(args.out, json.dumps(model, indent=1, ensure_ascii=False))
    print(render_comparison(model), end="")
    print(f"{len(model['configurations'])} configurations from {model['data']['answers']} answers; model in {args.out}")
    return 0
