"""The benchmark runner: ask every question with every method and budget, score it, append it to the run file.

The runner needs only an `Answerer` (anything with `ask(question, index, method=, budget=)` returning an
`AskResult`), so tests drive it with a fake and the CLI with the real `SleuthSystem`. Questions run in
`workers` threads; the order of work is question-major (every method and budget of a question before the
next question), so an interrupted run leaves comparable numbers for all methods. It is resumable (a key
already in the run file is skipped; failed ones are asked again with `retry_failed`) and failure-tolerant
(an exception is recorded with its error text and scores 0, and the run goes on).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Collection, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from evaluation.answer_metrics import rules_for, score_answer
from evaluation.datasets import Question
from evaluation.retrieval_metrics import all_found_at_k, recall_at_k
from evaluation.run_file import KS, RunFile, ScoredRecord
from reasoning.result import AskResult
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)


class Answerer(Protocol):
    def ask(self, question: str, index: Path | str, *, method: str, budget: str) -> AskResult: ...


class RunProgress(Protocol):
    """Told how much work there is, then of each scored question as it is written."""

    def start(self, total: int, skipped: int) -> None: ...

    def advance(self, record: ScoredRecord) -> None: ...


@dataclass(frozen=True)
class RunPlan:
    dataset: str
    index: Path
    runs: tuple[tuple[str, str], ...]  # (method, budget) pairs
    workers: int = 1
    seed: int = 0
    retry_failed: bool = False
    ks: tuple[int, ...] = KS

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if not self.runs:
            raise ConfigError("nothing to run: give at least one method and one budget")


@dataclass(frozen=True)
class RunOutcome:
    asked: int
    skipped: int
    failed: int


def plan_runs(
    methods: Sequence[str], budgets: Sequence[str], budget_aware: Collection[str]
) -> tuple[tuple[str, str], ...]:
    """(method, budget) pairs: budget-aware methods under every budget, the others once, under the first."""
    if not methods or not budgets:
        raise ConfigError("give at least one method and one budget")
    runs: list[tuple[str, str]] = []
    for method in dict.fromkeys(methods):
        for budget in dict.fromkeys(budgets) if method in budget_aware else budgets[:1]:
            runs.append((method, budget))
    return tuple(runs)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return
    np.random.seed(seed)


def run_benchmark(
    answerer: Answerer,
    questions: Sequence[Question],
    plan: RunPlan,
    run_file: RunFile,
    progress: RunProgress | None = None,
) -> RunOutcome:
    """Ask what the run file does not hold yet; each scored record is appended as soon as it is done."""
    seed_everything(plan.seed)
    run_file.repair()
    done = run_file.records()
    todo = [
        (question, method, budget)
        for question in questions
        for method, budget in plan.runs
        if not _already_done(done.get((plan.dataset, method, budget, question.id)), plan.retry_failed)
    ]
    skipped = len(questions) * len(plan.runs) - len(todo)
    if skipped:
        log.info("resuming: %d of %d already in %s", skipped, skipped + len(todo), run_file.path)
    if progress is not None:
        progress.start(len(todo), skipped)
    failed = 0
    work = iter(todo)
    with ThreadPoolExecutor(max_workers=plan.workers, thread_name_prefix="eval") as pool:
        pending: set[Future[tuple[dict[str, Any], ScoredRecord]]] = set()
        try:
            while True:
                # a small window of work in flight: results are written and released as they come
                for question, method, budget in islice(work, 2 * plan.workers - len(pending)):
                    pending.add(pool.submit(_ask_one, answerer, plan, question, method, budget))
                if not pending:
                    break
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    line, record = future.result()
                    run_file.append(line)
                    failed += record.failed
                    if progress is not None:
                        progress.advance(record)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return RunOutcome(asked=len(todo), skipped=skipped, failed=failed)


def _already_done(record: ScoredRecord | None, retry_failed: bool) -> bool:
    return record is not None and not (retry_failed and record.failed)


def _ask_one(
    answerer: Answerer, plan: RunPlan, question: Question, method: str, budget: str
) -> tuple[dict[str, Any], ScoredRecord]:
    started = time.perf_counter()
    try:
        result = answerer.ask(question.question, plan.index, method=method, budget=budget)
        record, details = score_result(question, result, plan.dataset, method, budget, plan.ks)
    except Exception as exc:  # one failing question is recorded and scored 0; the run goes on
        log.warning("question %s (%s/%s) failed: %s: %s", question.id, method, budget, type(exc).__name__, exc)
        record = failed_record(question, plan.dataset, method, budget, f"{type(exc).__name__}: {exc}", plan.ks)
        details = {}
    wall = time.perf_counter() - started
    line = record.to_json() | {
        "question": question.question,
        "answers": list(question.answers),
        "supporting_ids": list(question.supporting_ids),
        "supporting_titles": list(question.supporting_titles),
        "wall_seconds": round(wall, 4),
    }
    return line | details, record


def score_result(
    question: Question, result: AskResult, dataset: str, method: str, budget: str, ks: Sequence[int] = KS
) -> tuple[ScoredRecord, dict[str, Any]]:
    """The scored record of one answer, and the answer's own JSON (evidence, citations) and trace."""
    score = score_answer(result.answer, question.answers, rules=rules_for(dataset))
    ranked, gold = ranked_and_gold(question, result)
    cost = result.cost
    record = ScoredRecord(
        dataset=dataset,
        method=method,
        budget=budget,
        id=question.id,
        type=question.type,
        prediction=result.answer,
        em=score.em,
        f1=score.f1,
        recall={k: recall_at_k(ranked, gold, k) for k in ks},
        all_found={k: all_found_at_k(ranked, gold, k) for k in ks},
        llm_calls=cost.llm_calls,
        prompt_tokens=cost.prompt_tokens,
        completion_tokens=cost.completion_tokens,
        seconds=cost.seconds,
        failed_llm_calls=cost.failed_llm_calls,
        abstained=result.abstained,
    )
    output = result.to_json(include_trace=True)
    trace = output.pop("trace", None)
    return record, {"result": output, "trace": trace}


def ranked_and_gold(question: Question, result: AskResult) -> tuple[list[str], tuple[str, ...]]:
    """The ranked documents of the answer's evidence and the gold ones: by corpus id where the question
    has gold ids (the shared data and the raw formats' emitted corpus), else by title."""
    if question.supporting_ids:
        return result.retrieved_doc_ids, question.supporting_ids
    return [e.title for e in result.evidence], question.supporting_titles


def failed_record(
    question: Question, dataset: str, method: str, budget: str, error: str, ks: Sequence[int] = KS
) -> ScoredRecord:
    return ScoredRecord(
        dataset=dataset,
        method=method,
        budget=budget,
        id=question.id,
        type=question.type,
        prediction="",
        em=0.0,
        f1=0.0,
        recall=dict.fromkeys(ks, 0.0),
        all_found=dict.fromkeys(ks, False),
        error=error,
    )
