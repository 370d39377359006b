"""GET/DELETE /v1/jobs/{job_id} and GET /v1/jobs/{job_id}/events (Server-Sent Events)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.deps import ContextDep, PrincipalDep
from api.errors import ERROR_RESPONSES
from api.protocol.jobs import JobStatus
from api.serving import jobs as serving

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERROR_RESPONSES)


@router.get("/{job_id}", response_model=JobStatus, summary="A job's state, progress and result")
def get_job(job_id: str, context: ContextDep, principal: PrincipalDep) -> JobStatus:
    return serving.job_status(context, serving.owned_job(context, principal, job_id))


@router.delete(
    "/{job_id}", response_model=JobStatus, summary="Cancel a job (queued: at once; running: at its next check)"
)
def cancel_job(job_id: str, context: ContextDep, principal: PrincipalDep) -> JobStatus:
    return serving.cancel(context, principal, job_id)


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "trace events, then `end`"}},
    summary="The job's trace as Server-Sent Events",
)
def job_events(job_id: str, request: Request, context: ContextDep, principal: PrincipalDep) -> StreamingResponse:
    serving.owned_job(context, principal, job_id)
    stream = serving.event_stream(context, job_id, serving.last_event_id(request), request)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
