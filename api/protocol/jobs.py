"""Request and response models of /v1/jobs (and the 202 that every job-starting endpoint returns)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from workers.jobs import JobRecord
from workers.jobs import JobState as JobStateName


class JobLinks(BaseModel):
    self: str
    events: str


class JobAccepted(BaseModel):
    """202: the work runs as a job; poll `links.self` or stream `links.events`."""

    job_id: str
    kind: str
    state: JobStateName
    links: JobLinks

    @classmethod
    def of(cls, record: JobRecord) -> JobAccepted:
        return cls(job_id=record.id, kind=record.kind, state=record.state, links=job_links(record.id))  # type: ignore[arg-type]


class JobError(BaseModel):
    code: str
    message: str


class JobStatus(BaseModel):
    job_id: str
    kind: str
    index: str
    state: JobStateName
    created_at: str
    updated_at: str
    progress: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: JobError | None = None
    attempts: int = 0
    cancel_requested: bool = False
    links: JobLinks

    @classmethod
    def of(cls, record: JobRecord) -> JobStatus:
        return cls(
            job_id=record.id,
            kind=record.kind,
            index=record.index,
            state=record.state,  # type: ignore[arg-type]
            created_at=record.created_at,
            updated_at=record.updated_at,
            progress=record.progress,
            result=record.result,
            error=JobError(**record.error) if record.error else None,
            attempts=record.attempts,
            cancel_requested=record.cancel_requested,
            links=job_links(record.id),
        )


def job_links(job_id: str) -> JobLinks:
    return JobLinks(self=f"/v1/jobs/{job_id}", events=f"/v1/jobs/{job_id}/events")
