"""One measurement of the graph benchmark, in a fresh interpreter, over the code tree it is given.

    python graph_probe.py CODE_ROOT stage STORE OUT_JSON [KEEP_DIR]
    python graph_probe.py CODE_ROOT ner STORE OUT_JSON

It imports only the standard library before putting CODE_ROOT first on sys.path, so `kg` and
`retrieval` come from that tree: today's checkout, or a git worktree of an older commit measured in the
same run. `stage` runs the whole graph stage (NER, synonyms, files) and keeps the graph's files in
KEEP_DIR when one is given; `ner` runs the NER pass alone over the same passages.

Memory: the stage's growth is its peak resident set over the resident set once the NER model is
loaded. The peak is the kernel's high-water mark (VmHWM), reset when a stage begins (writing 5 to
/proc/self/clear_refs), so each stage's own peak is known too; where that file cannot be written, the
process's ru_maxrss is used instead and only the whole peak is known.
"""

from __future__ import annotations

import contextlib
import json
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Memory:
    """Resident set and its high-water mark, in MiB."""

    def __init__(self) -> None:
        self.resettable = self._try_reset()

    @staticmethod
    def _try_reset() -> bool:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def reset_peak(self) -> None:
        if self.resettable:
            self._try_reset()

    def rss(self) -> float:
        return self._status("VmRSS") or 0.0

    def peak(self) -> float:
        found = self._status("VmHWM") if self.resettable else None
        return found if found is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    @staticmethod
    def _status(field: str) -> float | None:
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        return None


def _measured_clock(memory: Memory) -> Any:
    """The tree's StageClock, also keeping the peak resident set of each stage (MiB)."""
    from retrieval.builder import StageClock

    class MeasuredClock(StageClock):
        def __init__(self, progress: Any) -> None:
            super().__init__(progress)
            self.peaks: dict[str, float] = {}

        @contextlib.contextmanager
        def stage(self, name: str, total: int | None, unit: str) -> Iterator[Any]:
            memory.reset_peak()
            with super().stage(name, total, unit) as counter:
                yield counter
            self.peaks[name] = round(memory.peak(), 1)
            memory.reset_peak()

    return MeasuredClock


def stage_figures(store_path: Path, keep: Path | None) -> dict[str, Any]:
    from kg.graph_stage import graph_stage
    from retrieval.passage_store import PassageStore
    from retrieval.progress import SilentProgress

    store = PassageStore.open(store_path)
    stage = graph_stage()
    memory = Memory()
    baseline = memory.rss()
    memory.reset_peak()
    clock = _measured_clock(memory)(SilentProgress())
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        section = stage.run(store, Path(work), clock)
        seconds = time.perf_counter() - start
        peak = max([memory.peak(), *clock.peaks.values()])
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(Path(work) / "graph", keep)
    passages = int(section["counts"]["passages"])
    growth = peak - baseline
    return {
        "passages": passages,
        "graph_seconds": round(seconds, 2),
        "stages": clock.stages,
        "counts": section["counts"],
        "rss_before_stage_mib": round(baseline, 1),
        "peak_rss_mib": round(peak, 1),
        "graph_rss_growth_mib": round(growth, 1),
        "kib_per_passage": round(growth * 1024 / passages, 2) if passages else None,
        "stage_growth_mib": {name: round(value - baseline, 1) for name, value in clock.peaks.items()},
        "peak_method": "VmHWM, reset per stage" if memory.resettable else "ru_maxrss",
    }


def ner_figures(store_path: Path) -> dict[str, Any]:
    from kg.ner import SpacyEntityExtractor
    from retrieval.passage_store import PassageStore

    store = PassageStore.open(store_path)
    extractor = SpacyEntityExtractor()
    memory = Memory()
    baseline = memory.rss()
    memory.reset_peak()
    start = time.perf_counter()
    mentions = sum(len(m) for m in extractor.extract(p.text for p in store.iter_passages()))
    seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 2),
        "mentions": mentions,
        "rss_growth_mib": round(memory.peak() - baseline, 1),
    }


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[1] not in ("stage", "ner"):
        print(__doc__, file=sys.stderr)
        return 2
    code_root, command, store, out = Path(argv[0]), argv[1], Path(argv[2]), Path(argv[3])
    sys.path[0] = str(code_root.resolve())  # not this script's folder: the tree's packages
    if command == "stage":
        figures = stage_figures(store, Path(argv[4]) if len(argv) > 4 else None)
    else:
        figures = ner_figures(store)
    out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
