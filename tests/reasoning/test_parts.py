"""Small parts of the loop: JSON repair, text helpers, budgets, the feature critic, answer grouping."""

from __future__ import annotations

import pytest

from reasoning.budget import PRESETS, resolve_budget
from reasoning.chain import Chain
from reasoning.critic import CriticInput, FeatureCritic, critic_features
from reasoning.evidence import EvidenceItem
from reasoning.llm.protocol import TokenLogprob, span_logprobs
from reasoning.reranking import DEFAULT_WEIGHTS, blend_weights
from reasoning.structured import parse_json_object, string_value_span
from reasoning.text import (
    answer_in_text,
    answer_type_matches,
    expected_answer_type,
    normalize_answer,
    replace_citations,
)
from reasoning.verification import group_answers
from retrieval.documents import Passage
from retrieval.errors import ConfigError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('Sure! {"a": 1, } thanks', {"a": 1}),
        ('{"a": "cut off', {"a": "cut off"}),
        ('{"a": [1, 2', {"a": [1, 2]}),
        ('{"a":', {"a": None}),
        ("no json here", None),
        ("[1, 2]", None),
    ],
)
def test_parse_json_object_repairs_what_it_can(text: str, expected: object) -> None:
    assert parse_json_object(text) == expected


def test_text_helpers() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert answer_in_text("Berlin", ["It is based in Berlin, Germany."])
    assert not answer_in_text("Berl", ["It is based in Berlin."])
    assert not answer_in_text("yes", ["yes it is"])
    assert replace_citations("A [1] and B [7].", {1: 2}) == "A [2] and B."
    assert expected_answer_type("Were they both American?") == "yes/no"
    assert expected_answer_type("How many seats does it have?") == "number"
    assert expected_answer_type("Was it Tom or Bob?") == "any"
    assert answer_type_matches("How many seats?", "3,677") and not answer_type_matches("How many seats?", "Dwyer")
    assert not answer_type_matches("Who directed it?", "yes")


def test_budgets_presets_and_knobs() -> None:
    assert resolve_budget("fast") is PRESETS["fast"]
    custom = resolve_budget("fast", chains=3, max_rounds=None)
    assert custom.chains == 3 and custom.max_rounds == PRESETS["fast"].max_rounds
    assert [PRESETS[n].chains for n in ("fast", "balanced", "thorough")] == [1, 2, 3]
    with pytest.raises(ConfigError, match="unknown budget knob"):
        resolve_budget("fast", wings=2)
    with pytest.raises(ConfigError, match="rerank_depth"):
        resolve_budget("fast", passages_per_round=30)
    with pytest.raises(ConfigError, match="critic"):
        resolve_budget("fast", critic="oracle")


def _item(text: str, number: int = 1) -> EvidenceItem:
    return EvidenceItem(number, number, Passage(f"p{number}", f"d{number}", "T", text), (text,), 0.8, 1, ("hybrid",))


def test_feature_critic_wants_a_supported_answer_of_the_right_type() -> None:
    critic = FeatureCritic()
    base = {"chain": 0, "plan_done": True, "next_query": "", "round": 1, "max_rounds": 2}
    question = "How many seats does the arena have?"
    supported = CriticInput(question=question, answer="3,677", evidence=[_item("It seats 3,677.")], **base)
    wrong_type = CriticInput(question=question, answer="Dwyer Arena", evidence=[_item("Dwyer Arena seats.")], **base)
    none = CriticInput(question=question, answer="", evidence=[_item("x")], **{**base, "next_query": "seats"})
    verdicts = critic.judge([supported, wrong_type, none], round_no=1)
    assert [v.sufficient for v in verdicts] == [True, False, False]
    assert verdicts[2].missing == "seats" and verdicts[0].confidence > verdicts[1].confidence


def test_critic_features_see_a_repeated_answer_and_one_taken_from_the_question() -> None:
    base = {"chain": 0, "plan_done": True, "next_query": "", "round": 2, "max_rounds": 3, "evidence": [_item("x")]}
    question = "Who directed the film starring Ada Lovelace?"
    repeated = critic_features(CriticInput(question=question, answer="The Bob", previous_answer="bob", **base))
    changed = critic_features(CriticInput(question=question, answer="Carol", previous_answer="Bob", **base))
    echoed = critic_features(CriticInput(question=question, answer="Ada Lovelace", **base))
    nothing = critic_features(CriticInput(question=question, answer="", previous_answer="", **base))
    assert repeated["answer_repeated"] == 1.0 and changed["answer_repeated"] == 0.0
    assert echoed["answer_in_question"] == 1.0 and changed["answer_in_question"] == 0.0
    assert nothing["answer_repeated"] == nothing["answer_in_question"] == 0.0


def test_the_answer_span_and_its_tokens_are_found_in_the_reply() -> None:
    text = '{"facts": "the \\"answer\\": x", "answer": "", "answer": "Le Mans", "next_query": ""}'
    start, end = string_value_span(text, "answer") or (0, 0)
    assert text[start:end] == "Le Mans"  # not the quoted key inside facts, nor the empty value
    assert string_value_span('{"answer": ""}', "answer") is None
    tokens = [TokenLogprob(t, -float(i)) for i, t in enumerate(["ab", "cd", "ef", "g"])]
    assert span_logprobs(tokens, 1, 5) == [0.0, -1.0, -2.0]  # every token that overlaps "bcde"
    assert span_logprobs(tokens, 2, 4) == [-1.0] and span_logprobs(tokens, 7, 9) == []


def test_answers_are_grouped_by_normalised_containment() -> None:
    chains = []
    for i, answer in enumerate(["James Cameron", "Cameron", "Spielberg", "unknown"]):
        chain = Chain(i, "Who directed Titanic?", ["Who directed Titanic?"], ())
        chain.answer = answer
        chain.evidence = [_item("Titanic was directed by James Cameron.")]
        chains.append(chain)
    groups = group_answers(chains)
    assert [g.chains for g in groups] == [[0, 1], [2]]
    assert groups[0].answer == "Cameron" and groups[0].support == 1.0


def test_llm_weights_are_blended_with_the_defaults() -> None:
    assert blend_weights(None) == DEFAULT_WEIGHTS
    blended = blend_weights({"relevance": 0.0, "specificity": 1.0, "novelty": 0, "bridge": 0, "graph": 0})
    assert blended["specificity"] == pytest.approx(0.5 * 0.1 + 0.5 * 1.0)
    assert sum(blended.values()) == pytest.approx(1.0)
