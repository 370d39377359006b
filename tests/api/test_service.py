"""The embedded service end to end, over HTTP on a loopback port: ask, jobs, events, search, indexes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from reasoning.budget import DEFAULT_BUDGET
from reasoning.settings import SystemSettings
from tests.workers.harness import auth, fake_runtime, settings, wait_job

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
    assert body["result"]["budget"] == DEFAULT_BUDGET  # the command line's default too
    assert body["result"]["trace"]["events"]
    metrics = client.get("/metrics").text
    assert 'sleuth_llm_tokens_total{kind="prompt"}' in metrics
    assert "sleuth_questions_answered_total 1.0" in metrics


def test_ask_on_a_longer_budget_is_a_job_with_events(client: httpx.Client) -> None:
    question = {"question": "Where was Alice Smith born?", "index": "a-docs", "budget": "thorough"}
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
    balanced["wait"] = False
    accepted = client.post("/v1/ask", json=balanced, headers=auth("tenant-a"))
    assert accepted.status_code == 202, accepted.text
    done = wait_job(client, accepted.json()["job_id"], "tenant-a")
    assert done["result"]["budget"] == "balanced"
    start = next(e for e in done["result"]["trace"]["events"] if e["stage"] == "start")
    assert start["budget"]["max_rounds"] == 1 and start["budget"]["chains"] == 2  # overrides on the allocation
    note = (
        "budget_tokens: 30,000 tokens per question: balanced (no allocation model: the largest preset whose cap fits)"
    )
    assert done["result"]["notes"] == [note]  # said, not a silent fallback
    notes = [e["message"] for e in done["result"]["trace"]["events"] if e["stage"] == "note"]
    assert notes == [note]
    tiny = client.post("/v1/ask", json={**question, "budget_tokens": 10}, headers=auth("tenant-a"))
    assert tiny.status_code == 400 and "within 10 tokens" in tiny.json()["error"]["message"]


def test_ask_chooses_the_critic(client: httpx.Client) -> None:
    question = {
        "question": "Where was Alice Smith born?",
        "index": "a-docs",
        "budget": "balanced",
        "trace": True,
        "wait": False,
    }
    critic = {"critic": "trained", "stop_run": True, "trust_critic": False}
    accepted = client.post("/v1/ask", json={**question, "overrides": critic}, headers=auth("tenant-a"))
    assert accepted.status_code == 202, accepted.text
    done = wait_job(client, accepted.json()["job_id"], "tenant-a")
    assert done["state"] == "succeeded", done
    start = next(e for e in done["result"]["trace"]["events"] if e["stage"] == "start")
    assert {k: start["budget"][k] for k in critic} == critic
    judged = [e for e in done["result"]["trace"]["events"] if e["stage"] == "critic"]
    assert judged and all(e.get("critic") == "trained" for e in judged), judged

    assert start["stop"]["critic"]["name"] == "trained" and start["stop"]["stop_run"] is True
    bad = client.post("/v1/ask", json={**question, "overrides": {"critic": "oracle"}}, headers=auth("tenant-a"))
    assert bad.status_code == 422


def test_a_trained_critic_the_service_lacks_is_a_400_naming_it(service_root: Path, tmp_path: Path) -> None:
    absent = tmp_path / "no-critic"
    app = create_app(settings(service_root, system=SystemSettings(critic_dir=absent)), runtime_factory=fake_runtime)
    question = {"question": "Where was Alice Smith born?", "index": "a-docs"}
    with TestClient(app) as http:
        for request in ({"budget": "fast"}, {"budget": "balanced", "overrides": {"critic": "trained"}}):
            refused = http.post("/v1/ask", json={**question, **request}, headers=auth("tenant-a"))
            assert refused.status_code == 400, refused.text
            error = refused.json()["error"]
            assert error["code"] == "critic_unavailable" and str(absent) in error["message"]
            assert '"critic": "feature"' in error["message"]  # the way out
        feature = {**question, "budget": "fast", "overrides": {"critic": "feature"}}
        answered = http.post("/v1/ask", json=feature, headers=auth("tenant-a"))
        assert answered.status_code == 200, answered.text


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


def test_responses_show_paths_relative_to_the_data_root(client: httpx.Client, service_root: Path) -> None:
    a = auth("tenant-a")
    (service_root / "data" / "bad").mkdir()
    (service_root / "data" / "bad" / "dump.jsonl").write_text('{"id": "a", "text": "fine"}\n{"id": oops}\n')
    failed = client.post("/v1/indexes", json={"name": "a-bad", "source": {"path": "bad/dump.jsonl"}}, headers=a)
    job = wait_job(client, failed.json()["job_id"], "tenant-a")
    assert job["state"] == "failed" and job["error"]["code"] == "invalid_input"
    assert job["error"]["message"].startswith("bad/dump.jsonl:2: malformed JSON"), job["error"]
    assert str(service_root) not in json.dumps(job)

    (service_root / "data" / "notes").mkdir()
    (service_root / "data" / "notes" / "a.md").write_text("# Carol White\nCarol White visited Lisbon.")
    (service_root / "data" / "notes" / "empty.txt").write_text("")
    options = {"kg": False, "skip_invalid": True}
    built = client.post(
        "/v1/indexes", json={"name": "a-notes", "source": {"path": "notes"}, "options": options}, headers=a
    )
    assert wait_job(client, built.json()["job_id"], "tenant-a")["state"] == "succeeded"
    manifest = client.get("/v1/indexes/a-notes", headers=a).json()["manifest"]
    assert str(service_root) not in json.dumps(manifest)
    source = manifest["sources"][0]
    assert source["path"] == "notes" and source["skipped_examples"][0]["file"] == "notes/empty.txt"


def test_graph_search_on_an_index_without_a_graph_says_so(client: httpx.Client) -> None:
    a = auth("tenant-a")
    built = client.post(
        "/v1/indexes", json={"name": "a-plain", "source": {"path": "docs.jsonl"}, "options": {"kg": False}}, headers=a
    )
    assert wait_job(client, built.json()["job_id"], "tenant-a")["state"] == "succeeded"
    for mode in ("graph", "hybrid+graph"):
        refused = client.post("/v1/search", json={"query": "Acme", "index": "a-plain", "mode": mode}, headers=a)
        assert refused.status_code == 400, refused.text
        message = refused.json()["error"]["message"]
        assert "index 'a-plain' has no knowledge graph" in message and "unknown search mode" not in message
        assert "/" not in message.split("hybrid+graph")[-1]  # no server path
    found = client.post("/v1/search", json={"query": "Acme", "index": "a-plain", "mode": "bm25"}, headers=a)
    assert found.status_code == 200


@pytest.mark.parametrize(
    ("path", "request_body"),
    [
        ("/v1/search", {"query": "Acme", "index": "a-docs", "k": "5"}),
        ("/v1/search", {"query": "Acme", "index": "a-docs", "k": True}),
        ("/v1/search", {"query": "Acme", "index": "a-docs", "k": 5.0}),
        ("/v1/ask", {"question": "Who?", "index": "a-docs", "budget_tokens": "3000"}),
        ("/v1/ask", {"question": "Who?", "index": "a-docs", "wait": "false"}),
        ("/v1/ask", {"question": "Who?", "index": "a-docs", "overrides": {"chains": True}}),
        ("/v1/indexes", {"name": "a-x", "source": {"path": "docs.jsonl"}, "overwrite": 1}),
        ("/v1/indexes", {"name": "a-x", "source": {"path": "docs.jsonl"}, "options": {"kg": "false"}}),
        ("/v1/indexes", {"name": "a-x", "source": {"path": "docs.jsonl"}, "options": {"overlap_tokens": "8"}}),
    ],
)
def test_request_fields_have_strict_types(client: httpx.Client, path: str, request_body: dict[str, object]) -> None:
    refused = client.post(path, json=request_body, headers=auth("tenant-a"))
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_request"


def test_search_k_as_a_number_is_accepted(client: httpx.Client) -> None:
    found = client.post("/v1/search", json={"query": "Acme", "index": "a-docs", "k": 2}, headers=auth("tenant-a"))
    assert found.status_code == 200 and len(found.json()["hits"]) == 2


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/jobs/abc", {"GET", "DELETE"}),
        ("POST", "/v1/jobs/abc", {"GET", "DELETE"}),
        ("PATCH", "/v1/indexes/a-docs", {"GET", "DELETE"}),
        ("DELETE", "/v1/indexes", {"GET", "POST"}),
        ("GET", "/v1/uploads", {"POST"}),
    ],
)
def test_405_allow_lists_every_method_of_the_path(
    client: httpx.Client, method: str, path: str, allowed: set[str]
) -> None:
    response = client.request(method, path, headers=auth("tenant-a"))
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert allowed <= {m.strip() for m in response.headers["allow"].split(",")}, response.headers["allow"]
