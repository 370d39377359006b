"""Does a round of K chains cost about one chain's wall time where the backend batches?

Sleuth sends each round's LLM calls of all active chains to the backend as one batch. On a batching
backend (vLLM, or any OpenAI-compatible server that runs concurrent requests together) a batch of K
prompts takes about as long as one, so K chains should cost little more than one. This benchmark runs
`sleuth` with 1 and with K chains, the same questions and rounds, through the OpenAI-compatible client
against a loopback server that behaves like a batching engine: every request takes the same fixed time
however many run at once, and replies with a fixed well-formed JSON (the chains always ask for more, so
every run does all its rounds). The ratio of wall times is the loop's own overhead of K chains:
retrieval, reranking and critic work that grows with K, plus how well the calls overlap.

Where no batching server is at hand (this CPU machine), `--real-cpu` adds the same comparison on the
in-process llama.cpp model, which runs a batch's prompts one after another: its ratio shows what K chains
cost without batching.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from evaluation.benchmarks.common import BenchContext
from evaluation.datasets import load_questions
from kg.graph_stage import graph_stage
from retrieval.builder import BuildOptions, build_index
from retrieval.bundle import MANIFEST
from retrieval.embedders import SentenceTransformerEmbedder

SAMPLE = Path(__file__).resolve().parents[2] / "retrieval" / "samples"
REQUEST_SECONDS = 0.5  # what one batched step of a GPU engine takes, about
REPLIES = {
    "Task plan: split": {"sub_questions": ["first part of the question", "second part, about #1"]},
    "Task answer: facts": {"facts": "The evidence names it [1].", "answer": "unknown", "next_query": "more"},
    "Task check:": {"sufficient": False, "confidence": 0.2, "missing": "more"},
    "Task verify:": {"supported": True, "answer": "unknown"},
    "Task judge:": {"scores": [3, 2, 1, 0, 0, 0]},
}


class _BatchingEngine(BaseHTTPRequestHandler):
    """A chat-completions endpoint whose every request takes REQUEST_SECONDS, concurrent ones alike."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        text = json.dumps(body.get("messages", ""))
        content = next((r for marker, r in REPLIES.items() if marker in text), {"answer": "unknown"})
        time.sleep(REQUEST_SECONDS)
        reply = {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(content)},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(text) // 4, "completion_tokens": 30},
        }  # fmt: skip
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def batching_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BatchingEngine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def sample_index(ctx: BenchContext) -> Path:
    out = ctx.work_dir / "indexes" / "sample"
    if not (out / MANIFEST).exists():
        embedder = SentenceTransformerEmbedder()
        build_index(
            [SAMPLE / "hotpotqa_sample.jsonl"], out, embedder, BuildOptions(), overwrite=True,
            progress=ctx.progress, extra_stages=[graph_stage(embedder)],
        )  # fmt: skip
    return out


def _timed_runs(llm: str, index: Path, questions: list[str], chains: list[int], rounds: int) -> dict[str, Any]:
    from reasoning.settings import SystemSettings
    from reasoning.system import build_system

    system = build_system(SystemSettings.from_env(llm=llm))
    system.ask(questions[0], index, budget="fast", overrides={"max_rounds": 1})  # load models, warm caches
    rows: dict[str, Any] = {}
    for k in chains:
        seconds, calls = [], []
        for question in questions:
            overrides = {"chains": k, "max_rounds": rounds, "max_llm_calls": 64, "max_tokens": 200_000}
            result = system.ask(question, index, budget="balanced", overrides={**overrides, "verify": False})
            seconds.append(result.cost.seconds)
            calls.append(result.cost.llm_calls)
        rows[str(k)] = {"seconds_per_question": round(sum(seconds) / len(seconds), 3), "llm_calls": sum(calls)}
    base = rows[str(chains[0])]["seconds_per_question"]
    for row in rows.values():
        row["ratio_to_one_chain"] = round(row["seconds_per_question"] / base, 3)
    return rows


def run(ctx: BenchContext, k: int = 3, rounds: int = 3, questions: int = 5, real_cpu: bool = False) -> dict[str, Any]:
    index = sample_index(ctx)
    asked = [q.question for q in load_questions(SAMPLE / "hotpotqa_sample_questions.jsonl", limit=questions)]
    with batching_server() as url:
        engine = _timed_runs(f"openai:{url}#engine", index, asked, [1, k], rounds)
    figures: dict[str, Any] = {
        "benchmark": "chains",
        "questions": len(asked),
        "rounds": rounds,
        "request_seconds": REQUEST_SECONDS,
        "batching_openai_server": engine,
    }
    if real_cpu:
        figures["llama_cpp_cpu"] = _timed_runs("llama-cpp:qwen2.5-coder-1.5b", index, asked[:2], [1, k], 2)
    return figures


def render(figures: dict[str, Any]) -> str:
    lines = [
        f"K chains against one, {figures['questions']} sample questions, {figures['rounds']} rounds, "
        f"balanced budget without verification"
    ]
    for backend in ("batching_openai_server", "llama_cpp_cpu"):
        for k, row in figures.get(backend, {}).items():
            lines.append(
                f"  {backend:<23} chains={k}: {row['seconds_per_question']:>7.2f} s/question, "
                f"{row['llm_calls']:>3} LLM calls, x{row['ratio_to_one_chain']:.2f} of one chain"
            )
    return "\n".join(lines)
