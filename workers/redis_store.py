"""The Redis job store: what the API and every worker share, so that no process holds a job's state alone.

Keys (prefix `sleuth:`): `job:<id>` the record as JSON, `job:<id>:events` its trace events (a list),
both expiring `ttl_s` after the last write; `job:<id>:lease` the lease of the worker that runs it
(expiring with the lease) and `job:<id>:leased` that worker's name (kept as long as the record), so a
running job that was leased and whose lease is gone was lost (`get` fails it, see `workers.jobs`);
`jobs:states` job counts by state (moved on each transition, so queued and running are current and the
final states count every job that reached them); `usage` the LLM usage totals; `worker:<name>` a worker's
heartbeat. State transitions are optimistic transactions (WATCH/MULTI), so a cancel and a finish racing
each other leave one consistent result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from workers.jobs import STATES, USAGE_KEYS, JobRecord, JobState, advances, lost_error

_PREFIX = "sleuth:"
_POLL_S = 0.1


class RedisJobStore:
    def __init__(self, url: str, *, ttl_s: int = 7 * 24 * 3600, client: Any = None) -> None:
        import redis

        self._redis = client or redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=3)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)
        self._watch_error = redis.WatchError
        self.ttl_s = ttl_s

    def _job(self, job_id: str) -> str:
        return f"{_PREFIX}job:{job_id}"

    def create(self, record: JobRecord) -> None:
        pipe = self._redis.pipeline()
        pipe.set(self._job(record.id), json.dumps(record.to_json()), ex=self.ttl_s)
        pipe.hincrby(f"{_PREFIX}jobs:states", record.state, 1)
        pipe.execute()

    def get(self, job_id: str) -> JobRecord | None:
        raw = self._redis.get(self._job(job_id))
        record = JobRecord.from_json(json.loads(raw)) if raw else None
        if record is None or record.state != "running":
            return record
        return self._reap_if_lost(record)

    def _reap_if_lost(self, record: JobRecord) -> JobRecord:
        """The running job, failed as `worker_lost` when it was leased and its lease has run out."""
        pipe = self._redis.pipeline()
        pipe.exists(self._lease(record.id))
        pipe.get(self._leased(record.id))
        held, leased = pipe.execute()
        if held or not leased:
            return record
        worker = _text(leased)

        def change(old: JobRecord) -> JobRecord | None:
            return old.with_(state="failed", error=lost_error(worker)) if old.state == "running" else None

        return self._transition(record.id, change, unless_exists=self._lease(record.id)) or record

    def _lease(self, job_id: str) -> str:
        return f"{self._job(job_id)}:lease"

    def _leased(self, job_id: str) -> str:
        return f"{self._job(job_id)}:leased"

    def hold(self, job_id: str, worker: str, ttl_s: float) -> None:
        pipe = self._redis.pipeline()
        pipe.set(self._lease(job_id), worker, px=max(1, int(ttl_s * 1000)))
        pipe.set(self._leased(job_id), worker, ex=self.ttl_s)
        pipe.execute()

    def start(self, job_id: str, worker: str) -> JobRecord | None:
        def change(record: JobRecord) -> JobRecord | None:
            if record.finished:
                return None
            return record.with_(state="running", attempts=record.attempts + 1, worker=worker)

        record = self._transition(job_id, change)
        return None if record is None or record.state != "running" else record

    def progress(self, job_id: str, progress: dict[str, Any]) -> None:
        self._transition(job_id, lambda r: None if r.finished else r.with_(progress=dict(progress)))

    def advance_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        def change(record: JobRecord) -> JobRecord | None:
            if record.finished or not advances(record.progress, progress):
                return None
            return record.with_(progress=dict(progress))

        self._transition(job_id, change)

    def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, str] | None = None,
    ) -> JobRecord | None:
        return self._transition(
            job_id, lambda r: None if r.finished else r.with_(state=state, result=result, error=error)
        )

    def request_cancel(self, job_id: str) -> JobRecord | None:
        def change(record: JobRecord) -> JobRecord | None:
            if record.finished:
                return None
            state = "cancelled" if record.state == "queued" else record.state
            return record.with_(state=state, cancel_requested=True)

        return self._transition(job_id, change)

    def _transition(
        self, job_id: str, change: Callable[[JobRecord], JobRecord | None], *, unless_exists: str | None = None
    ) -> JobRecord | None:
        """Apply `change` to the record atomically (None: no change); not at all while `unless_exists` exists."""
        key = self._job(job_id)
        while True:
            with self._redis.pipeline() as pipe:
                try:
                    pipe.watch(key, *([unless_exists] if unless_exists else []))
                    raw = pipe.get(key)
                    if not raw:
                        return None
                    old = JobRecord.from_json(json.loads(raw))
                    new = None if unless_exists and pipe.exists(unless_exists) else change(old)
                    if new is None:
                        return old
                    pipe.multi()
                    pipe.set(key, json.dumps(new.to_json()), ex=self.ttl_s)
                    if new.state != old.state:
                        pipe.hincrby(f"{_PREFIX}jobs:states", old.state, -1)
                        pipe.hincrby(f"{_PREFIX}jobs:states", new.state, 1)
                    pipe.execute()
                    return new
                except self._watch_error:
                    continue

    def append_event(self, job_id: str, event: dict[str, Any]) -> int:
        key = f"{self._job(job_id)}:events"
        pipe = self._redis.pipeline()
        pipe.rpush(key, json.dumps(event))
        pipe.expire(key, self.ttl_s)
        length, _ = pipe.execute()
        return int(length) - 1

    def events(self, job_id: str, after: int, timeout_s: float) -> list[tuple[int, dict[str, Any]]]:
        key = f"{self._job(job_id)}:events"
        deadline = time.monotonic() + timeout_s
        while True:
            raw = self._redis.lrange(key, after + 1, -1)
            if raw:
                return [(after + 1 + i, json.loads(item)) for i, item in enumerate(raw)]
            record = self.get(job_id)
            if record is None or record.finished or time.monotonic() >= deadline:
                return []
            time.sleep(_POLL_S)

    def counts_by_state(self) -> dict[str, int]:
        raw = self._redis.hgetall(f"{_PREFIX}jobs:states")
        counts = {_text(k): int(v) for k, v in raw.items()}
        return {state: max(0, counts.get(state, 0)) for state in STATES}

    def add_usage(self, usage: Mapping[str, int]) -> None:
        pipe = self._redis.pipeline()
        for key, value in usage.items():
            if key in USAGE_KEYS and value:
                pipe.hincrby(f"{_PREFIX}usage", key, int(value))
        pipe.execute()

    def usage(self) -> dict[str, int]:
        raw = {_text(k): int(v) for k, v in self._redis.hgetall(f"{_PREFIX}usage").items()}
        return {key: raw.get(key, 0) for key in USAGE_KEYS}

    def heartbeat(self, worker: str, info: dict[str, Any], ttl_s: int) -> None:
        self._redis.set(f"{_PREFIX}worker:{worker}", json.dumps(info), ex=ttl_s)

    def workers(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for key in self._redis.scan_iter(f"{_PREFIX}worker:*", count=100):
            raw = self._redis.get(key)
            if raw:
                found[_text(key).removeprefix(f"{_PREFIX}worker:")] = json.loads(raw)
        return found

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except self._errors:
            return False


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
