"""Progress bars on the terminal (stderr) for the command line's long work."""

from __future__ import annotations

import sys

from tqdm import tqdm

from retrieval.progress import StageProgress


class _Bar:
    def __init__(self, bar: tqdm) -> None:
        self._bar = bar

    def advance(self, n: int = 1) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


class TerminalProgress:
    """One tqdm bar per stage, on stderr; silent when stderr is not a terminal unless forced."""

    def __init__(self, *, force: bool = False) -> None:
        self._disable = None if not force else False

    def start(self, stage: str, total: int | None, unit: str) -> StageProgress:
        bar = tqdm(
            total=total,
            desc=f"{stage:<17}",
            unit=f" {unit}",
            file=sys.stderr,
            disable=self._disable,
            dynamic_ncols=True,
        )
        return _Bar(bar)
