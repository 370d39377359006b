"""A fake answerer with the shape of `SleuthSystem.ask`, and small question sets, for the harness tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

from evaluation.datasets import Question
from reasoning.result import AskResult, Cost, EvidenceRef
from reasoning.trace import Trace

Rule = Callable[[str, str, str], tuple[str, list[str]]]  # (question, method, budget) -> (answer, doc ids)


class FakeAnswerer:
    """Answers from a rule; raises for questions containing "BOOM". Cost grows with the budget."""

    TOKENS: ClassVar[dict[str, int]] = {"fast": 100, "balanced": 300, "thorough": 900}

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.calls: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def ask(self, question: str, index: Path | str, *, method: str, budget: str) -> AskResult:
        with self._lock:
            self.calls.append((question, method, budget))
        if "BOOM" in question:
            raise RuntimeError("the LLM fell over")
        answer, doc_ids = self.rule(question, method, budget)
        trace = Trace()
        trace.record("answer", answer=answer)
        tokens = self.TOKENS.get(budget, 50)
        return AskResult(
            answer=answer,
            explanation="because",
            citations=[],
            method=method,
            budget=budget,
            cost=Cost(llm_calls=2, prompt_tokens=tokens, completion_tokens=tokens // 10, seconds=0.5),
            trace=trace,
            abstained=answer == "insufficient evidence",
            evidence=[EvidenceRef(f"p-{d}-{i}", d, f"Title {d}", 1.0 / (i + 1)) for i, d in enumerate(doc_ids)],
        )


QUESTIONS = [
    Question("q1", "Who wrote Hamlet?", ("William Shakespeare", "Shakespeare"), ("d1", "d2"), "bridge"),
    Question("q2", "Is Paris in France?", ("yes",), ("d3",), "comparison"),
    Question("q3", "BOOM what now?", ("nothing",), ("d4",), "bridge"),
    Question("q4", "Capital of Italy?", ("Rome",), ("d5", "d6"), "bridge"),
]


def good_rule(question: str, method: str, budget: str) -> tuple[str, list[str]]:
    answers = {"q1": "Shakespeare", "q2": "yes", "q4": "Milan"}
    key = {"Who wrote Hamlet?": "q1", "Is Paris in France?": "q2", "Capital of Italy?": "q4"}[question]
    docs = {"q1": ["d9", "d1", "d1", "d2"], "q2": ["d3"], "q4": ["d5", "d7", "d8"]}[key]
    return answers[key], docs


@pytest.fixture
def answerer() -> FakeAnswerer:
    return FakeAnswerer(good_rule)
