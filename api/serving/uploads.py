"""POST /v1/uploads: a document dump streamed to disk under the data root, never more than the limit."""

from __future__ import annotations

import asyncio

from fastapi import Request

from api.context import ServiceContext
from api.errors import ApiError
from api.protocol.indexes import UploadResponse
from api.security import Principal


async def upload(context: ServiceContext, principal: Principal, request: Request, filename: str) -> UploadResponse:
    limit = context.settings.limits.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"the upload is {declared} bytes; the limit is {limit}")
    area = context.runtime.uploads
    slot = await asyncio.to_thread(area.reserve, principal.id, filename)
    size = 0
    try:
        with slot.path.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "too_large", f"the upload is over the limit of {limit} bytes")
                await asyncio.to_thread(handle.write, chunk)
        if size == 0:
            raise ApiError(400, "invalid_input", "the upload is empty")
        done = await asyncio.to_thread(area.commit, slot, size)
    except BaseException:
        await asyncio.to_thread(area.discard, slot)
        raise
    return UploadResponse(upload_id=done.id, filename=done.filename, bytes=done.bytes)
