"""Fitting the allocation model from a run file, the held-apart comparison, and `--budget-tokens`."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from api.cli import main
from evaluation.allocation import fit_allocation, load_answers, render_comparison
from reasoning.allocation import AllocationModel, choose_budget
from reasoning.budget import PRESETS
from retrieval.errors import ConfigError

pytestmark = pytest.mark.unit
TOKENS = {"fast": 3000, "balanced": 12000, "thorough": 40000, "wide": 20000}
GAIN = {"fast": 0.0, "balanced": 0.15, "thorough": 0.25, "wide": 0.1}  # F1 grows with compute
BASE = {"bridge": 0.3, "comparison": 0.6}


def _line(qid: str, kind: str, budget: str, f1: float, tokens: int, trace: dict[str, Any] | None) -> dict[str, Any]:
    line = {
        "dataset": "hotpotqa",
        "method": "sleuth",
        "budget": budget,
        "id": qid,
        "type": kind,
        "prediction": "x",
        "em": float(f1 == 1.0),
        "f1": f1,
        "cost": {"llm_calls": 3, "prompt_tokens": tokens - 100, "completion_tokens": 100, "seconds": 1.0},
        "error": None,
    }
    return line | ({"trace": trace} if trace is not None else {})


def write_predictions(path: Path, questions: int = 80, seed: int = 0) -> Path:
    rng = random.Random(seed)
    wide = PRESETS["balanced"].to_json() | {"name": "wide", "chains": 3, "max_rounds": 2}
    lines = []
    for q in range(questions):
        kind = "bridge" if q % 3 else "comparison"
        for budget, tokens in TOKENS.items():
            f1 = min(1.0, max(0.0, BASE[kind] + GAIN[budget] + rng.uniform(-0.1, 0.1)))
            trace = {"events": [{"stage": "start", "budget": wide}]} if budget == "wide" else None
            lines.append(_line(f"q{q}", kind, budget, f1, tokens + rng.randint(-200, 200), trace))
    lines.append(_line("q0", "bridge", "fast", 0.0, 10, None) | {"method": "rag"})
    lines.append(_line("q1", "bridge", "fast", 0.0, 10, None) | {"id": "broken", "error": "boom"})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_answers_carry_the_knobs_they_ran_with(tmp_path: Path) -> None:
    answers = load_answers(write_predictions(tmp_path / "predictions.jsonl"))
    assert len(answers) == 80 * 4  # the other method and the failed answer are left out
    wide = next(a for a in answers if a.budget == "wide")
    assert (wide.knobs["chains"], wide.knobs["max_rounds"]) == (3, 2)  # from the trace's start event
    assert next(a for a in answers if a.budget == "fast").knobs["chains"] == 1  # from the preset
    with pytest.raises(ConfigError, match="no scored direct answers"):
        load_answers(tmp_path / "predictions.jsonl", "direct")


def test_the_fit_predicts_held_apart_questions_and_picks_within_the_allowance(tmp_path: Path) -> None:
    model = fit_allocation(write_predictions(tmp_path / "predictions.jsonl"))
    assert {c["budget"] for c in model["configurations"]} == set(TOKENS)
    rows = model["held_apart"]["rows"]
    assert {(r["budget"], r["type"]) for r in rows} >= {("thorough", "all"), ("fast", "comparison")}
    assert model["held_apart"]["mae_all"] < 0.08
    assert all(abs(r["predicted_f1"] - r["measured_f1"]) < 0.15 for r in rows)
    assert "| thorough | all |" in render_comparison(model)
    path = tmp_path / "allocation.json"
    path.write_text(json.dumps(model), encoding="utf-8")
    loaded = AllocationModel.load(path)
    assert choose_budget(50_000, loaded).budget.name == "thorough"
    assert choose_budget(15_000, loaded).budget.name == "balanced"
    assert choose_budget(21_000, loaded).budget.name == "balanced"  # wide fits too, but is predicted worse
    assert choose_budget(5_000, loaded).budget.max_tokens == 5_000
    with pytest.raises(ConfigError, match="held-apart share"):
        fit_allocation(tmp_path / "predictions.jsonl", share=0.0)


def test_the_cli_fits_and_prints_the_comparison(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    predictions = write_predictions(tmp_path / "predictions.jsonl")
    out = tmp_path / "model" / "allocation.json"
    assert main(["allocation", "fit", "--predictions", str(predictions), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Predicted against measured F1 on held-apart questions" in printed and "4 configurations" in printed
    assert AllocationModel.load(out).f1 is not None
    assert main(["allocation", "fit", "--predictions", str(tmp_path / "none.jsonl"), "--out", str(out)]) == 64
