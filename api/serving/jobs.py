"""GET/DELETE /v1/jobs/{id} and the Server-Sent Events stream of a job's trace.

The stream sends each trace event as `event: trace` with `id: <seq>` (so a client that reconnects with
`Last-Event-ID` resumes after it), a comment every 15 s to keep proxies from closing it, and one final
`event: end` whose data is the job's status; then it closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator

from fastapi import Request

from api.context import ServiceContext
from api.errors import (
    BROKER_ERRORS,
    BROKER_RETRY_AFTER_S,
    BROKER_UNAVAILABLE,
    broker_unavailable,
    error_body,
    not_found,
)
from api.protocol.jobs import JobStatus
from api.public_paths import public_paths
from api.security import Principal
from workers.jobs import JobRecord

KEEP_ALIVE_S = 15.0
_WAIT_S = 1.0


def job_status(context: ServiceContext, record: JobRecord) -> JobStatus:
    """The job as its client sees it: server paths in its error and result relative to the service's roots."""
    public = public_paths(context.settings)
    return JobStatus.of(dataclasses.replace(record, error=public.json(record.error), result=public.json(record.result)))


def owned_job(context: ServiceContext, principal: Principal, job_id: str) -> JobRecord:
    """A job of this key's; another key's job reads as not found."""
    record = context.store.get(job_id) if len(job_id) <= 64 else None
    if record is None or record.owner != principal.id:
        raise not_found(f"job {job_id!r}")
    return record


def cancel(context: ServiceContext, principal: Principal, job_id: str) -> JobStatus:
    owned_job(context, principal, job_id)
    record = context.store.request_cancel(job_id)
    if record is None:
        raise not_found(f"job {job_id!r}")
    return job_status(context, record)


def last_event_id(request: Request) -> int:
    raw = request.headers.get("last-event-id", "")
    return int(raw) if raw.isdigit() else -1


async def event_stream(context: ServiceContext, job_id: str, after: int, request: Request) -> AsyncIterator[str]:
    """The stream; a broker lost on the way ends it with `event: error` (the error shape, then reconnect)."""
    try:
        async for message in _events(context, job_id, after, request):
            yield message
    except BROKER_ERRORS:
        body = json.dumps(error_body(BROKER_UNAVAILABLE, broker_unavailable().message))
        yield f"event: error\nretry: {BROKER_RETRY_AFTER_S * 1000}\ndata: {body}\n\n"


async def _events(context: ServiceContext, job_id: str, after: int, request: Request) -> AsyncIterator[str]:
    last_sent = time.monotonic()
    while True:
        events = await asyncio.to_thread(context.store.events, job_id, after, _WAIT_S)
        for seq, event in events:
            yield f"id: {seq}\nevent: trace\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"
            after = seq
            last_sent = time.monotonic()
        if events:
            continue
        record = await asyncio.to_thread(context.store.get, job_id)
        if record is None or record.finished:
            if record is not None:
                more = await asyncio.to_thread(context.store.events, job_id, after, 0.0)
                for seq, event in more:
                    yield f"id: {seq}\nevent: trace\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"
                status = job_status(context, record).model_dump_json()
                yield f"event: end\ndata: {status}\n\n"
            return
        if await request.is_disconnected():
            return
        if time.monotonic() - last_sent > KEEP_ALIVE_S:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
