from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.plots import RECALL_PNG, SCALING_PNG
from evaluation.run_file import RunFile, ScoredRecord
from evaluation.runner import RunPlan, run_benchmark
from evaluation.summary import render_markdown, summarise, write_reports
from tests.evaluation.conftest import QUESTIONS, FakeAnswerer

pytestmark = pytest.mark.unit
PNG = b"\x89PNG\r\n\x1a\n"


def record(dataset: str, method: str, budget: str, qid: str, f1: float, **kwargs: object) -> ScoredRecord:
    fields: dict[str, object] = {
        "type": "bridge",
        "prediction": "p",
        "em": float(f1 == 1.0),
        "f1": f1,
        "recall": {2: 0.5, 5: 1.0, 10: 1.0},
        "all_found": {2: False, 5: True, 10: True},
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "seconds": 2.0,
        "llm_calls": 3,
    } | kwargs
    return ScoredRecord(dataset=dataset, method=method, budget=budget, id=qid, **fields)  # type: ignore[arg-type]


def test_summary_rows_means_costs_failures_and_types() -> None:
    records = [
        record("musique", "rag", "fast", "a", 1.0),
        record("hotpotqa", "sleuth", "balanced", "a", 0.5, type="comparison", prompt_tokens=300),
        record("hotpotqa", "sleuth", "fast", "a", 1.0),
        record("hotpotqa", "sleuth", "fast", "b", 0.0, error="RuntimeError: x", recall={2: 0.0, 5: 0.0, 10: 0.0}),
        record("hotpotqa", "rag", "fast", "a", 0.0),
    ]
    summary = summarise(records)
    order = [(r["dataset"], r["method"], r["budget"]) for r in summary["rows"]]
    assert order == [  # datasets and budgets in their fixed order, methods as first met in the run file
        ("hotpotqa", "rag", "fast"),
        ("hotpotqa", "sleuth", "fast"),
        ("hotpotqa", "sleuth", "balanced"),
        ("musique", "rag", "fast"),
    ]
    fast = summary["rows"][1]
    assert fast["questions"] == 2 and fast["failures"] == 1
    assert fast["em"] == 0.5 and fast["f1"] == 0.5 and fast["recall@5"] == 0.5 and fast["all_found@5"] == 1.0
    assert fast["tokens_per_q"] == 110 and fast["seconds_per_q"] == 2.0 and fast["llm_calls_per_q"] == 3
    assert fast["prompt_tokens_per_q"] == 100 and fast["completion_tokens_per_q"] == 10
    assert fast["by_type"]["bridge"]["questions"] == 2
    balanced = summary["rows"][2]
    assert balanced["by_type"] == {"comparison": balanced["by_type"]["comparison"]}
    markdown = render_markdown(summary)
    assert "| hotpotqa | sleuth | fast | 2 | 0.500 | 0.500 | 0.500 | 110 | 2.0 | 1 |" in markdown
    assert "| hotpotqa | sleuth | balanced | comparison | 1 |" in markdown


def test_reports_from_a_run(tmp_path: Path) -> None:
    run_file = RunFile(tmp_path / "predictions.jsonl")
    answerer = FakeAnswerer(lambda q, m, b: ("Shakespeare" if b == "thorough" else "Milan", ["d1", "d3"]))
    runs = (("rag", "fast"), ("sleuth", "fast"), ("sleuth", "balanced"), ("sleuth", "thorough"))
    for dataset in ("hotpotqa", "musique"):
        plan = RunPlan(dataset=dataset, index=tmp_path, runs=runs)
        run_benchmark(answerer, QUESTIONS, plan, run_file)
    summary = write_reports(run_file.records().values(), tmp_path / "out")
    assert json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8")) == summary
    assert len(summary["rows"]) == 8
    thorough = next(r for r in summary["rows"] if r["budget"] == "thorough")
    assert thorough["f1"] == 0.25 and thorough["failures"] == 1 and thorough["questions"] == 4
    for name in (SCALING_PNG, RECALL_PNG):
        assert (tmp_path / "out" / name).read_bytes()[:8] == PNG
    assert (tmp_path / "out" / "summary.md").read_text(encoding="utf-8").startswith("| dataset | method |")


def test_an_empty_run_writes_empty_reports_without_plots(tmp_path: Path) -> None:
    summary = write_reports([], tmp_path)
    assert summary["rows"] == []
    assert not (tmp_path / SCALING_PNG).exists()
