"""Crash-safe publication of a directory: build in a temporary sibling, then swap it into place.

An interrupted build (an exception, Ctrl-C, kill -9) never touches the directory being replaced: the
temporary directory is removed on an exception, and one left behind by kill -9 is removed by the next
build into the same place. A lock file keeps two builds from writing the same directory at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from retrieval.errors import OutputExistsError

log = logging.getLogger(__name__)

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@contextlib.contextmanager
def staged_directory(out: Path, *, overwrite: bool, marker: str, lock_wait_s: float = 0.0) -> Iterator[Path]:
    """Yield an empty temporary directory; on success it replaces `out` in one step.

    `marker` is a file name that identifies a directory this code may replace (e.g. manifest.json):
    an existing `out` without it is never overwritten, so a wrong `--out` cannot delete user data.
    Another build or update of `out` holds its lock: this one waits up to `lock_wait_s` for it, then
    raises OutputExistsError.
    """
    out = out.absolute()
    check_replaceable(out, overwrite=overwrite, marker=marker)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(out, lock_wait_s):
        _remove_stale(out)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
        try:
            yield staging
            check_replaceable(out, overwrite=overwrite, marker=marker)
            _publish(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def write_text_atomically(path: Path, text: str) -> None:
    """Write a file through a temporary sibling renamed into place: readers see the old file or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_replaceable(out: Path, *, overwrite: bool, marker: str) -> None:
    if not out.exists():
        return
    if not overwrite:
        raise OutputExistsError(f"output directory {out} already exists (use --overwrite to replace it)")
    if not out.is_dir():
        raise OutputExistsError(f"output path {out} exists and is not a directory")
    if any(out.iterdir()) and not (out / marker).exists():
        raise OutputExistsError(f"refusing to overwrite {out}: it is not a Sleuth index (no {marker})")


def _publish(staging: Path, out: Path) -> None:
    _fsync_tree(staging)
    if not out.exists():
        os.rename(staging, out)
    elif _exchange(staging, out):
        shutil.rmtree(staging)  # holds the previous index now
    else:
        retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.retired-", dir=out.parent))
        os.rename(out, retired / out.name)
        os.rename(staging, out)
        shutil.rmtree(retired)
    _fsync_dir(out.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(result == 0)


@contextlib.contextmanager
def _build_lock(out: Path, wait_s: float = 0.0) -> Iterator[None]:
    lock_path = out.parent / f".{out.name}.lock"
    deadline = time.monotonic() + wait_s
    with open(lock_path, "w") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OutputExistsError(f"another build into {out} is running (lock {lock_path})") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_stale(out: Path) -> None:
    """Remove temporary directories that an earlier, killed build left (we hold the lock)."""
    for pattern in (f".{out.name}.building-*", f".{out.name}.retired-*"):
        for stale in out.parent.glob(pattern):
            log.warning("removing %s left by an interrupted build", stale)
            shutil.rmtree(stale, ignore_errors=True)


def _fsync_tree(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
