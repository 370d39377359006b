"""Summaries of a run file: per dataset, method and budget (with a breakdown by question type), as JSON
and as a Markdown table.

Every mean is over all the questions of a row: a failed question counts with EM, F1 and recall 0 and
with whatever cost it had recorded. Each row states how many questions it rests on.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from evaluation.datasets import DATASETS
from evaluation.run_file import KS, ScoredRecord
from reasoning.budget import BUDGET_NAMES
from retrieval.staging import write_text_atomically

RowKey = tuple[str, str, str]  # dataset, method, budget
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
SCORES_JSONL = "scores.jsonl"  # the scored records without answers' traces: small enough to commit


def summarise(records: Iterable[ScoredRecord], ks: Sequence[int] = KS) -> dict[str, Any]:
    groups: dict[RowKey, list[ScoredRecord]] = defaultdict(list)
    for record in records:
        groups[(record.dataset, record.method, record.budget)].append(record)
    method_order = list(dict.fromkeys(method for _, method, _ in groups))
    rows = []
    for key in sorted(groups, key=lambda k: _row_order(k, method_order)):
        dataset, method, budget = key
        members = groups[key]
        row: dict[str, Any] = {"dataset": dataset, "method": method, "budget": budget}
        row |= _scores(members, ks)
        row |= _costs(members)
        row["by_type"] = {
            kind: _scores(of_kind, ks) for kind, of_kind in sorted(_by_type(members).items(), key=lambda kv: kv[0])
        }
        rows.append(row)
    return {"ks": list(ks), "rows": rows}


def render_markdown(summary: dict[str, Any]) -> str:
    """The main table (dataset x method x budget) and the breakdown by question type."""
    lines = [
        "| dataset | method | budget | N | EM | F1 | Recall@5 | tokens/q | seconds/q | failures |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary["rows"]:
        lines.append(
            f"| {row['dataset']} | {row['method']} | {row['budget']} | {row['questions']} | {row['em']:.3f} | "
            f"{row['f1']:.3f} | {_cell(row.get('recall@5'))} | {row['tokens_per_q']:,.0f} | "
            f"{row['seconds_per_q']:.1f} | {row['failures']} |"
        )
    lines += [
        "",
        "By question type:",
        "",
        "| dataset | method | budget | type | N | EM | F1 | Recall@5 |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for row in summary["rows"]:
        for kind, scores in row["by_type"].items():
            lines.append(
                f"| {row['dataset']} | {row['method']} | {row['budget']} | {kind or '-'} | {scores['questions']} | "
                f"{scores['em']:.3f} | {scores['f1']:.3f} | {_cell(scores.get('recall@5'))} |"
            )
    return "\n".join(lines) + "\n"


def running_scores(records: Sequence[ScoredRecord]) -> dict[str, float]:
    """Mean EM and F1 of the records so far (for a progress bar)."""
    if not records:
        return {"em": 0.0, "f1": 0.0}
    return {"em": _mean(r.em for r in records), "f1": _mean(r.f1 for r in records)}


def _scores(records: Sequence[ScoredRecord], ks: Sequence[int]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "questions": len(records),
        "em": _round(_mean(r.em for r in records)),
        "f1": _round(_mean(r.f1 for r in records)),
    }
    for k in ks:
        out[f"recall@{k}"] = _round(_mean(r.recall.get(k, 0.0) for r in records))
    for k in ks:
        out[f"all_found@{k}"] = _round(_mean(float(r.all_found.get(k, False)) for r in records))
    return out


def _costs(records: Sequence[ScoredRecord]) -> dict[str, Any]:
    return {
        "llm_calls_per_q": _round(_mean(r.llm_calls for r in records)),
        "prompt_tokens_per_q": _round(_mean(r.prompt_tokens for r in records), 1),
        "completion_tokens_per_q": _round(_mean(r.completion_tokens for r in records), 1),
        "tokens_per_q": _round(_mean(r.tokens for r in records), 1),
        "seconds_per_q": _round(_mean(r.seconds for r in records), 3),
        "failed_llm_calls": sum(r.failed_llm_calls for r in records),
        "abstained": sum(r.abstained for r in records),
        "failures": sum(r.failed for r in records),
    }


def _by_type(records: Sequence[ScoredRecord]) -> dict[str, list[ScoredRecord]]:
    groups: dict[str, list[ScoredRecord]] = defaultdict(list)
    for record in records:
        groups[record.type].append(record)
    return groups


def _row_order(key: RowKey, method_order: list[str]) -> tuple[int, str, int, int, str]:
    dataset, method, budget = key
    dataset_rank = DATASETS.index(dataset) if dataset in DATASETS else len(DATASETS)
    budget_rank = BUDGET_NAMES.index(budget) if budget in BUDGET_NAMES else len(BUDGET_NAMES)
    return (dataset_rank, dataset, method_order.index(method), budget_rank, budget)


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def _round(value: float, digits: int = 4) -> float:
    return round(value, digits)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def write_reports(records: Iterable[ScoredRecord], out_dir: Path, *, plots: bool = True) -> dict[str, Any]:
    """`summary.json`, `summary.md`, `scores.jsonl` and (unless `plots` is off) the PNG plots, into `out_dir`."""
    records = sorted(records, key=lambda r: r.key)
    summary = summarise(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in records)
    write_text_atomically(out_dir / SCORES_JSONL, scores)
    (out_dir / SUMMARY_JSON).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out_dir / SUMMARY_MD).write_text(render_markdown(summary), encoding="utf-8")
    if plots:
        from evaluation.plots import write_plots

        write_plots(summary, out_dir)
    return summary
