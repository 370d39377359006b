"""The reasoning loop end to end with a scripted LLM over the small test graph."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from reasoning.budget import DEFAULT_BUDGET, resolve_budget
from reasoning.context import MethodContext
from reasoning.critic import CriticInput, PromptedCritic, SufficiencyCritic, Verdict, critic_features
from reasoning.llm.accounting import SpendingLedger
from reasoning.llm.protocol import LLMTimeoutError
from reasoning.llm.scripted import ScriptedLLM
from reasoning.loop import LoopPolicy, ReasoningLoop
from reasoning.result import AskResult
from reasoning.stop_policy import StopPolicy
from reasoning.structured import JsonCaller
from reasoning.system import CancelledError
from reasoning.trace import Trace
from reasoning.trained_critic import CriticArtifactError, default_critic_dir
from retrieval.errors import ConfigError
from tests.reasoning.critic_artifacts import write_logistic_critic
from tests.reasoning.scripts import (
    CHECK,
    PLAN,
    QUESTION,
    STEP,
    VERIFY,
    index_without_graph,
    make_system,
    plan,
    purposes,
    reply,
    scripted,
    stages,
    step,
)

pytestmark = pytest.mark.unit


def test_fast_budget_answers_with_citations_cost_and_trace(graph_index_dir: Path) -> None:
    llm = scripted()
    result = make_system(llm).ask(
        QUESTION, graph_index_dir, method="chains", budget="fast", overrides={"critic": "feature"}
    )
    out = result.to_json()
    assert result.answer == "Berlin" and not result.abstained
    assert purposes(out["trace"]) == ["decompose", "reason"]  # sufficient at once; the critic calls no LLM
    assert out["cost"]["llm_calls"] == 2 == llm.batch_calls
    assert out["cost"]["prompt_tokens"] > 0 and out["cost"]["completion_tokens"] > 0
    assert [c["n"] for c in out["citations"]] == [1, 2]
    assert "[1]" in result.explanation and "[2]" in result.explanation
    assert {"link", "decompose", "retrieve", "rerank", "reason", "critic", "verify", "answer"} <= set(
        stages(out["trace"])
    )
    assert json.loads(json.dumps(out))  # JSON-serialisable as a whole
    decomposition = next(e for e in out["trace"]["events"] if e["stage"] == "decompose")
    assert decomposition["sub_questions"][0]["entities"][0]["name"] == "Alice Smith"  # entity-grounded


def test_each_round_sends_all_active_chains_as_one_batch(graph_index_dir: Path) -> None:
    llm = scripted([(STEP, step("unknown", next_query="Acme Corporation city"))])
    result = make_system(llm).ask(
        QUESTION, graph_index_dir, method="chains", budget="fast", overrides={"chains": 3, "max_rounds": 2}
    )
    reason_calls = [c for c in llm.calls if "Task answer: facts" in json.dumps(c.prompts[0])]
    assert [len(c.prompts) for c in reason_calls] == [3, 3]
    assert result.abstained and result.answer == "insufficient evidence"
    abstain = [e for e in result.trace.to_json()["events"] if e["stage"] == "abstain"]
    assert abstain and "no chain" in abstain[0]["reason"]


def test_chains_are_seeded_differently(graph_index_dir: Path) -> None:
    llm = scripted()
    result = make_system(llm).ask(
        QUESTION, graph_index_dir, method="chains", budget="fast", overrides={"chains": 3, "max_rounds": 1}
    )
    retrieves = [e for e in result.trace.to_json()["events"] if e["stage"] == "retrieve" and "chain" in e]
    assert len({e["query"] for e in retrieves}) >= 2  # the question vs its first sub-question
    assert len({(e["query"], tuple(e["anchors"]), e["graph_weight"]) for e in retrieves}) == 3


def test_balanced_uses_prompted_critic_llm_criteria_and_verification(graph_index_dir: Path) -> None:
    criteria = {"relevance": 0.2, "specificity": 0.9, "novelty": 0.5, "bridge": 0.8, "graph": 0.1}
    llm = scripted([(PLAN, plan("Which company did Alice Smith found?", "Where is #1 based?", criteria=criteria))])
    result = make_system(llm).ask(QUESTION, graph_index_dir, method="chains", budget="balanced")
    trace = result.trace.to_json()
    assert purposes(trace) == ["decompose", "reason", "critic", "verify"]
    weights = next(e for e in trace["events"] if e["stage"] == "rerank")["weights"]
    assert weights["specificity"] > 0.1  # moved towards the LLM's weights
    assert result.answer == "Berlin" and result.confidence > 0.5


def test_thorough_has_the_llm_judge_candidates(graph_index_dir: Path) -> None:
    llm = scripted()
    result = make_system(llm).ask(
        QUESTION, graph_index_dir, method="chains", budget="thorough", overrides={"chains": 2}
    )
    ranked = next(e for e in result.trace.to_json()["events"] if e["stage"] == "rerank")["ranked"]
    assert "judge" in ranked[0]["criteria"]
    assert purposes(result.trace.to_json()).count("judge") >= 1


def test_insufficient_verdict_searches_again_for_what_is_missing(graph_index_dir: Path) -> None:
    llm = scripted(
        [
            (STEP, ["{}"]),  # replaced below
        ]
    )
    replies = iter([step("unknown", "Alice founded Acme [1].", "Acme Corporation headquarters"), step("Berlin")])
    llm.rules[0] = (STEP, lambda _: next(replies))
    result = make_system(llm).ask(
        QUESTION, graph_index_dir, method="chains", budget="fast", overrides={"critic": "feature"}
    )
    events = result.trace.to_json()["events"]
    queries = [e["query"] for e in events if e["stage"] == "retrieve"]
    assert queries[1] == "Acme Corporation headquarters"
    critic = [e["sufficient"] for e in events if e["stage"] == "critic"]
    assert critic == [False, True] and result.answer == "Berlin"


def test_malformed_json_is_repaired_or_retried_then_the_chain_degrades(graph_index_dir: Path) -> None:
    repaired = scripted([(STEP, '```json\n{"facts": "x [1]", "answer": "Berlin", "next_query": "",}\n```')])
    assert make_system(repaired).ask(QUESTION, graph_index_dir, method="chains", budget="fast").answer == "Berlin"

    broken = scripted([(STEP, "I think the answer is Berlin")])
    result = make_system(broken).ask(QUESTION, graph_index_dir, method="chains", budget="fast")
    trace = result.trace.to_json()
    assert purposes(trace) == ["decompose", "reason", "reason"]  # one retry
    assert "degraded" in stages(trace) and result.abstained
    chains = next(e for e in trace["events"] if e["stage"] == "chains")["chains"]
    assert chains[0]["stop_reason"].startswith("degraded")


def test_llm_errors_degrade_instead_of_failing(graph_index_dir: Path) -> None:
    llm = scripted()
    llm.fail_on_call(2, LLMTimeoutError("slow"))
    result = make_system(llm).ask(QUESTION, graph_index_dir, method="chains", budget="fast")
    errors = [e for e in result.trace.to_json()["events"] if e["stage"] == "llm_error"]
    assert errors[0]["code"] == "timeout" and result.cost.failed_llm_calls == 1


def test_caps_on_llm_calls_and_tokens_are_hard(graph_index_dir: Path) -> None:
    llm = scripted([(STEP, step("unknown", next_query="more"))])
    result = make_system(llm).ask(
        QUESTION, graph_index_dir, method="chains", budget="thorough", overrides={"max_llm_calls": 3, "chains": 2}
    )
    assert result.cost.llm_calls <= 3 == llm.batch_calls
    assert "budget" in stages(result.trace.to_json())
    tight = make_system(scripted()).ask(
        QUESTION, graph_index_dir, method="chains", budget="fast", overrides={"max_tokens": 50}
    )
    assert tight.cost.llm_calls == 0 and tight.abstained


def test_citations_outside_the_evidence_are_dropped(graph_index_dir: Path) -> None:
    llm = scripted([(STEP, step("Berlin", "Acme is in Berlin [2]; see also [9]."))])
    result = make_system(llm).ask(QUESTION, graph_index_dir, method="chains", budget="fast")
    assert "[9]" not in result.explanation and "[1]" in result.explanation
    assert len(result.citations) == 1


def test_contradicting_chains_are_detected_and_the_supported_answer_wins(graph_index_dir: Path) -> None:
    # the vote puts Berlin (in the evidence) first; the verifier rejects it and supports the runner-up
    answers = iter(["Paris", "Berlin"])
    llm = scripted(
        [
            (STEP, lambda _: step(next(answers), "facts [1]")),
            ('Proposed answer: "Berlin"', reply(supported=False, answer="unknown")),
            ('Proposed answer: "Paris"', reply(supported=True, answer="Paris")),
        ]
    )
    knobs = {"chains": 2, "max_rounds": 1, "passages_per_round": 5, "critic": "none", "verify": True}
    result = make_system(llm).ask(QUESTION, graph_index_dir, method="chains", budget="fast", overrides=knobs)
    events = result.trace.to_json()["events"]
    verify = next(e for e in events if e["stage"] == "verify")
    assert verify["contradiction"] is True and [g["answer"] for g in verify["groups"]] == ["Berlin", "Paris"]
    checks = [(e["answer"], e["supported"]) for e in events if e["stage"] == "verify_check"]
    assert checks == [("Berlin", False), ("Paris", True)]
    assert result.answer == "Paris" and not result.abstained


def test_verification_rejects_and_abstains_when_nothing_supports(graph_index_dir: Path) -> None:
    llm = scripted([(STEP, step("Tokyo", "facts")), (VERIFY, reply(supported=False, answer="unknown"))])
    result = make_system(llm).ask(
        QUESTION, graph_index_dir, method="chains", budget="balanced", overrides={"chains": 1}
    )
    assert result.abstained and result.answer == "insufficient evidence"


def test_index_without_graph_skips_graph_steps(tmp_path: Path) -> None:
    llm = scripted()
    result = make_system(llm).ask(QUESTION, index_without_graph(tmp_path), method="chains", budget="fast")
    events = result.trace.to_json()["events"]
    link = next(e for e in events if e["stage"] == "link")
    assert link["graph"] is False and "no knowledge graph" in link["note"]
    assert all(set(e["sizes"]) == {"hybrid"} for e in events if e["stage"] == "retrieve")
    assert result.answer == "Berlin"


def test_bad_questions_and_settings_are_refused(graph_index_dir: Path) -> None:
    system = make_system(scripted(), max_question_chars=40)
    with pytest.raises(ConfigError, match="empty"):
        system.ask("   ", graph_index_dir)
    with pytest.raises(ConfigError, match="limit is 40"):
        system.ask("x" * 41, graph_index_dir)
    with pytest.raises(ConfigError, match="unknown method"):
        system.ask("Who?", graph_index_dir, method="magic")
    with pytest.raises(ConfigError, match="unknown budget"):
        system.ask("Who?", graph_index_dir, budget="huge")
    with pytest.raises(ConfigError, match="chains"):
        system.ask("Who?", graph_index_dir, overrides={"chains": 0})


def test_cancel_stops_the_run(graph_index_dir: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        make_system(scripted()).ask(QUESTION, graph_index_dir, method="chains", cancel=cancel)


def test_listener_sees_events_as_they_happen(graph_index_dir: Path) -> None:
    seen: list[str] = []
    make_system(scripted()).ask(
        QUESTION, graph_index_dir, method="chains", budget="fast", listener=lambda e: seen.append(e.stage)
    )
    assert seen[0] == "start" and seen[-1] == "answer"


def test_runs_are_deterministic(graph_index_dir: Path) -> None:
    def run() -> dict[str, object]:
        out = make_system(scripted()).ask(QUESTION, graph_index_dir, method="chains", budget="balanced").to_json()
        return {k: v for k, v in out.items() if k not in ("trace", "cost")}

    assert run() == run()


def test_prompted_critic_falls_back_to_features_on_bad_json(graph_index_dir: Path) -> None:
    llm = scripted([(CHECK, "not json at all")])
    result = make_system(llm).ask(
        QUESTION, graph_index_dir, method="chains", budget="balanced", overrides={"verify": False}
    )
    critic = next(e for e in result.trace.to_json()["events"] if e["stage"] == "critic")
    assert critic["critic"] == "feature" and result.answer == "Berlin"


def run_loop(
    index_dir: Path, critic: SufficiencyCritic, *, llm: ScriptedLLM | None = None, **knobs: Any
) -> tuple[ScriptedLLM, AskResult]:
    """The loop run directly with `critic` in the stop policy of the `fast` budget with `knobs` on top."""
    llm = llm or scripted()
    budget = resolve_budget("fast", **knobs)
    caller = JsonCaller(llm, SpendingLedger(budget.max_llm_calls, budget.max_tokens), Trace())
    stop = StopPolicy(critic, budget.answer_every_round, budget.stop_run, budget.trust_critic)
    ctx = MethodContext(QUESTION, make_system(llm).index(index_dir), budget, caller, stop)
    return llm, ReasoningLoop(ctx, LoopPolicy()).run()


class FirstChainSufficient:
    """Chain 0 is sufficient from round 1, the others never are."""

    name = "first-chain"

    def judge(self, inputs: Sequence[CriticInput], round_no: int) -> list[Verdict]:
        return [Verdict(item.chain == 0, 0.9 if item.chain == 0 else 0.1, "", self.name) for item in inputs]


@pytest.mark.parametrize("stop_run", [False, True])
def test_the_run_can_stop_at_its_first_sufficient_chain(graph_index_dir: Path, stop_run: bool) -> None:
    llm, result = run_loop(graph_index_dir, FirstChainSufficient(), chains=2, max_rounds=3, stop_run=stop_run)
    reason_calls = [len(c.prompts) for c in llm.calls if "Task answer: facts" in json.dumps(c.prompts[0])]
    events = result.trace.to_json()["events"]
    stopped = {c["chain"]: c["stop_reason"] for c in next(e for e in events if e["stage"] == "chains")["chains"]}
    run_stops = [e for e in events if e["stage"] == "stop_run"]
    if stop_run:  # chain 1 stops with chain 0: one round, one batched call
        assert reason_calls == [2] and stopped == {0: "sufficient", 1: "another chain sufficient"}
        assert [(e["round"], e["sufficient"], e["stopped"]) for e in run_stops] == [(1, [0], [1])]
    else:  # chain 1 goes on alone for the other rounds
        assert reason_calls == [2, 1, 1] and stopped == {0: "sufficient", 1: "max rounds"} and not run_stops
    assert next(e for e in events if e["stage"] == "start")["budget"]["stop_run"] is stop_run
    assert result.answer == "Berlin"


@pytest.mark.parametrize("trust_critic", [False, True])
def test_an_answer_the_critic_vouched_for_is_not_rechecked_when_trusted(
    graph_index_dir: Path, trust_critic: bool
) -> None:
    _, result = run_loop(
        graph_index_dir,
        FirstChainSufficient(),
        chains=2,
        max_rounds=3,
        stop_run=True,
        verify=True,
        trust_critic=trust_critic,
    )
    events = result.trace.to_json()["events"]
    skipped = [e for e in events if e["stage"] == "verify_skipped"]
    if trust_critic:
        assert "verify" not in purposes(result.trace.to_json())
        assert [(e["chain"], e["answer"], e["reason"]) for e in skipped] == [(0, "Berlin", "critic sufficient")]
    else:
        assert purposes(result.trace.to_json()).count("verify") == 1 and not skipped
    assert result.answer == "Berlin"


class EveryChainSufficient:
    """Every chain is sufficient, chain 0 the surest."""

    name = "every-chain"

    def judge(self, inputs: Sequence[CriticInput], round_no: int) -> list[Verdict]:
        return [Verdict(True, 0.9 if item.chain == 0 else 0.6, "", self.name) for item in inputs]


def test_a_contested_answer_is_rechecked_though_the_critic_vouched(graph_index_dir: Path) -> None:
    answers = iter(["Paris", "Berlin"])  # Paris, surer but not in the evidence, contests Berlin
    llm = scripted([(STEP, lambda _: step(next(answers), "facts [1]"))])
    knobs = {"chains": 2, "max_rounds": 1, "passages_per_round": 5, "verify": True, "trust_critic": True}
    _, result = run_loop(graph_index_dir, EveryChainSufficient(), llm=llm, **knobs)
    events = result.trace.to_json()["events"]
    assert next(e for e in events if e["stage"] == "verify")["contradiction"] is True
    assert "verify" in purposes(result.trace.to_json())
    assert not [e for e in events if e["stage"] == "verify_skipped"]


def test_the_shipped_default_configuration_answers(graph_index_dir: Path) -> None:
    """`sleuth ask` and `POST /v1/ask` with nothing named: the default budget, the shipped critic."""
    llm = scripted()
    result = make_system(llm).ask(QUESTION, graph_index_dir)
    events = result.trace.to_json()["events"]
    start = next(e for e in events if e["stage"] == "start")
    assert start["budget"]["name"] == DEFAULT_BUDGET
    assert (
        start["stop"]
        == StopPolicy(
            PromptedCritic(JsonCaller(llm, SpendingLedger(1, 1), Trace())),
            answer_every_round=False,
            stop_run=False,
            trust_critic=False,
        ).describe()
    )
    # the hop search judges its answer's confidence with the features where the budget's critic would ask the LLM
    assert {e["critic"] for e in events if e["stage"] == "critic"} == {"feature"}
    assert result.answer == "Berlin" and not result.abstained and result.citations


def test_fast_runs_the_shipped_trained_critic_and_stops_the_run(graph_index_dir: Path) -> None:
    result = make_system(scripted()).ask(QUESTION, graph_index_dir, method="chains", budget="fast")
    events = result.trace.to_json()["events"]
    stop = next(e for e in events if e["stage"] == "start")["stop"]
    assert stop["critic"]["name"] == "trained" and stop["critic"]["dir"] == str(default_critic_dir())
    assert (stop["stop_run"], stop["trust_critic"], stop["answer_every_round"]) == (True, True, False)
    assert {e["critic"] for e in events if e["stage"] == "critic"} == {"trained"}


def test_a_trained_critic_file_does_not_set_the_stop_rules(graph_index_dir: Path, tmp_path: Path) -> None:
    """Older critic manifests carried stop_run and trust_critic: the budget's knobs are what the loop follows."""
    directory = write_logistic_critic(
        tmp_path / "critic", {"has_answer": 1.0}, threshold=0.0, stop_run=True, trust_critic=True
    )
    knobs = {"critic": "trained", "critic_dir": str(directory), "chains": 2, "max_rounds": 2}
    result = make_system(scripted()).ask(QUESTION, graph_index_dir, method="chains", budget="balanced", overrides=knobs)
    events = result.trace.to_json()["events"]
    stop = next(e for e in events if e["stage"] == "start")["stop"]
    assert (stop["critic"]["name"], stop["stop_run"], stop["trust_critic"]) == ("trained", False, False)
    assert not [e for e in events if e["stage"] in ("stop_run", "verify_skipped")]


def test_a_missing_trained_critic_is_named(graph_index_dir: Path, tmp_path: Path) -> None:
    system = make_system(scripted(), critic_dir=tmp_path / "nowhere")
    with pytest.raises(CriticArtifactError, match="no trained critic at"):
        system.ask(QUESTION, graph_index_dir, method="chains", budget="fast")
    assert system.ask(QUESTION, graph_index_dir, method="rag", budget="fast").answer == "Berlin"  # no critic in rag


class RecordingCritic:
    """Never sufficient; keeps what it was given."""

    name = "recording"

    def __init__(self) -> None:
        self.inputs: list[CriticInput] = []

    def judge(self, inputs: Sequence[CriticInput], round_no: int) -> list[Verdict]:
        self.inputs += inputs
        return [Verdict(False, 0.1, "", self.name) for _ in inputs]


def test_the_critic_sees_the_readers_confidence_in_its_answer(graph_index_dir: Path) -> None:
    llm = ScriptedLLM(scripted().rules, default=None, token_logprob=-0.1)
    critic = RecordingCritic()
    _, result = run_loop(graph_index_dir, critic, llm=llm, max_rounds=1)
    (seen,) = critic.inputs
    assert seen.answer == "Berlin" and seen.answer_logprob == seen.answer_min_logprob == pytest.approx(-0.1)
    assert critic_features(seen)["answer_confidence"] == pytest.approx(math.exp(-0.1))
    reason = next(e for e in result.trace.to_json()["events"] if e["stage"] == "reason")
    assert reason["answer_logprob"] == pytest.approx(-0.1)  # in the trace too
    plain = RecordingCritic()  # a backend without log-probabilities: no confidence, the feature 0
    run_loop(graph_index_dir, plain, max_rounds=1)
    assert plain.inputs[0].answer_logprob is None and critic_features(plain.inputs[0])["answer_confidence"] == 0.0


def test_an_index_read_while_another_process_swaps_it_is_opened_again(
    graph_index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the manifest before a swap and a file after it: tried again, not an unreadable index."""
    import reasoning.system
    from retrieval.bundle import IndexBundle
    from retrieval.errors import IndexLoadError

    real_open, failures = IndexBundle.open, iter([True])

    def open_mid_swap(directory: Path) -> IndexBundle:
        if next(failures, False):
            raise IndexLoadError("passages.sqlite holds 7 passages; the manifest says 6")
        return real_open(directory)

    monkeypatch.setattr(reasoning.system.IndexBundle, "open", staticmethod(open_mid_swap))
    assert make_system(scripted()).index(graph_index_dir).bundle.manifest.data["counts"]
