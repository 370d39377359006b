"""`sleuth bench embedder`: the embedder on torch against ONNX Runtime (fp32 and int8), in one run.

- speed: passages/s of each runtime on the same passages (the first 2,000 of `wiki_passages`, title-prefixed
  chunks as a build embeds them). The passages are cut into parts and every part is embedded by each runtime
  in a rotating order, so that other load on the machine slows them alike; per runtime the median of the
  parts' rates and the rate over all of them, and the cosine of its vectors to torch's.
- recall: dense and hybrid Recall@2/5/10 on the dev questions of the three sets, on an index of each set's
  whole corpus embedded by torch and one embedded by `auto` (the default), queries embedded on the runtime
  each index records. BM25 does not depend on the embedder; the graph modes are left out (their fusion
  takes the hybrid ranking in).
- build: the whole `sleuth index build --no-kg` of `wiki_passages` with `--embedder-backend torch` and with
  `auto`, each in its own process, one after the other; wall time (model load included) and stage times.

`--limit N` takes the first N documents of each dump and corpus and the first N questions.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.benchmarks.common import BenchContext, first_records
from evaluation.benchmarks.retrieval_recall import KS, mode_recall
from evaluation.datasets import DATASETS, load_questions
from retrieval.builder import BuildOptions, build_index, store_passages
from retrieval.bundle import MANIFEST, IndexBundle
from retrieval.cpu_features import cpu_flags
from retrieval.embedder_runtime import EmbedderRuntime, cpu_quantization_config
from retrieval.embedders import SentenceTransformerEmbedder
from retrieval.passage_store import PassageStore
from retrieval.searcher import Searcher

SPEED_PASSAGES = 2000
PARTS = 4
MODES = ("dense", "hybrid")
BACKENDS = ("torch", "onnx", "onnx-int8")  # measured for speed; `auto` is one of them
TARGETS = {"speedup": 2.0, "recall_at_5_points": 1.0, "build_speedup": 1.8}


def run(ctx: BenchContext) -> dict[str, Any]:
    embedders: dict[str, SentenceTransformerEmbedder] = {}
    load_seconds: dict[str, float] = {}
    for backend in (*BACKENDS, "auto"):  # onnx exports the model to ONNX where no earlier run did
        start = time.perf_counter()
        embedders[backend] = SentenceTransformerEmbedder(backend=backend)  # type: ignore[arg-type]
        load_seconds[backend] = round(time.perf_counter() - start, 2)
    auto = embedders.pop("auto")  # what an index build uses by default: one of the others
    auto_backend = next(b for b, e in embedders.items() if e.runtime == auto.runtime)
    figures: dict[str, Any] = {
        "benchmark": "embedder",
        "machine": _machine(),
        "runtimes": {b: e.runtime.describe() for b, e in embedders.items()},
        "load_seconds": load_seconds,
        "auto": {"backend": auto_backend, "runtime": auto.runtime.describe()},
        "speed": _speed(ctx, embedders),
        "recall": _recall(ctx, {"torch": embedders["torch"], "auto": embedders[auto_backend]}),
        "build": _builds(ctx),
    }
    figures["targets"] = _targets(figures)
    return figures


def _machine() -> dict[str, Any]:
    import onnxruntime
    import torch

    flags = cpu_flags()
    return {
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpus": len(os.sched_getaffinity(0)),
        "simd_flags": sorted(f for f in flags if f.startswith(("avx", "amx", "sse4", "fma"))),
        "int8_config": cpu_quantization_config(flags),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "onnxruntime": onnxruntime.__version__,
    }


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _speed(ctx: BenchContext, embedders: dict[str, SentenceTransformerEmbedder]) -> dict[str, Any]:
    texts = _passages(ctx, ctx.limit or SPEED_PASSAGES, embedders["torch"])
    for embedder in embedders.values():
        embedder.embed(texts[:32])  # warm up: thread pools, allocator
    size = -(-len(texts) // PARTS)
    parts = [texts[i : i + size] for i in range(0, len(texts), size)]
    rates: dict[str, list[float]] = {b: [] for b in embedders}
    seconds = dict.fromkeys(embedders, 0.0)
    vectors: dict[str, list[np.ndarray]] = {b: [] for b in embedders}
    order = list(embedders)
    bar = ctx.progress.start("embedder speed", len(parts) * len(order), "parts")
    for number, part in enumerate(parts):
        for backend in order[number % len(order) :] + order[: number % len(order)]:  # a rotating order
            start = time.perf_counter()
            vectors[backend].append(embedders[backend].embed(part))
            elapsed = time.perf_counter() - start
            rates[backend].append(len(part) / elapsed)
            seconds[backend] += elapsed
            bar.advance()
    bar.close()
    torch_vectors = np.concatenate(vectors["torch"])
    result: dict[str, Any] = {"passages": len(texts), "parts": len(parts), "per_runtime": {}}
    for backend in embedders:
        cosines = np.sum(np.concatenate(vectors[backend]) * torch_vectors, axis=1)
        result["per_runtime"][backend] = {
            "median_passages_per_second": round(statistics.median(rates[backend]), 1),
            "passages_per_second": round(len(texts) / seconds[backend], 1),
            "part_rates": [round(r, 1) for r in rates[backend]],
            "cosine_to_torch": {"mean": round(float(cosines.mean()), 5), "min": round(float(cosines.min()), 5)},
        }
    base = result["per_runtime"]["torch"]["median_passages_per_second"]
    for row in result["per_runtime"].values():
        row["speedup"] = round(row["median_passages_per_second"] / base, 2)
    return result


def _passages(ctx: BenchContext, count: int, embedder: SentenceTransformerEmbedder) -> list[str]:
    """The first `count` passages of wiki_passages, as a build embeds them (chunked by `embedder`'s tokeniser,
    which is the same on every runtime)."""
    dump = first_records(dataclasses.replace(ctx, limit=count), ctx.data_file("dumps", "wiki_passages.jsonl.gz"))
    with tempfile.TemporaryDirectory() as folder:
        store = PassageStore.create(Path(folder) / "passages.sqlite")
        try:
            store_passages([dump], store, embedder, BuildOptions())
            return [p.embedding_text for p in store.iter_passages()][:count]
        finally:
            store.close()


def _recall(ctx: BenchContext, embedders: dict[str, SentenceTransformerEmbedder]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for dataset in DATASETS:
        questions = load_questions(ctx.data_file(dataset, "dev.jsonl"), limit=ctx.limit)
        corpus = first_records(ctx, ctx.data_file(dataset, "corpus.jsonl.gz"))
        rows: dict[str, Any] = {"questions": len(questions)}
        for label, embedder in embedders.items():
            bundle, embed = _index(ctx, dataset, label, corpus, embedder)
            searcher = Searcher(bundle, embedder=embedder)
            rows[label] = {mode: mode_recall(searcher, questions, mode) for mode in MODES}
            rows[label]["runtime"] = str(EmbedderRuntime.from_manifest(bundle.manifest.data["embedder"]).describe())
            rows[label]["embed_stage"] = embed
        table[dataset] = rows
    return {"ks": list(KS), "modes": list(MODES), "datasets": table}


def _index(
    ctx: BenchContext, dataset: str, label: str, corpus: Path, embedder: SentenceTransformerEmbedder
) -> tuple[IndexBundle, dict[str, Any]]:
    """The corpus indexed (dense + BM25) with `embedder`, built once into the work folder and reused."""
    suffix = "" if ctx.limit is None else f"-first{ctx.limit}"
    out = ctx.work_dir / "embedder-indexes" / f"{dataset}{suffix}-{label}"
    fresh = not (out / MANIFEST).exists()
    if not fresh:
        recorded = EmbedderRuntime.from_manifest(IndexBundle.open(out).manifest.data["embedder"])
        fresh = recorded != embedder.runtime
    if fresh:
        build_index([corpus], out, embedder, BuildOptions(), overwrite=True, progress=ctx.progress)
    bundle = IndexBundle.open(out)
    return bundle, {"reused": not fresh, **bundle.manifest.data["build"]["stages"]["embed"]}


def _builds(ctx: BenchContext) -> dict[str, Any]:
    dump = first_records(ctx, ctx.data_file("dumps", "wiki_passages.jsonl.gz"))
    results: dict[str, Any] = {"dump": str(dump)}
    for backend in ("torch", "auto"):
        out = ctx.work_dir / "embedder-builds" / backend
        command = [sys.executable, "-m", "api.cli", "index", "build", "--input", str(dump), "--out", str(out)]
        command += ["--no-kg", "--overwrite", "--embedder-backend", backend]
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out.parent / f"{backend}.log", "w", encoding="utf-8") as log:
            start = time.perf_counter()
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)
            wall = time.perf_counter() - start
        manifest = IndexBundle.open(out).manifest.data
        passages = manifest["counts"]["passages"]
        results[backend] = {
            "command": " ".join(["sleuth", *command[3:]]),
            "runtime": EmbedderRuntime.from_manifest(manifest["embedder"]).describe(),
            "passages": passages,
            "wall_seconds": round(wall, 1),
            "passages_per_second": round(passages / wall, 1),
            "build_seconds": manifest["build"]["total_seconds"],
            "stages": manifest["build"]["stages"],
        }
    results["speedup"] = round(results["torch"]["wall_seconds"] / results["auto"]["wall_seconds"], 2)
    return results


def _targets(figures: dict[str, Any]) -> dict[str, Any]:
    auto = figures["auto"]["backend"]
    speedup = figures["speed"]["per_runtime"][auto]["speedup"]
    worst = {}
    for dataset, rows in figures["recall"]["datasets"].items():
        worst[dataset] = round(
            max(100 * (rows["torch"][m]["R@5"] - rows["auto"][m]["R@5"]) for m in figures["recall"]["modes"]), 2
        )
    build = figures["build"]["speedup"]
    return {
        "speedup": {"value": speedup, "target": TARGETS["speedup"], "met": speedup >= TARGETS["speedup"]},
        "recall_at_5_drop_points": {
            "value": worst,
            "target": TARGETS["recall_at_5_points"],
            "met": all(v <= TARGETS["recall_at_5_points"] for v in worst.values()),
        },
        "build_speedup": {"value": build, "target": TARGETS["build_speedup"], "met": build >= TARGETS["build_speedup"]},
    }


def render(figures: dict[str, Any]) -> str:
    machine, auto = figures["machine"], figures["auto"]
    speed = figures["speed"]
    lines = [
        f"embedder runtimes on {machine['cpu']} ({machine['cpus']} CPUs, int8 config {machine['int8_config']}); "
        f"auto = {auto['runtime']}",
        f"speed on {speed['passages']:,} wiki passages ({speed['parts']} parts, runtimes in turn):",
        "| runtime | passages/s (median of parts) | passages/s (all) | x torch | cosine to torch (mean / min) |",
        "|---|---|---|---|---|",
    ]
    for backend, row in speed["per_runtime"].items():
        cosine = row["cosine_to_torch"]
        lines.append(
            f"| {figures['runtimes'][backend]} | {row['median_passages_per_second']:.1f} | "
            f"{row['passages_per_second']:.1f} | {row['speedup']:.2f} | {cosine['mean']:.4f} / {cosine['min']:.4f} |"
        )
    ks = figures["recall"]["ks"]
    lines += ["", "| dataset | questions | mode | " + " | ".join(f"R@{k} torch / auto" for k in ks) + " |"]
    lines.append("|" + "---|" * (3 + len(ks)))
    for dataset, rows in figures["recall"]["datasets"].items():
        for mode in figures["recall"]["modes"]:
            cells = " | ".join(f"{rows['torch'][mode][f'R@{k}']:.3f} / {rows['auto'][mode][f'R@{k}']:.3f}" for k in ks)
            lines.append(f"| {dataset} | {rows['questions']} | {mode} | {cells} |")
    build = figures["build"]
    lines += ["", f"whole build of {build['dump']} (--no-kg, own process each):"]
    for backend in ("torch", "auto"):
        row = build[backend]
        lines.append(
            f"  {backend:<5} {row['runtime']:<24} {row['wall_seconds']:>8.1f} s  {row['passages_per_second']:>7.1f} "
            f"passages/s  (embed stage {row['stages']['embed']['seconds']:.1f} s)"
        )
    lines.append("")
    for name, target in figures["targets"].items():
        lines.append(
            f"  {name}: {target['value']} (target {target['target']}): {'met' if target['met'] else 'NOT met'}"
        )
    return "\n".join(lines)
