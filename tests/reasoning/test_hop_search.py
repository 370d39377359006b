"""Hop-by-hop reasoning: planning, substitution, the final operations and the beam search over hop answers,
with the scripted LLM over the small test graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reasoning.operations import compare, equal, equality, parse_date, parse_number
from reasoning.plan import answer_kind, parse_plan, question_choices, substitute
from tests.reasoning.scripts import (
    HOP,
    HOP_PLAN,
    READ,
    hop_answers,
    hop_plan,
    make_system,
    purposes,
    reply,
    scripted,
)

pytestmark = pytest.mark.unit

QUESTION = "In which city is the company founded by Alice Smith based?"


# --- the operations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12 March 1950", (1950, 3, 12)),
        ("March 12, 1950", (1950, 3, 12)),
        ("born on the 3rd of Sept. 1901 in Rome", (1901, 9, 3)),
        ("1950-03-12", (1950, 3, 12)),
        ("June 1944", (1944, 6, 0)),
        ("1987", (1987, 0, 0)),
        ("the 1920s", (1920, 0, 0)),
        ("44 BC", (-44, 0, 0)),
        ("5th century", (450, 0, 0)),
        ("unknown", None),
        ("Paris", None),
    ],
)
def test_dates_parse_in_the_formats_wikipedia_text_uses(text: str, expected: tuple[int, int, int] | None) -> None:
    assert parse_date(text) == expected


def test_numbers_parse_with_separators_scales_and_words() -> None:
    assert parse_number("3,677 seated") == 3677
    assert parse_number("about 2.5 million people") == 2_500_000
    assert parse_number("twelve") == 12
    assert parse_number("none at all") is None


def test_comparisons_pick_the_earliest_latest_largest_and_smallest() -> None:
    dates = ["July 16, 1966", "1 October 1924", "March 1966"]
    assert compare("earliest", dates).winner == 1
    assert compare("latest", dates).winner == 0  # a day in July is after a bare March
    assert compare("largest", ["3,677", "12,000", "950"]).winner == 1
    assert compare("smallest", ["3,677", "12,000", "950"]).winner == 2
    outcome = compare("earliest", ["1950", "1950"])
    assert not outcome.computed and outcome.reason == "tie"
    unparsable = compare("earliest", ["Paris", "1950"])
    assert not unparsable.computed and "unparsable" in unparsable.reason
    assert not compare("earliest", ["1950"]).computed


def test_same_and_different_compare_normalised_values() -> None:
    assert equal("American", "United States") and equal("the United States", "USA")
    assert equal("Paris, France", "France") and not equal("Paris, France", "Lyon, France")
    assert equality("same", ["American", "United States"]).answer == "yes"
    assert equality("same", ["Germany", "France"]).answer == "no"
    assert equality("different", ["Germany", "France"]).answer == "yes"
    assert not equality("same", ["Germany", ""]).computed


def test_all_is_yes_only_when_every_yes_no_answer_is_yes() -> None:
    assert equality("all", ["yes", "Yes."]).answer == "yes"
    assert equality("all", ["yes", "no, it is an office tower"]).answer == "no"
    outcome = equality("all", ["yes", "Paris"])
    assert not outcome.computed and "not yes or no" in outcome.reason


# --- the plan -----------------------------------------------------------------------------------------


def test_a_plan_keeps_its_steps_and_drops_references_to_later_steps() -> None:
    plan = parse_plan("Q?", {"steps": ["Who founded #2?", "Who directed Jaws?", "Where was #2 born?"]})
    assert plan.steps == ("Who founded ?", "Who directed Jaws?", "Where was #2 born?")
    assert "refers to #2 before it is answered" in plan.note
    assert plan.operation == "answer" and plan.over == (3,) and plan.refs(3) == (2,)


def test_a_comparison_without_choices_takes_them_from_the_question() -> None:
    question = "Which film has the director who was born first, Tombstone Rashomon or Waiting for the Clouds?"
    reply_ = {
        "steps": ["Who directed Tombstone Rashomon?", "Who directed Waiting for the Clouds?", "When was #1 born?",
                  "When was #2 born?"],
        "operation": "earliest",
        "over": [],
    }  # fmt: skip
    plan = parse_plan(question, reply_)
    assert plan.over == (3, 4)  # the steps no other step uses
    assert plan.choices == ("Tombstone Rashomon", "Waiting for the Clouds")
    assert question_choices("Who was born first, A B or C D?") == ("A B", "C D")
    assert question_choices("Who directed Jaws?") == ()


@pytest.mark.parametrize("bad", [None, {}, {"steps": "x"}, {"steps": ["", "?"]}])
def test_an_unusable_plan_is_the_question_itself(bad: dict[str, Any] | None) -> None:
    plan = parse_plan("Who directed Jaws?", bad)
    assert plan.steps == ("Who directed Jaws?",) and plan.source == "fallback"


def test_an_equality_over_one_step_becomes_the_answer_of_the_last_step() -> None:
    plan = parse_plan("Q?", {"steps": ["Is Jaws a film?"], "operation": "same", "over": [1]})
    assert plan.operation == "answer" and plan.over == (1,)


def test_same_over_yes_no_steps_asks_whether_every_answer_is_yes() -> None:
    reply_ = {"steps": ["Is Verdi a composer?", "Is Thomas a composer?"], "operation": "same", "over": [1, 2]}
    plan = parse_plan("Are Verdi and Thomas both composers?", reply_)
    assert plan.operation == "all" and plan.over == (1, 2) and "all" in plan.note
    reply_ = {"steps": ["Which country is Oro in?", "Which country is Mira in?"], "operation": "same", "over": [1, 2]}
    assert parse_plan("Are Oro and Mira in the same country?", reply_).operation == "same"
    # "all" over steps that look a value up, where the question asks "the same": same
    plan = parse_plan("Are Oro and Mira both in the same country?", reply_ | {"operation": "all"})
    assert plan.operation == "same" and "not yes/no" in plan.note


@pytest.mark.parametrize(
    ("question", "steps", "kept"),
    [
        # the question asks "who": the "Who ...?" step answers it; the later step about that person is dropped
        ("Who was known as Aladin and worked as a consultant?",
         ["Who was known by the stage name Aladin?", "What did #1 work as?"], 1),
        # the last step gives what the question asks: kept
        ("Who married the publisher of The North Star?", ["Who published The North Star?", "Who married #1?"], 2),
        ("Where was the director of Sinister born?", ["Who directed Sinister?", "Where was #1 born?"], 2),
        # a last step asking for another kind of answer is the planner's reading of the question: kept
        ("Who is the employer of the person Mach's principle was named after?",
         ["Who was Mach's principle named after?", "Where did #1 work?"], 2),
        # the question's opening says nothing about the kind of answer: the last step
        ("The arena where the Maineiacs played seats how many?", ["Where did the Maineiacs play?",
                                                                 "How many does #1 seat?"], 2),
    ],
)  # fmt: skip
def test_the_answer_is_the_step_that_gives_what_the_question_asks_for(
    question: str, steps: list[str], kept: int
) -> None:
    plan = parse_plan(question, {"steps": steps, "operation": "answer", "over": [len(steps)]})
    assert plan.steps == tuple(steps[:kept]) and plan.over == (kept,)
    assert answer_kind("In what year did X die?") == "date" and answer_kind("How many people live in X?") == "quantity"


@pytest.mark.parametrize(
    ("steps", "chained"),
    [
        (["Who played Susie in Miracle on 34th Street?", "Who is Susie's sister?"], "Who is #1's sister?"),
        (["Who was Anna Benson's husband?", "Which team did Anna Benson's husband play for?"],
         "Which team did #1 play for?"),
        # after "of" the relation may be the earlier step's own: left as written
        (["Who directed Jaws?", "Where was the director of Jaws born?"], "Where was the director of Jaws born?"),
        # no name in common, or the chain is already there: unchanged
        (["Where did the Maineiacs play?", "How many people can the arena seat?"],
         "How many people can the arena seat?"),
        (["Who directed Jaws?", "Where was #1 born?"], "Where was #1 born?"),
    ],
)  # fmt: skip
def test_a_step_naming_what_an_unused_earlier_step_asked_about_uses_its_answer(steps: list[str], chained: str) -> None:
    plan = parse_plan("What is it?", {"steps": steps, "operation": "answer", "over": [2]})
    assert plan.steps == (steps[0], chained)
    assert ("#k" in plan.note) == (chained != steps[1])


def test_substitution_puts_earlier_answers_in_place_of_their_references() -> None:
    assert substitute("Where was #1 born?", {1: "Scott Derrickson"}) == "Where was Scott Derrickson born?"
    assert substitute("Is #1 older than #2?", {1: "A"}) == "Is A older than #2?"


# --- the search ---------------------------------------------------------------------------------------


def events(result: Any, stage: str) -> list[dict[str, Any]]:
    return [e for e in result.trace.to_json()["events"] if e["stage"] == stage]


def test_the_second_hop_searches_for_the_first_hops_answer(graph_index_dir: Path) -> None:
    llm = scripted()
    result = make_system(llm).ask(QUESTION, graph_index_dir, budget="fast", overrides={"critic": "feature"})
    assert result.answer == "Berlin"
    reads = events(result, "hop_read")
    assert [r["query"] for r in reads] == ["Which company did Alice Smith found?", "Where is Acme Corporation based?"]
    assert reads[1]["passages"][0]["title"] == "Acme Corporation"  # the bridge entity's own page first
    assert [c.title for c in result.citations] == ["Alice Smith", "Acme Corporation"]  # both hops cited
    assert result.explanation == (
        "Which company did Alice Smith found? Acme Corporation [1]. Where is Acme Corporation based? Berlin [2]."
    )
    assert purposes(result.trace.to_json()) == ["plan", "hop", "hop"]
    plan = events(result, "plan")[0]
    assert plan["steps"] == ["Which company did Alice Smith found?", "Where is #1 based?"]
    assert json.loads(json.dumps(result.to_json()))


def test_search_over_hop_answers_recovers_from_a_wrong_first_read(graph_index_dir: Path) -> None:
    """Fast keeps one path: its first reading names the wrong company, whose step stays unknown. Balanced
    reads a second group of passages, keeps both candidates, and the right path reaches the answer."""
    reader = hop_answers(
        {
            "Which company did Alice Smith found?": ["Paris Fair", "Acme Corporation"],
            "Where is Acme Corporation based?": "Berlin",
        }
    )
    rules = [(HOP, reader), (READ, reply(facts="", answer="unknown"))]
    fast = make_system(scripted(rules)).ask(QUESTION, graph_index_dir, budget="fast", overrides={"critic": "feature"})
    assert fast.abstained
    assert events(fast, "fallback")  # no path reached the end
    reader = hop_answers(
        {
            "Which company did Alice Smith found?": ["Paris Fair", "Acme Corporation"],
            "Where is Acme Corporation based?": "Berlin",
        }
    )
    llm = scripted([(HOP, reader), (READ, reply(facts="", answer="unknown"))])
    wide = make_system(llm).ask(
        QUESTION, graph_index_dir, budget="fast", overrides={"critic": "feature", "beam_width": 2, "hop_reads": 2}
    )
    assert wide.answer == "Berlin"
    first = events(wide, "beam")[0]
    assert [p["answers"] for p in first["kept"]] == [["Acme Corporation"], ["Paris Fair"]] or [
        p["answers"] for p in first["kept"]
    ] == [["Paris Fair"], ["Acme Corporation"]]
    hop_batches = [
        len(c.prompts) for c in llm.calls if HOP in json.dumps(c.prompts[0]) and "Facts" not in json.dumps(c.prompts[0])
    ]
    assert hop_batches[0] == 2  # both readings of step 1 in one batch


def test_a_comparison_is_computed_and_returns_the_option_not_the_date(graph_index_dir: Path) -> None:
    question = "Who was born first, Alice Smith or Bob Jones?"
    llm = scripted(
        [
            (
                HOP_PLAN,
                hop_plan("When was Alice Smith born?", "When was Bob Jones born?", operation="earliest", over=[1, 2],
                         choices=["Alice Smith", "Bob Jones"]),
            ),
            (HOP, hop_answers({"When was Alice Smith born?": "12 May 1950", "When was Bob Jones born?": "1948"})),
        ]
    )  # fmt: skip
    result = make_system(llm).ask(question, graph_index_dir, budget="fast", overrides={"critic": "feature"})
    assert result.answer == "Bob Jones"
    final = events(result, "final")[0]
    assert final["computed"] and final["kind"] == "date" and final["winner"] == 1
    assert "compose" not in purposes(result.trace.to_json())  # computed, not asked
    hop_calls = [c for c in llm.calls if HOP in json.dumps(c.prompts[0])]
    assert [len(c.prompts) for c in hop_calls] == [1, 1]


def test_an_unparsable_comparison_falls_back_to_the_llm_and_says_so(graph_index_dir: Path) -> None:
    question = "Who was born first, Alice Smith or Bob Jones?"
    llm = scripted(
        [
            (HOP_PLAN, hop_plan("When was Alice Smith born?", "When was Bob Jones born?", operation="earliest",
                                over=[1, 2], choices=["Alice Smith", "Bob Jones"])),
            (HOP, hop_answers({"When was Alice Smith born?": "long ago", "When was Bob Jones born?": "in spring"})),
            ("Facts found:", reply(answer="Alice Smith")),
        ]
    )  # fmt: skip
    result = make_system(llm).ask(question, graph_index_dir, budget="fast", overrides={"critic": "feature"})
    assert result.answer == "Alice Smith"
    final = events(result, "final")[0]
    assert not final["computed"] and final["llm"] and "unparsable" in final["reason"]
    compose = next(c for c in llm.calls if "Facts found:" in str(c.prompts[0]))
    schema = compose.params.json_schema or {}
    assert schema["properties"]["answer"]["enum"] == ["Alice Smith", "Bob Jones"]  # an option, not a sentence
    assert "by the LLM" in result.explanation


def test_same_or_different_answers_yes_or_no_from_the_step_answers(graph_index_dir: Path) -> None:
    question = "Were Alice Smith and Bob Jones born in the same city?"
    llm = scripted(
        [
            (HOP_PLAN, hop_plan("Where was Alice Smith born?", "Where was Bob Jones born?", operation="same",
                                over=[1, 2])),
            (HOP, hop_answers({"Where was Alice Smith born?": "Paris", "Where was Bob Jones born?": "Paris"})),
        ]
    )  # fmt: skip
    result = make_system(llm).ask(question, graph_index_dir, budget="fast", overrides={"critic": "feature"})
    assert result.answer == "yes"


def test_paths_vote_by_score_and_the_trace_records_every_step(graph_index_dir: Path) -> None:
    llm = scripted()
    result = make_system(llm).ask(QUESTION, graph_index_dir, budget="balanced", overrides={"critic": "feature"})
    assert result.answer == "Berlin"
    assert events(result, "vote")[0]["winner"] == "Berlin"
    assert {"start", "plan", "retrieve", "rerank", "hop_read", "beam", "final", "vote", "critic", "answer"} <= {
        e["stage"] for e in result.trace.to_json()["events"]
    }
    assert result.evidence[0].passage_id == result.citations[0].passage_id  # cited passages lead the evidence


def test_the_same_question_gives_the_same_trace(graph_index_dir: Path) -> None:
    timing = {"at_s", "seconds", "latency_s", "elapsed_s", "t"}

    def run() -> list[Any]:
        result = make_system(scripted()).ask(QUESTION, graph_index_dir, budget="balanced")
        return [
            {k: v for k, v in e.items() if k not in timing and k != "cost"}
            for e in result.trace.to_json()["events"]
            if e["stage"] not in ("timing", "llm")
        ]

    assert run() == run()


def test_a_comparison_compares_the_steps_about_its_options_in_the_direction_the_question_states() -> None:
    question = "Which film has the director who is older, Red Harbor or The Glass Road?"
    plan = parse_plan(
        question,
        {"steps": ["Who directed Red Harbor?", "Who directed The Glass Road?", "When was Red Harbor born?",
                   "When was The Glass Road born?"], "operation": "latest", "over": [2, 3], "choices": []},
    )  # fmt: skip
    assert plan.over == (3, 4) and plan.choices == ("Red Harbor", "The Glass Road")
    assert plan.steps[2:] == ("When was #1 born?", "When was #2 born?")  # about the directors the 'Who' steps found
    assert plan.operation == "earliest"  # older: born earliest
    stray = parse_plan(
        "Which film came out first, Jaws or Alien?",
        {"steps": ["Which film came out first?", "When did Jaws come out?", "When did Alien come out?"],
         "operation": "earliest", "over": [1, 2, 3]},
    )  # fmt: skip
    assert stray.over == (2, 3) and stray.choices == ("Jaws", "Alien")
    lone = parse_plan("When did Jaws come out?", {"steps": ["When did Jaws come out?"], "operation": "earliest"})
    assert lone.operation == "answer" and "without options" in lone.note


def test_a_listed_hop_answer_becomes_one_candidate_per_name() -> None:
    from reasoning.hop_reading import HopCandidate, split_lists

    listed = HopCandidate("Nicki Minaj and Lil Wayne", 0.8, None, None, (), 0)
    place = HopCandidate("Port of Spain", 0.7, None, None, (), 0)
    out = split_lists([listed, place])
    assert [c.answer for c in out] == ["Nicki Minaj", "Lil Wayne", "Port of Spain"]
    assert out[1].score == pytest.approx(0.72)
