"""The in-process job store of the embedded mode: a dict behind a lock, with a condition for event waits.

Leases work as in the Redis store (a leased running job whose lease ran out is failed when read), though the
embedded mode takes none: its jobs run in this process and end with it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from workers.jobs import STATES, TERMINAL, USAGE_KEYS, JobRecord, JobState, advances, lost_error


class MemoryJobStore:
    def __init__(self, max_jobs: int = 10_000) -> None:
        self._jobs: dict[str, JobRecord] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._usage: Counter[str] = Counter()
        self._workers: dict[str, tuple[float, dict[str, Any]]] = {}
        self._leases: dict[str, tuple[float, str]] = {}  # job id -> (monotonic deadline, worker)
        self._max_jobs = max_jobs
        self._changed = threading.Condition()

    def create(self, record: JobRecord) -> None:
        with self._changed:
            self._forget_oldest_finished()
            self._jobs[record.id] = record
            self._events[record.id] = []
            self._changed.notify_all()

    def get(self, job_id: str) -> JobRecord | None:
        with self._changed:
            record = self._jobs.get(job_id)
            lease = self._leases.get(job_id)
            if record is None or record.state != "running" or lease is None or lease[0] > time.monotonic():
                return record
            record = self._jobs[job_id] = record.with_(state="failed", error=lost_error(lease[1]))
            self._changed.notify_all()
            return record

    def hold(self, job_id: str, worker: str, ttl_s: float) -> None:
        with self._changed:
            self._leases[job_id] = (time.monotonic() + ttl_s, worker)

    def start(self, job_id: str, worker: str) -> JobRecord | None:
        with self._changed:
            record = self._jobs.get(job_id)
            if record is None or record.finished:
                return None
            record = self._jobs[job_id] = record.with_(state="running", attempts=record.attempts + 1, worker=worker)
            self._changed.notify_all()
            return record

    def progress(self, job_id: str, progress: dict[str, Any]) -> None:
        with self._changed:
            record = self._jobs.get(job_id)
            if record is not None and not record.finished:
                self._jobs[job_id] = record.with_(progress=dict(progress))

    def advance_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        with self._changed:
            record = self._jobs.get(job_id)
            if record is not None and not record.finished and advances(record.progress, progress):
                self._jobs[job_id] = record.with_(progress=dict(progress))

    def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, str] | None = None,
    ) -> JobRecord | None:
        with self._changed:
            record = self._jobs.get(job_id)
            if record is None or record.finished:
                return record
            record = self._jobs[job_id] = record.with_(state=state, result=result, error=error)
            self._changed.notify_all()
            return record

    def request_cancel(self, job_id: str) -> JobRecord | None:
        with self._changed:
            record = self._jobs.get(job_id)
            if record is None or record.finished:
                return record
            if record.state == "queued":
                record = record.with_(state="cancelled", cancel_requested=True)
            else:
                record = record.with_(cancel_requested=True)
            self._jobs[job_id] = record
            self._changed.notify_all()
            return record

    def append_event(self, job_id: str, event: dict[str, Any]) -> int:
        with self._changed:
            events = self._events.setdefault(job_id, [])
            events.append(dict(event))
            self._changed.notify_all()
            return len(events) - 1

    def events(self, job_id: str, after: int, timeout_s: float) -> list[tuple[int, dict[str, Any]]]:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                events = self._events.get(job_id, [])
                if len(events) > after + 1:
                    return list(enumerate(events))[after + 1 :]
                record = self._jobs.get(job_id)
                left = deadline - time.monotonic()
                if left <= 0 or record is None or record.finished:
                    return []
                self._changed.wait(left)

    def counts_by_state(self) -> dict[str, int]:
        with self._changed:
            counts = Counter(r.state for r in self._jobs.values())
        return {state: counts.get(state, 0) for state in STATES}

    def add_usage(self, usage: Mapping[str, int]) -> None:
        with self._changed:
            self._usage.update({k: int(v) for k, v in usage.items() if k in USAGE_KEYS})

    def usage(self) -> dict[str, int]:
        with self._changed:
            return {key: self._usage.get(key, 0) for key in USAGE_KEYS}

    def heartbeat(self, worker: str, info: dict[str, Any], ttl_s: int) -> None:
        with self._changed:
            self._workers[worker] = (time.monotonic() + ttl_s, dict(info))

    def workers(self) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        with self._changed:
            return {name: info for name, (until, info) in self._workers.items() if until > now}

    def ping(self) -> bool:
        return True

    def _forget_oldest_finished(self) -> None:
        if len(self._jobs) < self._max_jobs:
            return
        finished = [r for r in self._jobs.values() if r.state in TERMINAL]
        for record in sorted(finished, key=lambda r: r.updated_at)[: max(1, len(finished) // 10)]:
            self._jobs.pop(record.id, None)
            self._events.pop(record.id, None)
            self._leases.pop(record.id, None)
