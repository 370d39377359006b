"""The embedded service end to end, over HTTP on a loopback port: ask, jobs, events, search, indexes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.workers.harness import auth, wait_job

pytestmark = pytest.mark.integration


def test_health_ready_and_metrics(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    deadline = time.monotonic() + 10
    while (ready := client.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.status_code == 200, ready.text
    assert ready.json()["details"]["mode"] == "embedded"
    client.post("/v1/search", json={"query": "Acme", "index": "a-docs"}, headers=auth("tenant-a"))
    metrics = client.get("/metrics").text
    assert 'sleuth_http_requests_total{method="POST",route="/v1/search",status="200"}' in metrics
    assert "sleuth_jobs{state=" in metrics
    assert "sleuth_llm_tokens_total" in metrics


def test_ask_waits_on_a_short_budget(client: httpx.Client) -> None:
    response = client.post(
        "/v1/ask",
        json={"question": "Where was the founder of Acme Corp born?", "index": "a-docs", "trace": True},
        headers=auth("tenant-a"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "succeeded"
    assert body["result"]["answer"] == "Paris"
    assert body["result"]["budget"] == "fast"
    assert body["result"]["trace"]["events"]
    metrics = client.get("/metrics").text
    assert 'sleuth_llm_tokens_total{kind="prompt"}' in metrics
    assert "sleuth_questions_answered_total 1.0" in metrics


def test_ask_on_a_longer_budget_is_a_job_with_events(client: httpx.Client) -> None:
    question = {"question": "Where was Alice Smith born?", "index": "a-docs", "budget": "balanced"}
    response = client.post("/v1/ask", json=question, headers=auth("tenant-a"))
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert response.headers["location"] == f"/v1/jobs/{accepted['job_id']}"
    done = wait_job(client, accepted["job_id"], "tenant-a")
    assert done["state"] == "succeeded", done
    assert done["result"]["answer"] == "Paris"
    assert "trace" not in done["result"]
    events, end = _read_events(client, accepted["links"]["events"], "tenant-a")
    assert events and [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert {"retrieve", "llm"} <= {e["stage"] for e in events}
    assert end["state"] == "succeeded"


def test_ask_within_a_token_budget(client: httpx.Client) -> None:
    from reasoning.budget import PRESETS

    question = {"question": "Where was Alice Smith born?", "index": "a-docs", "trace": True}
    fast = {**question, "budget": "balanced", "budget_tokens": PRESETS["fast"].max_tokens}  # replaces budget
    response = client.post("/v1/ask", json=fast, headers=auth("tenant-a"))
    assert response.status_code == 200, response.text
    assert response.json()["result"]["budget"] == "fast"
    balanced = {**question, "budget_tokens": PRESETS["balanced"].max_tokens, "overrides": {"max_rounds": 1}}
    accepted = client.post("/v1/ask", json=balanced, headers=auth("tenant-a"))
    assert accepted.status_code == 202, accepted.text
    done = wait_job(client, accepted.json()["job_id"], "tenant-a")
    assert done["result"]["budget"] == "balanced"
    start = next(e for e in done["result"]["trace"]["events"] if e["stage"] == "start")
    assert start["budget"]["max_rounds"] == 1 and start["budget"]["chains"] == 2  # overrides on the allocation
    tiny = client.post("/v1/ask", json={**question, "budget_tokens": 10}, headers=auth("tenant-a"))
    assert tiny.status_code == 400 and "within 10 tokens" in tiny.json()["error"]["message"]


def test_ask_chooses_the_critic(client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    question = {"question": "Where was Alice Smith born?", "index": "a-docs", "budget": "balanced", "trace": True}
    critic = {"critic": "trained", "stop_run": True, "trust_critic": False}
    accepted = client.post("/v1/ask", json={**question, "overrides": critic}, headers=auth("tenant-a"))
    assert accepted.status_code == 202, accepted.text
    done = wait_job(client, accepted.json()["job_id"], "tenant-a")
    assert done["state"] == "succeeded", done
    start = next(e for e in done["result"]["trace"]["events"] if e["stage"] == "start")
    assert {k: start["budget"][k] for k in critic} == critic
    judged = [e for e in done["result"]["trace"]["events"] if e["stage"] == "critic"]
    assert judged and all(e.get("critic") == "trained" for e in judged), judged

    bad = client.post("/v1/ask", json={**question, "overrides": {"critic": "oracle"}}, headers=auth("tenant-a"))
    assert bad.status_code == 422
    from api.serving import ask

    monkeypatch.setattr(ask, "has_trained_critic", lambda: False)
    missing = client.post("/v1/ask", json={**question, "overrides": {"critic": "trained"}}, headers=auth("tenant-a"))
    assert missing.status_code == 400 and "no trained critic" in missing.json()["error"]["message"]


def test_events_stream_while_the_job_runs_and_resume_after_an_id(client: httpx.Client) -> None:
    question = {"question": "Tell me slowly where Bob Jones lived", "index": "a-docs", "wait": False}
    job = client.post("/v1/ask", json=question, headers=auth("tenant-a")).json()
    events, end = _read_events(client, job["links"]["events"], "tenant-a")
    assert end["state"] == "succeeded" and len(events) > 2
    resumed, _ = _read_events(client, job["links"]["events"], "tenant-a", last_event_id=events[1]["id"])
    assert [e["id"] for e in resumed] == [e["id"] for e in events[2:]]


def test_cancel_a_running_ask(client: httpx.Client) -> None:
    question = {"question": "Think slowly: who founded Acme Corp?", "index": "a-docs", "wait": False}
    job = client.post("/v1/ask", json=question, headers=auth("tenant-a")).json()
    time.sleep(0.3)
    cancelled = client.delete(f"/v1/jobs/{job['job_id']}", headers=auth("tenant-a"))
    assert cancelled.status_code == 200 and cancelled.json()["cancel_requested"]
    done = wait_job(client, job["job_id"], "tenant-a")
    assert done["state"] == "cancelled", done


def test_search_modes(client: httpx.Client) -> None:
    for mode in ("bm25", "dense", "hybrid", "graph", "hybrid+graph"):
        response = client.post(
            "/v1/search",
            json={"query": "Acme Corp Berlin", "index": "a-docs", "mode": mode, "k": 3},
            headers=auth("tenant-a"),
        )
        assert response.status_code == 200, (mode, response.text)
        hits = response.json()["hits"]
        assert 0 < len(hits) <= 3
        assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))


def test_build_upload_add_documents_and_delete(client: httpx.Client, service_root: Path) -> None:
    dump = "".join(
        json.dumps({"id": f"u{i}", "title": f"Upload {i}", "text": f"Carol White visited Lisbon in year {i}."}) + "\n"
        for i in range(3)
    )
    uploaded = client.post(
        "/v1/uploads", params={"filename": "more.jsonl"}, content=dump.encode(), headers=auth("tenant-a")
    )
    assert uploaded.status_code == 201, uploaded.text
    built = client.post(
        "/v1/indexes",
        json={"name": "a-new", "source": {"upload": uploaded.json()["upload_id"]}},
        headers=auth("tenant-a"),
    )
    assert built.status_code == 202, built.text
    assert wait_job(client, built.json()["job_id"], "tenant-a")["state"] == "succeeded"
    info = client.get("/v1/indexes/a-new", headers=auth("tenant-a")).json()
    assert (info["documents"], info["passages"], info["graph"]) == (3, 3, True)

    from_path = client.post(
        "/v1/indexes",
        json={"name": "a-path", "source": {"path": "docs.jsonl"}, "options": {"kg": False}},
        headers=auth("tenant-a"),
    )
    assert wait_job(client, from_path.json()["job_id"], "tenant-a")["state"] == "succeeded"
    assert client.get("/v1/indexes/a-path", headers=auth("tenant-a")).json()["graph"] is False

    docs = [{"id": "new1", "title": "Carol White", "text": "Carol White founded Acme Corp in Lisbon."}]
    added = client.post("/v1/indexes/a-docs/documents", json={"documents": docs}, headers=auth("tenant-a"))
    assert added.status_code == 202, added.text
    result = wait_job(client, added.json()["job_id"], "tenant-a")
    assert result["state"] == "succeeded", result
    assert result["result"]["documents_added"] == 1
    hits = client.post(
        "/v1/search", json={"query": "Carol White Lisbon", "index": "a-docs", "mode": "bm25"}, headers=auth("tenant-a")
    ).json()["hits"]
    assert hits[0]["doc_id"] == "new1"
    graph_hits = client.post(
        "/v1/search", json={"query": "Carol White", "index": "a-docs", "mode": "graph"}, headers=auth("tenant-a")
    ).json()["hits"]
    assert "new1" in [h["doc_id"] for h in graph_hits]

    names = [i["name"] for i in client.get("/v1/indexes", headers=auth("tenant-a")).json()["indexes"]]
    assert names == ["a-docs", "a-new", "a-path"]
    assert client.delete("/v1/indexes/a-new", headers=auth("tenant-a")).status_code == 204
    gone = client.get("/v1/indexes/a-new", headers=auth("tenant-a"))
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_errors_have_one_shape(client: httpx.Client) -> None:
    missing = client.get("/v1/jobs/nope", headers=auth("tenant-a"))
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"code", "message"}
    invalid = client.post("/v1/search", json={"query": "", "index": "a-docs"}, headers=auth("tenant-a"))
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "invalid_request"
    assert invalid.json()["error"]["details"]
    unknown_index = client.post("/v1/ask", json={"question": "q?", "index": "a-none"}, headers=auth("tenant-a"))
    assert unknown_index.status_code == 404
    exists = client.post(
        "/v1/indexes", json={"name": "a-docs", "source": {"path": "docs.jsonl"}}, headers=auth("tenant-a")
    )
    assert exists.status_code == 409 and exists.json()["error"]["code"] == "conflict"


def _read_events(
    client: httpx.Client, url: str, key_id: str, last_event_id: str | None = None
) -> tuple[list[dict[str, object]], dict[str, object]]:
    headers = auth(key_id) | ({"Last-Event-ID": last_event_id} if last_event_id else {})
    events: list[dict[str, object]] = []
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind, event_id = None, None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("id: "):
                event_id = line.removeprefix("id: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                if kind == "end":
                    return events, data
                events.append({**data, "id": event_id})
    raise AssertionError("the stream ended without an end event")
