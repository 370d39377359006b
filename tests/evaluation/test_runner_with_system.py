"""The runner with the real `SleuthSystem` (scripted LLM, hashing embedder, a small graph index)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.datasets import Question
from evaluation.run_file import RunFile
from evaluation.runner import RunPlan, plan_runs, run_benchmark
from evaluation.summary import write_reports
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.integration
QUESTIONS = [
    Question("a", "Who founded Acme Corp?", ("Alice Smith",), ("alice", "acme"), "bridge"),
    Question("b", "What is the capital of Germany?", ("Berlin",), ("berlin",), "comparison"),
]


def test_every_method_and_budget_runs_with_the_real_system(graph_index_dir: Path, tmp_path: Path) -> None:
    methods = pytest.importorskip("reasoning.methods")
    from reasoning.llm.scripted import ScriptedLLM
    from reasoning.system import build_system

    embedder = HashingEmbedder()
    system = build_system(backend=ScriptedLLM(default="Berlin"), embedder_factory=lambda _: embedder)
    runs = plan_runs(list(methods.METHODS), ["fast", "balanced"], methods.BUDGET_AWARE)
    run_file = RunFile(tmp_path / "predictions.jsonl")
    outcome = run_benchmark(system, QUESTIONS, RunPlan("hotpotqa", graph_index_dir, runs, workers=2), run_file)
    assert outcome.asked == len(QUESTIONS) * len(runs)
    records = run_file.records()
    assert not [r.error for r in records.values() if r.failed]
    assert all(r.llm_calls > 0 and r.prompt_tokens > 0 for r in records.values())
    summary = write_reports(records.values(), tmp_path / "out", plots=False)
    assert {(r["method"], r["budget"]) for r in summary["rows"]} == set(runs)
