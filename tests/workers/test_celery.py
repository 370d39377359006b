"""The service with Celery: a real Redis, a real worker process, the API on a loopback port."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.cli import main
from retrieval.bundle import IndexBundle
from tests.conftest import DOCS, write_jsonl
from tests.workers.harness import (
    LiveServer,
    auth,
    build_test_index,
    fake_models,
    fake_runtime,
    running_worker,
    service_client,
    settings,
    wait_job,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("celery")
    build_test_index(root / "indexes", "a-docs")
    (root / "data").mkdir()
    write_jsonl(root / "data" / "docs.jsonl", DOCS)
    return root


@pytest.fixture(scope="module")
def worker(root: Path, redis_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with running_worker(root, redis_url, "w1") as process:
        yield process


@pytest.fixture
def client(root: Path, redis_url: str, worker: subprocess.Popen[bytes]) -> Iterator[httpx.Client]:
    with service_client(root, redis_url, shard_size=2) as http:
        yield http


def test_ready_when_a_worker_has_its_models(client: httpx.Client) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["details"]["mode"] == "celery" and ready.json()["details"]["workers"] >= 1


def test_ask_runs_on_the_worker(client: httpx.Client, worker: subprocess.Popen[bytes]) -> None:
    response = client.post(
        "/v1/ask", json={"question": "Who founded Acme Corp?", "index": "a-docs"}, headers=auth("tenant-a")
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["answer"] == "Paris"
    job = client.get(f"/v1/jobs/{response.json()['job_id']}", headers=auth("tenant-a")).json()
    assert job["state"] == "succeeded" and job["attempts"] == 1
    with client.stream("GET", f"/v1/jobs/{job['job_id']}/events", headers=auth("tenant-a")) as stream:
        lines = [line for line in stream.iter_lines() if line.startswith("event: ")]
    assert "event: trace" in lines and lines[-1] == "event: end"


TIMINGS = ("at_s", "seconds", "latency_s", "seconds_by_stage")


def without_timings(value: Any) -> Any:
    """A trace as JSON without its clock readings (times, latencies), which differ from run to run."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


@pytest.mark.parametrize("budget", [None, "fast"], ids=["default-budget", "fast-trained-critic"])
def test_the_cli_and_a_celery_worker_answer_alike(
    client: httpx.Client,
    root: Path,
    budget: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same question through `sleuth ask` (its settings, `build_system`, its defaults) and through the
    API and a Celery worker, on the same scripted LLM and embedder: the same trace, event for event."""
    import reasoning.system

    question = "Where was the founder of Acme Corp born?"
    build_system = reasoning.system.build_system
    monkeypatch.setattr(reasoning.system, "build_system", lambda settings: build_system(settings, **fake_models()))
    chosen = ["--budget", budget] if budget else []
    assert main(["ask", question, "--index", str(root / "indexes" / "a-docs"), "--json", *chosen]) == 0
    cli = json.loads(capsys.readouterr().out)

    request: dict[str, Any] = {"question": question, "index": "a-docs", "trace": True, "wait": False}
    accepted = client.post("/v1/ask", json=request | ({"budget": budget} if budget else {}), headers=auth("tenant-a"))
    assert accepted.status_code == 202, accepted.text
    job = wait_job(client, accepted.json()["job_id"], "tenant-a")
    assert job["state"] == "succeeded", job
    served = job["result"]

    assert served["budget"] == cli["budget"] == (budget or "balanced")
    start = next(e for e in cli["trace"]["events"] if e["stage"] == "start")
    assert start["stop"]["critic"]["name"] == ("trained" if budget == "fast" else "prompted")
    assert without_timings(served["trace"]) == without_timings(cli["trace"])
    assert served["answer"] == cli["answer"] and served["cost"]["llm_calls"] == cli["cost"]["llm_calls"]


def test_sharded_build_merges_to_the_single_process_build(client: httpx.Client, root: Path) -> None:
    response = client.post(
        "/v1/indexes", json={"name": "a-sharded", "source": {"path": "docs.jsonl"}}, headers=auth("tenant-a")
    )
    assert response.status_code == 202, response.text
    job = wait_job(client, response.json()["job_id"], "tenant-a", timeout=120)
    assert job["state"] == "succeeded", job
    sharded = IndexBundle.open(root / "indexes" / "a-sharded").manifest.data
    single = IndexBundle.open(root / "indexes" / "a-docs").manifest.data
    assert sharded["build"]["sharded"]["shards"] == 3
    assert sharded["counts"] == single["counts"]
    assert sharded["graph"]["counts"] == single["graph"]["counts"]
    assert not list((root / "indexes").glob(".a-sharded.shards-*"))
    for mode in ("hybrid", "hybrid+graph"):
        query = {"query": "Acme Corp Berlin", "index": "a-sharded", "mode": mode, "k": 5}
        expected = client.post("/v1/search", json={**query, "index": "a-docs"}, headers=auth("tenant-a")).json()
        got = client.post("/v1/search", json=query, headers=auth("tenant-a")).json()
        assert [h["id"] for h in got["hits"]] == [h["id"] for h in expected["hits"]]


def test_add_documents_on_the_worker_is_seen_by_the_api(client: httpx.Client) -> None:
    docs = [{"id": "carol", "title": "Carol White", "text": "Carol White moved to Lisbon."}]
    response = client.post("/v1/indexes/a-docs/documents", json={"documents": docs}, headers=auth("tenant-a"))
    job = wait_job(client, response.json()["job_id"], "tenant-a")
    assert job["state"] == "succeeded", job
    hits = client.post(
        "/v1/search", json={"query": "Carol White Lisbon", "index": "a-docs", "mode": "bm25"}, headers=auth("tenant-a")
    ).json()["hits"]
    assert hits[0]["doc_id"] == "carol"


def test_an_api_restart_loses_no_job(root: Path, redis_url: str, worker: subprocess.Popen[bytes]) -> None:
    config = settings(root, broker_url=redis_url)
    question = {"question": "Where was Alice Smith born?", "index": "a-docs", "budget": "balanced"}
    with LiveServer(create_app(config, runtime_factory=fake_runtime)) as first, httpx.Client(base_url=first.url) as c:
        job_id = c.post("/v1/ask", json=question, headers=auth("tenant-a")).json()["job_id"]
    with LiveServer(create_app(config, runtime_factory=fake_runtime)) as second, httpx.Client(base_url=second.url) as c:
        job = wait_job(c, job_id, "tenant-a")
        assert job["state"] == "succeeded" and job["result"]["answer"] == "Paris"
        metrics = c.get("/metrics").text
        assert 'sleuth_jobs{state="succeeded"}' in metrics
    assert json.loads(json.dumps(job))["kind"] == "ask"
