"""`sleuth eval` end to end with a fake answerer (the real system is never built here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from api import cli_eval
from api.cli import main
from retrieval.bundle import MANIFEST
from tests.evaluation.conftest import FakeAnswerer
from tests.evaluation.test_datasets import HOTPOT_RAW, write_json
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.unit
CATALOG = (("direct", "rag", "iterative", "ppr", "sleuth"), frozenset({"iterative", "sleuth"}))


@pytest.fixture
def fake_system(monkeypatch: pytest.MonkeyPatch) -> FakeAnswerer:
    answerer = FakeAnswerer(lambda q, m, b: ("London" if m == "sleuth" else "Paris", []))
    monkeypatch.setattr(cli_eval, "make_answerer", lambda llm, seed: answerer)
    monkeypatch.setattr(cli_eval, "method_catalog", lambda: CATALOG)
    monkeypatch.setattr(cli_eval, "SentenceTransformerEmbedder", lambda name: HashingEmbedder())
    return answerer


def eval_args(tmp_path: Path, *extra: str) -> list[str]:
    questions = write_json(tmp_path / "hotpot_dev.json", HOTPOT_RAW)
    return [
        "eval",
        "--dataset",
        "hotpotqa",
        "--questions",
        str(questions),
        "--index",
        str(tmp_path / "index"),
        "--out",
        str(tmp_path / "run"),
        "--no-kg",
        *extra,
    ]


def test_eval_builds_the_index_runs_and_reports(
    tmp_path: Path, fake_system: FakeAnswerer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = eval_args(tmp_path, "--methods", "rag,sleuth", "--budgets", "fast,balanced", "--workers", "2")
    assert main(args) == 0
    assert (tmp_path / "index" / MANIFEST).exists()
    assert (tmp_path / "run" / "corpus-hotpotqa.jsonl").exists()
    lines = (tmp_path / "run" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 * 3  # rag once (fast), sleuth under both budgets
    assert {(r["method"], r["budget"]) for r in map(json.loads, lines)} == {
        ("rag", "fast"),
        ("sleuth", "fast"),
        ("sleuth", "balanced"),
    }
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    sleuth = next(r for r in summary["rows"] if r["method"] == "sleuth")
    assert sleuth["em"] == 0.5 and sleuth["questions"] == 2
    for name in ("summary.md", "scaling.png", "recall.png"):
        assert (tmp_path / "run" / name).exists()
    out = capsys.readouterr().out
    assert "asked 6, already done 0, failed 0" in out and "| hotpotqa | sleuth | fast | 2 |" in out

    assert main(args) == 0  # resumed: nothing asked again
    assert "asked 0, already done 6" in capsys.readouterr().out
    assert len(fake_system.calls) == 6


def test_eval_resumes_from_the_scores_of_a_run_without_its_predictions(
    tmp_path: Path, fake_system: FakeAnswerer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = eval_args(tmp_path, "--methods", "rag", "--budgets", "fast", "--limit", "1")
    assert main(args) == 0
    run = tmp_path / "run"
    scores = (run / "scores.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(scores) == 1 and "trace" not in json.loads(scores[0])
    (run / "predictions.jsonl").unlink()  # a committed result keeps only its scores

    assert main(eval_args(tmp_path, "--methods", "rag", "--budgets", "fast")) == 0
    assert "asked 1, already done 1" in capsys.readouterr().out
    assert len(fake_system.calls) == 2
    assert len((run / "scores.jsonl").read_text(encoding="utf-8").splitlines()) == 2


def test_eval_records_its_settings_and_refuses_to_resume_with_others(
    tmp_path: Path, fake_system: FakeAnswerer, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("--methods", "sleuth", "--budgets", "balanced", "--limit", "1")
    assert main(eval_args(tmp_path, *base, "--critic", "none")) == 0
    run = tmp_path / "run"
    settings = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert settings["overrides"] == {"critic": "none"} and settings["trained_critic"] is None
    assert settings["indexes"]["hotpotqa"]["embedder"] and settings["seed"] == 0
    predictions = (run / "predictions.jsonl").read_bytes()

    for other, named in [
        (("--critic", "prompted"), "overrides: {'critic': 'none'} -> {'critic': 'prompted'}"),
        (("--critic", "none", "--seed", "1"), "seed: 0 -> 1"),
        (("--critic", "none", "--knob", "chains=3"), "overrides:"),
    ]:
        assert main(eval_args(tmp_path, *base, *other)) == 64
        err = capsys.readouterr().err
        assert "holds answers made with other settings" in err and named in err and "give another --out" in err
    assert (run / "predictions.jsonl").read_bytes() == predictions  # nothing asked, nothing written
    assert json.loads((run / "run.json").read_text(encoding="utf-8")) == settings

    assert main(eval_args(tmp_path, "--methods", "sleuth", "--budgets", "balanced", "--critic", "none")) == 0
    assert "asked 1, already done 1" in capsys.readouterr().out  # same settings: it resumes


def test_eval_records_the_trained_critic_that_answers(tmp_path: Path, fake_system: FakeAnswerer) -> None:
    from reasoning.trained_critic import default_critic_dir

    if not default_critic_dir().is_dir():
        pytest.skip("no shipped critic")
    args = eval_args(tmp_path, "--methods", "rag", "--budgets", "fast", "--limit", "1", "--critic", "trained")
    assert main(args) == 0
    settings = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert len(settings["trained_critic"]) == 64  # the shipped critic's sha256: a retrained one is another run
    copy = tmp_path / "critic"
    shutil.copytree(default_critic_dir(), copy)
    same = eval_args(tmp_path, "--methods", "rag", "--budgets", "fast", "--critic-dir", str(copy))
    assert main(same) == 0  # the same critic read from another path
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    (copy / "manifest.json").write_text(json.dumps(manifest | {"threshold": 0.5}), encoding="utf-8")
    assert main(same) == 64


def test_eval_resumes_a_run_from_before_its_settings_were_recorded(
    tmp_path: Path, fake_system: FakeAnswerer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    args = eval_args(tmp_path, "--methods", "rag", "--budgets", "fast", "--limit", "1")
    assert main(args) == 0
    (tmp_path / "run" / "run.json").unlink()
    assert main(eval_args(tmp_path, "--methods", "rag", "--budgets", "fast")) == 0
    assert "asked 1, already done 1" in capsys.readouterr().out
    assert "has answers but no run.json" in caplog.text
    assert (tmp_path / "run" / "run.json").exists()


def test_eval_context_only_and_limit(tmp_path: Path, fake_system: FakeAnswerer) -> None:
    assert main(eval_args(tmp_path, "--methods", "ppr", "--budgets", "thorough", "--limit", "1", "--context-only")) == 0
    corpus = tmp_path / "run" / "corpus-hotpotqa-context1.jsonl"
    assert len(corpus.read_text(encoding="utf-8").splitlines()) == 3
    assert fake_system.calls == [(HOTPOT_RAW[0]["question"], "ppr", "thorough")]


def test_eval_skips_held_out_questions(tmp_path: Path, fake_system: FakeAnswerer) -> None:
    assert main(eval_args(tmp_path, "--methods", "rag", "--budgets", "fast", "--skip", "1", "--limit", "1")) == 0
    assert fake_system.calls == [(HOTPOT_RAW[1]["question"], "rag", "fast")]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--methods", "rag,magic"), "unknown method(s) magic"),
        (("--budgets", "fast,lavish"), "unknown budget(s) lavish"),
        (("--methods", " , "), "--methods is empty"),
        (("--limit", "0"), "--limit must be positive"),
        (("--skip", "-1"), "--skip must not be negative"),
        (("--knob", "verify"), "--knob takes NAME=VALUE"),
        (("--knob", "vibes=1"), "--knob takes NAME=VALUE with a budget knob"),
        (("--knob", "verify=maybe"), "--knob verify takes true or false"),
        (("--knob", "chains=two"), "--knob chains takes an integer"),
        (("--knob", "chains=0"), "budget chains must be a positive integer"),
    ],
)
def test_eval_refuses_bad_options(
    tmp_path: Path, fake_system: FakeAnswerer, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], message: str
) -> None:
    assert main(eval_args(tmp_path, *extra)) == 64
    assert message in capsys.readouterr().err
    assert not (tmp_path / "index").exists()


def test_eval_knobs_are_typed_budget_overrides() -> None:
    knobs = ["verify=false", "answer_every_round=TRUE", "chains=3", "critic=none", "trust_critic=false"]
    assert cli_eval.knob_overrides(knobs) == {
        "verify": False,
        "answer_every_round": True,
        "chains": 3,
        "trust_critic": False,  # a knob the critic sets unless given: still true or false
        "critic": "none",
    }


def test_eval_needs_a_corpus_for_shared_format_questions(
    tmp_path: Path, fake_system: FakeAnswerer, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = tmp_path / "dev.jsonl"
    questions.write_text('{"id": "q", "question": "q?", "answers": ["a"]}\n', encoding="utf-8")
    args = ["eval", "--dataset", "musique", "--questions", str(questions), "--index", str(tmp_path / "i")]
    assert main([*args, "--out", str(tmp_path / "run")]) == 64
    assert "give --corpus" in capsys.readouterr().err


def test_score_bar_shows_the_running_f1() -> None:
    from evaluation.run_file import ScoredRecord

    bar = cli_eval.ScoreBar("musique", factory=lambda **kwargs: None)
    for f1 in (1.0, 0.5):
        bar.advance(ScoredRecord("musique", "rag", "fast", "q", "2hop", "p", 0.0, f1, {}, {}))
    assert bar.postfix() == {"F1": "0.750", "EM": "0.000", "failed": "0"}
