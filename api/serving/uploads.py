"""POST /v1/uploads: a document dump streamed to disk under the data root, never more than the limit.

The body is the dump's raw bytes (`application/octet-stream`, or any type but a form; the file name comes
from `?filename=`), or a multipart/form-data form whose file part is the dump (`curl -F file=@docs.jsonl`;
the part's file name, unless `?filename=` gives one). A URL-encoded form is refused with 415: it is what
`curl -d` sends, with the file's newlines stripped. A name the service would refuse is refused before
anything is written, and a failed upload leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import Request

from api.context import ServiceContext
from api.errors import ApiError
from api.protocol.indexes import UploadResponse
from api.security import Principal
from api.serving.multipart import ENVELOPE_BYTES, MULTIPART, PartData, PartEnd, PartEvent, PartStart, part_events
from workers.uploads import safe_filename

FILE_FIELD = "file"
_HOW_TO_SEND = (
    "send the dump's raw bytes as application/octet-stream "
    "(curl --data-binary @docs.jsonl -H 'Content-Type: application/octet-stream' '/v1/uploads?filename=docs.jsonl') "
    "or as multipart/form-data (curl -F file=@docs.jsonl /v1/uploads)"
)


async def upload(
    context: ServiceContext, principal: Principal, request: Request, filename: str | None
) -> UploadResponse:
    limit = context.settings.limits.max_upload_bytes
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + (ENVELOPE_BYTES if media == MULTIPART else 0):
        raise ApiError(413, "too_large", f"the upload is {declared} bytes; the limit is {limit}")
    if media == MULTIPART:
        return await _multipart_upload(context, principal, content_type, request.stream(), filename)
    if media == "application/x-www-form-urlencoded" or media.startswith("multipart/"):
        raise ApiError(415, "unsupported_media_type", f"a {media} body is not an upload: {_HOW_TO_SEND}")
    if filename is None:
        raise ApiError(400, "invalid_request", "name the file: ?filename=docs.jsonl (its ending names its format)")
    return await store_upload(context, principal, filename, request.stream())


async def store_upload(
    context: ServiceContext, principal: Principal, filename: str, chunks: AsyncIterator[bytes]
) -> UploadResponse:
    """Write `chunks` to a new upload of this key's; on any failure (over the limit, empty, a client that
    went away) the upload's folder is removed."""
    limit = context.settings.limits.max_upload_bytes
    safe_filename(filename)  # a name that would be refused is refused before a folder is made for it
    area = context.runtime.uploads
    slot = await asyncio.to_thread(area.reserve, principal.id, filename)
    size = 0
    try:
        with slot.path.open("wb") as handle:
            async for chunk in chunks:
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


async def _multipart_upload(
    context: ServiceContext,
    principal: Principal,
    content_type: str,
    body: AsyncIterator[bytes],
    filename: str | None,
) -> UploadResponse:
    limit = context.settings.limits.max_upload_bytes
    events = part_events(content_type, _capped(body, limit + ENVELOPE_BYTES))
    start = await _file_part(events)
    name = filename or start.filename
    if not name:
        reason = "the file part has no file name: send one (-F file=@docs.jsonl) or give ?filename="
        raise ApiError(400, "invalid_request", reason)
    return await store_upload(context, principal, name, _file_data(events))


async def _file_part(events: AsyncIterator[PartEvent]) -> PartStart:
    """The start of the body's file part: the first part with a file name, or the field named `file`."""
    async for event in events:
        if isinstance(event, PartStart) and (event.filename is not None or event.name == FILE_FIELD):
            return event
    raise ApiError(400, "invalid_input", f"the multipart body has no file part: {_HOW_TO_SEND}")


async def _file_data(events: AsyncIterator[PartEvent]) -> AsyncIterator[bytes]:
    """The file part's bytes; then the rest of the body, which must hold no second file."""
    async for event in events:
        if isinstance(event, PartData):
            yield event.data
        elif isinstance(event, PartEnd):
            break
    async for event in events:
        if isinstance(event, PartStart) and event.filename is not None:
            raise ApiError(400, "invalid_input", "one file per upload: this multipart body holds more")


async def _capped(body: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    size = 0
    async for chunk in body:
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"the upload is over the limit of {limit} bytes")
        yield chunk
