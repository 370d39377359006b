"""Names and paths a client gives: index names, and source paths confined to the data root.

A source path is taken relative to the data root; it is resolved (symbolic links followed) and must stay
inside the resolved root, so `../`, absolute paths elsewhere and links that point out are all refused.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from retrieval.errors import ConfigError, InputNotFoundError

INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
INDEX_NAME_PATTERN = INDEX_NAME.pattern
UPLOADS_DIR = "uploads"


class ForbiddenPathError(ConfigError):
    """A path that leaves the data root (or names something a client may not read)."""


def check_index_name(name: str) -> str:
    if not isinstance(name, str) or not INDEX_NAME.match(name):
        raise ConfigError(
            f"bad index name {name!r}: lower-case letters, digits, '-' and '_', starting with a letter or digit, "
            "at most 63 characters"
        )
    return name


def index_dir(index_root: Path, name: str) -> Path:
    return index_root.expanduser().resolve() / check_index_name(name)


def confine(data_root: Path, relative: str) -> Path:
    """The resolved path of `relative` under `data_root`; ForbiddenPathError when it would leave it."""
    if not relative or "\x00" in relative:
        raise ForbiddenPathError("the source path is empty or contains a NUL byte")
    root = data_root.expanduser().resolve()
    given = PurePosixPath(relative)
    if given.is_absolute():
        candidate = Path(given).resolve()
    else:
        if ".." in given.parts:
            raise ForbiddenPathError(f"source path {relative!r} leaves the data root")
        candidate = (root / given).resolve()
    if candidate != root and root not in candidate.parents:
        raise ForbiddenPathError(f"source path {relative!r} is outside the data root")
    if candidate.parts[len(root.parts) : len(root.parts) + 1] == (UPLOADS_DIR,):
        raise ForbiddenPathError("uploads are named by their upload id, not by path")
    if not candidate.exists():
        raise InputNotFoundError(f"source path {relative!r} does not exist under the data root")
    return candidate
