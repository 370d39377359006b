"""A multipart/form-data body read as a stream (`curl -F file=@docs.jsonl`): python-multipart's parser is
fed the body chunk by chunk and turns it into events (a part starts, with its field name and file name;
some of its data; it ends), so a file part goes to disk as it arrives and is never held whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from api.errors import ApiError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MULTIPART = "multipart/form-data"
ENVELOPE_BYTES = 64 * 1024  # what a multipart upload may hold besides its file (boundaries, headers, fields)


@dataclass(frozen=True)
class PartStart:
    name: str  # the form field's name
    filename: str | None  # the file name the client gave (None for a plain field)


@dataclass(frozen=True)
class PartData:
    data: bytes


@dataclass(frozen=True)
class PartEnd:
    pass


PartEvent = PartStart | PartData | PartEnd


def malformed(reason: str) -> ApiError:
    return ApiError(400, "invalid_input", f"malformed multipart/form-data body: {reason}")


class MultipartStream:
    """Parses one body: `feed` each chunk, then `close`; both give the events the bytes completed."""

    def __init__(self, content_type: str) -> None:
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not boundary:
            raise malformed("the Content-Type names no boundary")
        self._events: list[PartEvent] = []
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._ended = False
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._headers.clear,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": lambda data, start, end: self._events.append(PartData(bytes(data[start:end]))),
            "on_part_end": lambda: self._events.append(PartEnd()),
            "on_end": self._end,
        }
        self._parser = MultipartParser(boundary, callbacks)

    def feed(self, chunk: bytes) -> list[PartEvent]:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise malformed(str(exc)) from exc
        events, self._events = self._events, []
        return events

    def close(self) -> list[PartEvent]:
        self._parser.finalize()
        if not self._ended:
            raise malformed("it ends before its closing boundary")
        events, self._events = self._events, []
        return events

    def _header_end(self) -> None:
        self._headers[bytes(self._field).strip().lower()] = bytes(self._value).strip()
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        filename = params.get(b"filename")
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._events.append(PartStart(name, None if filename is None else filename.decode("utf-8", "replace")))

    def _end(self) -> None:
        self._ended = True


async def part_events(content_type: str, body: AsyncIterator[bytes]) -> AsyncIterator[PartEvent]:
    """The events of a multipart body, as its chunks arrive."""
    stream = MultipartStream(content_type)
    async for chunk in body:
        for event in stream.feed(chunk):
            yield event
    for event in stream.close():
        yield event
