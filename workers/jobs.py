"""Jobs: the record of one long piece of work (an answer, a build, an update), and the store that keeps it.

A job moves queued -> running -> succeeded | failed | cancelled; a finished job never changes again, so
a redelivered task that finds its job finished does nothing. Its trace events are kept in order beside
it (`seq` 0, 1, ...). Two stores: in memory (the embedded mode) and Redis (workers; an API restart loses
no job). Both also keep the job counts by state and the LLM usage totals that /metrics reports.

A worker holds a lease on each job it runs (`hold`, renewed while its task runs, see `workers.leases`). A
running job whose lease has run out was lost with its worker and not redelivered in time: reading it
(`get`) fails it with the code `worker_lost`, so a job never stays `running` for good.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JobKind = Literal["ask", "build", "add_documents"]
STATES: tuple[JobState, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
USAGE_KEYS = ("llm_calls", "prompt_tokens", "completion_tokens", "questions")
LOST_CODE = "worker_lost"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def new_job_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str
    owner: str  # the id of the API key that submitted it
    index: str
    state: str = "queued"
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None  # {"code": ..., "message": ...}
    cancel_requested: bool = False
    attempts: int = 0  # how many times a worker started it (more than 1 after a redelivery)
    worker: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    def with_(self, **changes: Any) -> JobRecord:
        return replace(self, **changes, updated_at=now_iso())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobRecord:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


class JobStore(Protocol):
    """Where jobs, their events, the counts by state and the LLM usage totals live."""

    def create(self, record: JobRecord) -> None: ...

    def get(self, job_id: str) -> JobRecord | None:
        """The job; a running job whose lease ran out is failed as `worker_lost` first."""
        ...

    def start(self, job_id: str, worker: str) -> JobRecord | None:
        """Mark a job running (again, after a redelivery); None when it is finished or unknown."""
        ...

    def progress(self, job_id: str, progress: dict[str, Any]) -> None: ...

    def advance_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        """Set the progress when the job is still in that stage and `done` does not go back (parallel tasks
        report out of order; a late report never undoes a later one or a later stage)."""
        ...

    def hold(self, job_id: str, worker: str, ttl_s: float) -> None:
        """Take or renew `worker`'s lease on a job for `ttl_s` seconds."""
        ...

    def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, str] | None = None,
    ) -> JobRecord | None:
        """Move a job to a final state; a job finished already keeps its state (returned as it is)."""
        ...

    def request_cancel(self, job_id: str) -> JobRecord | None:
        """Ask a job to stop: a queued job is cancelled at once, a running one at its next check."""
        ...

    def append_event(self, job_id: str, event: dict[str, Any]) -> int: ...

    def events(self, job_id: str, after: int, timeout_s: float) -> list[tuple[int, dict[str, Any]]]:
        """Events with seq > `after`, waiting up to `timeout_s` for the first one."""
        ...

    def counts_by_state(self) -> dict[str, int]: ...

    def add_usage(self, usage: Mapping[str, int]) -> None: ...

    def usage(self) -> dict[str, int]: ...

    def heartbeat(self, worker: str, info: dict[str, Any], ttl_s: int) -> None: ...

    def workers(self) -> dict[str, dict[str, Any]]: ...

    def ping(self) -> bool: ...


def error_info(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def lost_error(worker: str | None) -> dict[str, str]:
    """The error of a job whose worker stopped and whose task was not redelivered before its lease ran out."""
    who = f"worker {worker}" if worker else "its worker"
    message = f"{who} stopped while running the job and no worker took it up again before its lease ran out"
    return error_info(LOST_CODE, message)


def advances(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether `new` progress moves `old` on: the same stage, `done` not lower."""
    return old.get("stage") == new.get("stage") and int(new.get("done") or 0) >= int(old.get("done") or 0)
