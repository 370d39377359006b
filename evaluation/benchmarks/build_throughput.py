"""Build throughput per stage on a document dump, against the embedding stage as the floor."""

from __future__ import annotations

import resource
import time
from typing import Any

from evaluation.benchmarks.common import BenchContext, first_records
from retrieval.builder import BuildOptions, build_index
from retrieval.embedders import SentenceTransformerEmbedder

TARGET_RATIO = 1.25  # whole dense + BM25 build / embedding stage alone


def run(ctx: BenchContext) -> dict[str, Any]:
    dump = first_records(ctx, ctx.data_file("dumps", "wiki_passages.jsonl.gz"))
    load_start = time.perf_counter()
    embedder = SentenceTransformerEmbedder()
    load_seconds = time.perf_counter() - load_start
    start = time.perf_counter()
    manifest = build_index(
        [dump],
        ctx.work_dir / "build-throughput-index",
        embedder,
        BuildOptions(),
        overwrite=True,
        progress=ctx.progress,
    )
    wall = time.perf_counter() - start
    stages = manifest.data["build"]["stages"]
    embed_seconds = stages["embed"]["seconds"]
    passages = manifest.data["counts"]["passages"]
    return {
        "benchmark": "build",
        "dump": str(dump),
        "documents": manifest.data["counts"]["documents"],
        "passages": passages,
        "embedder_load_seconds": round(load_seconds, 2),
        "stages": stages,
        "build_wall_seconds": round(wall, 2),
        "build_passages_per_second": round(passages / wall, 1),
        "ratio_build_to_embed": round(wall / embed_seconds, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": wall / embed_seconds <= TARGET_RATIO,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def render(figures: dict[str, Any]) -> str:
    lines = [
        f"build throughput on {figures['dump']}: {figures['documents']:,} documents, "
        f"{figures['passages']:,} passages (embedder load {figures['embedder_load_seconds']} s, not counted)"
    ]
    for name, stage in figures["stages"].items():
        lines.append(f"  {name:<17} {stage['seconds']:>9.1f} s  {stage['per_second']:>10,.1f} items/s")
    lines.append(
        f"  whole build       {figures['build_wall_seconds']:>9.1f} s  "
        f"{figures['build_passages_per_second']:>10,.1f} passages/s"
    )
    lines.append(
        f"  build / embed = {figures['ratio_build_to_embed']:.3f} (target <= {figures['target_ratio']}: "
        f"{'met' if figures['meets_target'] else 'NOT met'}); peak memory {figures['peak_rss_mib']:,.0f} MiB"
    )
    return "\n".join(lines)
