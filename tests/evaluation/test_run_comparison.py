"""`sleuth eval compare` (evaluation.run_comparison): runs side by side on the questions they all answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.cli import main
from evaluation.run_comparison import compare_runs, load_run, render_comparison
from evaluation.run_file import RunFile, ScoredRecord

pytestmark = pytest.mark.unit


def _run(directory: Path, answers: dict[str, tuple[float, int]], failed: str = "") -> Path:
    run = RunFile(directory / "predictions.jsonl")
    for qid, (f1, calls) in answers.items():
        record = ScoredRecord("musique", "sleuth", "balanced", qid, "2hop", "x", f1, f1, {}, {}, llm_calls=calls)
        run.append(record.to_json() | ({"error": "boom"} if qid == failed else {}))
    return directory


def test_only_questions_every_run_answered_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _run(tmp_path / "a", {"q1": (1.0, 8), "q2": (0.0, 8), "q3": (1.0, 8)})
    second = _run(tmp_path / "b", {"q1": (1.0, 4), "q2": (1.0, 2), "q3": (0.0, 2)}, failed="q3")
    assert main(["eval", "compare", "--method", "sleuth", "--budget", "balanced", f"a={first}", f"b={second}"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| musique")]
    assert rows == [
        "| musique | a | 2 | 0.500 | 0.500 | +0.000 [+0.000, +0.000] | 0.000 | 8.00 | +0% | 0 | 0.0 |",
        "| musique | b | 2 | 1.000 | 1.000 | +0.500 [+0.000, +1.000] | 0.000 | 3.00 | -62% | 0 | 0.0 |",
    ]


def test_the_method_and_budget_choose_the_answers(tmp_path: Path) -> None:
    folder = _run(tmp_path / "a", {"q1": (1.0, 8)})
    assert list(load_run(folder, "sleuth", "balanced")) == [("musique", "q1")]
    assert load_run(folder, "sleuth", "fast") == {}
    rows = compare_runs({"a": load_run(folder, "sleuth", "fast")})
    assert [(r.dataset, r.questions, r.calls_change) for r in rows] == [("all", 0, None)]
    assert "| all | a | 0 | 0.000 | 0.000 | +0.000 [+0.000, +0.000] | 0.000 | 0.00 | - |" in render_comparison(rows)


def test_a_run_pools_folders_and_names_its_own_method_and_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    early = _run(tmp_path / "early", {"q1": (1.0, 1)})
    late = _run(tmp_path / "late", {"q2": (0.0, 1)})
    other = _run(tmp_path / "other", {"q1": (0.0, 3), "q2": (1.0, 3)})
    pooled = f"pooled={early}+{late}@sleuth/balanced"
    assert main(["eval", "compare", "--budget", "fast", pooled, f"other={other}@sleuth/balanced"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| musique")]
    assert [row.split(" | ")[1:5] for row in rows] == [
        ["pooled", "2", "0.500", "0.500"],
        ["other", "2", "0.500", "0.500"],
    ]
    assert main(["eval", "compare", f"twice={early}+{early}"]) == 64  # a question answered twice
    assert "answers questions an earlier folder" in capsys.readouterr().err
    assert main(["eval", "compare", f"a={early}@sleuth"]) == 64


def test_bad_arguments_stop_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _run(tmp_path / "a", {"q1": (1.0, 8)})
    assert main(["eval", "compare", str(folder)]) == 64
    assert "expected LABEL=DIR" in capsys.readouterr().err
    assert main(["eval", "compare", f"a={folder}", f"a={folder}"]) == 64
    assert main(["eval", "compare", f"a={tmp_path / 'empty'}"]) == 66
    assert "no predictions.jsonl or scores.jsonl" in capsys.readouterr().err


def test_eval_without_compare_still_needs_its_run_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--dataset", "musique"]) == 64
    assert "--questions, --index, --out" in capsys.readouterr().err
