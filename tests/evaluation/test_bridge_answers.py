"""Counting wrong answers that name a bridge entity."""

from __future__ import annotations

import pytest

from evaluation.bridge_answers import is_bridge_answer, step_answer_returned

pytestmark = pytest.mark.unit


def test_a_bridge_answer_is_a_gold_title_the_question_does_not_name() -> None:
    question = "Where was the place of death of the performer of song I Can't See Myself Leaving You?"
    titles = ["I Can't See Myself Leaving You", "Aretha Franklin"]
    assert is_bridge_answer("Aretha Franklin", question, titles)
    assert not is_bridge_answer("Detroit", question, titles)
    # a comparison's other option is named in the question: a wrong choice, not a bridge
    assert not is_bridge_answer("Felix Schuster", "Who was born first, Hywel Teifi Edwards or Felix Schuster?",
                                ["Hywel Teifi Edwards", "Felix Schuster"])  # fmt: skip
    assert is_bridge_answer("Alex Cox", "Which film has the director born first, Tombstone Rashomon or X?",
                            ["Tombstone Rashomon", "Alex Cox (director)"])  # fmt: skip


def test_a_step_answer_returned_is_read_from_the_hop_search_trace() -> None:
    trace = {
        "events": [
            {"stage": "plan", "over": [2]},
            {
                "stage": "final",
                "answer": "Scott Derrickson",
                "path": {"answers": ["Scott Derrickson", "Scott Derrickson"]},
            },
            {"stage": "final", "answer": "Denver", "path": {"answers": ["Scott Derrickson", "Denver"]}},
        ]
    }
    assert step_answer_returned(trace, "Scott Derrickson")
    assert not step_answer_returned(trace, "Denver")
    assert not step_answer_returned({"events": []}, "x")
