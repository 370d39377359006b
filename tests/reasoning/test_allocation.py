"""Choosing a budget for a token allowance: from an allocation model, from measurements, from the caps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reasoning.allocation import FORMAT, FORMAT_VERSION, AllocationModel, choose_budget, load_allocation
from reasoning.budget import PRESETS
from retrieval.errors import ConfigError, InputNotFoundError

pytestmark = pytest.mark.unit


def _config(name: str, tokens: float, f1: float) -> dict[str, Any]:
    knobs = {k: v for k, v in PRESETS[name].to_json().items() if k != "name"}
    return {"budget": name, "knobs": knobs, "mean_tokens": tokens, "questions": 10, "measured_f1": f1}


def _model_file(tmp_path: Path, f1_model: dict[str, Any] | None) -> Path:
    data = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": "sleuth",
        "configurations": [
            _config("fast", 3000, 0.3),
            _config("balanced", 12000, 0.45),
            _config("thorough", 40000, 0.5),
        ],
        "f1_model": f1_model,
    }
    path = tmp_path / "allocation.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# F1 grows with ln(tokens) for bridge questions and falls with it for comparison ones
F1_MODEL = {
    "columns": ["log_tokens", "type=bridge", "type=bridge*log_tokens", "type=comparison", "type=comparison*log_tokens"],
    "coefficients": [0.0, -1.0, 0.15, 1.0, -0.05],
    "intercept": 0.0,
    "type_shares": {"bridge": 0.8, "comparison": 0.2},
}


def test_the_model_picks_the_predicted_best_that_fits_and_caps_the_tokens(tmp_path: Path) -> None:
    model = AllocationModel.load(_model_file(tmp_path, F1_MODEL))
    roomy = choose_budget(50_000, model)
    assert roomy.budget.name == "thorough" and roomy.source == "model" and roomy.budget.max_tokens == 50_000
    assert roomy.predicted_f1 == pytest.approx(0.8 * (-1 + 0.15 * 10.5966) + 0.2 * (1 - 0.05 * 10.5966), abs=1e-3)
    assert choose_budget(20_000, model).budget.name == "balanced"
    assert choose_budget(20_000, model).budget.max_tokens == 20_000  # within the allowance, below balanced's cap
    assert "predicted F1" in roomy.message and "40,000" in roomy.message


def test_nothing_fits_says_by_how_much(tmp_path: Path) -> None:
    model = AllocationModel.load(_model_file(tmp_path, F1_MODEL))
    with pytest.raises(ConfigError, match="no configuration fits within 1,000 tokens.*fast, used 3,000"):
        choose_budget(1000, model)
    with pytest.raises(ConfigError, match="positive integer"):
        choose_budget(0, model)


def test_without_an_f1_model_the_largest_measured_preset_that_fits(tmp_path: Path) -> None:
    model = AllocationModel.load(_model_file(tmp_path, None))
    chosen = choose_budget(20_000, model)
    assert chosen.budget.name == "balanced" and chosen.source == "measured" and chosen.predicted_f1 is None


def test_without_a_model_the_largest_preset_whose_cap_fits() -> None:
    assert choose_budget(30_000).budget.name == "balanced"
    assert choose_budget(30_000).source == "caps"
    with pytest.raises(ConfigError, match="smallest, fast, caps at 12,000.*sleuth allocation fit"):
        choose_budget(5000)


def test_bad_model_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="sleuth allocation fit"):
        AllocationModel.load(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "configurations": [{"x": 1}]}))
    with pytest.raises(ConfigError, match="corrupt"):
        AllocationModel.load(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="corrupt"):
        AllocationModel.load(bad)
    assert load_allocation(None) is None  # nothing shipped
