"""Training the critic on practice records, its artifact, and evaluating it on held-out questions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from api.cli import main
from evaluation.critic_evaluation import evaluate_critic, evaluate_cross_validated, render_report
from evaluation.critic_stopping import StopRule, choose_stop_rule
from evaluation.critic_training import DEFAULT_FEATURES, TrainingPlan, split_questions, train_critic
from evaluation.practice_file import question_key
from reasoning.critic import CriticInput
from reasoning.trained_critic import LOGISTIC, MANIFEST, load_critic
from retrieval.errors import ConfigError, InputDataError, OutputExistsError
from tests.evaluation.practice_data import synthetic_records, write_records

pytestmark = pytest.mark.unit


@pytest.fixture
def practice(tmp_path: Path) -> Path:
    return write_records(tmp_path / "practice.jsonl", synthetic_records())


def test_a_separable_feature_set_trains_to_a_high_auc(practice: Path, tmp_path: Path) -> None:
    manifest = train_critic(TrainingPlan(data=practice, out=tmp_path / "critic"))
    metrics = manifest["metrics"]["validation"]["logistic"]
    assert metrics["auc"] > 0.9 and metrics["accuracy"] > 0.9
    assert manifest["kind"] == "logistic" and manifest["metrics"]["kept"] == "logistic"
    feature = manifest["metrics"]["feature_critic"]  # the recorded decisions on the same validation records
    assert feature["records"] == metrics["records"] and manifest["metrics"]["beats_feature_critic"] == (
        metrics["auc"] > feature["auc"]
    )
    assert sorted(p.name for p in (tmp_path / "critic").iterdir()) == [LOGISTIC, MANIFEST]  # JSON only, no pickle
    assert manifest["data"]["sha256"] and manifest["data"]["records"] == 180 and manifest["data"]["questions"] == 60
    split = manifest["split"]
    assert split["by"] == "question" and len(split["val_questions"]) == 12 and len(split["train_questions"]) == 48
    assert not set(split["val_questions"]) & set(split["train_questions"])
    assert split["train_records"] + split["val_records"] == 180
    assert manifest["versions"]["scikit-learn"] and manifest["created"]
    assert json.loads((tmp_path / "critic" / MANIFEST).read_text()) == manifest


def test_the_trained_critic_loads_and_decides_like_its_training(practice: Path, tmp_path: Path) -> None:
    train_critic(TrainingPlan(data=practice, out=tmp_path / "critic"))
    critic = load_critic(tmp_path / "critic")
    from reasoning.evidence import EvidenceItem
    from retrieval.documents import Passage

    def state(score: float, answer: str, text: str) -> CriticInput:
        passage = Passage(id="p", doc_id="d", title="T", text=text)
        item = EvidenceItem(1, 0, passage, (text,), score, 1, ("hybrid",))
        return CriticInput(0, "Who?", answer, [item], True, "", 1, 3)

    found, missing = critic.judge([state(0.9, "Ada", "Ada did it."), state(0.1, "Bob", "Nobody knows.")], 1)
    assert found.sufficient and not missing.sufficient and found.confidence > 0.5 > missing.confidence


def rec(question: str, round: int, f1: float, chain: int = 0) -> dict[str, object]:
    answer = "right" if f1 else f"wrong {chain}"
    features = {"has_answer": 1.0, "answer_in_evidence": 1.0}
    return {"dataset": "d", "question_id": question, "chain": chain, "round": round, "f1": f1, "answer": answer} | {
        "features": features
    }


def test_the_stop_threshold_is_the_cheapest_that_matches_fixed_rounds(practice: Path, tmp_path: Path) -> None:
    # q1 is wrong at round 1 (p 0.3) and right at round 2 (p 0.6); q2 is right from round 1 (p 0.3, then 0.2)
    records = [rec("q1", 1, 0.0), rec("q1", 2, 1.0), rec("q2", 1, 1.0), rec("q2", 2, 1.0)]
    rule, curve = choose_stop_rule(records, np.array([0.3, 0.6, 0.3, 0.2]), stop_run=False)
    by_t = {c["threshold"]: c for c in curve}
    assert by_t[0.25] == {
        "threshold": 0.25,
        "stop_run": False,
        "run_f1": 0.5,  # stops q1 too early
        "llm_calls_per_question": 2.0,
        "f1_at_stop": 0.5,
        "rounds_per_chain": 1.0,
    }
    assert by_t[0.35]["run_f1"] == by_t[0.8]["run_f1"] == 1.0 and by_t[0.8]["llm_calls_per_question"] == 3.0
    assert rule == StopRule(0.35, False)  # every threshold from 0.35 up costs the same: the lowest
    # q3 is right at round 1 (p 0.5), wrong at round 2: fixed rounds score 2/3; 0.35 scores 1.0, but stopping
    # every chain at round 1 (0.1) matches fixed rounds' 2/3 for fewer calls: the target is fixed rounds
    more = [*records, rec("q3", 1, 1.0), rec("q3", 2, 0.0)]
    rule, curve = choose_stop_rule(more, np.array([0.3, 0.6, 0.3, 0.2, 0.5, 0.1]), stop_run=False)
    by_t = {c["threshold"]: c for c in curve}
    assert by_t[0.35]["run_f1"] == 1.0 and by_t[0.1]["run_f1"] == 0.6667
    assert by_t[0.1]["llm_calls_per_question"] == 2.0 < by_t[0.35]["llm_calls_per_question"]
    assert rule == StopRule(0.1, False)


def test_the_whole_run_stops_where_that_saves_calls_at_equal_f1() -> None:
    # chain 0 is right from round 1 (p 0.6); chain 1 is wrong at round 1 (p 0.05) and right at round 2 (p
    # 0.2): each chain stopping on its own, chain 1 runs round 2; stopping the run at chain 0 saves that call
    records = [rec("q", 1, 1.0, 0), rec("q", 2, 1.0, 0), rec("q", 1, 0.0, 1), rec("q", 2, 1.0, 1)]
    p = np.array([0.6, 0.6, 0.05, 0.2])
    rule, curve = choose_stop_rule(records, p)
    chain_rule = next(c for c in curve if c["threshold"] == 0.5 and not c["stop_run"])
    run_rule = next(c for c in curve if c["threshold"] == 0.5 and c["stop_run"])
    assert chain_rule["run_f1"] == run_rule["run_f1"] == 1.0
    assert (run_rule["llm_calls_per_question"], chain_rule["llm_calls_per_question"]) == (2.0, 3.0)
    assert rule == StopRule(0.1, True)
    assert choose_stop_rule(records, p, stop_run=False)[0].stop_run is False


def test_the_training_records_its_stop_rule(practice: Path, tmp_path: Path) -> None:
    chosen = train_critic(TrainingPlan(data=practice, out=tmp_path / "auto"))
    info = chosen["training"]["logistic"]
    rule = chosen["training"]["threshold_rule"]
    assert chosen["threshold_chosen"] and (chosen["threshold"], rule["stop_run"]) == (
        info["threshold"],
        info["stop_run"],
    )
    assert not {"stop_run", "trust_critic", "replaces_feature"} & set(chosen)  # a model, not control flow
    given = train_critic(TrainingPlan(data=practice, out=tmp_path / "given", threshold=0.7))
    assert given["threshold"] == 0.7 and not given["threshold_chosen"]
    assert given["training"]["threshold_rule"]["stop_run"] is False
    assert "threshold_curve" not in given["training"]["logistic"]
    run = train_critic(TrainingPlan(data=practice, out=tmp_path / "run", threshold=0.7, stop_run=True))
    assert run["training"]["threshold_rule"]["stop_run"] is True
    assert load_critic(tmp_path / "run").threshold == 0.7


def test_the_split_is_by_question_and_deterministic() -> None:
    keys = [f"hotpotqa:q{i}" for i in range(10)] * 3
    split = split_questions(keys, 0.2, seed=1)
    assert len(split.validation) == 2 and len(split.train) == 8
    assert split == split_questions(list(reversed(keys)), 0.2, seed=1)
    assert split != split_questions(keys, 0.2, seed=2)
    assert len(split_questions(["a", "b"], 0.01, 0).validation) == 1  # one on each side at least
    with pytest.raises(ConfigError, match="at least 2 questions"):
        split_questions(["a", "a"], 0.2, 0)


def test_training_refuses_bad_data_and_existing_output(practice: Path, tmp_path: Path) -> None:
    train_critic(TrainingPlan(data=practice, out=tmp_path / "critic"))
    with pytest.raises(OutputExistsError, match="--force"):
        train_critic(TrainingPlan(data=practice, out=tmp_path / "critic"))
    train_critic(TrainingPlan(data=practice, out=tmp_path / "critic", force=True, seed=3))
    assert json.loads((tmp_path / "critic" / MANIFEST).read_text())["split"]["seed"] == 3
    one_label = [r | {"label": "insufficient"} for r in synthetic_records(10)]
    with pytest.raises(ConfigError, match="only one label"):
        train_critic(TrainingPlan(data=write_records(tmp_path / "one.jsonl", one_label), out=tmp_path / "x"))
    with pytest.raises(InputDataError, match="not a practice record"):
        train_critic(TrainingPlan(data=write_records(tmp_path / "bad.jsonl", [{"a": 1}]), out=tmp_path / "y"))
    with pytest.raises(ConfigError, match="unknown or no features"):
        TrainingPlan(data=practice, out=tmp_path / "z", features=("vibes",))
    with pytest.raises(ConfigError, match="val share"):
        TrainingPlan(data=practice, out=tmp_path / "z", val_share=1.0)
    asked = {"provenance": {"budget": {"answer_every_round": True}}}
    mixed = [r | asked if i % 2 else r for i, r in enumerate(synthetic_records(10))]
    with pytest.raises(ConfigError, match="mixes runs with and without --answer-every-round"):
        train_critic(TrainingPlan(data=write_records(tmp_path / "mixed.jsonl", mixed), out=tmp_path / "m"))


def test_the_manifest_says_whether_practice_asked_for_answers_every_round(practice: Path, tmp_path: Path) -> None:
    asked = [r | {"provenance": {"budget": {"answer_every_round": True}}} for r in synthetic_records(20)]
    manifest = train_critic(TrainingPlan(data=write_records(tmp_path / "asked.jsonl", asked), out=tmp_path / "c"))
    assert manifest["data"]["answer_every_round"] is True
    assert load_critic(tmp_path / "c").practised_answer_every_round
    train_critic(TrainingPlan(data=practice, out=tmp_path / "d"))
    assert not load_critic(tmp_path / "d").practised_answer_every_round


def test_evaluation_uses_only_questions_held_out_from_training(practice: Path, tmp_path: Path) -> None:
    manifest = train_critic(TrainingPlan(data=practice, out=tmp_path / "critic"))
    report = evaluate_critic(practice, tmp_path / "critic")
    assert report["records"] == manifest["split"]["val_records"] and "validation questions" in report["selection"]
    trained, feature, fixed = report["critics"]["trained"], report["critics"]["feature"], report["fixed_rounds"]
    assert trained["auc"] > 0.9 and trained["accuracy"] > feature["accuracy"]
    assert trained["rounds_per_chain"] < fixed["rounds_per_chain"] == 3.0
    assert trained["llm_calls_per_question"] < fixed["llm_calls_per_question"] == 4.0
    assert trained["f1_at_stop"] >= fixed["f1_at_stop"] - 1e-9
    assert "| trained |" in render_report(report) and "| fixed rounds |" in render_report(report)
    oracle = report["critics"]["oracle"]  # knows the labels: no critic stops better
    assert oracle["accuracy"] == 1.0 and oracle["stop_precision"] == 1.0
    assert oracle["f1_at_stop"] >= trained["f1_at_stop"] and "| oracle |" in render_report(report)
    other = write_records(tmp_path / "other.jsonl", synthetic_records(seed=5))  # a new file: unseen questions only
    unseen = evaluate_critic(other, tmp_path / "critic")
    train_ids = set(manifest["split"]["train_questions"])
    assert unseen["records"] == sum(1 for r in synthetic_records(seed=5) if question_key(r) not in train_ids)
    assert evaluate_critic(practice, tmp_path / "critic", all_records=True)["records"] == 180


def test_cross_validation_judges_every_question_by_a_model_that_never_saw_it(practice: Path) -> None:
    report = evaluate_cross_validated(practice, 5, DEFAULT_FEATURES)
    assert report["records"] == 180 and report["questions"] == 60 and "5 folds" in report["selection"]
    trained, fixed = report["critics"]["trained"], report["fixed_rounds"]
    assert trained["auc"] > 0.9 and trained["rounds_per_chain"] < fixed["rounds_per_chain"]
    assert report == evaluate_cross_validated(practice, 5, DEFAULT_FEATURES)  # deterministic
    with pytest.raises(ConfigError, match="folds must be between 2 and the 60 questions"):
        evaluate_cross_validated(practice, 61, DEFAULT_FEATURES)


def test_the_cli_trains_and_evaluates(practice: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "critic"
    assert main(["critic", "train", "--data", str(practice), "--out", str(out), "--val-share", "0.25"]) == 0
    printed = capsys.readouterr().out
    assert "validated on 45 records of 15" in printed and "kept logistic" in printed
    assert main(["critic", "train", "--data", str(practice), "--out", str(out)]) == 73
    assert main(["critic", "eval", "--data", str(practice), "--critic", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["critics"]["trained"]["records"] == 45
    assert main(["critic", "eval", "--data", str(practice), "--critic", str(tmp_path / "none")]) == 66
    assert main(["critic", "eval", "--data", str(practice), "--folds", "4", "--threshold", "0.5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["critic"]["folds"] == 4
    assert main(["critic", "eval", "--data", str(practice), "--folds", "4", "--features", "vibes"]) == 64
    assert main(["critic", "eval", "--data", str(practice), "--critic", str(out), "--cross-encoder"]) == 64
    assert "goes with --folds" in capsys.readouterr().err
    assert main(["critic", "eval", "--data", str(practice), "--folds", "4", "--cross-encoder", "--epochs", "0"]) == 64
