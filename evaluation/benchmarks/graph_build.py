"""Graph stage time and peak memory at a quarter, a half and all of a dump, against NER alone.

Each measurement runs in a fresh process (so peak memory is its own): one builds a passage store, one
runs the whole graph stage on it, one runs only the NER pass over the same passages. The growth
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
        store = ctx.work_dir / "graph-bench" / f"{subset.stem}.sqlite"
        if not store.exists():
            _in_fresh_process(_build_store, subset, store)
        graph = _in_fresh_process(_graph_stage_figures, store)
        ner = _in_fresh_process(_ner_figures, store)
        sizes.append(
            {
                "fraction": fraction,
                **graph,
                "ner_alone_seconds": ner["seconds"],
                "ratio_graph_to_ner": round(graph["graph_seconds"] / ner["seconds"], 3),
            }
        )
    passages = [s["passages"] for s in sizes]
    return {
        "benchmark": "graph",
        "dump": str(dump),
        "sizes": sizes,
        "time_exponent": _exponent(passages, [s["graph_seconds"] for s in sizes]),
        "memory_exponent": _exponent(passages, [s["graph_rss_growth_mib"] for s in sizes]),
        "target_ratio": TARGET_RATIO,
    }


def _in_fresh_process(function: Any, *paths: Path) -> Any:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, tuple(str(p) for p in paths))


def _rss_mib() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _build_store(dump: str, store_path: str) -> None:
    """The passages of a dump, chunked for the default embedder, in a store of their own."""
    from retrieval.builder import store_passages
    from retrieval.embedders import SentenceTransformerEmbedder
    from retrieval.passage_store import PassageStore

    Path(store_path).parent.mkdir(parents=True, exist_ok=True)
    partial = Path(store_path + ".partial")
    partial.unlink(missing_ok=True)
    store = PassageStore.create(partial)
    store_passages([Path(dump)], store, SentenceTransformerEmbedder())
    store.close()
    partial.rename(store_path)


def _graph_stage_figures(store_path: str) -> dict[str, Any]:
    """The whole graph stage; memory growth is peak RSS over RSS once the NER model is loaded."""
    from kg.graph_stage import graph_stage
    from retrieval.builder import StageClock
    from retrieval.passage_store import PassageStore
    from retrieval.progress import SilentProgress

    store = PassageStore.open(Path(store_path))
    stage = graph_stage()
    baseline = _rss_mib()
    clock = StageClock(SilentProgress())
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        section = stage.run(store, Path(work), clock)
        seconds = time.perf_counter() - start
    peak = _peak_mib()
    return {
        "passages": section["counts"]["passages"],
        "graph_seconds": round(seconds, 2),
        "stages": clock.stages,
        "counts": section["counts"],
        "rss_before_stage_mib": baseline,
        "peak_rss_mib": peak,
        "graph_rss_growth_mib": round(peak - baseline, 1),
    }


def _ner_figures(store_path: str) -> dict[str, Any]:
    from kg.ner import SpacyEntityExtractor
    from retrieval.passage_store import PassageStore

    store = PassageStore.open(Path(store_path))
    extractor = SpacyEntityExtractor()
    start = time.perf_counter()
    mentions = sum(len(m) for m in extractor.extract(p.text for p in store.iter_passages()))
    return {"seconds": round(time.perf_counter() - start, 2), "mentions": mentions}


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
            f"{figures['target_ratio']}); memory +{s['graph_rss_growth_mib']:,.0f} MiB in the stage "
            f"(peak {s['peak_rss_mib']:,.0f} MiB); {s['counts']['entities']:,} entities, "
            f"{s['counts']['cooccurrence_edges'] + s['counts']['synonym_edges']:,} edges"
        )
    lines.append(
        f"  growth exponent: time {figures['time_exponent']}, memory {figures['memory_exponent']} (1.0 = linear)"
    )
    return "\n".join(lines)
