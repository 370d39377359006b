"""The answer as the user sees it: a short answer, an explanation whose claims cite passages [n] and
graph paths, the citations, the ranked evidence, and the cost."""

from __future__ import annotations

from collections.abc import Sequence

from reasoning.chain import Chain
from reasoning.context import MethodContext
from reasoning.evidence import EvidenceItem
from reasoning.result import ABSTAIN, AskResult, Citation, Cost, EvidenceRef
from reasoning.text import answer_in_text, cited_numbers, replace_citations


def explain(facts: Sequence[str], evidence: Sequence[EvidenceItem], answer: str) -> tuple[str, list[Citation]]:
    """The facts with their [n] renumbered 1.. in order of citation; a citation of a passage outside the
    evidence is dropped. When the facts cite nothing, the passages that contain the answer are cited."""
    by_number = {e.number: e for e in evidence}
    text = " ".join(f for f in facts if f)
    cited = [n for n in cited_numbers(text) if n in by_number]
    if not cited and answer:
        cited = [e.number for e in evidence if answer_in_text(answer, [" ".join(e.sentences), e.passage.title])][:2]
        if cited:
            text = (text + " " if text else "") + "".join(f"[{n}]" for n in cited)
    mapping = {old: new for new, old in enumerate(cited, start=1)}
    citations = [
        Citation(new, by_number[old].passage.id, by_number[old].passage.doc_id, by_number[old].passage.title)
        for old, new in mapping.items()
    ]
    return replace_citations(text, mapping), citations


def ranked_evidence(first: Sequence[EvidenceItem], others: Sequence[Sequence[EvidenceItem]]) -> list[EvidenceRef]:
    """The answering chain's evidence in the order it was gathered (round, then score), then the other
    chains', each passage once: the ranking retrieval recall is measured on."""
    seen: set[str] = set()
    refs = []
    ordered = sorted(first, key=lambda e: (e.round, -e.score, e.number))
    rest = sorted((e for group in others for e in group), key=lambda e: (e.round, -e.score, e.number))
    for item in [*ordered, *rest]:
        if item.passage.id not in seen:
            seen.add(item.passage.id)
            refs.append(EvidenceRef(item.passage.id, item.passage.doc_id, item.passage.title, round(item.score, 5)))
    return refs


def cost_of(ctx: MethodContext) -> Cost:
    s = ctx.spending.totals()
    return Cost(s.calls, s.prompt_tokens, s.completion_tokens, ctx.trace.elapsed_s, s.failed_calls)


def result_of(
    ctx: MethodContext,
    method: str,
    answer: str,
    chain: Chain | None,
    others: Sequence[Chain] = (),
    *,
    confidence: float,
    graph_paths: Sequence[str] = (),
) -> AskResult:
    abstained = not answer
    evidence = chain.evidence if chain is not None else []
    facts = chain.facts if chain is not None else []
    explanation, citations = explain(facts, evidence, answer) if not abstained else ("", [])
    if abstained:
        explanation = "No answer: the evidence gathered does not support one."
    refs = ranked_evidence(evidence, [c.evidence for c in others if c is not chain])
    result = AskResult(
        answer=ABSTAIN if abstained else answer,
        explanation=explanation,
        citations=citations,
        method=method,
        budget=ctx.budget.name,
        cost=cost_of(ctx),
        trace=ctx.trace,
        confidence=confidence,
        abstained=abstained,
        evidence=refs,
        graph_paths=list(graph_paths),
    )
    ctx.trace.record(
        "answer",
        answer=result.answer,
        abstained=abstained,
        confidence=round(confidence, 4),
        citations=[c.to_json() for c in citations],
        cost=result.cost.to_json(),
    )
    return result
