"""Typed errors of the retrieval layer.

Every error a user can cause carries a one-line message that names the problem and an exit status
(sysexits-style) that the command line returns.
"""

from __future__ import annotations


class SleuthError(Exception):
    """Base of every error Sleuth raises on purpose."""

    exit_code = 1


class InputDataError(SleuthError):
    """A document dump is malformed: bad JSON, missing text, wrong encoding, duplicate ids."""

    exit_code = 65  # EX_DATAERR

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None) -> None:
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(f"{where}{message}")
        self.source = source
        self.line = line


class DuplicateDocumentError(InputDataError):
    """Two documents with one id; `reason` says where the first one was (skipped with `skip_invalid`)."""

    def __init__(self, reason: str, *, source: str | None = None, line: int | None = None) -> None:
        super().__init__(reason, source=source, line=line)
        self.reason = reason


class InputNotFoundError(SleuthError):
    """An input path does not exist or has an unsupported format."""

    exit_code = 66  # EX_NOINPUT


class OutputExistsError(SleuthError):
    """The output directory exists and overwriting was not asked for."""

    exit_code = 73  # EX_CANTCREAT


class IndexLoadError(SleuthError):
    """An index bundle cannot be loaded: missing files, wrong schema, wrong embedder."""

    exit_code = 66  # EX_NOINPUT


class ConfigError(SleuthError):
    """A setting or option has a value that cannot work."""

    exit_code = 64  # EX_USAGE


class PathOutsideRootError(ConfigError):
    """An input, or a file in an input directory, that resolves (through a symbolic link) outside the root
    it must stay in (the service's data root, or `sleuth index build --data-root`)."""


class DependencyError(SleuthError):
    """An optional dependency or a model is not installed."""

    exit_code = 69  # EX_UNAVAILABLE
