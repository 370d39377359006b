"""Search latency per mode, one query at a time, on a dataset's corpus index."""

from __future__ import annotations

import time
from typing import Any

from evaluation.benchmarks.common import BenchContext, dataset_index
from evaluation.datasets import load_questions
from evaluation.retrieval_metrics import percentile
from retrieval.searcher import SEARCH_MODES, Searcher

WARMUP = 5


def run(ctx: BenchContext, dataset: str = "hotpotqa", n_queries: int = 200, k: int = 10) -> dict[str, Any]:
    bundle = dataset_index(ctx, dataset)
    questions = [q.question for q in load_questions(ctx.data_file(dataset, "dev.jsonl"), limit=n_queries)]
    searcher = Searcher(bundle)
    modes: dict[str, Any] = {}
    for mode in SEARCH_MODES:
        for query in questions[:WARMUP]:
            searcher.search(query, mode, k)
        seconds = []
        for query in questions:
            start = time.perf_counter()
            searcher.search(query, mode, k)
            seconds.append(time.perf_counter() - start)
        modes[mode] = {
            "p50_ms": round(percentile(seconds, 50) * 1000, 2),
            "p95_ms": round(percentile(seconds, 95) * 1000, 2),
            "mean_ms": round(sum(seconds) / len(seconds) * 1000, 2),
        }
    return {
        "benchmark": "latency",
        "dataset": dataset,
        "passages": bundle.manifest.passage_count,
        "dense_index": bundle.manifest.data["dense"].get("kind"),
        "queries": len(questions),
        "k": k,
        "modes": modes,
    }


def render(figures: dict[str, Any]) -> str:
    lines = [
        f"search latency on {figures['dataset']} ({figures['passages']:,} passages, FAISS "
        f"{figures['dense_index']}), {figures['queries']} queries one at a time, k={figures['k']}"
    ]
    for mode, row in figures["modes"].items():
        lines.append(f"  {mode:<7} p50 {row['p50_ms']:>8.2f} ms   p95 {row['p95_ms']:>8.2f} ms")
    return "\n".join(lines)
