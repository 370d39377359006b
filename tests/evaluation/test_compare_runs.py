"""scripts/compare_runs.py: runs side by side on the questions they all answered."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from evaluation.run_file import RunFile, ScoredRecord

pytestmark = pytest.mark.unit
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_runs.py"


def _run(directory: Path, answers: dict[str, tuple[float, int]], failed: str = "") -> Path:
    run = RunFile(directory / "predictions.jsonl")
    for qid, (f1, calls) in answers.items():
        record = ScoredRecord("musique", "sleuth", "balanced", qid, "2hop", "x", f1, f1, {}, {}, llm_calls=calls)
        run.append(record.to_json() | ({"error": "boom"} if qid == failed else {}))
    return directory


def test_only_questions_every_run_answered_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("compare_runs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    first = _run(tmp_path / "a", {"q1": (1.0, 8), "q2": (0.0, 8), "q3": (1.0, 8)})
    second = _run(tmp_path / "b", {"q1": (1.0, 4), "q2": (1.0, 2), "q3": (0.0, 2)}, failed="q3")
    assert module.main([f"a={first}", f"b={second}"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| musique")]
    assert rows == [
        "| musique | a | 2 | 0.500 | 0.500 | +0.000 [+0.000, +0.000] | 8.00 | +0% | 0 | 0.0 |",
        "| musique | b | 2 | 1.000 | 1.000 | +0.500 [+0.000, +1.000] | 3.00 | -62% | 0 | 0.0 |",
    ]
    low, high = module.paired_interval([0.1] * 20 + [-0.1] * 20)
    assert -0.1 < low < 0.0 < high < 0.1  # centred on no difference
