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
    graph_build,
    graph_latency,
    retrieval_recall,
    search_latency,
)
from evaluation.benchmarks.common import BenchContext, write_figures

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
    bench.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    ctx = BenchContext(data_dir=args.data, work_dir=args.work, progress=TerminalProgress(), limit=args.limit)
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
