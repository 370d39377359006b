"""Checksums of build inputs, for the manifest (a file, or a directory of files)."""

from __future__ import annotations

import hashlib
from pathlib import Path

_BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def sha256_input(path: Path) -> str:
    """A file's sha256; for a directory, the sha256 of its sorted (relative path, file sha256) lines."""
    if path.is_file():
        return sha256_file(path)
    lines = (
        f"{child.relative_to(path).as_posix()}\t{sha256_file(child)}\n"
        for child in sorted(path.rglob("*"))
        if child.is_file()
    )
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode())
    return digest.hexdigest()
