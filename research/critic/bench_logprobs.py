"""What does asking llama.cpp for the answer's token log-probabilities cost? Time per reasoning call, with
and without, alternating, in one run (the machine is shared: compare the ratio, not the seconds).

    PYTHONPATH=. python research/critic/bench_logprobs.py [--calls 6] [--passages 8]

The prompt is a reasoning step as the loop sends it (a question, passages, the plan; JSON-constrained
output, 128 tokens at most), with a different question each call so the KV cache reuses only the shared
instructions, as chains taking turns do.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from reasoning.llm.llama_cpp_backend import ChosenTokenLogprobs, LlamaCppBackend
from reasoning.llm.model_files import MODELS, default_model_cache, ensure_model_file
from reasoning.llm.protocol import GenerationParams
from reasoning.prompts import REASON, EvidenceLine, reason_prompt
from reasoning.structured import string_value_span

PASSAGE = (
    "{name} is a river in the north of the country, {n} kilometres long. It rises in the hills near the town "
    "of {name}ville and flows into the sea at the port of {name}mouth, which was founded in the year 1{n}."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6, help="calls of each kind")
    parser.add_argument("--passages", type=int, default=8)
    args = parser.parse_args()
    out = sys.stdout  # the report is the script's output
    backend = LlamaCppBackend(ensure_model_file(MODELS["qwen2.5-coder-1.5b"], default_model_cache()))
    params = GenerationParams(max_tokens=REASON.max_tokens, json_schema=REASON.schema)
    names = ["Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Gum", "Hazel", "Ivy", "Juniper", "Kauri", "Larch"]
    seconds: dict[bool, list[float]] = {False: [], True: []}
    tokens: dict[bool, int] = {False: 0, True: 0}
    for call in range(2 * args.calls + 1):
        name = names[call % len(names)]
        lines = [
            EvidenceLine(
                i + 1,
                f"{names[(call + i) % len(names)]} River",
                PASSAGE.format(name=names[(call + i) % len(names)], n=100 + i),
            )
            for i in range(args.passages)
        ]
        prompt = reason_prompt(
            f"In which year was the port at the mouth of the {name} River founded?",
            lines,
            [f"Where does the {name} River reach the sea?", "When was #1 founded?"],
            last_round=True,
        )
        with_logprobs = call % 2 == 1
        (completion,) = backend.generate([prompt], params.with_(logprobs=with_logprobs))
        if call == 0:
            continue  # the first call loads the shared instructions into the cache
        seconds[with_logprobs].append(completion.latency_s)
        tokens[with_logprobs] += completion.usage.completion_tokens
        if with_logprobs:
            span = string_value_span(completion.text, "answer")
            out.write(
                f"answer span {completion.text[slice(*span)] if span else None!r}, "
                f"{len(completion.logprobs[0])} tokens with log-probabilities\n"
            )
    for kind in (False, True):
        out.write(
            f"logprobs={kind}: {statistics.median(seconds[kind]):.2f} s a call (median of {len(seconds[kind])}), "
            f"{tokens[kind] / len(seconds[kind]):.0f} output tokens a call, "
            f"{1000 * sum(seconds[kind]) / tokens[kind]:.0f} ms an output token (prompt included)\n"
        )
    ratio = (sum(seconds[True]) / tokens[True]) / (sum(seconds[False]) / tokens[False])
    out.write(f"with / without, per output token: {ratio:.3f}\n")
    out.write(f"the recorder alone: {1000 * recorder_seconds(backend.vocabulary_size):.2f} ms a step\n")


def recorder_seconds(vocabulary: int, steps: int = 300) -> float:
    """Seconds per step the logits processor adds, on logits of the model's vocabulary (a quieter figure than
    the call times on a shared machine)."""
    recorder = ChosenTokenLogprobs()
    logits = np.random.default_rng(0).normal(scale=5.0, size=vocabulary).astype(np.float32)
    ids = np.arange(64)
    start = time.perf_counter()
    for _ in range(steps):
        recorder(ids, logits)
    return (time.perf_counter() - start) / steps


if __name__ == "__main__":
    main()
