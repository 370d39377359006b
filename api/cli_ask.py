"""`sleuth ask`: answer one question over an index with a method at a budget."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from api.cli_output import print_json
from reasoning.budget import BUDGET_NAMES, CRITIC_KINDS, DEFAULT_BUDGET, Budget, resolve_budget
from reasoning.llm.factory import DEFAULT_BACKEND
from reasoning.methods import METHODS
from reasoning.result import AskResult
from reasoning.settings import SystemSettings
from retrieval.staging import write_text_atomically


def add_ask_command(commands: argparse._SubParsersAction) -> None:
    ask = commands.add_parser("ask", help="answer a question over an index")
    ask.add_argument("question", metavar="QUESTION")
    ask.add_argument("--index", required=True, type=Path, metavar="DIR")
    ask.add_argument("--method", choices=METHODS, default="sleuth", help="sleuth (default) or a baseline")
    ask.add_argument(
        "--budget",
        choices=BUDGET_NAMES,
        default=DEFAULT_BUDGET,
        help=f"compute budget preset (default {DEFAULT_BUDGET})",
    )
    ask.add_argument("--json", action="store_true", help="print the answer, citations, cost and trace as JSON")
    ask.add_argument("--trace", type=Path, metavar="FILE", help="write the whole result with its trace to FILE")
    ask.add_argument(
        "--llm", default=None, metavar="SPEC", help=f"LLM backend (default SLEUTH_LLM, else {DEFAULT_BACKEND})"
    )
    ask.add_argument("--n-ctx", type=int, default=None, help="llama.cpp context window (default 4096)")
    ask.add_argument("--max-question-chars", type=int, default=None, help="longest question accepted (default 1000)")
    ask.add_argument("--seed", type=int, default=None, help="seed of the LLM calls (default SLEUTH_SEED, else 0)")
    knobs = ask.add_argument_group("budget knobs (override the preset)")
    knobs.add_argument("--beam-width", type=int, help="sleuth: paths kept after each step")
    knobs.add_argument("--hop-reads", type=int, help="sleuth: passage groups read per step and path")
    knobs.add_argument("--hop-passages", type=int, help="sleuth: passages per group")
    knobs.add_argument("--rewrites", type=int, help="sleuth: re-searches of a step that stays unknown")
    knobs.add_argument("--chains", type=int)
    knobs.add_argument("--max-rounds", type=int)
    knobs.add_argument("--passages-per-round", type=int)
    knobs.add_argument("--rerank-depth", type=int)
    knobs.add_argument("--critic", choices=CRITIC_KINDS)
    knobs.add_argument(
        "--critic-dir",
        type=Path,
        metavar="DIR",
        help="the trained critic in DIR (alone: use it; default SLEUTH_CRITIC_DIR, else the shipped one)",
    )
    knobs.add_argument("--llm-criteria", action=argparse.BooleanOptionalAction, default=None)
    knobs.add_argument("--llm-judge", action=argparse.BooleanOptionalAction, default=None)
    knobs.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None)
    knobs.add_argument(
        "--answer-every-round",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the reader answers every round, never 'unknown' (default: the preset's)",
    )
    knobs.add_argument(
        "--stop-run",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="answer as soon as one chain is sufficient (default: the preset's; fast's is on)",
    )
    knobs.add_argument(
        "--trust-critic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --verify, skip the LLM re-check of an uncontested answer the critic judged sufficient "
        "(default: the preset's)",
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
    group.add_argument(
        "--allocation",
        type=Path,
        metavar="FILE",
        help="allocation model (`sleuth allocation fit`; default SLEUTH_ALLOCATION, else the presets' caps)",
    )


def allocated_budget(tokens: int, allocation: Path | None) -> Budget:
    """The budget `--budget-tokens` picks (told on stderr)."""
    from reasoning.allocation import choose_budget, load_allocation

    chosen = choose_budget(tokens, load_allocation(allocation))
    print(f"sleuth: {chosen.message}", file=sys.stderr)
    return chosen.budget


KNOB_ARGS = (
    "beam_width",
    "hop_reads",
    "hop_passages",
    "rewrites",
    "chains",
    "max_rounds",
    "passages_per_round",
    "rerank_depth",
    "llm_criteria",
    "llm_judge",
    "verify",
    "answer_every_round",
    "stop_run",
    "trust_critic",
    "max_llm_calls",
    "max_tokens",
)


def critic_overrides(critic: str | None, critic_dir: Path | None) -> dict[str, Any]:
    """The budget knobs `--critic` and `--critic-dir` set (ask and eval): `--critic-dir DIR` alone means the
    trained critic in DIR."""
    if critic_dir is not None and critic in (None, "trained"):
        return {"critic": "trained", "critic_dir": str(critic_dir)}
    return {} if critic is None else {"critic": critic}


def ask_settings(args: argparse.Namespace) -> SystemSettings:
    """The system's settings: the SLEUTH_* variables under the command line's flags."""
    settings = SystemSettings.from_env(
        llm=args.llm, max_question_chars=args.max_question_chars, seed=args.seed, allocation=args.allocation
    )
    if args.n_ctx is not None:
        settings = settings.model_copy(update={"llm_options": {**settings.llm_options, "n_ctx": args.n_ctx}})
    return settings


def run_ask(args: argparse.Namespace) -> int:
    from reasoning.stop_policy import check_stop_policy
    from reasoning.system import build_system

    settings = ask_settings(args)
    system = build_system(settings)
    question = system.check_question(args.question)  # bad input fails before any model loads
    overrides = {name: getattr(args, name) for name in KNOB_ARGS} | critic_overrides(args.critic, args.critic_dir)
    budget: str | Budget = args.budget
    if args.budget_tokens is not None:
        budget = allocated_budget(args.budget_tokens, settings.allocation)
    check_stop_policy(resolve_budget(budget, **overrides), critic_dir=settings.critic_dir)
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
