"""The web page's server side without a browser: its files served from the package, and the passage endpoint
that opens a citation with its supporting sentence marked."""

from __future__ import annotations

import re
import tomllib

import httpx
import pytest

from api.routers.web import PAGE, web_files
from api.serving.passages import sentence_spans, supporting_sentence
from tests.conftest import REPO
from tests.workers.harness import auth

ALICE = "Alice Smith founded Acme Corp in 1990. She was born in Paris."


@pytest.mark.unit
def test_sentence_spans_are_offsets_into_the_text() -> None:
    text = "  Berlin is the capital of Germany.  The wall fell in 1990. "
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == ["Berlin is the capital of Germany.", "The wall fell in 1990."]


@pytest.mark.unit
def test_the_supporting_sentence_holds_the_claims_answer() -> None:
    sentences = re.split(r"(?<=\.) ", ALICE)
    assert supporting_sentence(sentences, "Which company did Alice Smith found?", "Acme Corp") == 0
    assert supporting_sentence(sentences, "Where was Alice Smith born?", "Paris") == 1
    assert supporting_sentence(sentences, "Alice Smith") == 0  # equals: the first
    assert supporting_sentence(sentences, "What is the capital of Germany?", "Berlin") is None


@pytest.mark.unit
def test_the_pages_files_ship_in_the_package() -> None:
    files = web_files()
    page = files[PAGE][0].decode()
    linked = re.findall(r'(?:src|href)="/ui/([^"]+)"', page)
    imported = {name for content, _ in files.values() for name in re.findall(rb'from "\./([^"]+)"', content)}
    assert linked and {*linked, *(name.decode() for name in imported)} <= set(files)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", " ".join(c.decode() for c, _ in files.values()))
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "web/*" in package_data["api"]


@pytest.mark.integration
def test_the_page_and_its_files_are_served_without_a_key(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/ui/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/ui/style.css").headers["content-type"].startswith("text/css")
    missing = client.get("/ui/secrets.py")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get("/ui/..%2Fsecurity.py").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/v1/indexes/{name}/passages/{passage_id}" in paths


@pytest.mark.integration
def test_a_passage_with_the_sentence_supporting_a_claim(client: httpx.Client) -> None:
    hits = client.post("/v1/search", json={"query": "Alice Smith", "index": "a-docs", "k": 5}, headers=auth("tenant-a"))
    alice = next(hit for hit in hits.json()["hits"] if hit["title"] == "Alice Smith")
    path = f"/v1/indexes/a-docs/passages/{alice['id']}"
    claim = {"claim": "Where was Alice Smith born?", "answer": "Paris"}
    body = client.get(path, params=claim, headers=auth("reader-a")).json()
    assert body["text"] == ALICE and body["doc_id"] == "alice"
    marked = [ALICE[s["start"] : s["end"]] for s in body["sentences"] if s["supporting"]]
    assert marked == ["She was born in Paris."]
    plain = client.get(path, headers=auth("tenant-a")).json()
    assert [s["supporting"] for s in plain["sentences"]] == [False, False]
    assert client.get(path, headers=auth("tenant-b")).status_code == 404  # another tenant's index
    assert client.get(path.replace("a-docs", "b-docs"), headers=auth("tenant-a")).status_code == 404
    unknown = client.get("/v1/indexes/a-docs/passages/passage-0", headers=auth("tenant-a"))
    assert unknown.json()["error"]["message"] == "passage 'passage-0' in index 'a-docs' not found"
    assert client.get(path).status_code == 401
