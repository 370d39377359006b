"""Streamed readers for document dumps.

A dump is read one line (or, for a directory, one file) at a time, so it never has to fit in memory:
JSON Lines and CSV/TSV files, each optionally compressed with gzip, bzip2 or xz, and directories of
text and Markdown files. Every record becomes a `Document`. A bad record raises an `InputDataError`
that names its file and line, or, with `skip_invalid`, is skipped and counted in the source's stats.

With a `root` (the service's data root, `sleuth index build --data-root`), every input and every file of an
input directory is resolved, symbolic links followed, and one that lands outside the root is refused
(`PathOutsideRootError`) before its directory is read; files are then read at their resolved paths.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from retrieval.documents import Document
from retrieval.dump_lines import Invalid, decode, decoded_lines
from retrieval.errors import ConfigError, InputDataError, InputNotFoundError, PathOutsideRootError

log = logging.getLogger(__name__)

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv"}
COMPRESSION_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
TEXT_FILE_SUFFIXES = (".txt", ".md", ".markdown")
MARKDOWN_SUFFIXES = (".md", ".markdown")
MAX_SKIPPED_EXAMPLES = 20
CSV_FIELD_LIMIT = 2**31 - 1  # the largest value csv accepts on every platform
SUPPORTED_FORMATS = (
    f"{', '.join(JSONL_SUFFIXES + tuple(TABLE_SUFFIXES))} (optionally compressed: "
    f"{', '.join(COMPRESSION_SUFFIXES)}), or a directory of {', '.join(TEXT_FILE_SUFFIXES)} files"
)

_HEADING = re.compile(r" {0,3}#{1,6}[ \t]+(?P<title>.*?)(?:[ \t]+#+)?[ \t]*")
_FENCE = re.compile(r" {0,3}(?:```|~~~)")
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


@dataclass(frozen=True)
class FieldMapping:
    """Which fields of a record (JSON key or CSV column) hold the id, the title and the text."""

    id: str = "id"
    title: str = "title"
    text: str = "text"
    text_fallbacks: tuple[str, ...] = ("contents",)  # used when the text field is absent

    def __post_init__(self) -> None:
        object.__setattr__(self, "text_fallbacks", tuple(self.text_fallbacks))
        if not self.id.strip() or not self.text.strip():
            raise ConfigError(f"the id and text field names must not be empty: id={self.id!r}, text={self.text!r}")

    @property
    def text_fields(self) -> tuple[str, ...]:
        """The fields tried for the text, in order."""
        return (self.text, *self.text_fallbacks)


DEFAULT_FIELDS = FieldMapping()


@dataclass
class SourceStats:
    """What reading one input path gave: filled in while its documents are read."""

    source: str
    format: str  # "jsonl" | "csv" | "tsv" | "directory"
    compression: str | None  # "gzip" | "bz2" | "xz" | None
    records: int = 0
    skipped: int = 0
    skipped_examples: list[dict[str, object]] = field(default_factory=list)


class _RecordError(Exception):
    """A field of a record has no usable value; its message is the reason."""


_Item = Document | Invalid


def detect_format(path: Path) -> tuple[str, str | None]:
    """The format ("jsonl", "csv", "tsv" or "directory") and compression of an input path."""
    if path.is_dir():
        return "directory", None
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such file or directory")
    name, compression = path.name.lower(), None
    for suffix, kind in COMPRESSION_SUFFIXES.items():
        if name.endswith(suffix):
            name, compression = name.removesuffix(suffix), kind
    base = os.path.splitext(name)[1]
    if base in JSONL_SUFFIXES:
        return "jsonl", compression
    if base in TABLE_SUFFIXES:
        return TABLE_SUFFIXES[base], compression
    raise InputNotFoundError(f"{path}: unsupported input format; supported: {SUPPORTED_FORMATS}")


def read_documents(
    paths: Sequence[Path],
    fields: FieldMapping = DEFAULT_FIELDS,
    *,
    skip_invalid: bool = False,
    stats: list[SourceStats] | None = None,
    root: Path | None = None,
) -> Iterator[Document]:
    """Stream the documents of every input, in the order given; an empty dump is an error.

    Every path is checked (exists, supported format, inside `root` when one is given) before the first
    document is read.
    """
    formats = [detect_format(Path(path)) for path in paths]
    confine = None if root is None else Path(root).expanduser().resolve()
    if confine is not None:
        for path in paths:
            check_inside(Path(path), confine)
    yielded = skipped = 0
    for path, (fmt, compression) in zip(paths, formats, strict=True):
        source = SourceStats(source=str(path), format=fmt, compression=compression)
        if stats is not None:
            stats.append(source)
        yield from _read_source(Path(path), source, fields, skip_invalid, confine)
        yielded, skipped = yielded + source.records, skipped + source.skipped
    if yielded == 0:
        raise InputDataError(_no_documents_message(paths, skipped))


def _no_documents_message(paths: Sequence[Path], skipped: int) -> str:
    where = ", ".join(str(path) for path in paths) or "(no input paths given)"
    return f"no documents found in {where}" + (f" ({skipped} invalid records skipped)" if skipped else "")


def check_inside(path: Path, root: Path) -> Path:
    """`path` resolved (symbolic links followed); PathOutsideRootError when that leaves `root` (resolved)."""
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        named = Path(os.path.normpath(path.absolute()))
        how = "a symbolic link to a file outside" if root in named.parents else "outside"
        raise PathOutsideRootError(f"{path}: {how} {root} (refused)")
    return resolved


def skip_document(stats: SourceStats, doc: Document, reason: str) -> None:
    """Count a document the reader gave as skipped after all (its id was a duplicate when it was stored)."""
    stats.records -= 1
    _note_skipped(stats, Invalid(doc.line, reason, file=doc.source if stats.format == "directory" else None))


def _read_source(
    path: Path, stats: SourceStats, fields: FieldMapping, skip_invalid: bool, confine: Path | None
) -> Iterator[Document]:
    for item in _items(path, stats.format, stats.compression, fields, confine):
        if isinstance(item, Document):
            stats.records += 1
            yield item
        elif skip_invalid:
            _note_skipped(stats, item)
        else:
            raise InputDataError(item.reason, source=item.file or str(path), line=item.line)
    log.info("read %d documents from %s", stats.records, path)
    if stats.skipped:
        log.warning("%s: skipped %d invalid records, e.g. %s", path, stats.skipped, stats.skipped_examples[0])


def _note_skipped(stats: SourceStats, item: Invalid) -> None:
    stats.skipped += 1
    if len(stats.skipped_examples) < MAX_SKIPPED_EXAMPLES:
        example: dict[str, object] = {"line": item.line, "reason": item.reason}
        if item.file is not None:
            example["file"] = item.file
        stats.skipped_examples.append(example)
    log.debug("%s:%d: skipped: %s", item.file or stats.source, item.line, item.reason)


def _items(
    path: Path, fmt: str, compression: str | None, fields: FieldMapping, confine: Path | None
) -> Iterator[_Item]:
    if fmt == "directory":
        return _directory_items(path, confine)
    if fmt == "jsonl":
        return _jsonl_items(path, compression, fields)
    return _table_items(path, compression, fields, "\t" if fmt == "tsv" else ",")


# --- records to documents -------------------------------------------------------------------------


def _document_item(record: Mapping[str, object], fields: FieldMapping, path: Path, line: int) -> _Item:
    try:
        text = _text_of(record, fields)
        doc_id = _string_field(record, fields.id).strip() or f"{path.name}:{line}"
        title = _string_field(record, fields.title).strip()
    except _RecordError as exc:
        return Invalid(line, str(exc))
    return Document(doc_id=doc_id, title=title, text=text, source=str(path), line=line)


def _text_of(record: Mapping[str, object], fields: FieldMapping) -> str:
    for name in fields.text_fields:
        if record.get(name) is not None:
            text = _string_field(record, name)
            if not text or text.isspace():
                raise _RecordError(f"no text: field {name!r} is empty")
            return text
    tried = ", ".join(repr(name) for name in fields.text_fields)
    raise _RecordError(f"no text: none of the fields {tried} is present")


def _string_field(record: Mapping[str, object], name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    raise _RecordError(f"field {name!r} is {_json_type(value)}, not a string or number")


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), "null" if value is None else "an object")


# --- JSON Lines -----------------------------------------------------------------------------------


def _jsonl_items(path: Path, compression: str | None, fields: FieldMapping) -> Iterator[_Item]:
    for number, text in decoded_lines(path, compression):
        if isinstance(text, Invalid):
            yield text
        elif text and not text.isspace():
            yield _json_item(text, number, path, fields)


def _json_item(text: str, number: int, path: Path, fields: FieldMapping) -> _Item:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        detail = f"{exc.msg} (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else str(exc)
        return Invalid(number, f"malformed JSON: {detail}{_array_hint(text, number)}")
    if not isinstance(value, dict):
        return Invalid(number, f"JSON value is {_json_type(value)}, not an object{_array_hint(text, number)}")
    return _document_item(value, fields, path, number)


def _array_hint(text: str, number: int) -> str:
    if number == 1 and text.lstrip().startswith("["):
        return "; a .json input must be JSON Lines (one object per line), not a JSON array"
    return ""


# --- CSV and TSV ----------------------------------------------------------------------------------


class _LineFeed:
    """Feeds decoded lines to csv.reader, setting aside undecodable ones; remembers where a row began."""

    def __init__(self, lines: Iterable[tuple[int, str | Invalid]]) -> None:
        self._lines = lines
        self.first = 0  # the number of the first line given to the reader since the last reset
        self.invalid: list[Invalid] = []

    def __iter__(self) -> Iterator[str]:
        for number, text in self._lines:
            if isinstance(text, Invalid):
                self.invalid.append(text)
                continue
            self.first = self.first or number
            yield text


def _csv_rows(path: Path, compression: str | None, delimiter: str) -> Iterator[tuple[int, list[str]] | Invalid]:
    """Each row with the number of its first line; undecodable lines come out as `Invalid`."""
    feed = _LineFeed(decoded_lines(path, compression))
    reader = csv.reader(feed, delimiter=delimiter)
    while True:
        feed.first = 0
        try:
            row = next(reader, None)
        except csv.Error as exc:
            kind = "TSV" if delimiter == "\t" else "CSV"
            raise InputDataError(f"malformed {kind} row: {exc}", source=str(path), line=feed.first or 1) from exc
        yield from feed.invalid
        feed.invalid.clear()
        if row is None:
            return
        yield feed.first, row


def _table_items(path: Path, compression: str | None, fields: FieldMapping, delimiter: str) -> Iterator[_Item]:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    header: list[str] | None = None
    for item in _csv_rows(path, compression, delimiter):
        if isinstance(item, Invalid):
            yield item
        elif header is None:
            header = _table_header(item[1], fields, path)
        elif any(cell.strip() for cell in item[1]):
            record = dict(zip(header, item[1] + [""] * (len(header) - len(item[1])), strict=False))
            yield _document_item(record, fields, path, item[0])


def _table_header(row: list[str], fields: FieldMapping, path: Path) -> list[str]:
    header = [name.strip() for name in row]
    if not any(name in header for name in fields.text_fields):
        tried = ", ".join(repr(name) for name in fields.text_fields)
        columns = ", ".join(repr(name) for name in header) or "(none)"
        raise InputDataError(f"header has no text column ({tried}); columns: {columns}", source=str(path), line=1)
    return header


# --- directories of text files --------------------------------------------------------------------


def _directory_items(root: Path, confine: Path | None) -> Iterator[_Item]:
    files = text_files(root)
    # every file is checked before the first is read; each is then read where it resolved to
    targets = files if confine is None else [check_inside(path, confine) for path in files]
    for path, target in zip(files, targets, strict=True):
        yield _text_file_item(root, path, target)


def text_files(root: Path) -> list[Path]:
    """Every .txt/.md/.markdown file under root, hidden files and folders left out, in sorted order
    (symbolic links to files are listed; linked folders are not entered)."""
    found = [
        path
        for path in root.rglob("*")
        if path.suffix.lower() in TEXT_FILE_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
        and path.is_file()
    ]
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def _text_file_item(root: Path, path: Path, target: Path) -> _Item:
    text = decode(target.read_bytes(), 1)
    if isinstance(text, Invalid):
        return replace(text, file=str(path))
    title, body = _title_and_body(path, text)
    if not body:
        return Invalid(1, "no text: the file is empty", file=str(path))
    return Document(doc_id=path.relative_to(root).as_posix(), title=title, text=body, source=str(path), line=1)


def _title_and_body(path: Path, text: str) -> tuple[str, str]:
    if path.suffix.lower() in MARKDOWN_SUFFIXES:
        heading = _markdown_heading(text)
        if heading is not None:
            return heading
    return " ".join(path.stem.replace("_", " ").replace("-", " ").split()), text.strip()


def _markdown_heading(text: str) -> tuple[str, str] | None:
    """The first heading outside code fences, and the text without that heading line."""
    lines = text.split("\n")
    in_fence = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (match := _HEADING.fullmatch(line.rstrip())) and match["title"]:
            return match["title"], "\n".join(lines[:index] + lines[index + 1 :]).strip()
    return None
