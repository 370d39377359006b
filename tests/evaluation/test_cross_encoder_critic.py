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


def test_a_cross_encoder_critic_judges_chains(tmp_path: Path) -> None:
    import json

    import numpy as np

    from evaluation.cross_encoder_critic import fit_cross_encoder
    from reasoning.critic import CriticInput
    from reasoning.trained_critic import CROSS_ENCODER, MANIFEST
    from tests.reasoning.critic_artifacts import write_logistic_critic

    records = synthetic_records(questions=6, rounds=2)
    y = np.array([1 if r["label"] == "sufficient" else 0 for r in records])
    encoder, info = fit_cross_encoder(records, y, epochs=1, seed=0)
    directory = write_logistic_critic(tmp_path / "critic", {"has_answer": 1.0})
    encoder.save(str(directory / CROSS_ENCODER))
    manifest = json.loads((directory / MANIFEST).read_text()) | {"kind": "cross-encoder"}
    (directory / MANIFEST).write_text(json.dumps(manifest))
    critic = load_critic(directory)
    verdicts = critic.judge(
        [CriticInput(0, "Who?", "Ada", [], True, "", 1, 2), CriticInput(1, "Who?", "", [], False, "x", 1, 2)], 1
    )
    assert critic.kind == "cross-encoder" and len(verdicts) == 2 and info["steps"] >= 1
    assert 0.0 <= verdicts[0].confidence <= 1.0 and not verdicts[1].sufficient and verdicts[1].confidence <= 0.2


def test_the_cross_encoders_training_is_cross_validated(tmp_path: Path) -> None:
    from evaluation.critic_evaluation import evaluate_cross_validated
    from evaluation.critic_training import DEFAULT_FEATURES

    data = write_records(tmp_path / "practice.jsonl", synthetic_records(questions=6, rounds=2))
    report = evaluate_cross_validated(data, 2, DEFAULT_FEATURES, cross_encoder_epochs=1)
    assert report["critic"] == {"folds": 2, "threshold": "chosen", "kind": "cross-encoder", "epochs": 1}
    assert report["records"] == 12 and report["critics"]["trained"]["records"] == 12
