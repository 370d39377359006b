"""The cross-encoder candidate of critic training: the packaged MiniLM fine-tuned on the CPU (a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.critic_evaluation import evaluate_critic
from evaluation.critic_training import TrainingPlan, train_critic
from reasoning.trained_critic import load_critic
from tests.evaluation.practice_data import synthetic_records, write_records

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_cross_encoder_candidate_trains_and_is_measured(tmp_path: Path) -> None:
    data = write_records(tmp_path / "practice.jsonl", synthetic_records(questions=12, rounds=2))
    manifest = train_critic(TrainingPlan(data=data, out=tmp_path / "critic", cross_encoder=True, epochs=1))
    assert set(manifest["metrics"]["validation"]) == {"logistic", "cross-encoder"}
    assert manifest["training"]["cross_encoder"]["steps"] >= 1
    critic = load_critic(tmp_path / "critic")
    assert critic.kind == manifest["kind"]
    report = evaluate_critic(data, tmp_path / "critic")
    assert report["critics"]["trained"]["records"] == manifest["split"]["val_records"]
