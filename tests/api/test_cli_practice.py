"""`sleuth practice`, `--budget-tokens` and `--critic-dir` on the command line, with the scripted system."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from api import cli_eval
from api.cli import main
from evaluation.practice_file import load_practice
from reasoning.settings import SystemSettings
from tests.evaluation.conftest import FakeAnswerer
from tests.evaluation.test_cli_eval import CATALOG, eval_args
from tests.fakes import HashingEmbedder
from tests.reasoning.critic_artifacts import write_logistic_critic
from tests.reasoning.scripts import QUESTION

pytestmark = pytest.mark.unit


def test_practice_writes_labelled_records_and_resumes(
    graph_index_dir: Path, tmp_path: Path, scripted_system: list[SystemSettings], capsys: pytest.CaptureFixture[str]
) -> None:
    questions = tmp_path / "questions.jsonl"
    rows = [{"id": "q1", "question": QUESTION, "answers": ["Berlin"], "type": "bridge"}]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "practice.jsonl"
    args = ["practice", "--dataset", "hotpotqa", "--questions", str(questions), "--index", str(graph_index_dir)]
    args += ["--out", str(out), "--chains", "2", "--rounds", "2", "--samples", "2", "--seed", "5"]
    assert main(args) == 0
    assert "2 practice runs (8 labelled records)" in capsys.readouterr().out
    records = load_practice(out)
    assert {r["label"] for r in records} == {"sufficient"} and records[0]["seed"] == 5
    assert main(args) == 0
    assert "0 practice runs (0 labelled records), already done 2" in capsys.readouterr().out
    assert main([*args[:-2], "--samples", "0"]) == 64


def test_ask_with_budget_tokens_and_a_trained_critic(
    graph_index_dir: Path, tmp_path: Path, scripted_system: list[SystemSettings], capsys: pytest.CaptureFixture[str]
) -> None:
    critic = write_logistic_critic(tmp_path / "critic", {"has_answer": 10.0})
    args = ["ask", QUESTION, "--index", str(graph_index_dir), "--json", "--budget-tokens", "15000"]
    assert main([*args, "--critic-dir", str(critic)]) == 0
    captured = capsys.readouterr()
    out: dict[str, Any] = json.loads(captured.out)
    assert "15,000 tokens per question: fast" in captured.err and out["budget"] == "fast"
    start = next(e for e in out["trace"]["events"] if e["stage"] == "start")
    assert start["budget"]["max_tokens"] == 12_000 and start["budget"]["critic"] == "trained"
    assert {e["critic"] for e in out["trace"]["events"] if e["stage"] == "critic"} == {"trained"}
    judge = start["stop"]["critic"]
    assert (judge["name"], judge["dir"], judge["threshold"]) == ("trained", str(critic.resolve()), 0.5)
    assert start["budget"]["critic_dir"] == str(critic)  # --critic-dir alone: the trained critic in it
    assert main([*args[:-2], "--budget-tokens", "500"]) == 64
    assert "no preset's token cap fits within 500" in capsys.readouterr().err
    assert main([*args, "--critic", "trained", "--critic-dir", str(tmp_path / "none")]) == 66


class BudgetEcho(FakeAnswerer):
    """Like the system: takes a budget by name or as a Budget, and answers with the budget's name."""

    def __init__(self) -> None:
        super().__init__(lambda q, m, b: ("London", []))
        self.budgets: list[object] = []

        self.overrides: list[object] = []

    def ask(self, question: str, index: Path | str, *, method: str, budget: Any, overrides: Any = None) -> Any:
        self.budgets.append(budget)
        self.overrides.append(overrides)
        return super().ask(question, index, method=method, budget=getattr(budget, "name", budget))


@pytest.fixture
def answerer(monkeypatch: pytest.MonkeyPatch) -> BudgetEcho:
    echo = BudgetEcho()
    monkeypatch.setattr(cli_eval, "make_answerer", lambda llm, seed: echo)
    monkeypatch.setattr(cli_eval, "method_catalog", lambda: CATALOG)
    monkeypatch.setattr(cli_eval, "SentenceTransformerEmbedder", lambda name: HashingEmbedder())
    return echo


def test_eval_with_budget_tokens_runs_under_a_labelled_budget(
    tmp_path: Path, answerer: BudgetEcho, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(eval_args(tmp_path, "--methods", "sleuth", "--budget-tokens", "40000")) == 0
    lines = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert {line["budget"] for line in lines} == {"tokens-40000"}
    assert {(b.name, b.max_tokens) for b in answerer.budgets} == {("balanced", 30_000)}  # type: ignore[attr-defined]
    assert "40,000 tokens per question: balanced" in capsys.readouterr().err


def test_eval_with_a_critic_for_every_budget(tmp_path: Path, answerer: BudgetEcho) -> None:
    critic = write_logistic_critic(tmp_path / "critic", {"has_answer": 1.0})
    assert main(eval_args(tmp_path, "--methods", "sleuth", "--budgets", "fast", "--critic-dir", str(critic))) == 0
    assert answerer.overrides[-1] == {"critic": "trained", "critic_dir": str(critic)}
    assert (
        main(
            eval_args(
                tmp_path,
                "--methods",
                "sleuth",
                "--budgets",
                "fast",
                "--critic",
                "none",
                "--out",
                str(tmp_path / "run2"),
            )
        )
        == 0
    )
    assert answerer.overrides[-1] == {"critic": "none"}
    bad = eval_args(tmp_path, "--critic-dir", str(tmp_path / "absent"))
    assert main(bad) == 66
