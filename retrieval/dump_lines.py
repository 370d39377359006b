"""Bytes to lines for the dump readers: (compressed) files read in binary and decoded line by line, so
that an undecodable line is reported with its exact number instead of failing the whole file."""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import InputDataError, InputNotFoundError


@dataclass(frozen=True)
class Invalid:
    """A record that cannot become a document: raised, or skipped with `skip_invalid`."""

    line: int
    reason: str
    file: str | None = None  # for directory inputs: the file within the directory


def open_binary(path: Path, compression: str | None) -> io.BufferedIOBase:
    try:
        if compression == "gzip":
            return gzip.open(path, "rb")
        if compression == "bz2":
            return bz2.open(path, "rb")
        if compression == "xz":
            return lzma.open(path, "rb")
        return path.open("rb")
    except OSError as exc:
        raise InputNotFoundError(f"{path}: cannot open: {exc.strerror or exc}") from exc


def decoded_lines(path: Path, compression: str | None) -> Iterator[tuple[int, str | Invalid]]:
    """Each line of a (compressed) file, 1-based, decoded as UTF-8 here so a bad line's number is exact."""
    number = 0
    with open_binary(path, compression) as stream:
        try:
            for number, raw in enumerate(stream, start=1):
                yield number, decode(raw, number)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            what = f"{compression} data" if compression else "file"
            raise InputDataError(f"cannot read {what}: {exc}", source=str(path), line=number + 1) from exc


def decode(raw: bytes, first_line: int) -> str | Invalid:
    """UTF-8 text of a line (or a whole file starting at `first_line`), a leading BOM dropped."""
    offset = len(codecs.BOM_UTF8) if first_line == 1 and raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[offset:].decode("utf-8") if offset else raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        position = exc.start + offset
        column = position - (raw.rfind(b"\n", 0, position) + 1) + 1
        line = first_line + raw.count(b"\n", 0, position)
        return Invalid(line, f"not valid UTF-8 (byte 0x{raw[position]:02x} at column {column})")
