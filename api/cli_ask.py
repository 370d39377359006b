"""`sleuth ask`: answer one question over an index with a method at a budget."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from api.cli_output import print_json
from reasoning.budget import BUDGET_NAMES, CRITIC_KINDS, Budget, resolve_budget
from reasoning.llm.factory import DEFAULT_BACKEND
from reasoning.methods import METHODS
from reasoning.result import AskResult
from retrieval.staging import write_text_atomically


def add_ask_command(commands: argparse._SubParsersAction) -> None:
    ask = commands.add_parser("ask", help="answer a question over an index")
    ask.add_argument("question", metavar="QUESTION")
    ask.add_argument("--index", required=True, type=Path, metavar="DIR")
    ask.add_argument("--method", choices=METHODS, default="sleuth", help="sleuth (default) or a baseline")
    ask.add_argument("--budget", choices=BUDGET_NAMES, default="balanced", help="compute budget preset")
    ask.add_argument("--json", action="store_true", help="print the answer, citations, cost and trace as JSON")
    ask.add_argument("--trace", type=Path, metavar="FILE", help="write the whole result with its trace to FILE")
    ask.add_argument("--llm", default=DEFAULT_BACKEND, metavar="SPEC", help=f"LLM backend (default {DEFAULT_BACKEND})")
    ask.add_argument("--n-ctx", type=int, default=None, help="llama.cpp context window (default 4096)")
    ask.add_argument("--max-question-chars", type=int, default=1000, help="longest question accepted")
    ask.add_argument("--seed", type=int, default=0)
    knobs = ask.add_argument_group("budget knobs (override the preset)")
    knobs.add_argument("--chains", type=int)
    knobs.add_argument("--max-rounds", type=int)
    knobs.add_argument("--passages-per-round", type=int)
    knobs.add_argument("--rerank-depth", type=int)
    knobs.add_argument("--critic", choices=CRITIC_KINDS)
    knobs.add_argument("--critic-dir", type=Path, metavar="DIR", help="a trained critic (default: the shipped one)")
    knobs.add_argument("--llm-criteria", action=argparse.BooleanOptionalAction, default=None)
    knobs.add_argument("--llm-judge", action=argparse.BooleanOptionalAction, default=None)
    knobs.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None)
    knobs.add_argument(
        "--answer-every-round",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the reader answers every round, never 'unknown' (on with a critic practised that way)",
    )
    knobs.add_argument(
        "--stop-run",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="answer as soon as one chain is sufficient (on with a trained critic whose training chose it)",
    )
    knobs.add_argument(
        "--trust-critic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --verify, skip the LLM re-check of an uncontested answer the critic judged sufficient",
    )
    knobs.add_argument("--max-llm-calls", type=int)
    knobs.add_argument("--max-tokens", type=int, help="prompt + completion tokens per question")
    add_allocation_options(ask)
    ask.set_defaults(handler=run_ask)


def add_allocation_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("compute allocation (instead of --budget)")
    group.add_argument(
        "--budget-tokens", type=int, metavar="N", help="the configuration predicted best within N tokens"
    )
    group.add_argument("--allocation", type=Path, metavar="FILE", help="allocation model (`sleuth allocation fit`)")


def allocated_budget(tokens: int, allocation: Path | None) -> Budget:
    """The budget `--budget-tokens` picks (told on stderr)."""
    from reasoning.allocation import choose_budget, load_allocation

    chosen = choose_budget(tokens, load_allocation(allocation))
    print(f"sleuth: {chosen.message}", file=sys.stderr)
    return chosen.budget


KNOB_ARGS = (
    "chains",
    "max_rounds",
    "passages_per_round",
    "rerank_depth",
    "critic",
    "llm_criteria",
    "llm_judge",
    "verify",
    "answer_every_round",
    "stop_run",
    "trust_critic",
    "max_llm_calls",
    "max_tokens",
)


def run_ask(args: argparse.Namespace) -> int:
    from reasoning.system import SleuthSystem, SystemConfig

    options: dict[str, Any] = {} if args.n_ctx is None else {"n_ctx": args.n_ctx}
    config = SystemConfig(
        llm=args.llm,
        llm_options=options,
        max_question_chars=args.max_question_chars,
        seed=args.seed,
        critic_dir=args.critic_dir,
    )
    system = SleuthSystem(config)
    question = system.check_question(args.question)  # bad input fails before any model loads
    overrides = {name: getattr(args, name) for name in KNOB_ARGS}
    if args.critic_dir is not None and overrides["critic"] in (None, "trained"):
        overrides["critic"], overrides["critic_dir"] = "trained", str(args.critic_dir)
    budget: str | Budget = args.budget
    if args.budget_tokens is not None:
        budget = allocated_budget(args.budget_tokens, args.allocation)
    if resolve_budget(budget, **overrides).critic == "trained":
        from reasoning.trained_critic import load_critic

        load_critic(overrides.get("critic_dir"))  # a missing or corrupt critic fails before any model loads
    system.index(args.index)
    result = system.ask(question, args.index, method=args.method, budget=budget, overrides=overrides)
    if args.trace is not None:
        write_text_atomically(args.trace, json.dumps(result.to_json(), indent=1, ensure_ascii=False))
    if args.json:
        print_json(result.to_json())
    else:
        print_answer(result)
    return 0


def print_answer(result: AskResult) -> None:
    print(result.answer)
    if result.explanation:
        print(f"\n{result.explanation}")
    for citation in result.citations:
        print(f"  [{citation.number}] {citation.title} ({citation.passage_id})")
    for path in result.graph_paths[:3]:
        print(f"  path: {path}")
    cost = result.cost
    print(
        f"\n{result.method} at {result.budget}: {cost.llm_calls} LLM calls, {cost.prompt_tokens} prompt + "
        f"{cost.completion_tokens} completion tokens, {cost.seconds:.1f} s, confidence {result.confidence:.2f}",
        file=sys.stderr,
    )
