"""`sleuth eval` runs of one method and budget side by side, on the questions they all answered.

Each run is a run folder (its `predictions.jsonl`, else its `scores.jsonl`), or several whose answers are
pooled (one set's questions 1-10 in one folder and 11-30 in another). Per dataset, and over all of them,
only the questions every run answered without failing count, so the rows compare like with like. A row
gives EM, F1, the share of questions with every gold passage in the top 5, LLM calls, tokens and seconds
per question, the run's LLM calls against the first
run's, and its F1 against the first run's with a 95% interval from the paired bootstrap over questions
(`evaluation.statistics`, seeded): on a few dozen questions one answer moves F1 by several points, and
the interval says how far apart two runs truly are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluation.run_file import RunFile, ScoredRecord
from evaluation.statistics import mean_difference_interval
from evaluation.summary import SCORES_JSONL
from retrieval.errors import ConfigError, InputNotFoundError

PREDICTIONS = "predictions.jsonl"
QuestionKey = tuple[str, str]  # (dataset, question id)
Run = Mapping[QuestionKey, ScoredRecord]


@dataclass(frozen=True)
class ComparedRun:
    """One run's row of one dataset (or "all")."""

    dataset: str
    label: str
    questions: int
    em: float
    f1: float
    f1_difference: float  # against the first run, on the same questions
    f1_low: float
    f1_high: float
    all_gold: float  # the share of questions whose gold passages are all in the evidence's top 5
    llm_calls: float
    calls_change: float | None  # relative to the first run's calls; None where it made none
    tokens: float
    seconds: float


def load_run(directory: Path, method: str, budget: str) -> dict[QuestionKey, ScoredRecord]:
    """The answers of `method` at `budget` in a run folder that did not fail, by (dataset, question id)."""
    for name in (PREDICTIONS, SCORES_JSONL):
        if (directory / name).is_file():
            records = RunFile(directory / name).records().values()
            return {(r.dataset, r.id): r for r in records if r.method == method and r.budget == budget and not r.failed}
    raise InputNotFoundError(f"{directory}: no {PREDICTIONS} or {SCORES_JSONL}")


def pool_runs(runs: Sequence[Run], names: Sequence[str]) -> dict[QuestionKey, ScoredRecord]:
    """The answers of several run folders (`names` say which, for errors) as one run; a question answered
    in two of them is refused: which answer counts would be a guess."""
    pooled: dict[QuestionKey, ScoredRecord] = {}
    for run, name in zip(runs, names, strict=True):
        if twice := sorted(set(pooled) & set(run)):
            raise ConfigError(f"{name} answers questions an earlier folder of the same run answered: {twice[:3]}")
        pooled |= run
    return pooled


def compare_runs(runs: Mapping[str, Run]) -> list[ComparedRun]:
    """Every run's row per dataset, then over all datasets ("all"), on the questions all runs answered;
    the first run is the reference."""
    if not runs:
        return []
    common = sorted(set.intersection(*(set(run) for run in runs.values())))
    groups = {dataset: [k for k in common if k[0] == dataset] for dataset in sorted({k[0] for k in common})}
    groups["all"] = common
    first = next(iter(runs.values()))
    rows = []
    for dataset, keys in groups.items():
        first_calls = _mean([first[k].llm_calls for k in keys])
        for label, run in runs.items():
            answers = [run[k] for k in keys]
            calls = _mean([r.llm_calls for r in answers])
            difference, low, high = mean_difference_interval([run[k].f1 - first[k].f1 for k in keys])
            rows.append(
                ComparedRun(
                    dataset=dataset,
                    label=label,
                    questions=len(answers),
                    em=_mean([r.em for r in answers]),
                    f1=_mean([r.f1 for r in answers]),
                    f1_difference=difference,
                    f1_low=low,
                    f1_high=high,
                    all_gold=_mean([float(r.all_found.get(5, False)) for r in answers]),
                    llm_calls=calls,
                    calls_change=calls / first_calls - 1 if first_calls else None,
                    tokens=_mean([r.tokens for r in answers]),
                    seconds=_mean([r.seconds for r in answers]),
                )
            )
    return rows


def render_comparison(rows: list[ComparedRun]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| set | run | N | EM | F1 | F1 vs first [95% CI] | all gold @5 | LLM calls/q | vs first | tokens/q | s/q |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        change = f"{r.calls_change * 100:+.0f}%" if r.calls_change is not None else "-"
        lines.append(
            f"| {r.dataset} | {r.label} | {r.questions} | {r.em:.3f} | {r.f1:.3f} | "
            f"{r.f1_difference:+.3f} [{r.f1_low:+.3f}, {r.f1_high:+.3f}] | {r.all_gold:.3f} | {r.llm_calls:.2f} | "
            f"{change} | "
            f"{r.tokens:,.0f} | {r.seconds:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
