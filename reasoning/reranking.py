"""Multi-criteria reranking (REBEL): candidates scored on several criteria at once, combined by weights.

The criteria, each in [0, 1]:
- relevance: cosine similarity of the passage to what the chain is looking for now (its sub-question);
- specificity: how many precise facts (names, numbers, dates) the passage states beyond the question;
- novelty: 1 - the highest similarity to evidence the chain already holds;
- bridge: how much of what is still missing (words of the question and of unanswered sub-questions
  that the held evidence lacks) the passage covers: the value of the next hop;
- graph: support from graph retrieval (the best rank PageRank, neighbour expansion or paths gave it).
Weights are fixed at low budgets; at higher ones the LLM infers them for the question (in the
decomposition call) and, with `llm_judge`, the LLM also judges the top candidates of each chain.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from reasoning.evidence import Candidate, EvidenceItem, PassageVectors
from reasoning.prompts import CRITERIA, JUDGE, EvidenceLine, judge_prompt
from reasoning.structured import JsonCaller
from reasoning.text import content_words, sentences, shorten

DEFAULT_WEIGHTS: dict[str, float] = {
    "relevance": 0.4,
    "specificity": 0.1,
    "novelty": 0.15,
    "bridge": 0.2,
    "graph": 0.15,
}
RELEVANCE_ONLY: dict[str, float] = {"relevance": 1.0}
JUDGED = 6  # candidates per chain the LLM judge sees
_FACT_TOKEN = re.compile(r"\b(?:[A-Z][\w'’-]+|\d[\d,.]*)\b")


@dataclass(frozen=True)
class RerankRequest:
    chain: int
    focus: str  # what the chain is looking for now: its current sub-question, or its next query
    pending: str  # what is still missing: the question and the unanswered sub-questions
    candidates: list[Candidate]
    held: list[EvidenceItem]


class Reranker(Protocol):
    """The reranker role: the loop ranks each chain's candidates through it (`MultiCriteriaReranker`)."""

    def rerank(self, requests: Sequence[RerankRequest], round_no: int) -> list[list[Candidate]]:
        """Each request's candidates with criteria and score set, best first."""
        ...


def blend_weights(inferred: Mapping[str, float] | None, share: float = 0.5) -> dict[str, float]:
    """The default weights moved `share` of the way to the LLM's (normalised) ones; defaults when none."""
    if not inferred:
        return dict(DEFAULT_WEIGHTS)
    clean = {c: max(0.0, float(inferred.get(c, 0.0))) for c in CRITERIA}
    total = sum(clean.values())
    if total <= 0 or not math.isfinite(total):
        return dict(DEFAULT_WEIGHTS)
    return {c: (1 - share) * DEFAULT_WEIGHTS[c] + share * clean[c] / total for c in CRITERIA}


class MultiCriteriaReranker:
    """Cheap criteria from embeddings, words and graph ranks; optionally an LLM judge on top."""

    def __init__(
        self,
        llm: JsonCaller,
        vectors: PassageVectors,
        weights: Mapping[str, float] | None = None,
        *,
        question: str,
        llm_judge: bool = False,
    ) -> None:
        self.llm = llm
        self.vectors = vectors
        self.weights = dict(weights or DEFAULT_WEIGHTS)
        self.question = question
        self.llm_judge = llm_judge
        self._question_words = content_words(question)

    def rerank(self, requests: Sequence[RerankRequest], round_no: int) -> list[list[Candidate]]:
        with self.llm.trace.stage("rerank"):
            ranked = [self._score(request) for request in requests]
        if self.llm_judge:
            self._judge(requests, ranked, round_no)
        for request, candidates in zip(requests, ranked, strict=True):
            self.llm.trace.record(
                "rerank",
                chain=request.chain,
                round=round_no,
                focus=request.focus,
                weights={k: round(v, 4) for k, v in self.weights.items()},
                ranked=[c.to_json() for c in candidates[:10]],
            )
        return ranked

    def _score(self, request: RerankRequest) -> list[Candidate]:
        candidates = request.candidates
        if not candidates:
            return []
        rows = [c.row for c in candidates]
        passage_vecs = self.vectors.of_rows(rows, [c.passage for c in candidates])
        focus = self.vectors.of_texts([request.focus])[0]
        relevance = np.clip(passage_vecs @ focus, 0.0, 1.0)
        if request.held:
            held = self.vectors.of_rows([e.row for e in request.held], [e.passage for e in request.held])
            novelty = 1.0 - np.clip((passage_vecs @ held.T).max(axis=1), 0.0, 1.0)
        else:
            novelty = np.ones(len(candidates))
        held_words = (
            set().union(*(content_words(" ".join(e.sentences)) for e in request.held)) if request.held else set()
        )
        missing = content_words(request.pending) - held_words
        for i, candidate in enumerate(candidates):
            text = candidate.passage.embedding_text
            candidate.criteria = {
                "relevance": float(relevance[i]),
                "specificity": self._specificity(text),
                "novelty": float(novelty[i]),
                "bridge": _coverage(missing, content_words(text)),
                "graph": _graph_support(candidate.ranks),
            }
            candidate.score = self._combine(candidate.criteria)
        return sorted(candidates, key=lambda c: (-c.score, c.row))

    def _specificity(self, text: str) -> float:
        facts = {t.lower() for t in _FACT_TOKEN.findall(text)} - self._question_words
        return min(1.0, len(facts) / 15.0)

    def _combine(self, criteria: Mapping[str, float]) -> float:
        total = sum(self.weights.values()) or 1.0
        return sum(w * criteria.get(name, 0.0) for name, w in self.weights.items()) / total

    def _judge(self, requests: Sequence[RerankRequest], ranked: list[list[Candidate]], round_no: int) -> None:
        """The LLM scores each chain's top candidates 0-3; their score becomes half cheap, half judged."""
        jobs = [(i, cands[:JUDGED]) for i, cands in enumerate(ranked) if len(cands) > 1]
        if not jobs:
            return
        prompts = [
            judge_prompt(self.question, requests[i].focus, [_judge_line(n, c) for n, c in enumerate(top, start=1)])
            for i, top in jobs
        ]
        replies = self.llm(JUDGE, prompts, chains=[requests[i].chain for i, _ in jobs], round_no=round_no)
        for (i, top), reply in zip(jobs, replies, strict=True):
            scores = (reply or {}).get("scores")
            if not isinstance(scores, list):
                continue
            for candidate, value in zip(top, scores, strict=False):
                judged = min(3.0, max(0.0, float(value))) / 3.0 if isinstance(value, int | float) else 0.0
                candidate.criteria["judge"] = judged
                candidate.score = 0.5 * candidate.score + 0.5 * judged
            ranked[i] = sorted(ranked[i], key=lambda c: (-c.score, c.row))


def _judge_line(number: int, candidate: Candidate) -> EvidenceLine:
    first = (sentences(candidate.passage.text) or [candidate.passage.text])[:2]
    return EvidenceLine(number, candidate.passage.title, shorten(" ".join(first), 240))


def _coverage(missing: set[str], words: set[str]) -> float:
    if not missing:
        return 0.0
    return min(1.0, len(missing & words) / min(len(missing), 4))


def _graph_support(ranks: Mapping[str, int]) -> float:
    graph_ranks = [rank for source, rank in ranks.items() if source != "hybrid"]
    return max((1.0 / (1.0 + math.log2(rank)) for rank in graph_ranks), default=0.0)
