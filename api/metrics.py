"""Prometheus metrics (GET /metrics) and the ASGI middleware that counts requests and caps body sizes.

Requests by method, route template and status, and their latency; jobs by state and LLM usage come
from the job store at scrape time, so they are the same whichever API process is scraped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.errors import BROKER_ERRORS, error_body
from api.serving.multipart import ENVELOPE_BYTES
from workers.jobs import JobStore

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]


class _StoreCollector(Collector):
    def __init__(self, store: Callable[[], JobStore]) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        """The store's metrics, and `sleuth_job_store_up` (0 while the broker is unreachable: only that then)."""
        store = self._store()
        try:
            counts, usage = store.counts_by_state(), store.usage()
        except BROKER_ERRORS as exc:
            log.warning("metrics: the job store is unavailable: %s: %s", type(exc).__name__, exc)
            yield GaugeMetricFamily("sleuth_job_store_up", "Whether the job store (broker) answers", value=0)
            return
        yield GaugeMetricFamily("sleuth_job_store_up", "Whether the job store (broker) answers", value=1)
        jobs = GaugeMetricFamily(
            "sleuth_jobs", "Jobs by state (final states count every job that reached them)", labels=["state"]
        )
        for state, count in counts.items():
            jobs.add_metric([state], count)
        yield jobs
        tokens = CounterMetricFamily("sleuth_llm_tokens", "LLM tokens spent answering questions", labels=["kind"])
        tokens.add_metric(["prompt"], usage["prompt_tokens"])
        tokens.add_metric(["completion"], usage["completion_tokens"])
        yield tokens
        yield CounterMetricFamily("sleuth_llm_calls", "LLM calls made answering questions", value=usage["llm_calls"])
        yield CounterMetricFamily("sleuth_questions_answered", "Questions answered", value=usage["questions"])


class Metrics:
    def __init__(self, store: Callable[[], JobStore]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sleuth_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "sleuth_http_request_seconds",
            "HTTP request latency (until the response starts)",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.registry.register(_StoreCollector(store))


class RequestMiddleware:
    """Counts and times every request; refuses bodies over the limit (uploads have their own, larger one)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body: int, max_upload: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"].startswith("/v1/uploads")
        # an upload's own limit is on the file: a multipart form's envelope comes on top (the route checks)
        limit = self.max_upload + ENVELOPE_BYTES if upload else self.max_body
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await _refuse(send, 413, "too_large", f"the request body is over the limit of {limit} bytes")
            self._count(scope, 413, 0.0)
            return
        if not upload and b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            await _refuse(send, 411, "length_required", "send a Content-Length (chunked bodies are for uploads only)")
            self._count(scope, 411, 0.0)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
                self.metrics.latency.labels(scope["method"], _route(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._count(scope, status["code"], time.perf_counter() - started)

    def _count(self, scope: Scope, status: int, _: float) -> None:
        self.metrics.requests.labels(scope["method"], _route(scope), str(status)).inc()


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
