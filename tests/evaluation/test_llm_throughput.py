"""`sleuth bench llm`'s arithmetic: medians over runs, ratios to the baseline build, the rendered table."""

from __future__ import annotations

from typing import Any

import pytest

from evaluation.benchmarks.llm_throughput import SIZES, _ratios, _summary, render

pytestmark = pytest.mark.unit


def measured(rate: float, answers: list[str]) -> dict[str, Any]:
    build = {"variant": "zen4", "reason": "best", "features": ["AVX2", "AVX512", "FMA"]}
    return {
        "llm": "llama-cpp:test",
        "cpu_build": build,
        "prompt_rates": {size: [rate, rate + 2.0] for size in SIZES},
        "generation_rates": [rate / 2, rate / 2 + 1.0],
        "completions": ["one, two"],
        "answers": answers,
    }


def test_runs_are_summarised_by_medians_and_compared() -> None:
    fast = _summary([measured(40.0, ["yes", "Paris"]), measured(44.0, [])])
    slow = _summary([measured(20.0, ["yes", "Rome"]), measured(20.0, [])])
    assert fast["prompt_tps"][100] == 43.0 and fast["generation_tps"] == 21.5
    assert fast["answers"] == ["yes", "Paris"]  # the first run's
    ratio = _ratios(fast, slow)
    assert ratio["prompt_tps"][500] == 2.05 and ratio["answers_differing"] == 1 and ratio["same_completions"]
    figures = {
        "configs": {"auto": fast, "haswell": slow},
        "baseline": "haswell",
        "questions": 2,
        "auto_vs_baseline": ratio,
    }
    table = render(figures)
    assert "| auto | zen4: AVX2, AVX512, FMA | 43.0 / 43.0 / 43.0 | 21.5 |" in table
    assert "1 of 2 sample answers differ" in table


def test_a_failed_configuration_is_reported_not_averaged() -> None:
    failed = _summary([{"error": "Traceback\nDependencyError: none runs"}, measured(10.0, [])])
    assert failed == {"error": "Traceback\nDependencyError: none runs"}
    assert "failed: DependencyError: none runs" in render(
        {"configs": {"auto": failed}, "baseline": None, "questions": 0}
    )
