"""POST /v1/ask."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import ContextDep, PrincipalDep
from api.errors import ERROR_RESPONSES
from api.protocol.ask import AskRequest, AskResponse
from api.protocol.jobs import JobAccepted
from api.serving import ask as serving

router = APIRouter(prefix="/v1", tags=["ask"], responses=ERROR_RESPONSES)


@router.post(
    "/ask",
    response_model=AskResponse | JobAccepted,
    responses={200: {"model": AskResponse}, 202: {"model": JobAccepted}},
    summary="Answer a question: 200 with the answer on a short budget, else 202 with a job",
)
async def ask(
    request: AskRequest, context: ContextDep, principal: PrincipalDep, response: Response
) -> AskResponse | JobAccepted:
    result = await serving.ask(context, principal, request)
    if isinstance(result, JobAccepted):
        response.status_code = 202
        response.headers["Location"] = result.links.self
    return result
