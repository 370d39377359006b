"""Progress reporting for long work: the library reports, the caller (CLI, worker) decides how to show it."""

from __future__ import annotations

from typing import Protocol


class StageProgress(Protocol):
    def advance(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


class ProgressReporter(Protocol):
    """Starts one progress counter per stage of a long job."""

    def start(self, stage: str, total: int | None, unit: str) -> StageProgress: ...


class _Silent:
    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class SilentProgress:
    """Reports nothing: the default for library callers."""

    def start(self, stage: str, total: int | None, unit: str) -> StageProgress:
        return _Silent()
