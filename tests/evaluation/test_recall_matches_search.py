"""Retrieval recall in the harness equals what `sleuth search` returns for the same queries, scored the way
evaluation/benchmarks/retrieval_recall.py scores it (distinct documents of the ranked hits)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from evaluation.datasets import Question
from evaluation.retrieval_metrics import recall_at_k
from evaluation.run_file import RunFile
from evaluation.runner import RunPlan, run_benchmark
from retrieval.bundle import IndexBundle
from retrieval.searcher import Searcher
from tests.evaluation.conftest import FakeAnswerer
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.unit
KS = (2, 5, 10)
QUESTIONS = [
    Question("a", "Who founded Acme Corp in 1990?", ("Alice Smith",), ("alice", "acme"), "bridge"),
    Question("b", "What is the capital of Germany?", ("Berlin",), ("berlin",), "bridge"),
    Question("c", "Which painter came from Paris?", ("Bob Jones",), ("bob", "paris"), "bridge"),
    Question("d", "Where is the wall?", ("Berlin",), ("berlin", "missing-doc"), "comparison"),
]


def benchmark_recall(ranked_doc_ids: list[list[str]]) -> dict[str, list[float]]:
    """retrieval_recall.run's computation, per question."""
    pairs = list(zip(ranked_doc_ids, QUESTIONS, strict=True))
    return {f"recall@{k}": [round(recall_at_k(r, q.supporting_ids, k), 6) for r, q in pairs] for k in KS}


def harness_recall(tmp_path: Path, hits_by_question: dict[str, list[dict[str, object]]]) -> dict[str, list[float]]:
    """Recall as the runner records it when a method's evidence is exactly those hits."""

    def rule(question: str, method: str, budget: str) -> tuple[str, list[str]]:
        return "x", [str(h["doc_id"]) for h in hits_by_question[question]]

    run_file = RunFile(tmp_path / "predictions.jsonl")
    plan = RunPlan(dataset="hotpotqa", index=tmp_path, runs=(("rag", "fast"),))
    run_benchmark(FakeAnswerer(rule), QUESTIONS, plan, run_file)
    records = {r["id"]: r for r in map(json.loads, run_file.path.read_text(encoding="utf-8").splitlines())}
    return {f"recall@{k}": [records[q.id][f"recall@{k}"] for q in QUESTIONS] for k in KS}


def test_recall_of_sleuth_search_hits_matches_the_benchmark(
    graph_index_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hits: dict[str, list[dict[str, object]]] = {}
    for question in QUESTIONS:
        command = ["search", question.question, "--index", str(graph_index_dir), "--mode", "bm25", "-k", "30"]
        assert main([*command, "--json"]) == 0
        hits[question.question] = json.loads(capsys.readouterr().out)["hits"]
    searcher = Searcher(IndexBundle.open(graph_index_dir))
    ranked = [
        [h.passage.doc_id for h in per] for per in searcher.search_many([q.question for q in QUESTIONS], "bm25", k=30)
    ]
    assert ranked == [[str(h["doc_id"]) for h in hits[q.question]] for q in QUESTIONS]
    expected = benchmark_recall(ranked)
    assert harness_recall(tmp_path, hits) == expected
    assert expected["recall@10"][3] == 0.5  # a gold document not in the corpus is never found


def test_recall_of_hybrid_hits_matches_the_benchmark(graph_index_dir: Path, tmp_path: Path) -> None:
    searcher = Searcher(IndexBundle.open(graph_index_dir), embedder=HashingEmbedder())
    results = [searcher.search(q.question, "hybrid", 30) for q in QUESTIONS]
    hits = {q.question: [h.to_json() for h in r.hits] for q, r in zip(QUESTIONS, results, strict=True)}
    ranked = [[h.passage.doc_id for h in r.hits] for r in results]
    assert harness_recall(tmp_path, hits) == benchmark_recall(ranked)
