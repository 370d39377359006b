"""Test harness of the service: a runtime with fakes, indexes, a live uvicorn server, Redis and workers.

Fakes (HashingEmbedder, GazetteerExtractor, ScriptedLLM) are for control-flow tests only; the runtime a
user runs builds the real ones.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from api.app import create_app
from api.security import hash_key
from api.settings import ApiKeyConfig, Limits, Settings
from kg.graph_stage import GraphBuildConfig, KnowledgeGraphStage
from reasoning.llm.scripted import ScriptedLLM
from retrieval.builder import build_index
from tests.conftest import DOCS, NAMES, REPO, write_jsonl
from tests.fakes import GazetteerExtractor, HashingEmbedder
from workers.config import WorkerConfig
from workers.redis_store import RedisJobStore
from workers.runtime import WorkerRuntime

EMBEDDER = "fake-hashing"
NAMES_PLUS = {**NAMES, "Carol White": "PERSON", "Lisbon": "GPE"}
KEYS = {
    "tenant-a": "sk-test-tenant-a",
    "tenant-b": "sk-test-tenant-b",
    "reader-a": "sk-test-reader-a",
}
SCOPES: dict[str, tuple[dict[str, str], bool]] = {
    "tenant-a": ({"a-*": "write"}, True),
    "tenant-b": ({"b-*": "write"}, True),
    "reader-a": ({"a-*": "read"}, False),
}


def slow_reply(text: str) -> str:
    """The LLM's reply; questions that say "slowly" take a second per call (to cancel or kill them)."""
    if "slowly" in text:
        time.sleep(1.0)
    return '{"answer": "Paris", "reason": "scripted"}'


class PerTextDelayEmbedder(HashingEmbedder):
    """The hashing embedder, slowed by `per_text` seconds a text, with a batch size as a real embedder has."""

    def __init__(self, name: str, per_text: float, batch_size: int = 8) -> None:
        super().__init__(name=name)
        self.per_text = per_text
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(self.per_text * len(texts))
        return super().embed(texts)


class SlowWarmUpRuntime(WorkerRuntime):
    """A runtime whose models take `SLEUTH_TEST_WARM_UP_S` seconds to load (longer than Celery's 4 s)."""

    def warm_up(self, *, llm: bool = True) -> None:
        time.sleep(float(os.environ.get("SLEUTH_TEST_WARM_UP_S", "0") or 0))
        super().warm_up(llm=llm)


def _test_embedder(name: str) -> HashingEmbedder:
    per_text = float(os.environ.get("SLEUTH_TEST_EMBED_DELAY_PER_TEXT", "0") or 0)
    if per_text:
        return PerTextDelayEmbedder(name, per_text)
    return HashingEmbedder(name=name, delay=float(os.environ.get("SLEUTH_TEST_EMBED_DELAY", "0") or 0))


def fake_models() -> dict[str, Any]:
    """The fakes the test runtime builds its system with: `build_system`'s backend and embedder factory.

    SLEUTH_TEST_EMBED_DELAY slows each embed call, SLEUTH_TEST_EMBED_DELAY_PER_TEXT each text (in batches of 8)."""
    return {"backend": ScriptedLLM(default=slow_reply), "embedder_factory": _test_embedder}


def fake_runtime(config: WorkerConfig) -> WorkerRuntime:
    """The runtime with the fakes; its warm-up takes SLEUTH_TEST_WARM_UP_S seconds when that is set."""
    kind = SlowWarmUpRuntime if os.environ.get("SLEUTH_TEST_WARM_UP_S") else WorkerRuntime
    return kind(config, **fake_models(), extractor_factory=lambda: GazetteerExtractor(NAMES_PLUS))


def api_keys() -> tuple[ApiKeyConfig, ...]:
    return tuple(
        ApiKeyConfig(id=key_id, sha256=hash_key(KEYS[key_id]), indexes=SCOPES[key_id][0], admin=SCOPES[key_id][1])
        for key_id in KEYS
    )


def worker_config(root: Path, broker_url: str | None = None, **changes: Any) -> WorkerConfig:
    return WorkerConfig(
        index_root=root / "indexes",
        data_root=root / "data",
        broker_url=broker_url,
        embedder=EMBEDDER,
        **changes,
    )


def settings(root: Path, broker_url: str | None = None, limits: Limits | None = None, **changes: Any) -> Settings:
    return Settings(
        auth="keys",
        api_keys=api_keys(),
        worker=worker_config(root, broker_url, **changes),
        limits=limits or Limits(ask_wait_s=20),
    )


def build_test_index(index_root: Path, name: str, docs: list[dict[str, object]] | None = None) -> Path:
    """An index with a knowledge graph, built with the fakes as the CLI builds it."""
    index_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        dump = write_jsonl(Path(tmp) / "docs.jsonl", docs or DOCS)
        stage = KnowledgeGraphStage(GazetteerExtractor(NAMES_PLUS), GraphBuildConfig())
        build_index([dump], index_root / name, HashingEmbedder(), extra_stages=[stage])
    return index_root / name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A uvicorn server on a loopback port, in a thread of the test process."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def auth(key_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[key_id]}"}


def wait_job(client: Any, job_id: str, key_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", headers=auth(key_id)).json()
        if body.get("state") in ("succeeded", "failed", "cancelled"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not finish: {body}")
        time.sleep(0.05)


REDIS_SERVER = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A private redis-server on a free loopback port, in a temporary directory, persisting nothing."""
    assert REDIS_SERVER is not None
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen(command, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_port(port, process)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("redis-server exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def start_worker(
    root: Path,
    broker_url: str,
    queues: str = "gpu,cpu",
    name: str = "w1",
    env: dict[str, str] | None = None,
    pool: str = "solo",
) -> subprocess.Popen[bytes]:
    """A real Celery worker process (solo pool, or a prefork pool of one child) with the fake runtime."""
    environment = {
        **os.environ,
        "SLEUTH_BROKER_URL": broker_url,
        "SLEUTH_INDEX_ROOT": str(root / "indexes"),
        "SLEUTH_DATA_ROOT": str(root / "data"),
        "SLEUTH_EMBEDDER": EMBEDDER,
        "SLEUTH_SHARD_SIZE": "2",
        **(env or {}),
    }
    command = [sys.executable, "-m", "tests.workers.fake_worker", "--queues", queues, "--hostname", f"{name}@test"]
    command += ["--pool", pool]
    log = open(root / f"worker-{name}.log", "ab")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)


def wait_for_worker(store: Any, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(info.get("models_loaded") and info.get("node") == name for info in store.workers().values()):
            return
        time.sleep(0.1)
    raise AssertionError(f"worker {name} did not report ready")


@contextlib.contextmanager
def running_worker(root: Path, broker_url: str, name: str, env: dict[str, str] | None = None) -> Iterator[Any]:
    """A worker (`start_worker`) that has reported ready, stopped when the block ends."""
    process = start_worker(root, broker_url, name=name, env=env)
    try:
        wait_for_worker(RedisJobStore(broker_url), f"{name}@test")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextlib.contextmanager
def service_client(root: Path, broker_url: str, **changes: Any) -> Iterator[httpx.Client]:
    """An HTTP client of a live service on the broker, with the fake runtime and `settings(...)` changes."""
    app = create_app(settings(root, broker_url=broker_url, **changes), runtime_factory=fake_runtime)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
