"""What the benchmarks share: where the data is, where built indexes are cached, how figures are kept."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.graph_stage import add_graph, graph_stage
from retrieval.builder import BuildOptions, build_index
from retrieval.bundle import MANIFEST, IndexBundle
from retrieval.embedders import Embedder, SentenceTransformerEmbedder
from retrieval.errors import InputNotFoundError
from retrieval.progress import ProgressReporter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchContext:
    data_dir: Path  # ../shared/data or a copy of it
    work_dir: Path  # built indexes are cached here between runs
    progress: ProgressReporter
    limit: int | None = None  # only the first N documents / questions, for quick runs
    options: Mapping[str, Any] = field(default_factory=dict)  # a benchmark's own options (e.g. llm's builds)

    def data_file(self, *parts: str) -> Path:
        path = self.data_dir.joinpath(*parts)
        if not path.exists():
            raise InputNotFoundError(f"benchmark data not found: {path} (give the data folder with --data)")
        return path


def dataset_index(
    ctx: BenchContext, dataset: str, embedder: Embedder | None = None, *, with_graph: bool = False
) -> IndexBundle:
    """The index of a dataset's corpus, built once into the work folder and reused; the graph is added
    to it (without re-embedding) the first time a benchmark needs it."""
    out = ctx.work_dir / "indexes" / (dataset if ctx.limit is None else f"{dataset}-first{ctx.limit}")
    if not (out / MANIFEST).exists():
        corpus = first_records(ctx, ctx.data_file(dataset, "corpus.jsonl.gz"))
        log.info("building the %s index into %s", dataset, out)
        build_index(
            [corpus],
            out,
            embedder or SentenceTransformerEmbedder(),
            BuildOptions(),
            overwrite=True,
            progress=ctx.progress,
        )
    bundle = IndexBundle.open(out)
    if with_graph and not bundle.manifest.data["graph"].get("built"):
        log.info("building the %s graph into %s", dataset, out)
        add_graph(out, graph_stage(), progress=ctx.progress)
        bundle = IndexBundle.open(out)
    return bundle


def first_records(ctx: BenchContext, path: Path) -> Path:
    """`path` itself, or with --limit a copy of its first N records in the work folder."""
    if ctx.limit is None:
        return path
    subset = ctx.work_dir / "subsets" / f"{path.name.split('.')[0]}-first{ctx.limit}.jsonl"
    if not subset.exists():
        subset.parent.mkdir(parents=True, exist_ok=True)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as source, open(subset, "w", encoding="utf-8") as target:
            for count, line in enumerate(source):
                if count >= ctx.limit:
                    break
                target.write(line)
    return subset


def write_figures(path: Path, figures: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
