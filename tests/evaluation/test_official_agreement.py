"""Sleuth's EM and F1 agree exactly with the official evaluation scripts (see official/README.md)."""

from __future__ import annotations

import json

import pytest

from evaluation.answer_metrics import rules_for, score_answer
from tests.conftest import SHARED_DATA
from tests.evaluation.official_reference import (
    CASES,
    FILES,
    PINNED,
    gold_pool_from,
    load_official,
    official_score,
    random_cases,
)

pytestmark = pytest.mark.unit
DATASETS = list(FILES)


def ours(dataset: str, prediction: str, answers: list[str]) -> dict[str, float]:
    score = score_answer(prediction, answers, rules=rules_for(dataset))
    return {"em": score.em, "f1": score.f1}


@pytest.mark.parametrize("dataset", DATASETS)
def test_agrees_with_the_pinned_official_scores(dataset: str) -> None:
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))[dataset]
    assert len(pinned) >= 600
    mismatches = [
        (case["prediction"], case["answers"], ours(dataset, case["prediction"], case["answers"]), case)
        for case in pinned
        if ours(dataset, case["prediction"], case["answers"]) != {"em": case["em"], "f1": case["f1"]}
    ]
    assert mismatches == []


@pytest.mark.parametrize("dataset", DATASETS)
def test_agrees_with_the_official_script_live(dataset: str) -> None:
    official = load_official(dataset)
    if official is None:
        pytest.skip(f"official script not fetched: run tests/evaluation/official/fetch.sh ({FILES[dataset]})")
    dev = SHARED_DATA / dataset / "dev.jsonl"
    pool = gold_pool_from(dev, limit=1000) if dev.exists() else []
    cases = CASES + random_cases(1000 + DATASETS.index(dataset), 3000, pool)
    mismatches = [
        (prediction, answers)
        for prediction, answers in cases
        if ours(dataset, prediction, answers) != official_score(dataset, official, prediction, answers)
    ]
    assert mismatches == []


@pytest.mark.parametrize("dataset", DATASETS)
def test_pinned_scores_are_the_official_scripts(dataset: str) -> None:
    official = load_official(dataset)
    if official is None:
        pytest.skip(f"official script not fetched: run tests/evaluation/official/fetch.sh ({FILES[dataset]})")
    for case in json.loads(PINNED.read_text(encoding="utf-8"))[dataset]:
        expected = official_score(dataset, official, case["prediction"], case["answers"])
        assert expected == {"em": case["em"], "f1": case["f1"]}, case


def test_the_rule_sets_differ_where_the_scripts_do() -> None:
    assert ours("hotpotqa", "", [""]) == {"em": 1.0, "f1": 0.0}
    assert ours("musique", "", [""]) == {"em": 1.0, "f1": 1.0}
    assert ours("hotpotqa", "yes it is", ["yes"])["f1"] == 0.0
    assert ours("musique", "yes it is", ["yes"])["f1"] == pytest.approx(0.5)
    assert ours("2wikimultihopqa", "Phulwari", ["Phoolwari", "Phulwari"]) == {"em": 1.0, "f1": 1.0}
