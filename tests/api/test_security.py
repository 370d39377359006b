"""Security over HTTP: keys, tenant isolation, scopes, path confinement and limits."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.settings import Limits
from tests.workers.harness import LiveServer, auth, fake_runtime, settings, wait_job

pytestmark = pytest.mark.integration


def test_a_key_is_required(client: httpx.Client) -> None:
    assert client.post("/v1/search", json={"query": "Acme", "index": "a-docs"}).status_code == 401
    wrong = client.post("/v1/search", json={"query": "Acme", "index": "a-docs"}, headers={"X-API-Key": "sk-nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
    by_header = client.post(
        "/v1/search", json={"query": "Acme", "index": "a-docs"}, headers={"X-API-Key": "sk-test-tenant-a"}
    )
    assert by_header.status_code == 200


def test_tenant_isolation(client: httpx.Client) -> None:
    a = auth("tenant-a")
    assert [i["name"] for i in client.get("/v1/indexes", headers=a).json()["indexes"]] == ["a-docs"]
    assert client.get("/v1/indexes/b-docs", headers=a).status_code == 404
    assert client.post("/v1/search", json={"query": "Acme", "index": "b-docs"}, headers=a).status_code == 404
    assert client.post("/v1/ask", json={"question": "Who?", "index": "b-docs"}, headers=a).status_code == 404
    docs = {"documents": [{"id": "x", "text": "intruder"}]}
    assert client.post("/v1/indexes/b-docs/documents", json=docs, headers=a).status_code == 404
    assert client.delete("/v1/indexes/b-docs", headers=a).status_code == 404
    build = client.post("/v1/indexes", json={"name": "b-evil", "source": {"path": "docs.jsonl"}}, headers=a)
    assert build.status_code == 403
    overwrite = {"name": "b-docs", "source": {"path": "docs.jsonl"}, "overwrite": True}
    assert client.post("/v1/indexes", json=overwrite, headers=a).status_code == 403
    # B's jobs and uploads are invisible to A
    b_job = client.post(
        "/v1/ask", json={"question": "Who?", "index": "b-docs", "wait": False}, headers=auth("tenant-b")
    )
    job_id = b_job.json()["job_id"]
    assert client.get(f"/v1/jobs/{job_id}", headers=a).status_code == 404
    assert client.delete(f"/v1/jobs/{job_id}", headers=a).status_code == 404
    assert client.get(f"/v1/jobs/{job_id}/events", headers=a).status_code == 404
    assert wait_job(client, job_id, "tenant-b")["state"] == "succeeded"
    upload = client.post(
        "/v1/uploads", params={"filename": "b.jsonl"}, content=b'{"id":"1","text":"t"}\n', headers=auth("tenant-b")
    )
    stolen = client.post(
        "/v1/indexes", json={"name": "a-stolen", "source": {"upload": upload.json()["upload_id"]}}, headers=a
    )
    assert stolen.status_code == 400 and stolen.json()["error"]["code"] == "source_not_found"
    # B still sees its own index, untouched
    assert client.get("/v1/indexes/b-docs", headers=auth("tenant-b")).json()["documents"] == 5


def test_read_scope_cannot_write_or_build(client: httpx.Client) -> None:
    reader = auth("reader-a")
    assert client.post("/v1/search", json={"query": "Acme", "index": "a-docs"}, headers=reader).status_code == 200
    docs = {"documents": [{"id": "x", "text": "text"}]}
    assert client.post("/v1/indexes/a-docs/documents", json=docs, headers=reader).status_code == 403
    assert (
        client.post("/v1/indexes", json={"name": "a-x", "source": {"path": "docs.jsonl"}}, headers=reader).status_code
        == 403
    )
    assert client.delete("/v1/indexes/a-docs", headers=reader).status_code == 403


@pytest.mark.parametrize(
    "path",
    ["../indexes/a-docs/manifest.json", "/etc/passwd", "docs/../../etc/passwd", "..", "escape/passwd", "uploads"],
)
def test_source_paths_stay_in_the_data_root(client: httpx.Client, service_root: Path, path: str) -> None:
    (service_root / "data" / "escape").symlink_to("/etc", target_is_directory=True)
    response = client.post("/v1/indexes", json={"name": "a-trav", "source": {"path": path}}, headers=auth("tenant-a"))
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden_path"
    added = client.post("/v1/indexes/a-docs/documents", json={"source": {"path": path}}, headers=auth("tenant-a"))
    assert added.status_code == 403


def test_upload_names_cannot_traverse(client: httpx.Client, service_root: Path) -> None:
    response = client.post(
        "/v1/uploads",
        params={"filename": "../../evil.jsonl"},
        content=b'{"id":"1","text":"t"}\n',
        headers=auth("tenant-a"),
    )
    assert response.status_code == 201
    assert response.json()["filename"] == "evil.jsonl"
    assert not (service_root / "evil.jsonl").exists()
    assert [p.name for p in (service_root / "data" / "uploads").rglob("evil.jsonl")] == ["evil.jsonl"]
    bad = client.post("/v1/uploads", params={"filename": "evil.sh"}, content=b"x", headers=auth("tenant-a"))
    assert bad.status_code == 400


def test_limits(service_root: Path) -> None:
    limits = Limits(max_question_chars=50, max_budget="balanced", max_upload_bytes=100, max_request_bytes=2048)
    app = create_app(settings(service_root, limits=limits), runtime_factory=fake_runtime)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        a = auth("tenant-a")
        long_question = client.post("/v1/ask", json={"question": "why " * 20, "index": "a-docs"}, headers=a)
        assert long_question.status_code == 400 and long_question.json()["error"]["code"] == "too_long"
        thorough = client.post("/v1/ask", json={"question": "Who?", "index": "a-docs", "budget": "thorough"}, headers=a)
        assert thorough.status_code == 400 and thorough.json()["error"]["code"] == "budget_not_allowed"
        calls = {"question": "Who?", "index": "a-docs", "overrides": {"max_llm_calls": 1000}}
        assert client.post("/v1/ask", json=calls, headers=a).status_code == 400
        big = client.post("/v1/uploads", params={"filename": "big.jsonl"}, content=b"x" * 101, headers=a)
        assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"

        def chunks() -> object:
            for _ in range(5):
                yield b"y" * 30

        streamed = client.post("/v1/uploads", params={"filename": "s.jsonl"}, content=chunks(), headers=a)
        assert streamed.status_code == 413
        assert not any((service_root / "data" / "uploads").rglob("s.jsonl"))
        body = {"documents": [{"id": "x", "text": "t" * 4000}]}
        assert client.post("/v1/indexes/a-docs/documents", json=body, headers=a).status_code == 413


def test_keys_are_stored_hashed(service_root: Path) -> None:
    config = settings(service_root)
    stored = config.model_dump_json()
    assert "sk-test-tenant-a" not in stored


@pytest.mark.parametrize("target", ["secret", "/etc/hostname", "upload"])
def test_directory_sources_refuse_files_that_link_out(client: httpx.Client, service_root: Path, target: str) -> None:
    data = service_root / "data"
    secret = service_root / "secret.txt"
    secret.write_text("the password is hunter2")
    upload = client.post(
        "/v1/uploads", params={"filename": "b.jsonl"}, content=b'{"id":"1","text":"t"}\n', headers=auth("tenant-b")
    )
    stolen = next((data / "uploads" / upload.json()["upload_id"]).glob("*.jsonl"))
    (data / "docsdir" / "sub").mkdir(parents=True)
    (data / "docsdir" / "sub" / "fine.txt").write_text("Carol White visited Lisbon.")
    (data / "docsdir" / "alias.txt").symlink_to(data / "docsdir" / "sub" / "fine.txt")  # inside: allowed
    linked = {"secret": secret, "/etc/hostname": Path("/etc/hostname"), "upload": stolen}[target]
    (data / "docsdir" / "evil.txt").symlink_to(linked)
    a = auth("tenant-a")
    for request in (
        ("/v1/indexes", {"name": "a-evil", "source": {"path": "docsdir"}}),
        ("/v1/indexes/a-docs/documents", {"source": {"path": "docsdir"}}),
        ("/v1/indexes", {"name": "a-evil", "source": {"path": "."}}),
    ):
        refused = client.post(request[0], json=request[1], headers=a)
        assert refused.status_code == 403, refused.text
        error = refused.json()["error"]
        assert error["code"] == "forbidden_path" and "evil.txt" in error["message"]
        assert str(service_root) not in error["message"]
    assert client.get("/v1/indexes/a-evil", headers=a).status_code == 404
    (data / "docsdir" / "evil.txt").unlink()
    built = client.post("/v1/indexes", json={"name": "a-fine", "source": {"path": "docsdir"}}, headers=a)
    assert built.status_code == 202, built.text
    assert wait_job(client, built.json()["job_id"], "tenant-a")["state"] == "succeeded"
    assert client.get("/v1/indexes/a-fine", headers=a).json()["documents"] == 2
