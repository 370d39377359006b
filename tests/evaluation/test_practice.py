"""Self-practice with the real loop (scripted LLM, small graph index): records, labels, resuming, failures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from evaluation.datasets import Question
from evaluation.practice import PracticePlan, run_practice
from evaluation.practice_file import PracticeFile, load_practice
from reasoning.llm.protocol import prompt_text
from reasoning.llm.scripted import ScriptedLLM
from reasoning.resources import IndexResources
from reasoning.system import SleuthSystem
from retrieval.errors import ConfigError
from tests.conftest import write_jsonl
from tests.reasoning.scripts import CHECK, QUESTION, make_system, reply, scripted

pytestmark = pytest.mark.unit
QUESTIONS = [
    Question("berlin", QUESTION, ("Berlin",), ("acme",), "bridge"),
    Question("founder", "Who founded Acme Corp?", ("Alice Smith",), ("alice",), "bridge"),
]


def _plan(index: Path, **changes: Any) -> PracticePlan:
    return PracticePlan(
        **({"dataset": "hotpotqa", "index": index, "llm": "scripted", "chains": 2, "rounds": 2} | changes)
    )


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_chain_and_round_is_recorded_and_labelled(graph_index_dir: Path, tmp_path: Path) -> None:
    out = PracticeFile(tmp_path / "practice.jsonl")
    outcome = run_practice(make_system(scripted()), QUESTIONS, _plan(graph_index_dir), out)
    assert (outcome.runs, outcome.skipped, outcome.failed, outcome.records) == (4, 0, 0, 16)
    records = load_practice(out.path)
    runs = {(r["question_id"], r["sample"]) for r in records}
    assert runs == {("berlin", 0), ("berlin", 1), ("founder", 0), ("founder", 1)}
    # the scripted LLM answers Berlin at once, yet every round of every chain ran: no early stop
    assert sorted((r["chain"], r["round"]) for r in records if r["question_id"] == "berlin" and r["sample"] == 0) == [
        (0, 1),
        (0, 2),
        (1, 1),
        (1, 2),
    ]
    berlin = next(r for r in records if r["question_id"] == "berlin")
    founder = next(r for r in records if r["question_id"] == "founder")
    assert (berlin["answer"], berlin["f1"], berlin["label"]) == ("Berlin", 1.0, "sufficient")
    assert (founder["answer"], founder["f1"], founder["label"]) == ("Berlin", 0.0, "insufficient")
    assert berlin["focus"] and berlin["facts"] and berlin["answers"] == ["Berlin"]
    assert berlin["evidence"][0]["passage_id"] and berlin["evidence"][0]["sentences"]
    assert set(berlin["features"]) >= {"has_answer", "answer_in_evidence", "top_score", "chains_agree"}
    assert berlin["decisions"]["feature"]["sufficient"] in (True, False)
    assert berlin["run_size"] == 4 and berlin["final"]["answer"] == "Berlin"
    provenance = berlin["provenance"]
    assert provenance["llm"] == "scripted" and len(provenance["index_manifest_sha256"]) == 64
    assert provenance["budget"]["chains"] == 2 and provenance["budget"]["verify"] is False
    assert [r["seed"] for r in records if r["question_id"] == "berlin"][::4] == [0, 7919]
    assert records[0]["temperature"] is None and next(r for r in records if r["sample"] == 1)["temperature"] == 0.7
    second = next(r for r in records if r["question_id"] == "berlin" and (r["chain"], r["round"]) == (0, 2))
    assert (second["previous_answer"], second["others"]) == ("Berlin", ["Berlin"])
    assert second["features"]["answer_repeated"] == 1.0 and second["features"]["chains_agree"] == 1.0


def test_features_added_since_a_file_was_written_are_computed_from_its_states(
    graph_index_dir: Path, tmp_path: Path
) -> None:
    out = PracticeFile(tmp_path / "practice.jsonl")
    llm = ScriptedLLM(scripted().rules, default=None, token_logprob=-0.2)  # a backend with log-probabilities
    run_practice(make_system(llm), QUESTIONS[:1], _plan(graph_index_dir, samples=1), out)
    fresh = load_practice(out.path)
    assert fresh[0]["answer_logprob"] == fresh[0]["answer_min_logprob"] == -0.2
    assert fresh[0]["features"]["answer_confidence"] == pytest.approx(math.exp(-0.2), abs=1e-6)
    later = ("chains_agree", "answer_repeated", "answer_confidence", "answer_min_confidence")
    old = [
        {k: v for k, v in r.items() if k not in ("previous_answer", "others")}
        | {"features": {k: v for k, v in r["features"].items() if k not in later}}
        for r in _lines(out.path)
    ]
    old[0]["features"]["top_score"] = 0.123  # what was recorded stays
    backfilled = load_practice(write_jsonl(tmp_path / "old.jsonl", old))
    assert [r["features"] for r in backfilled[1:]] == [r["features"] for r in fresh[1:]]
    assert backfilled[0]["features"] == fresh[0]["features"] | {"top_score": 0.123}


def test_practice_can_ask_for_an_answer_every_round(graph_index_dir: Path, tmp_path: Path) -> None:
    llm = scripted()
    out = PracticeFile(tmp_path / "practice.jsonl")
    run_practice(make_system(llm), QUESTIONS[:1], _plan(graph_index_dir, samples=1, answer_every_round=True), out)
    steps = [text for p in llm.prompts if "Task answer: facts" in (text := prompt_text(p))]
    assert steps and all('answer is "unknown"' not in p for p in steps)  # never invited to answer "unknown"
    assert load_practice(out.path)[0]["provenance"]["budget"]["answer_every_round"] is True


def test_the_prompted_critics_decisions_are_recorded_when_asked(graph_index_dir: Path, tmp_path: Path) -> None:
    llm = scripted([(CHECK, reply(sufficient=False, confidence=0.2, missing="Acme city"))])
    out = PracticeFile(tmp_path / "practice.jsonl")
    run_practice(make_system(llm), QUESTIONS[:1], _plan(graph_index_dir, samples=1, prompted=True), out)
    records = load_practice(out.path)
    assert all(r["decisions"]["prompted"] == {"sufficient": False, "confidence": 0.2} for r in records)
    assert all("feature" in r["decisions"] for r in records)


def test_practice_resumes_and_drops_a_run_cut_off(graph_index_dir: Path, tmp_path: Path) -> None:
    out = PracticeFile(tmp_path / "practice.jsonl")
    run_practice(make_system(scripted()), QUESTIONS, _plan(graph_index_dir), out)
    again = run_practice(make_system(scripted()), QUESTIONS, _plan(graph_index_dir), out)
    assert (again.runs, again.skipped) == (0, 4) and len(_lines(out.path)) == 16
    text = out.path.read_text(encoding="utf-8").splitlines(keepends=True)
    out.path.write_text("".join(text[:-2]) + text[-2][:20], encoding="utf-8")  # killed while writing the last run
    resumed = run_practice(make_system(scripted()), QUESTIONS, _plan(graph_index_dir), out)
    assert (resumed.runs, resumed.skipped) == (1, 3)
    lines = _lines(out.path)
    assert len(lines) == 16 and len({(r["question_id"], r["sample"], r["chain"], r["round"]) for r in lines}) == 16


class FlakySystem:
    """The scripted system whose first `fail` index openings raise."""

    def __init__(self, system: SleuthSystem, fail: int) -> None:
        self.system, self.fail = system, fail

    @property
    def backend(self) -> Any:
        return self.system.backend

    def index(self, directory: Path | str) -> IndexResources:
        if self.fail > 0:
            self.fail -= 1
            raise RuntimeError("the disk went away")
        return self.system.index(directory)


def test_a_failing_run_is_recorded_and_asked_again_on_request(graph_index_dir: Path, tmp_path: Path) -> None:
    out = PracticeFile(tmp_path / "practice.jsonl")
    outcome = run_practice(FlakySystem(make_system(scripted()), 1), QUESTIONS, _plan(graph_index_dir), out)
    assert (outcome.failed, outcome.records) == (1, 12)
    failures = [r for r in _lines(out.path) if r.get("error")]
    assert failures[0]["error"] == "RuntimeError: the disk went away" and "label" not in failures[0]
    assert len(load_practice(out.path)) == 12  # training data leaves failures out
    assert run_practice(make_system(scripted()), QUESTIONS, _plan(graph_index_dir), out).runs == 0
    retried = run_practice(make_system(scripted()), QUESTIONS, _plan(graph_index_dir, retry_failed=True), out)
    assert (retried.runs, retried.failed) == (1, 0) and len(load_practice(out.path)) == 16


def test_bad_plans_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="samples"):
        _plan(tmp_path, samples=0)
    with pytest.raises(ConfigError, match="threshold"):
        _plan(tmp_path, threshold=1.0)
    with pytest.raises(ConfigError, match="chains"):
        _plan(tmp_path, chains=9)
