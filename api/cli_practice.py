"""`sleuth practice`: self-practice runs on questions with gold answers, written as labelled JSONL for
training the sufficiency critic (`sleuth critic train`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from api.cli_eval import add_question_selection, check_question_selection
from evaluation.datasets import DATASETS
from reasoning.budget import BUDGET_NAMES
from retrieval.errors import ConfigError


def add_practice_command(commands: argparse._SubParsersAction) -> None:
    pr = commands.add_parser("practice", help="self-practice: label every round of the loop against gold answers")
    pr.add_argument("--dataset", required=True, choices=DATASETS)
    pr.add_argument("--questions", required=True, type=Path, metavar="PATH", help="questions with gold answers")
    pr.add_argument("--index", required=True, type=Path, metavar="DIR", help="index bundle of their corpus")
    pr.add_argument("--out", required=True, type=Path, metavar="FILE", help="practice JSONL (appended; resumes)")
    add_question_selection(pr)
    pr.add_argument("--chains", type=int, default=3, metavar="K", help="chains per run (default 3)")
    pr.add_argument("--rounds", type=int, default=3, metavar="R", help="rounds per run, all of them run (default 3)")
    pr.add_argument("--samples", type=int, default=2, metavar="S", help="runs per question, each its own seed")
    pr.add_argument("--budget", choices=BUDGET_NAMES, default="fast", help="preset whose reranking and critic guide")
    pr.add_argument("--temperature", type=float, default=0.7, help="sampling of samples after the first (0.7)")
    pr.add_argument("--threshold", type=float, default=0.5, help="F1 above which a round is sufficient (0.5)")
    pr.add_argument("--prompted", action="store_true", help="also record the prompted critic's decisions")
    pr.add_argument(
        "--answer-every-round",
        action="store_true",
        help="the reader gives its best answer every round, never 'unknown' (a critic trained on it asks the same)",
    )
    pr.add_argument(
        "--llm", default=None, metavar="SPEC", help="LLM backend spec (default SLEUTH_LLM, else the CPU model)"
    )
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--retry-failed", action="store_true", help="practise again the runs that failed before")
    pr.set_defaults(handler=run_practice_command)


def run_practice_command(args: argparse.Namespace) -> int:
    from evaluation.datasets import load_benchmark
    from evaluation.practice import PracticePlan, run_practice
    from evaluation.practice_file import PracticeFile
    from reasoning.settings import SystemSettings
    from reasoning.system import build_system

    check_question_selection(args)
    settings = SystemSettings.from_env(llm=args.llm, seed=args.seed)
    plan = PracticePlan(
        dataset=args.dataset,
        index=args.index,
        llm=settings.llm,
        budget=args.budget,
        chains=args.chains,
        rounds=args.rounds,
        samples=args.samples,
        seed=args.seed,
        temperature=args.temperature,
        threshold=args.threshold,
        prompted=args.prompted,
        answer_every_round=args.answer_every_round,
        retry_failed=args.retry_failed,
    )
    questions = load_benchmark(args.questions, args.dataset, args.limit, args.skip)
    if not questions:
        raise ConfigError(f"no questions in {args.questions}")
    system = build_system(settings)
    system.index(args.index)  # a missing or bad index fails before any model loads
    bar = PracticeBar()
    try:
        outcome = run_practice(system, questions, plan, PracticeFile(args.out), bar)
    finally:
        bar.close()
    print(
        f"{args.dataset}: {outcome.runs} practice runs ({outcome.records} labelled records), "
        f"already done {outcome.skipped}, failed {outcome.failed}; records in {args.out}"
    )
    if outcome.failed and not args.retry_failed:
        print(f"{outcome.failed} failed (errors in {args.out}); --retry-failed runs them again", file=sys.stderr)
    return 0


class PracticeBar:
    """A tqdm bar on stderr over practice runs."""

    def __init__(self) -> None:
        self._bar: tqdm | None = None
        self._records = self._failed = 0

    def start(self, total: int, skipped: int) -> None:
        self._bar = tqdm(total=total, desc="practice", unit=" run", file=sys.stderr, dynamic_ncols=True)
        if skipped:
            self._bar.write(f"resuming: {skipped} runs already in the practice file", file=sys.stderr)

    def advance(self, records: int, failed: bool) -> None:
        self._failed += failed
        self._records += 0 if failed else records
        if self._bar is not None:
            self._bar.set_postfix({"records": self._records, "failed": self._failed}, refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
