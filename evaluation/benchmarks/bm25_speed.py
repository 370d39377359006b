"""Sleuth's BM25 (bm25s) against the reference rank-bm25, same corpus, same tokens, same queries."""

from __future__ import annotations

import gzip
import json
import random
import time
from typing import Any

import numpy as np

from evaluation.benchmarks.common import BenchContext, first_records
from retrieval.bm25_index import BM25Config, BM25Index

TARGET_SPEEDUP = 20.0
QUERY_WORDS = 4


def run(ctx: BenchContext, n_queries: int = 100, seed: int = 13) -> dict[str, Any]:
    dump = first_records(ctx, ctx.data_file("dumps", "wordnet_glosses.jsonl.gz"))
    with gzip.open(dump, "rt", encoding="utf-8") if dump.suffix == ".gz" else open(dump, encoding="utf-8") as f:
        texts = [f"{r['title']}\n{r['text']}" for r in map(json.loads, f)]
    config = BM25Config(method="robertson")
    start = time.perf_counter()
    sleuth = BM25Index.build(texts, config)
    sleuth_build = time.perf_counter() - start
    queries = _queries(texts, sleuth, n_queries, seed)

    start = time.perf_counter()
    ours = [sleuth.search(q, 10) for q in queries]
    sleuth_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ours_batched = sleuth.search_many(queries, 10)
    batched_seconds = time.perf_counter() - start

    from rank_bm25 import BM25Okapi

    start = time.perf_counter()
    reference = BM25Okapi([sleuth.analyze(t) for t in texts], k1=config.k1, b=config.b)
    reference_build = time.perf_counter() - start
    start = time.perf_counter()
    theirs = [_rank_bm25_top(reference, sleuth.analyze(q), 10) for q in queries]
    reference_seconds = time.perf_counter() - start

    agreement = [len({r for r, _ in a} & set(b)) / max(1, len(b)) for a, b in zip(ours, theirs, strict=True)]
    return {
        "benchmark": "bm25",
        "dump": str(dump),
        "documents": len(texts),
        "queries": len(queries),
        "method": config.method,
        "build_seconds": {"sleuth": round(sleuth_build, 2), "rank_bm25": round(reference_build, 2)},
        "queries_per_second": {
            "sleuth": round(len(queries) / sleuth_seconds, 1),
            "sleuth_batched": round(len(queries) / batched_seconds, 1),
            "rank_bm25": round(len(queries) / reference_seconds, 2),
        },
        "speedup": round(reference_seconds / sleuth_seconds, 1),
        "target_speedup": TARGET_SPEEDUP,
        "top10_agreement": round(sum(agreement) / len(agreement), 4),
        "top10_identical_sets": sum(a == 1.0 for a in agreement),
        "batched_equals_one_by_one": ours == ours_batched,
    }


def _queries(texts: list[str], index: BM25Index, n: int, seed: int) -> list[str]:
    """Seeded queries of a few words drawn from random documents' glosses."""
    rng = random.Random(seed)
    queries: list[str] = []
    while len(queries) < n:
        gloss = texts[rng.randrange(len(texts))].split(":", 1)[-1].split()
        words = [w for w in gloss if index.analyze(w)]
        if len(words) >= QUERY_WORDS:
            start = rng.randrange(len(words) - QUERY_WORDS + 1)
            queries.append(" ".join(words[start : start + QUERY_WORDS]))
    return queries


def _rank_bm25_top(reference: Any, tokens: list[str], k: int) -> list[int]:
    scores = reference.get_scores(tokens)
    top = np.argpartition(-scores, k)[:k]
    return [int(row) for row in sorted(top, key=lambda row: (-scores[row], row)) if scores[row] > 0]


def render(figures: dict[str, Any]) -> str:
    qps, build = figures["queries_per_second"], figures["build_seconds"]
    return (
        f"BM25 on {figures['dump']}: {figures['documents']:,} documents, {figures['queries']} queries, "
        f"method {figures['method']}\n"
        f"  build: sleuth {build['sleuth']} s, rank-bm25 {build['rank_bm25']} s\n"
        f"  queries/s: sleuth {qps['sleuth']:,} (one by one), {qps['sleuth_batched']:,} (batched); "
        f"rank-bm25 {qps['rank_bm25']:,}\n"
        f"  speedup {figures['speedup']}x (target >= {figures['target_speedup']}x); top-10 agreement "
        f"{figures['top10_agreement']:.4f} "
        f"({figures['top10_identical_sets']}/{figures['queries']} identical sets)"
    )
