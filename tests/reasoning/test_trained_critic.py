"""The trained critic: loading its directory, deciding, clear errors, and the loop and system picking it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from reasoning import trained_critic
from reasoning.budget import resolve_budget
from reasoning.critic import CriticInput, chains_agree, is_comparison
from reasoning.llm.protocol import prompt_text
from reasoning.trained_critic import (
    CROSS_ENCODER,
    LOGISTIC,
    MANIFEST,
    CriticArtifactError,
    critic_pair_text,
    load_critic,
)
from retrieval.errors import ConfigError
from tests.reasoning.critic_artifacts import write_logistic_critic
from tests.reasoning.scripts import QUESTION, make_system, scripted

pytestmark = pytest.mark.unit


def _input(chain: int, answer: str, next_query: str = "", others: tuple[str, ...] = ()) -> CriticInput:
    return CriticInput(chain, "Who founded Acme?", answer, [], True, next_query, 1, 2, others=others)


def test_a_logistic_critic_loads_and_decides(tmp_path: Path) -> None:
    critic = load_critic(write_logistic_critic(tmp_path / "c", {"has_answer": 4.0, "chains_agree": 2.0}, -3.0))
    answers = ["Alice", "Alice", "unknown"]
    others = [tuple(a for j, a in enumerate(answers) if j != i) for i in range(3)]
    inputs = [_input(0, "Alice", others=others[0]), _input(1, "Alice", others=others[1])]
    verdicts = critic.judge([*inputs, _input(2, "unknown", "Acme founder", others[2])], 1)
    assert [v.sufficient for v in verdicts] == [True, True, False]
    assert verdicts[0].critic == "trained" and verdicts[0].confidence == pytest.approx(1 / (1 + math.exp(-(1 + 1))))
    assert verdicts[2].missing == "Acme founder" and verdicts[2].confidence <= 0.2  # no answer: never sufficient
    assert verdicts[0].features["chains_agree"] == pytest.approx(0.5)
    assert critic.judge([], 1) == []


def test_chains_agree_is_the_share_of_the_other_chains_holding_the_same_answer() -> None:
    assert chains_agree("Alice", ("alice.", "Bob", "")) == pytest.approx(1 / 3)
    assert chains_agree("Alice", ()) == 0.0  # one chain: nothing to agree with
    assert chains_agree("unknown", ("unknown",)) == 0.0


def test_comparison_questions_are_recognised() -> None:
    assert is_comparison("Which film came out first, Alpha or Beta?")
    assert is_comparison("Are both bands from the same country?")
    assert not is_comparison("Who founded the company that makes the Orbit phone?")


def test_the_pair_text_puts_the_answer_first() -> None:
    text = critic_pair_text("Alice", ["Alice founded Acme [1]."], [("Acme", "Acme was founded by Alice.")])
    assert text.startswith("answer: Alice | reasoning: Alice founded Acme [1]. | Acme: Acme was founded")
    assert critic_pair_text("", [], [("T", "x" * 5000)]).startswith("answer: unknown")
    assert len(critic_pair_text("", [], [("T", "x" * 5000)])) <= trained_critic.PAIR_CHARS


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / MANIFEST).unlink(), "manifest.json is missing"),
        (lambda d: (d / MANIFEST).write_text("{not json"), "manifest.json is corrupt"),
        (lambda d: _edit(d / MANIFEST, format_version=9), "format version 9"),
        (lambda d: _edit(d / MANIFEST, format="other"), "not a trained critic's manifest"),
        (lambda d: _edit(d / MANIFEST, kind="forest"), "unknown critic kind 'forest'"),
        (lambda d: _edit(d / MANIFEST, threshold=3), "threshold must be a number in [0, 1]"),
        (lambda d: _edit(d / MANIFEST, features=["has_answer", "vibes"]), "unknown feature(s) vibes"),
        (lambda d: (d / LOGISTIC).unlink(), "logistic.json is missing"),
        (lambda d: _edit(d / LOGISTIC, coefficients=[1.0, 2.0, 3.0]), "expected 2 coefficients"),
        (lambda d: _edit(d / LOGISTIC, intercept="x"), "finite numbers"),
        (lambda d: _edit(d / LOGISTIC, features=["top_score", "has_answer"]), "differ from the manifest"),
        (lambda d: _edit(d / MANIFEST, kind="cross-encoder"), f"{CROSS_ENCODER}/ is missing"),
    ],
)
def test_a_missing_or_corrupt_artifact_is_named(tmp_path: Path, damage: object, message: str) -> None:
    directory = write_logistic_critic(tmp_path / "c", {"has_answer": 1.0, "top_score": 1.0})
    damage(directory)  # type: ignore[operator]
    with pytest.raises(CriticArtifactError) as caught:
        load_critic(directory)
    assert message in str(caught.value) and caught.value.exit_code == 66


def test_no_directory_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(CriticArtifactError, match="no trained critic at .*sleuth critic train"):
        load_critic(tmp_path / "absent")


def _edit(path: Path, **changes: object) -> None:
    path.write_text(json.dumps(json.loads(path.read_text()) | changes), encoding="utf-8")


def test_the_budget_knows_the_trained_kind() -> None:
    assert resolve_budget("fast", critic="trained", critic_dir="/x").critic == "trained"
    with pytest.raises(ConfigError, match="feature, prompted, trained"):
        resolve_budget("fast", critic="oracle")


def _critic_events(result: object) -> list[dict[str, object]]:
    return [e for e in result.trace.to_json()["events"] if e["stage"] == "critic"]  # type: ignore[attr-defined]


def test_the_loop_uses_a_trained_critic_the_budget_names(graph_index_dir: Path, tmp_path: Path) -> None:
    never = write_logistic_critic(tmp_path / "never", {"has_answer": -10.0})
    result = make_system(scripted()).ask(
        QUESTION,
        graph_index_dir,
        method="chains",
        budget="fast",
        overrides={"critic": "trained", "critic_dir": str(never)},
    )
    events = _critic_events(result)
    assert [(e["critic"], e["sufficient"]) for e in events] == [("trained", False), ("trained", False)]
    assert events[0]["focus"]  # the sub-question of the round is in the trace
    assert result.answer == "Berlin"


def test_the_budget_not_the_critic_says_whether_to_answer_every_round(graph_index_dir: Path, tmp_path: Path) -> None:
    def step_prompts(critic: Path, answer_every_round: bool) -> list[str]:
        llm = scripted()
        overrides = {"critic": "trained", "critic_dir": str(critic), "answer_every_round": answer_every_round}
        result = make_system(llm).ask(QUESTION, graph_index_dir, method="chains", budget="fast", overrides=overrides)
        stop = next(e for e in result.trace.to_json()["events"] if e["stage"] == "start")["stop"]
        assert stop["answer_every_round"] is answer_every_round  # the trace says how it ran
        assert stop["critic"]["practised_answer_every_round"] is True  # and how the critic was practised
        return [text for p in llm.prompts if "Task answer: facts" in (text := prompt_text(p))]

    practised = write_logistic_critic(tmp_path / "asking", {"has_answer": -10.0}, answer_every_round=True)
    asking = step_prompts(practised, True)
    assert len(asking) == 2 and "even if it is not certain" in asking[0] and 'answer is "unknown"' not in asking[0]
    assert 'answer is "unknown"' in step_prompts(practised, False)[0]


def test_the_systems_trained_critic_serves_budgets_that_name_the_trained_critic(
    graph_index_dir: Path, tmp_path: Path
) -> None:
    eager = write_logistic_critic(tmp_path / "eager", {"has_answer": 10.0})
    system = make_system(scripted(), critic_dir=eager)
    fast = system.ask(QUESTION, graph_index_dir, method="chains", budget="fast")
    assert [e["critic"] for e in _critic_events(fast)] == ["trained"]
    stop = next(e for e in fast.trace.to_json()["events"] if e["stage"] == "start")["stop"]
    assert stop["critic"]["dir"] == str(eager.resolve())
    named = system.ask(QUESTION, graph_index_dir, method="chains", budget="fast", overrides={"critic": "feature"})
    assert {e["critic"] for e in _critic_events(named)} == {"feature"}
    baseline = system.ask(QUESTION, graph_index_dir, method="iterative", budget="fast")
    start = next(e for e in baseline.trace.to_json()["events"] if e["stage"] == "start")
    assert start["stop"]["critic"]["name"] == "answer-present"  # the iterative baseline keeps its own rule


def test_the_shipped_default_is_used_when_present(
    graph_index_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = write_logistic_critic(tmp_path / "shipped", {"has_answer": 10.0})
    monkeypatch.setattr(trained_critic, "default_critic_dir", lambda: shipped)
    result = make_system(scripted(), critic_dir=None).ask(QUESTION, graph_index_dir, method="chains", budget="fast")
    assert [e["critic"] for e in _critic_events(result)] == ["trained"]


def test_critic_none_runs_every_round(graph_index_dir: Path) -> None:
    result = make_system(scripted()).ask(
        QUESTION, graph_index_dir, method="chains", budget="fast", overrides={"critic": "none"}
    )
    assert [(e["critic"], e["sufficient"]) for e in _critic_events(result)] == [("none", False), ("none", False)]
    assert result.answer == "Berlin"
