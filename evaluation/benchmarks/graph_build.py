"""Graph stage time and peak memory at a quarter, a half and all of a dump, against NER alone.

Each measurement runs in a fresh process (so peak memory is its own): one builds a passage store and
runs the whole graph stage on it, another runs only the NER pass over the same passages. The growth
exponent is the slope of log(time) against log(passages).
"""

from __future__ import annotations

import math
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from evaluation.benchmarks.common import BenchContext, first_records

FRACTIONS = (0.25, 0.5, 1.0)
TARGET_RATIO = 1.5


def run(ctx: BenchContext) -> dict[str, Any]:
    dump = first_records(ctx, ctx.data_file("dumps", "wiki_passages.jsonl.gz"))
    total = _count_records(dump)
    sizes = []
    for fraction in FRACTIONS:
        subset = _subset(ctx, dump, round(total * fraction))
        graph = _in_fresh_process(_graph_stage_figures, subset)
        ner = _in_fresh_process(_ner_figures, subset)
        sizes.append(
            {
                "fraction": fraction,
                **graph,
                "ner_alone_seconds": ner["seconds"],
                "ner_alone_peak_rss_mib": ner["peak_rss_mib"],
                "ratio_graph_to_ner": round(graph["graph_seconds"] / ner["seconds"], 3),
            }
        )
    return {
        "benchmark": "graph",
        "dump": str(dump),
        "sizes": sizes,
        "time_exponent": _exponent([s["passages"] for s in sizes], [s["graph_seconds"] for s in sizes]),
        "memory_exponent": _exponent([s["passages"] for s in sizes], [s["graph_rss_growth_mib"] for s in sizes]),
        "target_ratio": TARGET_RATIO,
    }


def _in_fresh_process(function: Any, path: Path) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: dict[str, Any] = pool.apply(function, (str(path),))
    return result


def _peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _graph_stage_figures(path: str) -> dict[str, Any]:
    from kg.graph_stage import graph_stage
    from retrieval.builder import StageClock
    from retrieval.progress import SilentProgress

    with tempfile.TemporaryDirectory() as work:
        clock = StageClock(SilentProgress())
        store = _passage_store(path, Path(work))
        stage = graph_stage()
        baseline = _peak_mib()
        start = time.perf_counter()
        section = stage.run(store, Path(work), clock)
        seconds = time.perf_counter() - start
        peak = _peak_mib()
    return {
        "passages": section["counts"]["passages"],
        "graph_seconds": round(seconds, 2),
        "stages": clock.stages,
        "counts": section["counts"],
        "peak_rss_mib": peak,
        "graph_rss_growth_mib": round(peak - baseline, 1),
    }


def _ner_figures(path: str) -> dict[str, Any]:
    from kg.ner import SpacyEntityExtractor

    with tempfile.TemporaryDirectory() as work:
        store = _passage_store(path, Path(work))
        extractor = SpacyEntityExtractor()
        start = time.perf_counter()
        mentions = sum(len(m) for m in extractor.extract(p.text for p in store.iter_passages()))
        seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "mentions": mentions, "peak_rss_mib": _peak_mib()}


def _passage_store(path: str, work: Path) -> Any:
    from retrieval.builder import store_passages
    from retrieval.embedders import SentenceTransformerEmbedder
    from retrieval.passage_store import PassageStore

    store = PassageStore.create(work / "passages.sqlite")
    store_passages([Path(path)], store, SentenceTransformerEmbedder())
    return store


def _count_records(path: Path) -> int:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        return sum(1 for _ in handle)


def _subset(ctx: BenchContext, dump: Path, count: int) -> Path:
    return first_records(BenchContext(ctx.data_dir, ctx.work_dir, ctx.progress, limit=count), dump)


def _exponent(xs: list[float], ys: list[float]) -> float | None:
    points = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(points) < 2:
        return None
    mean_x = sum(p[0] for p in points) / len(points)
    mean_y = sum(p[1] for p in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return round(slope, 3)


def render(figures: dict[str, Any]) -> str:
    lines = [f"graph stage on {figures['dump']} (each size in a fresh process)"]
    for s in figures["sizes"]:
        lines.append(
            f"  {s['passages']:>7,} passages: graph stage {s['graph_seconds']:>8.1f} s, NER alone "
            f"{s['ner_alone_seconds']:>8.1f} s, ratio {s['ratio_graph_to_ner']:.3f} (target <= "
            f"{figures['target_ratio']}); peak {s['peak_rss_mib']:,.0f} MiB (+{s['graph_rss_growth_mib']:,.0f} "
            f"MiB in the stage); {s['counts']['entities']:,} entities, "
            f"{s['counts']['cooccurrence_edges'] + s['counts']['synonym_edges']:,} edges"
        )
    lines.append(
        f"  growth exponent: time {figures['time_exponent']}, memory {figures['memory_exponent']} (1.0 = linear)"
    )
    return "\n".join(lines)
