"""Personalised-PageRank latency on a dataset's graph: seeds linked from dev questions, one at a time."""

from __future__ import annotations

import time
from typing import Any

from evaluation.benchmarks.common import BenchContext, dataset_index
from evaluation.datasets import load_questions
from evaluation.retrieval_metrics import percentile
from kg.graph_search import GraphIndex
from kg.linking import seed_weights
from kg.ner import SpacyEntityExtractor

TARGET_P50_MS = 50.0


def run(ctx: BenchContext, dataset: str = "hotpotqa", n_queries: int = 200, k: int = 10) -> dict[str, Any]:
    bundle = dataset_index(ctx, dataset, with_graph=True)
    index = GraphIndex(bundle, SpacyEntityExtractor())
    questions = [q.question for q in load_questions(ctx.data_file(dataset, "dev.jsonl"), limit=n_queries)]
    link_ms, ppr_ms, unlinked = [], [], 0
    for question in questions:
        start = time.perf_counter()
        linked = index.linker.link(question)
        link_ms.append((time.perf_counter() - start) * 1000)
        if not linked:
            unlinked += 1
            continue
        start = time.perf_counter()
        index.explorer.personalized_pagerank(seed_weights(linked), top_k=k)
        ppr_ms.append((time.perf_counter() - start) * 1000)
    counts = index.graph.counts()
    return {
        "benchmark": "ppr",
        "dataset": dataset,
        "graph": counts,
        "questions": len(questions),
        "unlinked_questions": unlinked,
        "ppr_ms": {"p50": round(percentile(ppr_ms, 50), 2), "p95": round(percentile(ppr_ms, 95), 2)},
        "linking_ms": {"p50": round(percentile(link_ms, 50), 2), "p95": round(percentile(link_ms, 95), 2)},
        "target_p50_ms": TARGET_P50_MS,
    }


def render(figures: dict[str, Any]) -> str:
    graph = figures["graph"]
    return (
        f"personalised PageRank on the {figures['dataset']} graph ({graph['passages']:,} passages, "
        f"{graph['entities']:,} entities, {graph['mentions']:,} mentions, "
        f"{graph['cooccurrence_edges'] + graph['synonym_edges'] + graph['relation_edges']:,} entity edges)\n"
        f"  PPR     p50 {figures['ppr_ms']['p50']:>7.2f} ms  p95 {figures['ppr_ms']['p95']:>7.2f} ms "
        f"(target p50 < {figures['target_p50_ms']} ms), {figures['questions'] - figures['unlinked_questions']} "
        f"of {figures['questions']} questions linked\n"
        f"  linking p50 {figures['linking_ms']['p50']:>7.2f} ms  p95 {figures['linking_ms']['p95']:>7.2f} ms"
    )
