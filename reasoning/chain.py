"""One reasoning chain: its plan, its anchors in the graph, the evidence it holds, and one step of reasoning.

Chains differ by how they are seeded (MIRAGE): chain 0 follows the decomposition in order from the whole
question, grounded on every linked entity; chain 1 starts from the first sub-question alone (and takes
independent sub-questions in reverse order), with graph retrieval weighed less; chain 2 leans on the
graph. Further chains repeat these seeds; sampling (one temperature for the round's batch) varies them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reasoning.critic import CriticInput, Verdict, logprob_or_none
from reasoning.decomposition import Decomposition
from reasoning.evidence import Candidate, EvidenceItem, PassageVectors, best_sentences
from reasoning.prompts import EvidenceLine
from reasoning.structured import field_str
from reasoning.text import clean_answer, is_unknown, replace_citations

_PLACEHOLDER = re.compile(r"#(\d)")


@dataclass
class Chain:
    id: int
    question: str
    plan: list[str]
    anchors: tuple[int, ...]
    graph_weight: float = 1.0
    start_with_question: bool = True
    step: int = 0  # the plan step the chain looks for now; it moves on one step per round
    evidence: list[EvidenceItem] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)  # per round, with this chain's [n] citations
    answer: str = ""
    previous_answer: str = ""  # the answer before the last step
    answer_logprob: float | None = None  # the reader's mean token log-probability over its answer
    answer_min_logprob: float | None = None  # and its least likely answer token's
    next_query: str = ""
    verdict: Verdict | None = None
    active: bool = True
    stop_reason: str = ""
    rounds: int = 0

    @property
    def focus(self) -> str:
        """The plan step looked for now, without its #k references (their answers are not known yet)."""
        text = _PLACEHOLDER.sub("it", self.plan[min(self.step, len(self.plan) - 1)])
        return " ".join(text.split())

    @property
    def plan_done(self) -> bool:
        """Every plan step has had its round."""
        return self.rounds >= len(self.plan)

    def query(self) -> str:
        """What to search this round: the question or first sub-question at first, then what is missing."""
        if self.rounds == 0:
            return self.question if self.start_with_question else self.focus
        if self.verdict is not None and self.verdict.missing and not is_unknown(self.verdict.missing):
            return self.verdict.missing
        return self.next_query if not is_unknown(self.next_query) else self.focus

    def pending(self) -> str:
        """The question and the plan steps not reached yet: what the bridge criterion looks for."""
        return " ".join([self.question, *(_PLACEHOLDER.sub("", p) for p in self.plan[self.step :])])

    @property
    def held_rows(self) -> frozenset[int]:
        return frozenset(e.row for e in self.evidence)

    def lines(self) -> list[EvidenceLine]:
        return [e.line() for e in self.evidence]

    def add_evidence(
        self, ranked: Sequence[Candidate], count: int, round_no: int, vectors: PassageVectors, sentences: int
    ) -> list[EvidenceItem]:
        target = vectors.of_texts([f"{self.question} {self.focus}"])[0]
        added = []
        for candidate in ranked[:count]:
            item = EvidenceItem(
                number=len(self.evidence) + 1,
                row=candidate.row,
                passage=candidate.passage,
                sentences=best_sentences(candidate.passage, target, vectors, sentences),
                score=candidate.score,
                round=round_no,
                sources=tuple(sorted(candidate.ranks)),
            )
            self.evidence.append(item)
            added.append(item)
        return added

    def apply(self, reply: dict[str, Any]) -> None:
        """Take one reasoning step's reply (facts, answer, next query) and move on to the next plan step."""
        facts = field_str(reply, "facts", 400)
        if facts:  # a citation of a passage the chain does not hold is dropped
            self.facts.append(replace_citations(facts, {e.number: e.number for e in self.evidence}))
        answer = clean_answer(field_str(reply, "answer", 80))
        self.previous_answer = self.answer
        self.answer = "" if is_unknown(answer) else answer
        self.answer_logprob = logprob_or_none(reply.get("answer_logprob")) if self.answer else None
        self.answer_min_logprob = logprob_or_none(reply.get("answer_min_logprob")) if self.answer else None
        next_query = field_str(reply, "next_query", 120)
        self.next_query = "" if self.answer or is_unknown(next_query) else next_query
        self.step = min(self.step + 1, len(self.plan) - 1)
        self.rounds += 1

    def critic_input(self, max_rounds: int, focus: str, others: tuple[str, ...] = ()) -> CriticInput:
        """The chain's state for the critic; `focus` is the step it looked for this round (before `apply`
        moved it on), `others` the latest answers of the run's other chains."""
        return CriticInput(
            chain=self.id,
            question=self.question,
            answer=self.answer,
            evidence=list(self.evidence),
            plan_done=self.plan_done,
            next_query=self.next_query,
            round=self.rounds,
            previous_answer=self.previous_answer,
            max_rounds=max_rounds,
            answer_logprob=self.answer_logprob,
            answer_min_logprob=self.answer_min_logprob,
            focus=focus,
            facts=tuple(self.facts),
            others=others,
        )

    def stop(self, reason: str) -> None:
        self.active = False
        self.stop_reason = reason

    def to_json(self) -> dict[str, object]:
        return {
            "chain": self.id,
            "plan": self.plan,
            "answer": self.answer,
            "rounds": self.rounds,
            "stop_reason": self.stop_reason,
            "evidence": [e.passage.id for e in self.evidence],
        }


def seed_chains(question: str, decomposition: Decomposition, count: int) -> list[Chain]:
    """`count` chains seeded differently from one decomposition."""
    plan = [s.text for s in decomposition.sub_questions] or [question]
    every = _entities(decomposition.question_entities, *(s.entities for s in decomposition.sub_questions))
    first = _entities(*(s.entities for s in decomposition.sub_questions[:1])) or every
    independent = not any(_PLACEHOLDER.search(step) for step in plan)
    seeds = [
        {"plan": plan, "anchors": every, "graph_weight": 1.0, "start_with_question": True},
        {
            "plan": list(reversed(plan)) if independent else plan,
            "anchors": first,
            "graph_weight": 0.5,
            "start_with_question": False,
        },
        {"plan": plan, "anchors": every, "graph_weight": 2.0, "start_with_question": False},
    ]
    return [Chain(id=i, question=question, **seeds[i % len(seeds)]) for i in range(count)]  # type: ignore[arg-type]


def _entities(*groups: Sequence[Any]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(e.entity for group in groups for e in group))
