"""A soak test of the service on this machine: mixed load for a long while, with workers killed on the way.

    python scripts/soak_test.py --mode embedded --minutes 30 [--llm SPEC] [--out FILE]
    python scripts/soak_test.py --mode redis --minutes 30 --kill-every 240 [--out FILE]

It starts everything itself in a temporary folder: in `redis` mode a redis-server on a free port and two
`sleuth worker --queues gpu,cpu` processes; then `sleuth serve` on a free loopback port. It builds an
index of the bundled sample corpus, then for `--minutes` sends a mix of requests from a few clients:
searches (every mode), `sleuth` asks at `fast` (followed to their job's end), document adds and, now and
then, a rebuild of the index with `overwrite`. In `redis` mode, every `--kill-every` seconds it SIGKILLs
something, in turn: one worker's pool child (the worker must replace it), then a whole worker (restarted
at once, as a supervisor would, so that two stay up).

At the end it waits `--grace` seconds for the jobs still running, then prints and writes (`--out`) the
requests by kind, the errors (anything but a success: a 5xx, a dropped connection, a failed job; 4xx
responses are counted apart, as they are the client's), the jobs lost (submitted and never finished), and
the resident memory of the service and of the workers at the start of the load and at its end. Not part
of `make test`: it runs for as long as it is told to.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reasoning.llm.factory import DEFAULT_BACKEND

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "retrieval" / "samples" / "hotpotqa_sample.jsonl"
SLEUTH = [sys.executable, "-m", "api.cli"]
INDEX = "soak"
QUESTIONS = (
    "Were Scott Derrickson and Ed Wood of the same nationality?",
    "Which film starring Johnny Depp was directed by Tim Burton in 1994?",
    "What is the nationality of the director of Doctor Strange?",
)
QUERIES = ("Ed Wood film", "Scott Derrickson director", "Johnny Depp", "American horror film 2012")
MODES = ("bm25", "dense", "hybrid", "graph", "hybrid+graph")
TERMINAL = ("succeeded", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, MiB (0 for one that is gone)."""
    pids, total = [pid], 0
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        pids += [int(child) for child in children]
    return round(total / 1024, 1)


def pool_children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    client_errors: Counter[str] = field(default_factory=Counter)
    jobs: dict[str, str] = field(default_factory=dict)  # job id -> last state seen
    samples: list[str] = field(default_factory=list)  # the first error messages
    kills: list[str] = field(default_factory=list)

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 20:
            self.samples.append(f"{kind}: {what[:300]}")


class Service:
    """The processes under test: redis and workers (redis mode), and the API server."""

    def __init__(self, mode: str, work: Path, llm: str, visibility_timeout_s: float) -> None:
        self.mode, self.work = mode, work
        self.port = free_port()
        self.env = os.environ | {
            "SLEUTH_INDEX_ROOT": str(work / "indexes"),
            "SLEUTH_DATA_ROOT": str(work / "data"),
            "SLEUTH_LLM": llm,
            # a message taken by a worker that is then killed outright comes back after this long
            "SLEUTH_VISIBILITY_TIMEOUT_S": str(int(visibility_timeout_s)),
            "PYTHONUNBUFFERED": "1",
        }
        self.redis: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.server: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        (self.work / "indexes").mkdir(parents=True)
        (self.work / "data").mkdir(parents=True)
        shutil.copy(SAMPLE, self.work / "data" / "sample.jsonl")
        if self.mode == "redis":
            redis_port = free_port()
            self.redis = self._spawn(
                ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"], "redis"
            )
            self.env["SLEUTH_BROKER_URL"] = f"redis://127.0.0.1:{redis_port}/0"
            self.workers = [self._worker(n) for n in range(2)]
        self.server = self._spawn([*SLEUTH, "serve", "--port", str(self.port)], "serve")

    def _spawn(self, command: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.work / f"{name}.log").open("ab")
        return subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def _worker(self, n: int) -> subprocess.Popen[bytes]:
        command = [*SLEUTH, "worker", "--queues", "gpu,cpu", "--concurrency", "1", "--hostname", f"soak{n}@%h"]
        return self._spawn(command, f"worker{n}")

    def kill_next(self, turn: int) -> str:
        """SIGKILL one worker's pool child (even turns) or a whole worker, restarted at once (odd turns)."""
        n = (turn // 2) % len(self.workers)
        worker = self.workers[n]
        if turn % 2 == 0:
            children = pool_children(worker.pid)
            if children:
                os.kill(children[0], signal.SIGKILL)
                return f"{time.strftime('%H:%M:%S')} worker {n}: pool child {children[0]} killed"
        worker.kill()
        worker.wait()
        self.workers[n] = self._worker(n)
        self.restarts += 1
        return f"{time.strftime('%H:%M:%S')} worker {n}: whole worker {worker.pid} killed, restarted"

    def memory(self) -> dict[str, float]:
        out = {"service": tree_rss_mib(self.server.pid) if self.server else 0.0}
        for n, worker in enumerate(self.workers):
            out[f"worker{n}"] = tree_rss_mib(worker.pid)
        return out

    def stop(self) -> None:
        for process in [self.server, *self.workers, self.redis]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [self.server, *self.workers, self.redis]:
            if process is not None:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()


async def wait_ready(client: httpx.AsyncClient, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(1)
    raise SystemExit(f"the service was not ready within {timeout:.0f} s")


async def follow(client: httpx.AsyncClient, job_id: str, tally: Tally, kind: str, until: float) -> None:
    """Poll a job until it ends (or `until`); a failed or cancelled job is an error."""
    tally.jobs[job_id] = "queued"
    while time.monotonic() < until:
        try:
            response = await client.get(f"/v1/jobs/{job_id}")
        except httpx.HTTPError as exc:
            tally.error(f"{kind}-poll", repr(exc))
            await asyncio.sleep(2)
            continue
        if response.status_code >= 500:
            tally.error(f"{kind}-poll", response.text)
        elif response.status_code == 200:
            job = response.json()
            tally.jobs[job_id] = job["state"]
            if job["state"] in TERMINAL:
                if job["state"] != "succeeded":
                    tally.error(kind, f"job {job_id} {job['state']}: {job.get('error')}")
                return
        await asyncio.sleep(1)


async def request(
    client: httpx.AsyncClient, tally: Tally, kind: str, method: str, path: str, body: dict[str, Any] | None = None
) -> httpx.Response | None:
    tally.requests[kind] += 1
    try:
        response = await client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        tally.error(kind, repr(exc))
        return None
    if response.status_code >= 500:
        tally.error(kind, f"{response.status_code} {response.text}")
    elif response.status_code >= 400:
        tally.client_errors[f"{kind} {response.status_code}"] += 1
    return response


async def act(client: httpx.AsyncClient, tally: Tally, rng: random.Random, grace_until: float, n: int) -> None:
    roll = rng.random()
    if roll < 0.6:
        body = {"query": rng.choice(QUERIES), "index": INDEX, "mode": rng.choice(MODES), "k": 5}
        await request(client, tally, "search", "POST", "/v1/search", body)
    elif roll < 0.75:
        body = {"question": rng.choice(QUESTIONS), "index": INDEX, "budget": "fast", "wait": False}
        response = await request(client, tally, "ask", "POST", "/v1/ask", body)
        if response is not None and response.status_code == 202:
            await follow(client, response.json()["job_id"], tally, "ask", grace_until)
    elif roll < 0.97:
        document = {"id": f"soak-{n}", "title": f"Soak page {n}", "text": f"Soak page {n} was added by the soak test."}
        path = f"/v1/indexes/{INDEX}/documents"
        response = await request(client, tally, "add", "POST", path, {"documents": [document]})
        if response is not None and response.status_code == 202:
            await follow(client, response.json()["job_id"], tally, "add", grace_until)
    else:
        await build(client, tally, grace_until, overwrite=True)


async def build(client: httpx.AsyncClient, tally: Tally, until: float, *, overwrite: bool) -> None:
    body = {"name": INDEX, "source": {"path": "sample.jsonl"}, "overwrite": overwrite}
    response = await request(client, tally, "rebuild" if overwrite else "build", "POST", "/v1/indexes", body)
    if response is not None and response.status_code == 202:
        await follow(client, response.json()["job_id"], tally, "rebuild" if overwrite else "build", until)


async def user(client: httpx.AsyncClient, tally: Tally, seed: int, stop_at: float, grace_until: float) -> None:
    rng = random.Random(seed)
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        await act(client, tally, rng, grace_until, seed * 1_000_000 + n)
        await asyncio.sleep(rng.uniform(0.2, 1.5))


async def killer(service: Service, tally: Tally, every: float, stop_at: float) -> None:
    turn = 0
    while time.monotonic() + every < stop_at:
        await asyncio.sleep(every)
        tally.kills.append(service.kill_next(turn))
        turn += 1


async def soak(args: argparse.Namespace, service: Service) -> dict[str, Any]:
    tally = Tally()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", timeout=120) as client:
        await wait_ready(client, args.ready_timeout)
        await build(client, tally, time.monotonic() + 1800, overwrite=False)
        if tally.errors:
            raise SystemExit(f"the first build failed: {tally.samples}")
        memory_start = service.memory()
        started = time.monotonic()
        stop_at = started + args.minutes * 60
        grace_until = stop_at + args.grace
        tasks = [user(client, tally, seed, stop_at, grace_until) for seed in range(args.clients)]
        if service.mode == "redis" and args.kill_every > 0:
            tasks.append(killer(service, tally, args.kill_every, stop_at))
        await asyncio.gather(*tasks)
        memory_end = service.memory()
    lost = sorted(job for job, state in tally.jobs.items() if state not in TERMINAL)
    return {
        "mode": service.mode,
        "minutes": args.minutes,
        "clients": args.clients,
        "llm": args.llm,
        "visibility_timeout_s": args.visibility_timeout if service.mode == "redis" else None,
        "requests": dict(tally.requests),
        "requests_total": sum(tally.requests.values()),
        "errors": dict(tally.errors),
        "errors_total": sum(tally.errors.values()),
        "client_errors": dict(tally.client_errors),
        "jobs": len(tally.jobs),
        "jobs_by_state": dict(Counter(tally.jobs.values())),
        "jobs_lost": lost,
        "kills": tally.kills,
        "worker_restarts": service.restarts,
        "memory_mib_start": memory_start,
        "memory_mib_end": memory_end,
        "error_samples": tally.samples,
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("embedded", "redis"), default="embedded")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=3, help="concurrent clients (default 3)")
    parser.add_argument("--kill-every", type=float, default=240.0, help="redis mode: seconds between kills (240)")
    parser.add_argument("--grace", type=float, default=720.0, help="seconds to wait for running jobs at the end")
    parser.add_argument(
        "--visibility-timeout",
        type=float,
        default=300.0,
        help="redis mode: SLEUTH_VISIBILITY_TIMEOUT_S, after which a killed worker's tasks come back (300; the "
        "default 3600 would outlast the run); it must exceed the longest task",
    )
    parser.add_argument("--llm", default=DEFAULT_BACKEND, help=f"the reader (default {DEFAULT_BACKEND})")
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    parser.add_argument("--work", type=Path, default=None, help="keep the service's files and logs here")
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    args = parser.parse_args(argv)
    if args.mode == "redis" and shutil.which("redis-server") is None:
        raise SystemExit("redis mode needs redis-server (Debian's package redis-server)")
    work = args.work or Path(tempfile.mkdtemp(prefix="sleuth-soak-"))
    service = Service(args.mode, work, args.llm, args.visibility_timeout)
    try:
        service.start()
        report = asyncio.run(soak(args, service)) | {"work": str(work)}
    finally:
        service.stop()
    text = json.dumps(report, indent=1)
    sys.stdout.write(text + "\n")  # the report is the command's output
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 1 if report["errors_total"] or report["jobs_lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
