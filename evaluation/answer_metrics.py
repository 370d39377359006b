"""Answer metrics as plain functions: exact match and token F1 with the official answer normalisation.

Two rule sets, each matching a benchmark's official script (tests/evaluation/test_official_agreement.py
checks them against the scripts themselves):

- `hotpotqa` (hotpot_evaluate_v1.py; 2WikiMultiHopQA's 2wikimultihop_evaluate_v1.1.py uses the same
  functions): F1 is 0 when the normalised prediction or gold is `yes`, `no` or `noanswer` and they
  differ, and 0 when no token is shared (so two empty answers score EM 1, F1 0).
- `squad` (MuSiQue's metrics/answer.py, from the SQuAD / allennlp tools): no yes/no rule; when either
  side has no tokens, F1 is 1 if both have none, else 0.

Both normalise the same way: lower-case, drop ASCII punctuation, drop the articles a/an/the, collapse
whitespace. A prediction is scored against every gold answer (the answer and its aliases) and the best
score is kept, for EM and F1 separately, as 2Wiki v1.1 and MuSiQue do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from reasoning.text import normalize_answer
from retrieval.errors import ConfigError

__all__ = ["normalize_answer"]  # the loop and the metrics normalise answers the same way

ScoringRules = Literal["hotpotqa", "squad"]
RULES_BY_DATASET: dict[str, ScoringRules] = {"hotpotqa": "hotpotqa", "2wikimultihopqa": "hotpotqa", "musique": "squad"}

_CLOSED_ANSWERS = ("yes", "no", "noanswer")


@dataclass(frozen=True)
class AnswerScore:
    em: float
    f1: float


def rules_for(dataset: str) -> ScoringRules:
    """The official rule set of a benchmark (`hotpotqa` for an unknown one)."""
    return RULES_BY_DATASET.get(dataset, "hotpotqa")


def exact_match(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


def token_f1(prediction: str, gold: str, *, rules: ScoringRules = "hotpotqa") -> float:
    if rules == "hotpotqa":
        return _hotpotqa_f1(normalize_answer(prediction), normalize_answer(gold))
    if rules == "squad":
        return _squad_f1(_tokens(prediction), _tokens(gold))
    raise ConfigError(f"unknown scoring rules {rules!r}: use hotpotqa or squad")


def score_answer(prediction: str, answers: Sequence[str], *, rules: ScoringRules = "hotpotqa") -> AnswerScore:
    """The best EM and the best F1 of `prediction` over the gold `answers` (0 when there are none)."""
    if not answers:
        return AnswerScore(0.0, 0.0)
    em = max(float(exact_match(prediction, gold)) for gold in answers)
    f1 = max(token_f1(prediction, gold, rules=rules) for gold in answers)
    return AnswerScore(em, f1)


def _hotpotqa_f1(prediction: str, gold: str) -> float:
    if prediction != gold and (prediction in _CLOSED_ANSWERS or gold in _CLOSED_ANSWERS):
        return 0.0
    return _overlap_f1(prediction.split(), gold.split())


def _squad_f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    if not prediction_tokens or not gold_tokens:
        return float(prediction_tokens == gold_tokens)
    return _overlap_f1(prediction_tokens, gold_tokens)


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def _overlap_f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    shared = sum((Counter(prediction_tokens) & Counter(gold_tokens)).values())
    if shared == 0:
        return 0.0
    precision = shared / len(prediction_tokens)
    recall = shared / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)
