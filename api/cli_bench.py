"""`sleuth bench NAME ...`: run benchmarks, print their figures, and keep them in a JSON file each."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from api.cli_output import print_json
from api.progress_bars import TerminalProgress
from evaluation.benchmarks import (
    bm25_speed,
    build_throughput,
    chain_batching,
    embedder_runtimes,
    graph_build,
    graph_latency,
    llm_throughput,
    retrieval_recall,
    search_latency,
)
from evaluation.benchmarks.common import BenchContext, write_figures
from retrieval.errors import ConfigError

BENCHMARKS: dict[str, ModuleType | SimpleNamespace] = {
    "build": build_throughput,
    "bm25": bm25_speed,
    "latency": search_latency,
    "recall": retrieval_recall,
    "graph": graph_build,
    "ppr": graph_latency,
    "chains": chain_batching,
    "chains-cpu": SimpleNamespace(
        run=lambda ctx: chain_batching.run(ctx, real_cpu=True), render=chain_batching.render
    ),  # also on the in-process CPU model (minutes)
    "llm": llm_throughput,
    "embedder": embedder_runtimes,  # torch against ONNX Runtime fp32 / int8: speed, recall, whole build (~45 min)
}


def add_bench_command(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="run benchmarks and print their figures")
    bench.add_argument(
        "names",
        nargs="+",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"one or more of: {', '.join(BENCHMARKS)}",
    )
    bench.add_argument("--data", type=Path, default=Path("../shared/data"), help="benchmark data folder")
    bench.add_argument("--work", type=Path, default=Path(".sleuth/bench"), help="cache of built indexes")
    bench.add_argument("--out", type=Path, default=Path("bench-results"), help="folder for the figures (NAME.json)")
    bench.add_argument("--limit", type=int, default=None, help="only the first N documents/questions (quick runs)")
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    llm = bench.add_argument_group("llm: the reader's throughput, build against build")
    llm.add_argument("--llm", default=None, metavar="SPEC", help="the reader (default SLEUTH_LLM, else the CPU model)")
    llm.add_argument(
        "--cpu-variants",
        default="haswell",
        metavar="A,B",
        help="llama.cpp CPU builds to force and measure beside the automatic choice (default haswell: AVX2)",
    )
    llm.add_argument(
        "--llama-build",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="also measure the llama-cpp-python installed in DIR (pip install --target DIR ...); repeatable",
    )
    graph = bench.add_argument_group("graph: the graph stage's time and memory, code against code")
    graph.add_argument(
        "--graph-dumps",
        default=",".join(graph_build.DEFAULT_DUMPS),
        metavar="A,B",
        help="dumps in DATA/dumps measured together, the same fraction of each at every size "
        "(default wiki_passages.jsonl.gz)",
    )
    graph.add_argument(
        "--graph-baseline",
        type=Path,
        default=None,
        metavar="DIR",
        help="also measure the graph stage with the code in DIR (e.g. git worktree add DIR HEAD) and compare graphs",
    )
    bench.set_defaults(handler=run_bench)


def _labelled_dir(text: str) -> tuple[str, Path]:
    label, sep, directory = text.partition("=")
    if not sep or not label or not Path(directory).is_dir():
        raise ConfigError(f"--llama-build takes LABEL=DIR with DIR a folder, got {text!r}")
    return label, Path(directory)


def _code_tree(directory: Path | None) -> Path | None:
    if directory is not None and not (directory / "kg" / "graph_stage.py").is_file():
        raise ConfigError(f"--graph-baseline takes a Sleuth source tree (with kg/graph_stage.py), got {directory}")
    return directory


def run_bench(args: argparse.Namespace) -> int:
    options = {
        "llm": args.llm,
        "cpu_variants": tuple(v for v in args.cpu_variants.split(",") if v),
        "llama_builds": dict(_labelled_dir(text) for text in args.llama_build),
        "graph_dumps": tuple(d for d in args.graph_dumps.split(",") if d),
        "graph_baseline": _code_tree(args.graph_baseline),
    }
    ctx = BenchContext(
        data_dir=args.data, work_dir=args.work, progress=TerminalProgress(), limit=args.limit, options=options
    )
    results: dict[str, Any] = {}
    for name in args.names:
        module = BENCHMARKS[name]
        run: Callable[[BenchContext], dict[str, Any]] = module.run
        figures = run(ctx)
        figures["limit"] = args.limit
        write_figures(args.out / f"{name}.json", figures)
        results[name] = figures
        if not args.json:
            print(module.render(figures), flush=True)
    if args.json:
        print_json(results)
    return 0
