"""Gold-passage Recall@k of each search mode on the dev questions of the benchmark sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evaluation.benchmarks.common import BenchContext, dataset_index
from evaluation.datasets import DATASETS, Question, load_questions
from evaluation.retrieval_metrics import recall_at_k
from kg.graph_search import ALL_MODES, GraphIndex, GraphSearcher
from kg.ner import SpacyEntityExtractor
from retrieval.searcher import Searcher

KS = (2, 5, 10)


def run(ctx: BenchContext, datasets: tuple[str, ...] = DATASETS) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for dataset in datasets:
        questions = load_questions(ctx.data_file(dataset, "dev.jsonl"), limit=ctx.limit)
        bundle = dataset_index(ctx, dataset, with_graph=True)
        searcher = GraphSearcher(Searcher(bundle), graph_loader=lambda b: GraphIndex(b, SpacyEntityExtractor()))
        rows: dict[str, Any] = {"questions": len(questions)}
        for mode in ALL_MODES:
            rows[mode] = mode_recall(searcher, questions, mode)
        table[dataset] = rows
    return {"benchmark": "recall", "ks": list(KS), "datasets": table}


def mode_recall(searcher: Searcher | GraphSearcher, questions: Sequence[Question], mode: str) -> dict[str, float]:
    """Mean gold-document Recall@k of one search mode over `questions`, for each k in KS."""
    # deeper than 10 passages: several passages of one document count as one document
    hits = searcher.search_many([q.question for q in questions], mode, k=3 * max(KS))
    ranked = [[h.passage.doc_id for h in per_question] for per_question in hits]
    return {
        f"R@{k}": round(
            sum(recall_at_k(r, q.supporting_ids, k) for r, q in zip(ranked, questions, strict=True)) / len(questions),
            4,
        )
        for k in KS
    }


def render(figures: dict[str, Any]) -> str:
    header = "| dataset | questions | mode | " + " | ".join(f"R@{k}" for k in figures["ks"]) + " |"
    lines = [header, "|" + "---|" * (3 + len(figures["ks"]))]
    for dataset, rows in figures["datasets"].items():
        for mode in (m for m in ALL_MODES if m in rows):
            values = " | ".join(f"{rows[mode][f'R@{k}']:.3f}" for k in figures["ks"])
            lines.append(f"| {dataset} | {rows['questions']} | {mode} | {values} |")
    return "\n".join(lines)
