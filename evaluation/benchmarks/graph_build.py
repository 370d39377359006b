"""Graph stage time and peak memory at a quarter, a half and all of one or more dumps, against NER alone.

Each measurement runs in a fresh interpreter (`graph_probe.py`, so its peak memory is its own): the
whole graph stage over a passage store, and the NER pass alone over the same passages. Several dumps
(`sleuth bench graph --graph-dumps A,B`) are measured together: each size takes the same fraction of
every dump, so the mix stays the same. With `--graph-baseline DIR` (a git worktree of an older commit)
the graph stage is also measured with the code of that tree, in the same run, and the two graphs of the
whole size are compared file by file. The growth exponent is the slope of log(cost) against
log(passages).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from evaluation.benchmarks.common import BenchContext, first_records
from evaluation.benchmarks.graph_compare import compare_graphs

FRACTIONS = (0.25, 0.5, 1.0)
TARGET_RATIO = 1.5
DEFAULT_DUMPS = ("wiki_passages.jsonl.gz",)
CURRENT = "current"
BASELINE = "baseline"
_PROBE = Path(__file__).with_name("graph_probe.py")
_REPO = Path(__file__).resolve().parents[2]


def run(ctx: BenchContext) -> dict[str, Any]:
    dumps = [ctx.data_file("dumps", name) for name in ctx.options.get("graph_dumps") or DEFAULT_DUMPS]
    trees = {CURRENT: _REPO}
    if ctx.options.get("graph_baseline"):
        trees[BASELINE] = Path(ctx.options["graph_baseline"]).resolve()
    totals = [_count_records(first_records(ctx, dump)) for dump in dumps]
    sizes = []
    for fraction in FRACTIONS:
        store = _store(ctx, dumps, [round(total * fraction) for total in totals])
        keep = fraction == FRACTIONS[-1]
        graphs = {label: _graph_figures(ctx, tree, store, label, keep) for label, tree in trees.items()}
        ner = _probe(_REPO, "ner", store)
        for graph in graphs.values():
            graph["ratio_graph_to_ner"] = round(graph["graph_seconds"] / ner["seconds"], 3)
        sizes.append({"fraction": fraction, "passages": graphs[CURRENT]["passages"], "ner_alone": ner, **graphs})
    figures: dict[str, Any] = {
        "benchmark": "graph",
        "dumps": [str(d) for d in dumps],
        "records": totals,
        "trees": {label: _describe_tree(tree) for label, tree in trees.items()},
        "sizes": sizes,
        "summary": {label: _summary(sizes, label) for label in trees},
        "targets": {"ratio_graph_to_ner": TARGET_RATIO, "kib_per_passage": 5.0, "exponent": 1.05},
    }
    if BASELINE in trees:
        figures["same_graph"] = compare_graphs(_kept(ctx, CURRENT), _kept(ctx, BASELINE))
    return figures


def _store(ctx: BenchContext, dumps: list[Path], counts: list[int]) -> Path:
    subsets = [_subset(ctx, dump, count) for dump, count in zip(dumps, counts, strict=True)]
    store = ctx.work_dir / "graph-bench" / ("+".join(s.stem for s in subsets) + ".sqlite")
    if not store.exists():
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            pool.apply(_build_store, ([str(s) for s in subsets], str(store)))
    return store


def _build_store(dumps: list[str], store_path: str) -> None:
    """The passages of the dumps, chunked for the default embedder, in a store of their own."""
    from retrieval.builder import store_passages
    from retrieval.embedders import SentenceTransformerEmbedder
    from retrieval.passage_store import PassageStore

    Path(store_path).parent.mkdir(parents=True, exist_ok=True)
    partial = Path(store_path + ".partial")
    partial.unlink(missing_ok=True)
    store = PassageStore.create(partial)
    store_passages([Path(d) for d in dumps], store, SentenceTransformerEmbedder())
    store.close()
    partial.rename(store_path)


def _kept(ctx: BenchContext, label: str) -> Path:
    return ctx.work_dir / "graph-bench" / "graphs" / label


def _graph_figures(ctx: BenchContext, tree: Path, store: Path, label: str, keep: bool) -> dict[str, Any]:
    return _probe(tree, "stage", store, _kept(ctx, label) if keep else None)


def _probe(tree: Path, command: str, store: Path, keep: Path | None = None) -> dict[str, Any]:
    """`graph_probe.py` in a fresh interpreter over the code of `tree`; its figures."""
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "figures.json"
        args = [sys.executable, str(_PROBE), str(tree), command, str(store.resolve()), str(out)]
        subprocess.run([*args, *([str(keep.resolve())] if keep else [])], check=True)
        figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return figures


def _describe_tree(tree: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "kg", "retrieval")
    return {"path": str(tree), "commit": git("rev-parse", "HEAD"), "kg_or_retrieval_changed": bool(changed)}


def _summary(sizes: list[dict[str, Any]], label: str) -> dict[str, Any]:
    passages = [s["passages"] for s in sizes]
    largest = sizes[-1][label]
    return {
        "time_exponent": _exponent(passages, [s[label]["graph_seconds"] for s in sizes]),
        "memory_exponent": _exponent(passages, [s[label]["graph_rss_growth_mib"] for s in sizes]),
        "passages": largest["passages"],
        "graph_rss_growth_mib": largest["graph_rss_growth_mib"],
        "kib_per_passage": largest["kib_per_passage"],
        "ratio_graph_to_ner": largest["ratio_graph_to_ner"],
    }


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
    names = " + ".join(Path(d).name for d in figures["dumps"])
    lines = [f"graph stage on {names} (each size and code tree in a fresh process)"]
    for s in figures["sizes"]:
        lines.append(f"  {s['passages']:>7,} passages: NER alone {s['ner_alone']['seconds']:>8.1f} s")
        for label in figures["trees"]:
            g = s[label]
            lines.append(
                f"    {label:>8}: {g['graph_seconds']:>8.1f} s, ratio to NER {g['ratio_graph_to_ner']:.3f}; "
                f"+{g['graph_rss_growth_mib']:,.0f} MiB ({g['kib_per_passage']:.1f} KiB a passage, peak "
                f"{g['peak_rss_mib']:,.0f} MiB); {g['counts']['entities']:,} entities, "
                f"{g['counts']['cooccurrence_edges'] + g['counts']['synonym_edges']:,} edges"
            )
    for label, summary in figures["summary"].items():
        lines.append(
            f"  {label}: growth exponent time {summary['time_exponent']}, memory {summary['memory_exponent']} "
            f"(1.0 = linear)"
        )
    if "same_graph" in figures:
        lines.append(f"  same graph as the baseline: {figures['same_graph']['identical_files']}")
    return "\n".join(lines)
