"""A broker that cannot be reached, or refuses the service's password: every route that needs it answers
503 `broker_unavailable` with a Retry-After, quickly, over a real uvicorn server, and the keep-alive
connection stays usable (no "Exception in ASGI application", no reset)."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kombu.exceptions
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import ServiceContext
from tests.workers.harness import REDIS_SERVER, LiveServer, auth, fake_runtime, free_port, settings

pytestmark = pytest.mark.integration

ROUTES: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
    ("POST", "/v1/indexes", {"name": "a-new", "source": {"path": "docs.jsonl"}}),
    ("GET", "/v1/jobs/0123456789abcdef0123456789abcdef", None),
    ("POST", "/v1/ask", {"question": "Who founded Acme Corp?", "index": "a-docs"}),
    ("POST", "/v1/indexes/a-docs/documents", {"documents": [{"id": "n1", "text": "Carol White"}]}),
    ("GET", "/v1/jobs/0123456789abcdef0123456789abcdef/events", None),
    ("DELETE", "/v1/jobs/0123456789abcdef0123456789abcdef", None),
)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def uvicorn_errors() -> Iterator[list[str]]:
    """What uvicorn logs as errors while the test runs."""
    handler = _Records()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


@contextlib.contextmanager
def redis_with_password(password: str) -> Iterator[int]:
    """A private redis-server that requires `password`, on a free loopback port."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen(
            [*command, "--requirepass", password], cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait_for(port)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def _local_port(response: httpx.Response) -> int:
    """The client-side port of the connection the response came on (the same port: the same connection)."""
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


def _check_broker_down(service_root: Path, broker_url: str, uvicorn_errors: list[str]) -> None:
    app = create_app(settings(service_root, broker_url=broker_url), runtime_factory=fake_runtime)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        ports = set()
        for method, path, body in ROUTES:
            started = time.monotonic()
            response = client.request(method, path, json=body, headers=auth("tenant-a"))
            assert time.monotonic() - started < 10, path  # short timeouts: the request does not hang
            assert response.status_code == 503, (path, response.text)
            assert response.json()["error"]["code"] == "broker_unavailable"
            assert set(response.json()) == {"error"} and int(response.headers["retry-after"]) > 0
            after = client.get("/healthz")  # the next request on the same keep-alive connection
            assert after.status_code == 200
            ports |= {_local_port(response), _local_port(after)}
        assert len(ports) == 1  # one connection for every request: none was reset
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "not ready"
        assert ready.json()["details"]["broker"] is False
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and "sleuth_job_store_up 0.0" in metrics.text
    assert not [m for m in uvicorn_errors if "Exception in ASGI application" in m]


def test_a_broker_nobody_listens_on_is_a_503(service_root: Path, uvicorn_errors: list[str]) -> None:
    _check_broker_down(service_root, f"redis://127.0.0.1:{free_port()}/0", uvicorn_errors)


def test_a_wrong_broker_password_is_a_503(service_root: Path, uvicorn_errors: list[str]) -> None:
    with redis_with_password("right-password") as port:
        _check_broker_down(service_root, f"redis://:wrong-password@127.0.0.1:{port}/0", uvicorn_errors)


class _RefusingDispatcher:
    def submit(self, kind: str, job_id: str, payload: dict[str, Any]) -> None:
        raise kombu.exceptions.OperationalError("Error 111 connecting to the broker")

    def close(self) -> None:
        pass


def test_a_job_the_broker_would_not_take_is_failed_with_the_503(service_root: Path) -> None:
    context = ServiceContext.from_settings(settings(service_root), fake_runtime)
    context.dispatcher.close()
    context.dispatcher = _RefusingDispatcher()
    app = create_app(context.settings, context=context)
    with TestClient(app) as client:
        question = {"question": "Who founded Acme Corp?", "index": "a-docs"}
        refused = client.post("/v1/ask", json=question, headers=auth("tenant-a"))
        assert refused.status_code == 503 and refused.headers["retry-after"]
        assert refused.json()["error"]["code"] == "broker_unavailable"
    assert context.store.counts_by_state()["failed"] == 1  # not queued for good


def test_a_broker_lost_mid_stream_ends_the_events_with_an_error_event() -> None:
    import asyncio
    from types import SimpleNamespace

    import redis.exceptions

    from api.serving.jobs import event_stream

    class LostStore:
        def events(self, job_id: str, after: int, timeout_s: float) -> list[tuple[int, dict[str, Any]]]:
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    async def read() -> list[str]:
        context: Any = SimpleNamespace(store=LostStore())
        return [message async for message in event_stream(context, "job", -1, request=None)]  # type: ignore[arg-type]

    (message,) = asyncio.run(read())
    assert message.startswith("event: error\nretry: ") and '"code": "broker_unavailable"' in message
