"""POST /v1/uploads: a document dump (JSONL, CSV or TSV, optionally compressed), as raw bytes or as the file
part of a multipart/form-data form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import ContextDep, PrincipalDep
from api.errors import ERROR_RESPONSES, ErrorResponse
from api.protocol.indexes import UploadResponse
from api.serving import uploads as serving
from workers.uploads import ALLOWED_SUFFIXES, COMPRESSIONS

FILE_ENDINGS = (
    f"{', '.join(ALLOWED_SUFFIXES)}, optionally followed by {', '.join(c for c in COMPRESSIONS if c)}"
    " (the ending names the format)"
)
_BINARY = {"type": "string", "format": "binary"}
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the dump's raw bytes, or a form whose file part (e.g. `file`) is the dump",
        "content": {
            "application/octet-stream": {"schema": _BINARY},
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": _BINARY}, "required": ["file"]},
            },
        },
    }
}
_REFUSED: dict[int | str, dict[str, Any]] = {
    415: {"model": ErrorResponse, "description": "a URL-encoded form (curl -d): send raw bytes or multipart"}
}

router = APIRouter(prefix="/v1/uploads", tags=["uploads"], responses=ERROR_RESPONSES)


@router.post(
    "",
    status_code=201,
    response_model=UploadResponse,
    openapi_extra=_BODY,
    responses=_REFUSED,
    summary="Upload a document dump (raw bytes, or multipart/form-data as curl -F file=@docs.jsonl sends it)",
)
async def upload(
    request: Request,
    context: ContextDep,
    principal: PrincipalDep,
    filename: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=255,
            description=f"the dump's file name, e.g. docs.jsonl or docs.csv.gz: it must end in {FILE_ENDINGS}. "
            "Required for a raw body; a multipart form's file name is used when it is not given",
        ),
    ] = None,
) -> UploadResponse:
    return await serving.upload(context, principal, request, filename)
