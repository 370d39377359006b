"""POST /v1/uploads: the raw bytes of a document dump (JSONL, CSV or TSV, optionally compressed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import ContextDep, PrincipalDep
from api.errors import ERROR_RESPONSES
from api.protocol.indexes import UploadResponse
from api.serving import uploads as serving

router = APIRouter(prefix="/v1/uploads", tags=["uploads"], responses=ERROR_RESPONSES)

_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post("", status_code=201, response_model=UploadResponse, openapi_extra=_BODY, summary="Upload a document dump")
async def upload(
    request: Request,
    context: ContextDep,
    principal: PrincipalDep,
    filename: Annotated[str, Query(min_length=1, max_length=255, description="e.g. docs.jsonl or docs.csv.gz")],
) -> UploadResponse:
    return await serving.upload(context, principal, request, filename)
