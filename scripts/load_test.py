"""A bounded load test of a running Sleuth service on this machine: concurrent searches and fast asks.

    python scripts/load_test.py --index demo --searches 50 --asks 10 [--key sk-...] [--out results.json]

It sends `--searches` search requests all at once, then `--asks` fast asks (wait=true) all at once, and
prints for each the latency p50 / p99 / max, throughput and error count. An ask whose wait runs out gets a
202 and is followed to its job's end; its latency is the time to its answer. An error is anything but an
answer: another status, a failed or cancelled job, a dropped connection. It refuses any URL that is not
a loopback address: it is a test of your own server, not a tool for loading someone else's.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

QUESTIONS = (
    "Which American director of Doctor Strange was born in 1966?",
    "Who starred in the Ed Wood film directed by Tim Burton?",
    "In which city was the director of Ed Wood born?",
    "What is the nationality of the director of Doctor Strange?",
    "Which film starring Johnny Depp was directed by Tim Burton in 1994?",
)


def loopback_url(url: str) -> str:
    host = urlparse(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"refusing {url}: the load test only targets a loopback address (127.0.0.1)")
    return url.rstrip("/")


POLL_SECONDS = 0.5


async def timed(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> tuple[float, int]:
    """Seconds until the answer and its status; a 202 (the wait ran out, the job goes on) is followed to
    the job's end: 200 when it succeeded, 500 when it failed or was cancelled."""
    started = time.perf_counter()
    try:
        response = await client.post(path, json=body)
        status = response.status_code
        if status == 202:
            status = await _job_outcome(client, response.json()["job_id"])
    except (httpx.HTTPError, KeyError, ValueError):
        status = 0
    return time.perf_counter() - started, status


async def _job_outcome(client: httpx.AsyncClient, job_id: str) -> int:
    while True:
        job = (await client.get(f"/v1/jobs/{job_id}")).json()
        if job.get("state") == "succeeded":
            return 200
        if job.get("state") in ("failed", "cancelled"):
            return 500
        await asyncio.sleep(POLL_SECONDS)


async def burst(client: httpx.AsyncClient, path: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    results = await asyncio.gather(*(timed(client, path, body) for body in bodies))
    wall = time.perf_counter() - started
    latencies = sorted(seconds for seconds, _ in results)
    errors = sum(1 for _, status in results if status != 200)
    return {
        "requests": len(results),
        "errors": errors,
        "statuses": sorted({status for _, status in results}),
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(1000 * percentile(latencies, 0.99), 1) if latencies else None,
        "max_ms": round(1000 * latencies[-1], 1) if latencies else None,
        "wall_s": round(wall, 3),
        "per_second": round(len(results) / wall, 1) if wall > 0 else None,
    }


def percentile(ordered: list[float], q: float) -> float:
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    limits = httpx.Limits(max_connections=max(args.searches, args.asks, 1))
    async with httpx.AsyncClient(base_url=args.url, headers=headers, timeout=args.timeout, limits=limits) as client:
        report: dict[str, Any] = {"url": args.url, "index": args.index}
        if args.searches:
            searches = [
                {"query": QUESTIONS[i % len(QUESTIONS)], "index": args.index, "mode": args.mode, "k": 10}
                for i in range(args.searches)
            ]
            report["search"] = await burst(client, "/v1/search", searches)
        if args.asks:
            asks = [
                {"question": QUESTIONS[i % len(QUESTIONS)], "index": args.index, "budget": "fast", "wait": True}
                for i in range(args.asks)
            ]
            report["ask"] = await burst(client, "/v1/ask", asks)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", type=loopback_url)
    parser.add_argument("--index", required=True)
    parser.add_argument("--key", default=None, help="API key (when the server requires one)")
    parser.add_argument("--searches", type=int, default=50, choices=range(0, 201), metavar="N (0-200)")
    parser.add_argument("--asks", type=int, default=10, choices=range(0, 51), metavar="N (0-50)")
    parser.add_argument("--mode", default="hybrid", help="search mode")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures here as JSON")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    for name in ("search", "ask"):
        if name in report:
            r = report[name]
            sys.stdout.write(
                f"{name:>6}: {r['requests']} concurrent  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  "
                f"max {r['max_ms']} ms  {r['per_second']}/s  errors {r['errors']}  statuses {r['statuses']}\n"
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if any(report[n]["errors"] for n in ("search", "ask") if n in report) else 0


if __name__ == "__main__":
    sys.exit(main())
