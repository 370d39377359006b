from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.run_file import RunFile
from evaluation.runner import RunPlan, plan_runs, run_benchmark
from retrieval.errors import ConfigError, InputDataError
from tests.evaluation.conftest import QUESTIONS, FakeAnswerer

pytestmark = pytest.mark.unit
AWARE = frozenset({"iterative", "sleuth"})


def plan(tmp_path: Path, runs: tuple[tuple[str, str], ...], **kwargs: object) -> RunPlan:
    return RunPlan(dataset="hotpotqa", index=tmp_path / "index", runs=runs, **kwargs)  # type: ignore[arg-type]


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_budget_independent_methods_run_once_under_the_first_budget() -> None:
    runs = plan_runs(["rag", "sleuth", "ppr", "iterative"], ["balanced", "fast"], AWARE)
    assert runs == (
        ("rag", "balanced"),
        ("sleuth", "balanced"),
        ("sleuth", "fast"),
        ("ppr", "balanced"),
        ("iterative", "balanced"),
        ("iterative", "fast"),
    )
    with pytest.raises(ConfigError):
        plan_runs([], ["fast"], AWARE)


def test_scores_every_question_and_records_failures(tmp_path: Path, answerer: FakeAnswerer) -> None:
    run_file = RunFile(tmp_path / "predictions.jsonl")
    outcome = run_benchmark(answerer, QUESTIONS, plan(tmp_path, (("rag", "fast"),)), run_file)
    assert (outcome.asked, outcome.skipped, outcome.failed) == (4, 0, 1)
    by_id = {r["id"]: r for r in lines(run_file.path)}
    assert by_id["q1"]["em"] == 1.0 and by_id["q1"]["f1"] == 1.0  # "Shakespeare" is an alias
    # distinct documents in order: d9, d1, d2 -> both gold documents within 3, one within 2
    assert by_id["q1"]["recall@2"] == 0.5 and by_id["q1"]["recall@5"] == 1.0
    assert by_id["q1"]["all_found@2"] is False and by_id["q1"]["all_found@5"] is True
    assert by_id["q2"]["em"] == 1.0 and by_id["q2"]["all_found@2"] is True
    assert by_id["q4"]["f1"] == 0.0 and by_id["q4"]["recall@10"] == 0.5
    failed = by_id["q3"]
    assert failed["error"] == "RuntimeError: the LLM fell over"
    assert failed["em"] == failed["f1"] == failed["recall@5"] == 0.0
    record = by_id["q1"]
    assert record["answers"] == ["William Shakespeare", "Shakespeare"] and record["type"] == "bridge"
    assert record["cost"]["prompt_tokens"] == 100 and record["trace"]["events"][0]["stage"] == "answer"
    assert record["result"]["evidence"][0]["doc_id"] == "d9" and "trace" not in record["result"]


def test_resumes_without_asking_again(tmp_path: Path, answerer: FakeAnswerer) -> None:
    run_file = RunFile(tmp_path / "predictions.jsonl")
    runs = (("rag", "fast"), ("sleuth", "fast"))
    run_benchmark(answerer, QUESTIONS[:2], plan(tmp_path, runs), run_file)
    assert len(answerer.calls) == 4
    outcome = run_benchmark(answerer, QUESTIONS, plan(tmp_path, (*runs, ("sleuth", "balanced"))), run_file)
    assert outcome.skipped == 4 and outcome.asked == 8
    assert len(lines(run_file.path)) == 12
    asked_again = [c for c in answerer.calls[4:] if c[0] in (QUESTIONS[0].question, QUESTIONS[1].question)]
    assert {c[2] for c in asked_again} == {"balanced"}


def test_failed_questions_are_asked_again_only_on_request(tmp_path: Path) -> None:
    run_file = RunFile(tmp_path / "predictions.jsonl")
    flaky = FakeAnswerer(lambda q, m, b: ("x", []))
    questions = [QUESTIONS[2]]
    run_benchmark(flaky, questions, plan(tmp_path, (("rag", "fast"),)), run_file)
    assert run_benchmark(flaky, questions, plan(tmp_path, (("rag", "fast"),)), run_file).asked == 0
    outcome = run_benchmark(flaky, questions, plan(tmp_path, (("rag", "fast"),), retry_failed=True), run_file)
    assert outcome.asked == 1
    assert len(run_file.records()) == 1  # the latest line of a key wins


def test_parallel_workers_write_whole_lines(tmp_path: Path, answerer: FakeAnswerer) -> None:
    run_file = RunFile(tmp_path / "predictions.jsonl")
    many = [
        q.__class__(f"{q.id}-{i}", q.question, q.answers, q.supporting_ids, q.type)
        for i in range(10)
        for q in QUESTIONS
    ]
    outcome = run_benchmark(answerer, many, plan(tmp_path, (("rag", "fast"), ("ppr", "fast")), workers=4), run_file)
    assert outcome.asked == 80 and outcome.failed == 20
    assert len(run_file.records()) == 80 and len(lines(run_file.path)) == 80


def test_a_cut_off_last_line_is_dropped_and_the_run_goes_on(tmp_path: Path, answerer: FakeAnswerer) -> None:
    run_file = RunFile(tmp_path / "predictions.jsonl")
    run_benchmark(answerer, QUESTIONS[:1], plan(tmp_path, (("rag", "fast"),)), run_file)
    with open(run_file.path, "a", encoding="utf-8") as handle:
        handle.write('{"dataset": "hotpotqa", "method": "rag", "bud')
    assert len(run_file.records()) == 1
    outcome = run_benchmark(answerer, QUESTIONS[:2], plan(tmp_path, (("rag", "fast"),)), run_file)
    assert outcome.asked == 1
    assert len(lines(run_file.path)) == 2


def test_a_bad_line_in_the_middle_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"broken": \n{"also": 1}\n', encoding="utf-8")
    with pytest.raises(InputDataError, match=r"predictions.jsonl:1: bad run record"):
        RunFile(path).records()


def test_recall_falls_back_to_titles_without_gold_ids(tmp_path: Path) -> None:
    question = QUESTIONS[0].__class__("t1", "Who?", ("x",), (), "bridge", supporting_titles=("Title d2",))
    run_file = RunFile(tmp_path / "predictions.jsonl")
    run_benchmark(
        FakeAnswerer(lambda q, m, b: ("x", ["d1", "d2"])), [question], plan(tmp_path, (("rag", "fast"),)), run_file
    )
    assert lines(run_file.path)[0]["recall@2"] == 1.0


def test_workers_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="workers"):
        plan(tmp_path, (("rag", "fast"),), workers=0)
