"""`sleuth bench llm`: the reader's prompt and generation throughput, build against build, in one run.

A question's time is the reader's prompt reading (issue 23: 86 of 92 s of a `fast` answer), so this
measures it on fixed prompts of about 100, 500 and 1,000 tokens (passages of the bundled sample corpus,
each prompt opened by its own line so that no cached prefix is reused), and generation on a prompt that
asks for a long list, temperature 0. Each configuration runs in a fresh process (a process loads one CPU
build of llama.cpp), in turn and twice over on the same machine, so that other load slows them alike:

- `auto`: the installed llama.cpp, with the CPU build `reasoning.llm.cpu_variants` picks for this CPU;
- `haswell` (or any variant named in `--cpu-variants`): the same install forced to that build (`haswell` is
  AVX2, FMA and F16C: what the portable install built before);
- `LABEL=DIR` (`--llama-build`): another llama-cpp-python installed into DIR (`pip install --target DIR`),
  e.g. the portable wheel itself.

Each reports prompt tokens/s per size, generation tokens/s, llama.cpp's own list of the instruction sets
its CPU code uses, and its greedy completions of the fixed prompts and of the reader's answers to the
first sample questions (`rag`, `fast`), so that builds are compared on what they say as well as how fast.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evaluation.benchmarks.common import BenchContext

SIZES = (100, 500, 1000)
REPEATS = 2
ROUNDS = 2
GENERATED = 64
QUESTIONS = 6
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "retrieval" / "samples"
GENERATION_TASK = "List the numbers from 1 to 200 in words, separated by commas, and nothing else."


def run(ctx: BenchContext) -> dict[str, Any]:
    """Every configuration in its own process, in turn, `ROUNDS` times over (so that a machine busy with
    something else for a while slows them alike); the ratios are to the first one that is not `auto`."""
    options = ctx.options
    configs: list[tuple[str, dict[str, str]]] = [("auto", {})]
    configs += [(v, {"SLEUTH_LLAMA_CPU": v}) for v in options.get("cpu_variants", ("haswell",)) if v != "auto"]
    for label, directory in options.get("llama_builds", {}).items():
        configs.append((label, {"PYTHONPATH": os.pathsep.join([str(Path(directory).resolve()), os.getcwd()])}))
    questions = ctx.limit or QUESTIONS
    llm = options.get("llm")
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in configs}
    bar = ctx.progress.start("llm builds", ROUNDS * len(configs), "runs")
    for round_no in range(ROUNDS):
        for label, env in configs:
            runs[label].append(_measure_in_process(env, llm, questions if round_no == 0 else 0))
            bar.advance()
    bar.close()
    results = {label: _summary(measured) for label, measured in runs.items()}
    baseline = next((label for label, _ in configs if label != "auto"), None)
    figures: dict[str, Any] = {"configs": results, "baseline": baseline, "questions": questions, "rounds": ROUNDS}
    if baseline is not None and "error" not in results["auto"] and "error" not in results[baseline]:
        figures["auto_vs_baseline"] = _ratios(results["auto"], results[baseline])
    return figures


def _summary(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration's runs: the median rate of every measurement, the first run's texts."""
    failed = [m for m in measured if "error" in m]
    if failed:
        return failed[0]
    first = measured[0]
    return {
        "llm": first["llm"],
        "cpu_build": first["cpu_build"],
        "prompt_tps": {size: _median([r for m in measured for r in m["prompt_rates"][size]]) for size in SIZES},
        "generation_tps": _median([r for m in measured for r in m["generation_rates"]]),
        "completions": first["completions"],
        "answers": first["answers"],
    }


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return round(ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2, 1)


def _ratios(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    prompt = {size: round(new["prompt_tps"][size] / old["prompt_tps"][size], 2) for size in new["prompt_tps"]}
    return {
        "prompt_tps": prompt,
        "generation_tps": round(new["generation_tps"] / old["generation_tps"], 2),
        "same_completions": new["completions"] == old["completions"],
        "same_answers": new["answers"] == old["answers"],
        "answers_differing": sum(a != b for a, b in zip(new["answers"], old["answers"], strict=True)),
    }


def _measure_in_process(env: dict[str, str], llm: str | None, questions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        command = [sys.executable, "-m", "evaluation.benchmarks.llm_throughput", "--out", str(out)]
        command += ["--questions", str(questions)] + (["--llm", llm] if llm else [])
        done = subprocess.run(command, env=os.environ | env, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.exists():
            return {"error": (done.stderr or done.stdout)[-2000:]}
        figures: dict[str, Any] = json.loads(out.read_text())
        figures["prompt_rates"] = {int(k): v for k, v in figures["prompt_rates"].items()}
        return figures


def measure(llm: str | None, questions: int) -> dict[str, Any]:
    """This process's reader: throughput, the build it runs, and its greedy completions and answers."""
    from reasoning.llm.protocol import GenerationParams
    from reasoning.settings import SystemSettings
    from reasoning.system import build_system

    settings = SystemSettings.from_env(llm=llm)
    if settings.llm.startswith("llama-cpp:"):  # no saved prompt states: every prompt is read in full
        settings = settings.model_copy(update={"llm_options": {**settings.llm_options, "prompt_cache_mb": 0}})
    system = build_system(settings)
    backend = system.backend
    filler = _filler_text()
    prompt_rates: dict[int, list[float]] = {}
    for size in SIZES:
        prompt_rates[size] = []
        for repeat in range(REPEATS):
            prompt = _prompt_of(backend, f"Reading test {size}-{repeat}.", filler, size)
            started = time.perf_counter()
            done = backend.generate([prompt], GenerationParams(max_tokens=1, temperature=0.0))[0]
            prompt_rates[size].append(done.usage.prompt_tokens / (time.perf_counter() - started))
    generation_rates, completions = [], []
    for repeat in range(REPEATS):
        prompt = f"Writing test {repeat}. {GENERATION_TASK}"
        backend.generate([prompt], GenerationParams(max_tokens=1, temperature=0.0))  # the prompt, read once
        started = time.perf_counter()
        done = backend.generate([prompt], GenerationParams(max_tokens=GENERATED, temperature=0.0))[0]
        generation_rates.append(done.usage.completion_tokens / (time.perf_counter() - started))
        completions.append(done.texts[0])
    return {
        "llm": settings.llm,
        "cpu_build": _cpu_build(backend),
        "prompt_rates": prompt_rates,
        "generation_rates": generation_rates,
        "completions": completions,
        "answers": _sample_answers(system, questions) if questions else [],
    }


def _cpu_build(backend: Any) -> dict[str, Any]:
    variant = getattr(backend, "cpu_variant", None)
    info = backend.system_info() if hasattr(backend, "system_info") else ""
    return {
        "variant": variant.name if variant else None,
        "reason": variant.reason if variant else None,
        "features": [part.split("=")[0].strip() for part in info.split("|") if part.strip().endswith("= 1")],
    }


def _filler_text() -> str:
    lines = (SAMPLE_DIR / "hotpotqa_sample.jsonl").read_text(encoding="utf-8").splitlines()
    return " ".join(json.loads(line)["text"] for line in lines[:60])


def _prompt_of(backend: Any, opening: str, filler: str, tokens: int) -> str:
    """`opening`, then the filler cut to about `tokens` tokens in all."""
    words = filler.split()
    low, high = 1, len(words)
    while low < high:  # the most words that stay within `tokens`
        middle = (low + high + 1) // 2
        if backend.count_tokens(f"{opening} {' '.join(words[:middle])}") <= tokens:
            low = middle
        else:
            high = middle - 1
    return f"{opening} {' '.join(words[:low])}"


def _sample_answers(system: Any, questions: int) -> list[str]:
    """The `rag` answers (one reader call each) to the first sample questions over the sample index."""
    from retrieval.builder import BuildOptions, build_index
    from retrieval.embedders import SentenceTransformerEmbedder

    lines = (SAMPLE_DIR / "hotpotqa_sample_questions.jsonl").read_text(encoding="utf-8").splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "sample"
        build_index([SAMPLE_DIR / "hotpotqa_sample.jsonl"], index, SentenceTransformerEmbedder(), BuildOptions())
        return [
            system.ask(json.loads(line)["question"], index, method="rag", budget="fast").answer
            for line in lines[:questions]
        ]


def render(figures: dict[str, Any]) -> str:
    rows = [
        "| build | CPU code | prompt tok/s @100 / 500 / 1000 | generation tok/s |",
        "|---|---|---|---|",
    ]
    for label, result in figures["configs"].items():
        if "error" in result:
            rows.append(f"| {label} | failed: {result['error'].splitlines()[-1] if result['error'] else '?'} | | |")
            continue
        build = result["cpu_build"]
        prompt = " / ".join(f"{result['prompt_tps'][size]:.1f}" for size in SIZES)
        features = ", ".join(f for f in build["features"] if f.startswith(("AVX", "AMX", "FMA", "F16C")))
        rows.append(f"| {label} | {build['variant']}: {features} | {prompt} | {result['generation_tps']:.1f} |")
    ratio = figures.get("auto_vs_baseline")
    if ratio:
        prompt = " / ".join(f"x{ratio['prompt_tps'][size]:.2f}" for size in SIZES)
        rows.append(
            f"\nauto against {figures['baseline']}: prompt {prompt}, generation x{ratio['generation_tps']:.2f}; "
            f"greedy completions {'identical' if ratio['same_completions'] else 'differ'}; "
            f"{ratio['answers_differing']} of {figures['questions']} sample answers differ"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="measure this process's reader (run by `sleuth bench llm`)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--llm", default=None)
    parser.add_argument("--questions", type=int, default=QUESTIONS)
    args = parser.parse_args(argv)
    figures = measure(args.llm, args.questions)
    args.out.write_text(json.dumps(figures), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
