"""Decomposition: the question as entity-grounded sub-questions (MIRAGE).

The LLM splits the question into up to four sub-questions in answering order (a later one may refer to
an earlier answer as #k); each is linked to graph entities. At budgets with LLM-inferred reranking the
same call also returns the weights of the reranking criteria for this question. When the reply cannot
be used, the question itself is the one sub-question and the trace says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from kg.linking import LinkedEntity
from reasoning.chain_retrieval import ChainRetriever
from reasoning.prompts import CRITERIA, DECOMPOSE, DECOMPOSE_WITH_CRITERIA, decompose_prompt
from reasoning.structured import JsonCaller
from reasoning.text import content_words

MAX_SUB_QUESTIONS = 4


@dataclass(frozen=True)
class SubQuestion:
    text: str
    entities: tuple[LinkedEntity, ...]

    def to_json(self) -> dict[str, object]:
        return {"text": self.text, "entities": [{"id": e.entity_id, "name": e.name} for e in self.entities]}


@dataclass(frozen=True)
class Decomposition:
    question_entities: tuple[LinkedEntity, ...]
    sub_questions: tuple[SubQuestion, ...]
    criteria: dict[str, float] | None  # LLM-inferred reranking weights, when asked for
    source: str  # llm | fallback | none


def decompose(
    question: str, llm: JsonCaller, retriever: ChainRetriever, *, use_llm: bool, with_criteria: bool
) -> Decomposition:
    trace = llm.trace
    with trace.stage("link"):
        linked = tuple(retriever.link(question))
    trace.record(
        "link",
        entities=[{"id": e.entity_id, "name": e.name, "mention": e.mention, "score": e.score} for e in linked],
        graph=retriever.use_graph,
        note=None if retriever.use_graph else "the index has no knowledge graph: graph steps are skipped",
    )
    texts, criteria, source = [question], None, "none"
    if use_llm:
        call = DECOMPOSE_WITH_CRITERIA if with_criteria else DECOMPOSE
        reply = llm(call, [decompose_prompt(question, with_criteria=with_criteria)])[0]
        parsed = _sub_questions(reply)
        texts, source = (parsed, "llm") if parsed else ([question], "fallback")
        if with_criteria and reply is not None:
            criteria = _criteria(reply.get("criteria"))
    with trace.stage("link"):
        subs = tuple(SubQuestion(t, tuple(retriever.link(t))) for t in texts)
    decomposition = Decomposition(linked, subs, criteria, source)
    trace.record(
        "decompose",
        source=source,
        sub_questions=[s.to_json() for s in subs],
        criteria=criteria,
    )
    return decomposition


def _sub_questions(reply: dict[str, object] | None) -> list[str]:
    items = (reply or {}).get("sub_questions")
    if not isinstance(items, list):
        return []
    kept: list[str] = []
    for item in items:
        text = " ".join(str(item).split())
        words = content_words(text)
        if len(text) > 3 and not any(_overlap(words, content_words(k)) > 0.8 for k in kept):
            kept.append(text)  # near-repeats of an earlier sub-question are dropped
    return kept[:MAX_SUB_QUESTIONS]


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, min(len(a), len(b))) if a and b else float(a == b)


def _criteria(value: object) -> dict[str, float] | None:
    if not isinstance(value, dict):
        return None
    weights = {}
    for name in CRITERIA:
        raw = value.get(name)
        if isinstance(raw, int | float) and raw == raw:
            weights[name] = min(1.0, max(0.0, float(raw)))
    return weights or None
