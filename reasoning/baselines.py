"""Single-pass baselines on the same backend, retrieval and reader prompt, for honest comparison:
`direct` (no retrieval), `rag` (hybrid top-k once, then read) and `ppr` (HippoRAG-style: personalised
PageRank from the question's linked entities, then read). The `iterative` baseline is the reasoning
loop under a narrow policy (reasoning.loop)."""

from __future__ import annotations

from collections.abc import Sequence

from reasoning.chain import Chain
from reasoning.context import MethodContext
from reasoning.evidence import EvidenceItem
from reasoning.explanation import result_of
from reasoning.prompts import READ, read_prompt
from reasoning.result import AskResult
from reasoning.structured import field_str
from reasoning.text import clean_answer, is_unknown, shorten
from retrieval.documents import Hit

PASSAGE_CHARS = 700  # a read passage is cut here (Wikipedia paragraphs are mostly shorter)


def direct(ctx: MethodContext) -> AskResult:
    ctx.trace.record("start", method="direct", question=ctx.question)
    return _read(ctx, "direct", None)


def rag(ctx: MethodContext) -> AskResult:
    ctx.trace.record("start", method="rag", question=ctx.question)
    with ctx.trace.stage("retrieve"):
        hits = _search(ctx, "hybrid")
    _record_hits(ctx, "hybrid", hits)
    return _read(ctx, "rag", hits)


def ppr(ctx: MethodContext) -> AskResult:
    ctx.trace.record("start", method="ppr", question=ctx.question)
    with ctx.trace.stage("retrieve"):
        if ctx.resources.graph is None:
            ctx.trace.record("note", text="the index has no knowledge graph: ppr falls back to hybrid search")
            hits, mode = _search(ctx, "hybrid"), "hybrid"
        else:
            hits, mode = _search(ctx, "graph"), "graph"
            if not hits:
                ctx.trace.record("note", text="no entity of the question is in the graph: hybrid search instead")
                hits, mode = _search(ctx, "hybrid"), "hybrid"
    _record_hits(ctx, mode, hits)
    return _read(ctx, "ppr", hits)


def _search(ctx: MethodContext, mode: str) -> list[tuple[int, Hit]]:
    """The top passages_per_round + 1 passages, with their rows."""
    k = ctx.budget.passages_per_round + 1
    searcher = ctx.resources.graph if mode == "graph" else ctx.resources.searcher
    assert searcher is not None
    rows = searcher.search_rows([ctx.question], mode, k)[0]
    return list(zip([row for row, _ in rows], ctx.resources.searcher.hits(rows), strict=True))


def _record_hits(ctx: MethodContext, mode: str, hits: Sequence[tuple[int, Hit]]) -> None:
    ctx.trace.record(
        "retrieve",
        mode=mode,
        query=ctx.question,
        hits=[{"passage_id": h.passage.id, "title": h.passage.title, "score": round(h.score, 5)} for _, h in hits],
    )


def _read(ctx: MethodContext, method: str, hits: Sequence[tuple[int, Hit]] | None) -> AskResult:
    chain = Chain(id=0, question=ctx.question, plan=[ctx.question], anchors=())
    if hits is not None:
        chain.evidence = [
            EvidenceItem(i, row, h.passage, (shorten(h.passage.text, PASSAGE_CHARS),), h.score, 1, (method,))
            for i, (row, h) in enumerate(hits, start=1)
        ]
    lines = chain.lines() if hits is not None else None
    with ctx.trace.stage("reason"):
        reply = ctx.llm(READ, [read_prompt(ctx.question, lines)], round_no=1)[0]
    answer = clean_answer(field_str(reply, "answer", 80))
    ctx.trace.record("reason", round=1, **(reply or {"error": "no usable LLM reply"}))
    if reply is not None:
        chain.facts.append(field_str(reply, "facts", 400))
    answer = "" if is_unknown(answer) else answer
    return result_of(ctx, method, answer, chain, confidence=0.5 if answer else 0.0)
