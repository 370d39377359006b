"""`sleuth ask`: bad input without any model, and easy two-hop questions with the real CPU model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.cli import main
from reasoning.budget import DEFAULT_BUDGET
from reasoning.llm.model_files import MODELS, default_model_cache, ensure_model_file
from reasoning.llm.protocol import ModelNotInstalledError
from reasoning.settings import SystemSettings
from reasoning.trained_critic import default_critic_dir
from tests.reasoning.critic_artifacts import write_logistic_critic
from tests.reasoning.scripts import QUESTION


def _sleuth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, timeout=900)


@pytest.mark.unit
def test_empty_and_overlong_questions_are_refused_before_anything_loads(tmp_path: Path) -> None:
    empty = _sleuth("ask", "  ", "--index", str(tmp_path))
    assert empty.returncode == 64 and "the question is empty" in empty.stderr
    long = _sleuth("ask", "why " * 30, "--index", str(tmp_path), "--max-question-chars", "50")
    assert long.returncode == 64 and "limit is 50" in long.stderr
    missing = _sleuth("ask", "Who?", "--index", str(tmp_path / "none"))
    assert missing.returncode == 66 and "none" in missing.stderr
    knob = _sleuth("ask", "Who?", "--index", str(tmp_path), "--chains", "0")
    assert knob.returncode == 64 and "chains must be a positive integer" in knob.stderr


def _start(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """The `start` event of `sleuth ask --json`'s trace."""
    assert main(["ask", QUESTION, "--json", *args]) == 0
    events = json.loads(capsys.readouterr().out)["trace"]["events"]
    start: dict[str, Any] = events[0]
    assert start["stage"] == "start"
    return start


@pytest.mark.unit
def test_the_trace_starts_with_the_resolved_critic_and_stop_policy(
    graph_index_dir: Path,
    tmp_path: Path,
    scripted_system: list[SystemSettings],
    capsys: pytest.CaptureFixture[str],
) -> None:
    index = ("--index", str(graph_index_dir))
    default = _start(capsys, *index)
    assert default["budget"]["name"] == DEFAULT_BUDGET == "balanced"
    rules = ("stop_run", "trust_critic", "answer_every_round")
    assert default["stop"]["critic"]["name"] == "prompted"
    assert [default["stop"][rule] for rule in rules] == [False, False, False]
    fast = _start(capsys, *index, "--budget", "fast")["stop"]
    shipped = default_critic_dir().resolve()
    assert fast["critic"]["name"] == "trained" and fast["critic"]["dir"] == str(shipped)
    assert [fast[rule] for rule in rules] == [True, True, False]
    critic = write_logistic_critic(tmp_path / "critic", {"has_answer": 1.0}, threshold=0.4)
    chosen = _start(capsys, *index, "--critic-dir", str(critic), "--no-stop-run", "--answer-every-round")["stop"]
    assert chosen["critic"]["dir"] == str(critic.resolve()) and chosen["critic"]["threshold"] == 0.4
    assert [chosen[rule] for rule in rules] == [False, False, True]
    assert [s.seed for s in scripted_system] == [0, 0, 0]


def _cpu_model_or_skip() -> None:
    pytest.importorskip("llama_cpp")
    try:
        ensure_model_file(MODELS["qwen2.5-coder-1.5b"], default_model_cache())
    except ModelNotInstalledError as exc:
        pytest.skip(str(exc))


@pytest.mark.integration
@pytest.mark.slow
def test_a_missing_model_file_says_how_to_install_it(real_sample_index: Path, tmp_path: Path) -> None:
    done = _sleuth("ask", "Who?", "--index", str(real_sample_index), "--llm", f"llama-cpp:{tmp_path}/absent.gguf")
    assert done.returncode == 69 and "model file not found" in done.stderr


EASY_TWO_HOP = [  # of the sample's 25 questions, two the 1.5B model gets right at the fast budget
    ("Were Scott Derrickson and Ed Wood of the same nationality?", "yes"),
    ("Are Giuseppe Verdi and Ambroise Thomas both Opera composers ?", "yes"),
]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(("question", "gold"), EASY_TWO_HOP)
def test_the_cpu_model_answers_easy_two_hop_questions(
    real_sample_index: Path, tmp_path: Path, question: str, gold: str
) -> None:
    _cpu_model_or_skip()
    trace = tmp_path / "trace.json"
    done = _sleuth(
        "ask", question, "--index", str(real_sample_index), "--budget", "fast", "--json", "--trace", str(trace)
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert gold.lower() in out["answer"].lower()
    assert out["method"] == "sleuth" and out["budget"] == "fast"
    assert 1 <= out["cost"]["llm_calls"] <= 8 and out["cost"]["prompt_tokens"] > 0
    assert out["citations"] and all({"passage_id", "title"} <= set(c) for c in out["citations"])
    assert json.loads(trace.read_text())["trace"]["events"][-1]["stage"] == "answer"


@pytest.mark.integration
@pytest.mark.slow
def test_the_cpu_model_answers_a_two_hop_question_through_its_bridge_entity(
    real_sample_index: Path, tmp_path: Path
) -> None:
    """Sinister (film) names its director; Scott Derrickson's page gives his birth date. The second hop
    must search for the first hop's answer, and the explanation cites both passages."""
    _cpu_model_or_skip()
    done = _sleuth("ask", "When was the director of the film Sinister born?", "--index", str(real_sample_index),
                   "--budget", "fast", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert "1966" in out["answer"]
    assert {"Sinister (film)", "Scott Derrickson"} <= {c["title"] for c in out["citations"]}
    reads = [e for e in out["trace"]["events"] if e["stage"] == "hop_read"]
    assert any("Scott Derrickson" in e["query"] for e in reads)  # the bridge entity substituted into hop 2
