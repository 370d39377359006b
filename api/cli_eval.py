"""`sleuth eval`: run the benchmark harness over a set's questions, methods and budgets.

It builds the index from the corpus when `--index` does not exist, asks every question with every method
and budget (in `--workers` threads), appends each scored answer to `OUT/predictions.jsonl` (so a run
resumes where it stopped), and rewrites `summary.json`, `summary.md`, `scores.jsonl` and the plots from the
whole run file at the end, also after Ctrl-C. `scores.jsonl` holds the scored records without the traces: a
run folder that has it but no predictions file (a committed result, say) resumes from it.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args, get_type_hints

from tqdm import tqdm

from api.cli_ask import critic_overrides
from api.cli_compare import add_compare_command
from api.cli_graph import add_graph_options, stage_from_args
from api.progress_bars import TerminalProgress
from evaluation.corpus import prepare_corpus
from evaluation.datasets import DATASETS, Question, load_benchmark
from evaluation.run_file import RunFile, ScoredRecord
from evaluation.run_settings import check_run_settings, code_commit, run_settings
from evaluation.runner import Answerer, RunPlan, plan_runs, run_benchmark
from evaluation.summary import SCORES_JSONL, SUMMARY_MD, write_reports
from reasoning.budget import CRITIC_KINDS
from reasoning.settings import SystemSettings
from retrieval.bundle import MANIFEST
from retrieval.embedders import DEFAULT_EMBEDDER, SentenceTransformerEmbedder
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)
PREDICTIONS = "predictions.jsonl"
DEFAULT_METHODS = "rag,iterative,ppr,sleuth"
DEFAULT_BUDGETS = "fast,balanced,thorough"
RUN_OPTIONS = ("--dataset", "--questions", "--index", "--out")  # required to run (not by `eval compare`)


def add_eval_command(commands: argparse._SubParsersAction) -> None:
    ev = commands.add_parser(
        "eval",
        help="run the benchmark harness (EM, F1, recall, cost per method and budget)",
        description="Run the benchmark harness: --dataset, --questions, --index and --out are required. "
        "`sleuth eval compare LABEL=DIR ...` sets finished runs side by side.",
        allow_abbrev=False,  # else `eval compare --budget` reads as an ambiguous abbreviation of --budgets
    )
    ev.add_argument("--dataset", choices=DATASETS)
    ev.add_argument(
        "--questions",
        type=Path,
        metavar="PATH",
        help="questions: the ../shared/data format, HotpotQA/2Wiki official JSON or MuSiQue official JSONL",
    )
    ev.add_argument("--corpus", type=Path, metavar="PATH", help="documents to index when --index does not exist")
    ev.add_argument("--index", type=Path, metavar="DIR", help="index bundle (built when missing)")
    ev.add_argument("--methods", default=DEFAULT_METHODS, help=f"comma-separated (default {DEFAULT_METHODS})")
    ev.add_argument("--budgets", default=DEFAULT_BUDGETS, help=f"comma-separated (default {DEFAULT_BUDGETS})")
    add_question_selection(ev)
    ev.add_argument("--workers", type=int, default=1, metavar="W", help="questions answered in parallel threads")
    ev.add_argument("--out", type=Path, metavar="DIR", help="run folder (predictions, summaries)")
    ev.add_argument(
        "--llm", default=None, metavar="SPEC", help="LLM backend spec (default SLEUTH_LLM, else the CPU model)"
    )
    ev.add_argument("--seed", type=int, default=0, help="seed of the system and the runner (default 0)")
    ev.add_argument("--retry-failed", action="store_true", help="ask again the questions that failed before")
    ev.add_argument(
        "--context-only",
        action="store_true",
        help="build a missing index from only the selected questions' own paragraphs (quick runs)",
    )
    ev.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots")
    ev.add_argument(
        "--budget-tokens", type=int, metavar="N", help="run under the configuration predicted best within N tokens"
    )
    ev.add_argument(
        "--allocation",
        type=Path,
        metavar="FILE",
        help="allocation model (`sleuth allocation fit`; default SLEUTH_ALLOCATION, else the presets' caps)",
    )
    ev.add_argument(
        "--critic", choices=CRITIC_KINDS, help="the critic of every budget (none: a fixed number of rounds)"
    )
    ev.add_argument(
        "--critic-dir",
        type=Path,
        metavar="DIR",
        help="the trained critic in DIR (alone: use it at every budget; default SLEUTH_CRITIC_DIR, else the shipped)",
    )
    ev.add_argument(
        "--knob",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a budget knob on top of every budget, e.g. verify=false or answer_every_round=true (repeatable)",
    )
    ev.add_argument("--embedder", default=DEFAULT_EMBEDDER, metavar="NAME_OR_PATH", help="embedder for a new index")
    ev.add_argument("--no-kg", action="store_true", help="build a missing index without the knowledge graph")
    add_graph_options(ev)
    ev.set_defaults(handler=run_eval)
    add_compare_command(ev)


def add_question_selection(parser: argparse.ArgumentParser) -> None:
    """--limit and --skip: which questions of the file a run takes (eval and practice)."""
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N questions")
    parser.add_argument(
        "--skip", type=int, default=0, metavar="N", help="leave out the first N questions (e.g. those held out)"
    )


def check_question_selection(args: argparse.Namespace) -> None:
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be positive, got {args.limit}")
    if args.skip < 0:
        raise ConfigError(f"--skip must not be negative, got {args.skip}")


def run_eval(args: argparse.Namespace) -> int:
    if missing := [name for name in RUN_OPTIONS if getattr(args, name[2:]) is None]:
        raise ConfigError(f"sleuth eval needs {', '.join(missing)} (or: sleuth eval compare LABEL=DIR ...)")
    methods, budgets = _names(args.methods, "--methods"), _names(args.budgets, "--budgets")
    known_methods, budget_aware = method_catalog()
    _check_names(methods, known_methods, "method")
    _check_names(budgets, budget_names(), "budget")
    check_question_selection(args)
    settings = eval_settings(args.llm, args.seed, args.allocation)
    overrides = knob_overrides(args.knob) | critic_overrides(args.critic, args.critic_dir)
    allocated = None
    if args.budget_tokens is not None:  # one run under a label budget, `tokens-N`, instead of --budgets
        from api.cli_ask import allocated_budget

        allocated = allocated_budget(args.budget_tokens, settings.allocation)
    check_critics(methods, [allocated] if allocated is not None else budgets, overrides, settings)
    if allocated is not None:
        budgets = [f"tokens-{args.budget_tokens}"]
    questions = load_benchmark(args.questions, args.dataset, args.limit, args.skip)
    if not questions:
        raise ConfigError(f"no questions in {args.questions}")
    ensure_index(args, questions)
    made_by = {
        "command": shlex.join(["sleuth", *sys.argv[1:]]),
        "commit": code_commit(),
        "dataset": args.dataset,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    check_run_settings(args.out, settings_of(args, overrides, allocated, settings), has_answers(args.out), made_by)
    plan = RunPlan(
        dataset=args.dataset,
        index=args.index,
        runs=plan_runs(methods, budgets, budget_aware),
        workers=args.workers,
        seed=args.seed,
        retry_failed=args.retry_failed,
    )
    run_file = resume_from_scores(args.out)
    bar = ScoreBar(args.dataset)
    try:
        answerer = make_answerer(args.llm, args.seed)
        if overrides:
            answerer = OverridingAnswerer(answerer, overrides)
        if allocated is not None:
            answerer = AllocatedAnswerer(answerer, budgets[0], allocated)
        outcome = run_benchmark(answerer, questions, plan, run_file, bar)
    finally:
        bar.close()
        write_reports(run_file.records().values(), args.out, plots=not args.no_plots)
    print(
        f"{args.dataset}: asked {outcome.asked}, already done {outcome.skipped}, failed {outcome.failed}; "
        f"results in {args.out}"
    )
    sys.stdout.write((args.out / SUMMARY_MD).read_text(encoding="utf-8"))
    if outcome.failed and not args.retry_failed:
        print(f"{outcome.failed} failed (errors in {run_file.path}); --retry-failed asks them again", file=sys.stderr)
    return 0


def eval_settings(llm: str | None, seed: int, allocation: Path | None = None) -> SystemSettings:
    """The system's settings of a run: the SLEUTH_* variables under the command line's flags."""
    return SystemSettings.from_env(llm=llm, seed=seed, allocation=allocation)


def check_critics(methods: list[str], budgets: list[Any], overrides: dict[str, Any], settings: SystemSettings) -> None:
    """The trained critic of every budget that stops on it, loaded now where a method of the run stops as its
    budget says: a missing or corrupt one fails the run before any model loads, not every question."""
    from reasoning.budget import resolve_budget
    from reasoning.methods import BUDGET_STOP_POLICY
    from reasoning.stop_policy import check_stop_policy

    if BUDGET_STOP_POLICY.isdisjoint(methods):
        return
    for budget in budgets:
        check_stop_policy(resolve_budget(budget, **overrides), critic_dir=settings.critic_dir)


def settings_of(
    args: argparse.Namespace, overrides: dict[str, Any], allocated: Any, settings: SystemSettings
) -> dict[str, Any]:
    """What this run's answers depend on, for `OUT/run.json` (evaluation.run_settings)."""
    from dataclasses import asdict

    from reasoning.trained_critic import default_critic_dir

    trained = None
    if overrides.get("critic") in (None, "trained"):  # the named, configured or shipped critic may answer
        named = overrides.get("critic_dir") or settings.critic_dir
        trained = Path(named) if named is not None else default_critic_dir()
    return run_settings(
        llm=settings.llm,
        seed=settings.seed,
        overrides=overrides,
        trained_critic=trained,
        dataset=args.dataset,
        index=args.index,
        allocated=(f"tokens-{args.budget_tokens}", asdict(allocated)) if allocated is not None else None,
    )


def has_answers(out: Path) -> bool:
    return (out / PREDICTIONS).exists() or (out / SCORES_JSONL).exists()


def resume_from_scores(out: Path) -> RunFile:
    """The run file of `out`, started from `scores.jsonl` where only that is there (traces are not kept)."""
    run_file = RunFile(out / PREDICTIONS)
    scores = out / SCORES_JSONL
    if not run_file.path.exists() and scores.exists():  # its lines are run-file lines without the traces
        log.info("resuming from %s (its answers' traces are not kept)", scores)
        shutil.copyfile(scores, run_file.path)
    return run_file


def ensure_index(args: argparse.Namespace, questions: list[Question]) -> None:
    """Build the index at `args.index` from the corpus unless one is there (with the graph, as
    `sleuth index build` does, unless --no-kg)."""
    if (args.index / MANIFEST).exists():
        return
    from retrieval.builder import BuildOptions, build_index

    corpus = prepare_corpus(
        args.dataset,
        args.questions,
        args.corpus,
        args.out,
        context_of=questions if args.context_only else None,
    )
    print(f"building the index {args.index} from {corpus} ...", file=sys.stderr)
    embedder = SentenceTransformerEmbedder(args.embedder)
    stages = [] if args.no_kg else [stage_from_args(args, embedder)]
    build_index([corpus], args.index, embedder, BuildOptions(), progress=TerminalProgress(), extra_stages=stages)


def make_answerer(llm: str | None, seed: int) -> Answerer:
    """The real system (imported here: it loads the LLM backend and the reasoning methods)."""
    from reasoning.system import build_system

    return build_system(eval_settings(llm, seed))


class AllocatedAnswerer:
    """Asks with the allocated budget where the run plan names its label."""

    def __init__(self, answerer: Any, label: str, budget: Any) -> None:
        self.answerer, self.label, self.budget = answerer, label, budget

    def ask(self, question: str, index: Path | str, *, method: str, budget: str) -> Any:
        return self.answerer.ask(question, index, method=method, budget=self.budget if budget == self.label else budget)


def knob_overrides(items: list[str]) -> dict[str, Any]:
    """`--knob NAME=VALUE` as budget overrides, each value of its knob's type (checked by the budget)."""
    from reasoning.budget import KNOBS, Budget, resolve_budget

    defaults = Budget(name="knobs")
    types = get_type_hints(Budget)
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or name not in KNOBS:
            raise ConfigError(f"--knob takes NAME=VALUE with a budget knob ({', '.join(KNOBS)}), got {item!r}")
        kind = type(getattr(defaults, name))
        if kind is bool or bool in get_args(types[name]):  # bool | None: unset means the critic decides
            if text.lower() not in ("true", "false"):
                raise ConfigError(f"--knob {name} takes true or false, got {text!r}")
            out[name] = text.lower() == "true"
        elif kind is int:
            try:
                out[name] = int(text)
            except ValueError:
                raise ConfigError(f"--knob {name} takes an integer, got {text!r}") from None
        else:
            out[name] = text
    resolve_budget(defaults, **out)  # a bad value fails now, not at every question
    return out


class OverridingAnswerer:
    """Asks with budget knob overrides on top of every budget."""

    def __init__(self, system: Any, overrides: dict[str, Any]) -> None:
        self.system, self.overrides = system, overrides

    def ask(self, question: str, index: Path | str, *, method: str, budget: Any) -> Any:
        return self.system.ask(question, index, method=method, budget=budget, overrides=self.overrides)


def method_catalog() -> tuple[tuple[str, ...], frozenset[str]]:
    """The known methods and those whose work depends on the budget."""
    from reasoning.methods import BUDGET_AWARE, METHODS

    return tuple(METHODS), frozenset(BUDGET_AWARE)


def budget_names() -> tuple[str, ...]:
    from reasoning.budget import BUDGET_NAMES

    return tuple(BUDGET_NAMES)


class ScoreBar:
    """A tqdm bar on stderr with the running EM and F1 of this session's answers."""

    def __init__(self, dataset: str, factory: Callable[..., Any] = tqdm) -> None:
        self._dataset = dataset
        self._factory = factory
        self._bar: Any = None
        self._em = self._f1 = 0.0
        self._count = self._failed = 0

    def start(self, total: int, skipped: int) -> None:
        self._bar = self._factory(
            total=total, desc=f"eval {self._dataset}", unit=" q", file=sys.stderr, dynamic_ncols=True
        )
        if skipped:
            self._bar.write(f"resuming: {skipped} answers already in the run file", file=sys.stderr)

    def advance(self, record: ScoredRecord) -> None:
        self._count += 1
        self._em += record.em
        self._f1 += record.f1
        self._failed += record.failed
        if self._bar is not None:
            self._bar.set_postfix(self.postfix(), refresh=False)
            self._bar.update(1)

    def postfix(self) -> dict[str, str]:
        n = max(self._count, 1)
        return {"F1": f"{self._f1 / n:.3f}", "EM": f"{self._em / n:.3f}", "failed": str(self._failed)}

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _names(value: str, flag: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"{flag} is empty")
    return names


def _check_names(names: list[str], known: tuple[str, ...], what: str) -> None:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown {what}(s) {', '.join(unknown)}: use {', '.join(known)}")
