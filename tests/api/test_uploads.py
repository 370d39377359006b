"""POST /v1/uploads with real clients: raw bytes, multipart/form-data (httpx `files=` and `curl -F`), the
forms it refuses, and uploads that fail leaving nothing behind."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.settings import Limits
from tests.workers.harness import KEYS, LiveServer, auth, fake_runtime, settings, wait_job

pytestmark = pytest.mark.integration

DUMP = "".join(
    json.dumps({"id": f"u{i}", "title": f"Upload {i}", "text": f"Carol White visited Lisbon in year {i}."}) + "\n"
    for i in range(3)
).encode()


def _uploads(service_root: Path) -> list[str]:
    """What the uploads folder holds, relative to it."""
    area = service_root / "data" / "uploads"
    return sorted(p.relative_to(area).as_posix() for p in area.rglob("*")) if area.exists() else []


def _stored(service_root: Path, upload_id: str, filename: str) -> bytes:
    return (service_root / "data" / "uploads" / upload_id / filename).read_bytes()


def test_multipart_upload_with_httpx_files(client: httpx.Client, service_root: Path) -> None:
    a = auth("tenant-a")
    sent = client.post("/v1/uploads", files={"file": ("docs.jsonl", DUMP, "application/x-ndjson")}, headers=a)
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert (body["filename"], body["bytes"]) == ("docs.jsonl", len(DUMP))
    assert _stored(service_root, body["upload_id"], "docs.jsonl") == DUMP  # the file, not the envelope
    built = client.post("/v1/indexes", json={"name": "a-form", "source": {"upload": body["upload_id"]}}, headers=a)
    assert wait_job(client, built.json()["job_id"], "tenant-a")["state"] == "succeeded"
    assert client.get("/v1/indexes/a-form", headers=a).json()["documents"] == 3

    named = client.post(
        "/v1/uploads",
        params={"filename": "renamed.jsonl.gz"},
        data={"note": "a field before the file"},
        files={"upload": ("whatever.bin", b"\x1f\x8b binary \r\n--not-a-boundary\r\n", "application/gzip")},
        headers=a,
    )
    assert named.status_code == 201, named.text
    assert named.json()["filename"] == "renamed.jsonl.gz"
    assert _stored(service_root, named.json()["upload_id"], "renamed.jsonl.gz").endswith(b"--not-a-boundary\r\n")


def test_raw_bytes_still_work(client: httpx.Client, service_root: Path) -> None:
    headers = auth("tenant-a") | {"Content-Type": "application/octet-stream"}
    sent = client.post("/v1/uploads", params={"filename": "docs.jsonl"}, content=DUMP, headers=headers)
    assert sent.status_code == 201 and _stored(service_root, sent.json()["upload_id"], "docs.jsonl") == DUMP
    unnamed = client.post("/v1/uploads", content=DUMP, headers=headers)
    assert unnamed.status_code == 400 and "?filename=" in unnamed.json()["error"]["message"]


def test_curl_form_upload_against_the_server(live: LiveServer, client: httpx.Client, service_root: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    dump = service_root / "docs-for-curl.jsonl"
    dump.write_bytes(DUMP)
    done = subprocess.run(
        [
            curl,
            "-sS",
            "-H",
            f"Authorization: Bearer {KEYS['tenant-a']}",
            "-F",
            f"file=@{dump}",
            f"{live.url}/v1/uploads",
        ],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["filename"] == "docs-for-curl.jsonl" and body["bytes"] == len(DUMP)
    assert _stored(service_root, body["upload_id"], "docs-for-curl.jsonl") == DUMP


def test_a_url_encoded_form_is_refused_with_415(client: httpx.Client, service_root: Path) -> None:
    headers = auth("tenant-a") | {"Content-Type": "application/x-www-form-urlencoded"}  # what curl -d sends
    refused = client.post("/v1/uploads", params={"filename": "docs.jsonl"}, content=DUMP, headers=headers)
    assert refused.status_code == 415, refused.text
    error = refused.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "application/octet-stream" in error["message"] and "multipart/form-data" in error["message"]
    assert _uploads(service_root) == []


def _multipart(*parts: tuple[str, str | None, bytes], close: bool = True) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--XyZ\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return out + (b"--XyZ--\r\n" if close else b"")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_multipart(("a", "a.jsonl", DUMP), ("b", "b.jsonl", DUMP)), "one file per upload"),
        (_multipart(("note", None, b"no file here")), "no file part"),
        (_multipart(("file", "docs.jsonl", DUMP), close=False), "closing boundary"),
        (_multipart(("file", "docs.jsonl", b"")), "empty"),
        (_multipart(("file", "evil.sh", DUMP)), "must end in"),
        (b"--XyZ\r\nno headers end", "malformed multipart/form-data body"),
    ],
    ids=["two-files", "no-file", "truncated", "empty", "bad-name", "garbage"],
)
def test_bad_multipart_bodies_are_400_and_leave_nothing(
    client: httpx.Client, service_root: Path, body: bytes, message: str
) -> None:
    headers = auth("tenant-a") | {"Content-Type": "multipart/form-data; boundary=XyZ"}
    refused = client.post("/v1/uploads", content=body, headers=headers)
    assert refused.status_code == 400, refused.text
    assert message in refused.json()["error"]["message"]
    assert _uploads(service_root) == []


def test_a_rejected_name_leaves_no_folder(client: httpx.Client, service_root: Path) -> None:
    refused = client.post("/v1/uploads", params={"filename": "evil.sh"}, content=b"x", headers=auth("tenant-a"))
    assert refused.status_code == 400
    assert _uploads(service_root) == []


@pytest.fixture
def small_limit(service_root: Path) -> Iterator[httpx.Client]:
    app = create_app(settings(service_root, limits=Limits(max_upload_bytes=100)), runtime_factory=fake_runtime)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def test_a_streamed_multipart_upload_over_the_limit_is_413(small_limit: httpx.Client, service_root: Path) -> None:
    body = _multipart(("file", "big.jsonl", b"y" * 150))

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        for start in range(0, len(body), 40):
            yield body[start : start + 40]

    headers = auth("tenant-a") | {"Content-Type": "multipart/form-data; boundary=XyZ"}
    refused = small_limit.post("/v1/uploads", content=chunks(), headers=headers)
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "too_large"
    assert _uploads(service_root) == []
    fits = small_limit.post(
        "/v1/uploads", files={"file": ("s.jsonl", b'{"id":"1","text":"t"}\n')}, headers=auth("tenant-a")
    )
    assert fits.status_code == 201, fits.text
