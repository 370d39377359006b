"""The sufficiency critic (SIM-RAG): after each round, is what a chain holds enough to answer, or should
it search again, and for what?

`FeatureCritic` is cheap: a logistic score over features of the chain's state (an answer at all, the
answer found in the evidence, the plan done, the chain asking for nothing more, evidence scores).
`PromptedCritic` asks the LLM, all active chains in one batch, and falls back to the feature critic for a
chain whose reply cannot be parsed. A trained critic implements the same protocol
(`reasoning.trained_critic.TrainedCritic`, learnt from self-practice runs). `AnswerPresentCritic` is the
iterative baseline's rule, `FixedRoundsCritic` never stops a chain. Which one a run uses, and the rules
around it, are resolved from the budget in one place: `reasoning.stop_policy.resolve_stop_policy`.

Every critic caps the confidence of a chain without an answer at `NO_ANSWER_CONFIDENCE`
(`cap_unanswered`): no answer is never sufficient.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reasoning.evidence import EvidenceItem
from reasoning.prompts import CRITIC, critic_prompt
from reasoning.structured import JsonCaller, field_float, field_str
from reasoning.text import answer_in_text, answer_type_matches, is_unknown, normalize_answer


@dataclass(frozen=True)
class CriticInput:
    chain: int
    question: str
    answer: str  # the chain's candidate answer ("" or "unknown" when it has none)
    evidence: list[EvidenceItem]
    plan_done: bool  # every sub-question has an answer
    next_query: str  # what the chain itself asked to search next
    round: int  # 1-based
    max_rounds: int
    focus: str = ""  # the sub-question the chain looked for this round
    facts: tuple[str, ...] = ()  # the chain's reasoning so far, one entry per round
    previous_answer: str = ""  # the chain's candidate answer after the round before ("" in round 1)
    others: tuple[str, ...] = ()  # the latest answers of the run's other chains, stopped ones too
    # the reader's mean and lowest token log-probability over its answer (None: no answer, or no log-probabilities)
    answer_logprob: float | None = None
    answer_min_logprob: float | None = None


@dataclass(frozen=True)
class Verdict:
    sufficient: bool
    confidence: float  # in [0, 1]: how sure the critic is that the answer is right and supported
    missing: str  # what to search next when insufficient
    critic: str
    features: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "sufficient": self.sufficient,
            "confidence": round(self.confidence, 4),
            "missing": self.missing,
            "critic": self.critic,
            "features": {k: round(v, 4) for k, v in self.features.items()},
        }


class SufficiencyCritic(Protocol):
    name: str

    def judge(self, inputs: Sequence[CriticInput], round_no: int) -> list[Verdict]: ...


NO_ANSWER_CONFIDENCE = 0.2  # the most confidence any critic gives a chain without an answer


def cap_unanswered(confidence: float, has_answer: bool) -> float:
    """A critic's confidence, capped at NO_ANSWER_CONFIDENCE for a chain without an answer."""
    return confidence if has_answer else min(confidence, NO_ANSWER_CONFIDENCE)


def sigmoid(z: float) -> float:
    """The logistic function, safe for any finite z."""
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def critic_features(item: CriticInput) -> dict[str, float]:
    """Features of a chain's state, shared by the feature critic and trained critics."""
    has_answer = not is_unknown(item.answer)
    normalized = normalize_answer(item.answer)
    texts = [" ".join(e.sentences) for e in item.evidence] + [e.passage.title for e in item.evidence]
    scores = [e.score for e in item.evidence]
    return {
        "has_answer": float(has_answer),
        "answer_in_evidence": float(has_answer and answer_in_text(item.answer, texts)),
        "yes_no": float(normalized in ("yes", "no")),
        "plan_done": float(item.plan_done),
        "no_next_query": float(not item.next_query.strip()),
        "top_score": max(scores, default=0.0),
        "mean_score": sum(scores) / len(scores) if scores else 0.0,
        "round_frac": item.round / max(1, item.max_rounds),
        "evidence": min(1.0, len(item.evidence) / 10.0),
        "answer_words": min(1.0, len(normalized.split()) / 8.0),
        "type_mismatch": float(has_answer and not answer_type_matches(item.question, item.answer)),
        # the same answer two rounds running, after more evidence came in
        "answer_repeated": float(has_answer and normalize_answer(item.previous_answer) == normalized),
        # an entity of the question given back (right for comparisons, often a wrong hop otherwise)
        "answer_in_question": float(has_answer and answer_in_text(item.answer, [item.question])),
        "chains_agree": chains_agree(item.answer, item.others),
        "comparison": float(is_comparison(item.question)),
        # the reader's own confidence: the probability of its answer's tokens (0 where the backend gives none)
        "answer_confidence": _probability(item.answer_logprob) if has_answer else 0.0,
        "answer_min_confidence": _probability(item.answer_min_logprob) if has_answer else 0.0,
    }


def _probability(logprob: float | None) -> float:
    return math.exp(min(0.0, logprob)) if logprob is not None else 0.0


def logprob_or_none(value: object) -> float | None:
    """A log-probability read back from a reply or a record: a number at most 0, else None (not measured)."""
    return float(value) if isinstance(value, int | float) and value <= 0.0 else None


def chains_agree(answer: str, others: Sequence[str]) -> float:
    """The share of the other chains whose latest answer is this one (0 without an answer or other chains)."""
    if is_unknown(answer) or not others:
        return 0.0
    key = normalize_answer(answer)
    return sum(1 for other in others if not is_unknown(other) and normalize_answer(other) == key) / len(others)


_COMPARISON_WORDS = frozenset(
    ("both", "same", "or", "either", "first", "earlier", "older", "younger", "later", "longer", "shorter")
)


def is_comparison(question: str) -> bool:
    """A question that compares or chooses between entities ("Which was founded first, X or Y?", "Are both
    ..."): its answer is often one of the question's own entities or yes/no, found in fewer hops."""
    return bool(_COMPARISON_WORDS & set(re.findall(r"[a-z]+", question.lower())))


FEATURE_WEIGHTS: dict[str, float] = {
    "has_answer": 1.6,
    "answer_in_evidence": 1.5,
    "yes_no": 1.0,
    "plan_done": 0.8,
    "no_next_query": 1.0,
    "top_score": 1.0,
    "answer_words": -0.5,
    "type_mismatch": -5.0,
}
FEATURE_BIAS = -2.3


class FeatureCritic:
    name = "feature"

    def __init__(self, weights: Mapping[str, float] | None = None, bias: float = FEATURE_BIAS, threshold: float = 0.5):
        self.weights = dict(weights or FEATURE_WEIGHTS)
        self.bias = bias
        self.threshold = threshold

    def judge(self, inputs: Sequence[CriticInput], round_no: int) -> list[Verdict]:
        return [self.verdict(item) for item in inputs]

    def verdict(self, item: CriticInput) -> Verdict:
        features = critic_features(item)
        z = self.bias + sum(w * features.get(name, 0.0) for name, w in self.weights.items())
        confidence = cap_unanswered(sigmoid(z), bool(features["has_answer"]))
        sufficient = confidence >= self.threshold
        return Verdict(sufficient, confidence, "" if sufficient else item.next_query, self.name, features)


class PromptedCritic:
    name = "prompted"

    def __init__(self, llm: JsonCaller, fallback: FeatureCritic | None = None) -> None:
        self.llm = llm
        self.fallback = fallback or FeatureCritic()

    def judge(self, inputs: Sequence[CriticInput], round_no: int) -> list[Verdict]:
        verdicts: list[Verdict | None] = [None] * len(inputs)
        asked = [i for i, item in enumerate(inputs) if not is_unknown(item.answer)]
        for i, item in enumerate(inputs):
            if i not in asked:  # nothing to check: search again, no LLM call needed
                verdicts[i] = self.fallback.verdict(item)
        prompts = [
            critic_prompt(inputs[i].question, [e.line() for e in inputs[i].evidence], inputs[i].answer) for i in asked
        ]
        replies = self.llm(CRITIC, prompts, chains=[inputs[i].chain for i in asked], round_no=round_no) if asked else []
        for i, reply in zip(asked, replies, strict=True):
            item = inputs[i]
            if reply is None or not isinstance(reply.get("sufficient"), bool):
                verdicts[i] = self.fallback.verdict(item)
                continue
            features = critic_features(item)
            sufficient = bool(reply["sufficient"])
            confidence = field_float(reply, "confidence", 0.7 if sufficient else 0.3)
            missing = field_str(reply, "missing", 120) or item.next_query
            verdicts[i] = Verdict(sufficient, confidence, "" if sufficient else missing, self.name, features)
        return [v for v in verdicts if v is not None]


class AnswerPresentCritic:
    """Sufficient as soon as the chain has an answer: the iterative baseline's stopping rule."""

    name = "answer-present"

    def judge(self, inputs: Sequence[CriticInput], round_no: int) -> list[Verdict]:
        verdicts = []
        for item in inputs:
            has = bool(item.answer)
            verdicts.append(Verdict(has, 0.6 if has else 0.0, "" if has else item.next_query, self.name))
        return verdicts


class FixedRoundsCritic:
    """Never sufficient: every chain runs all its rounds (the fixed-rounds baseline of the critics)."""

    name = "none"

    def judge(self, inputs: Sequence[CriticInput], round_no: int) -> list[Verdict]:
        return [Verdict(False, 0.0, item.next_query, self.name) for item in inputs]
