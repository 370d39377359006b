"""Sharded builds on a real Celery worker: progress counts the shards as they finish, and a cancel stops the
running embed shard between two batches and removes the build's work directory.

The worker embeds at 0.05 s a text in batches of 8 (PerTextDelayEmbedder), 100 passages a shard: a whole
shard takes 5 s, a batch 0.4 s.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import write_jsonl
from tests.workers.harness import auth, running_worker, service_client, wait_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW_SHARDS = {"SLEUTH_TEST_EMBED_DELAY_PER_TEXT": "0.05", "SLEUTH_SHARD_SIZE": "100"}
CANCEL_BOUND_S = 2.0  # a batch (0.4 s here), the cancel poll (0.25 s), and the job store's round trips


def _docs(count: int) -> list[dict[str, object]]:
    return [{"id": f"d{i}", "title": f"Doc {i}", "text": f"Alice Smith wrote note {i} in Paris."} for i in range(count)]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sharded")
    (root / "indexes").mkdir()
    (root / "data").mkdir()
    write_jsonl(root / "data" / "three-shards.jsonl", _docs(250))
    write_jsonl(root / "data" / "one-shard.jsonl", _docs(100))
    return root


@pytest.fixture(scope="module")
def worker(root: Path, redis_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with running_worker(root, redis_url, "slow", env=SLOW_SHARDS) as process:
        yield process


@pytest.fixture
def client(root: Path, redis_url: str, worker: subprocess.Popen[bytes]) -> Iterator[httpx.Client]:
    with service_client(root, redis_url, shard_size=100) as http:
        yield http


def _build(client: httpx.Client, name: str, source: str) -> str:
    body = {"name": name, "source": {"path": source}}
    response = client.post("/v1/indexes", json=body, headers=auth("tenant-a"))
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def _job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", headers=auth("tenant-a")).json()
    return body


def _wait_for_shards(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(client, job_id)
        if job["progress"].get("stage") == "shards" or job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"build {job_id} never sent its shards: {_job(client, job_id)}")


def test_progress_counts_shards_as_they_finish(client: httpx.Client, root: Path) -> None:
    job_id = _build(client, "a-progress", "three-shards.jsonl")
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 120
    while (job := _job(client, job_id))["state"] in ("queued", "running") and time.monotonic() < deadline:
        if job["progress"].get("stage") == "shards":
            seen.append(job["progress"])
        time.sleep(0.1)
    assert job["state"] == "succeeded", job
    done = [int(p["done"]) for p in seen]
    assert done == sorted(done), done  # never backwards
    # it moved while the shards ran (6 itself may be seen too, between the last shard and the merge)
    assert any(0 < d < 6 for d in done) and len(set(done)) >= 3, done
    assert all(p["shards"] == 3 and p["tasks"] == 6 for p in seen)  # 3 embedding and 3 NER tasks


def test_cancel_stops_the_running_shard_and_removes_its_work_directory(client: httpx.Client, root: Path) -> None:
    job_id = _build(client, "a-cancelled", "one-shard.jsonl")
    assert _wait_for_shards(client, job_id)["state"] == "running"
    time.sleep(0.6)  # the embed shard (5 s) is under way
    asked = time.monotonic()
    response = client.delete(f"/v1/jobs/{job_id}", headers=auth("tenant-a"))
    assert response.status_code in (200, 202), response.text
    while (job := _job(client, job_id))["state"] == "running" and time.monotonic() - asked < 30:
        time.sleep(0.05)
    took = time.monotonic() - asked
    assert job["state"] == "cancelled", job
    assert took <= CANCEL_BOUND_S, f"the cancel took {took:.1f} s"
    assert not list((root / "indexes").glob(".a-cancelled.shards-*"))
    assert not (root / "indexes" / "a-cancelled").exists()
    following = wait_job(client, _build(client, "a-after-cancel", "one-shard.jsonl"), "tenant-a", timeout=60)
    assert following["state"] == "succeeded", following  # the worker goes on with the next build
