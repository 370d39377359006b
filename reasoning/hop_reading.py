"""One hop: retrieve for a single-hop step question, read the best passages, extract short answers.

The step's entities come first (IRCoT / CoRAG's per-hop query, grounded as MIRAGE grounds sub-questions):
the passages titled with an entity the step names (the substituted answer of an earlier step, or an entity
the linker finds in it) lead the candidates, then hybrid + graph retrieval for the step, reranked on
relevance, the step's words and graph support. The reader sees `passages` passages at a time (their few
sentences most like the step), and answers the step alone with a short span, or "unknown". Reading the
next `passages` gives another candidate answer (the search's width); an all-"unknown" step is searched
again with a rewritten, keyword query over passages not read yet, a bounded number of times.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from kg.graph import normalize_name, title_aliases
from reasoning.chain_retrieval import ChainQuery, ChainRetriever
from reasoning.critic import logprob_or_none
from reasoning.evidence import Candidate, EvidenceItem, PassageVectors, best_sentences
from reasoning.prompts import HOP_READ, hop_prompt
from reasoning.reranking import MultiCriteriaReranker, RerankRequest
from reasoning.structured import JsonCaller, field_str
from reasoning.text import (
    answer_in_text,
    answer_type_matches,
    clean_answer,
    content_words,
    is_unknown,
    normalize_answer,
)

# the reranking of a hop: what the step asks (relevance, its words), graph support; no novelty (nothing held)
HOP_WEIGHTS = {"relevance": 0.5, "specificity": 0.05, "bridge": 0.25, "graph": 0.2}
NOT_EXTRACTIVE = 0.5  # an answer the passages do not contain word for word is worth this much of its confidence
WRONG_TYPE = 0.5  # an answer of the wrong form (a name for "when ...?") likewise
NO_LOGPROB = 0.5  # the reader's confidence where the backend gives no log-probabilities
NOT_GROUNDED = 0.5  # likewise an answer from a passage that names none of the step's entities
TITLE_SEARCH_DEPTH = 10
_WHERE = re.compile(r"^\s*(where|in (what|which) (city|town|country|place|state))\b", re.I)  # a place, never a date
_YEAR = re.compile(r"\b\d{3,4}\b")


@dataclass(frozen=True)
class HopCandidate:
    """An answer to one step question from one group of passages."""

    answer: str
    score: float  # in (0, 1]: the reader's confidence, less where not extractive or of the wrong form
    logprob: float | None
    cited: EvidenceItem | None  # the passage the answer comes from
    read: tuple[EvidenceItem, ...]  # what the reader saw
    attempt: int  # 0: the step's own query; 1..: rewrites

    def to_json(self) -> dict[str, object]:
        return {
            "answer": self.answer,
            "score": round(self.score, 4),
            "logprob": self.logprob,
            "passage_id": self.cited.passage.id if self.cited else None,
            "read": [e.passage.id for e in self.read],
            "attempt": self.attempt,
        }


@dataclass(frozen=True)
class HopRequest:
    key: int  # the request's number within its step (the trace's `chain` field)
    query: str  # the step question with earlier answers substituted
    names: tuple[str, ...]  # entities the step is about: substituted answers first


class HopReader:
    def __init__(
        self,
        llm: JsonCaller,
        retriever: ChainRetriever,
        vectors: PassageVectors,
        *,
        question: str,
        depth: int,
        passages: int,
        reads: int,
        sentences: int,
        rewrites: int,
    ) -> None:
        self.llm = llm
        self.retriever = retriever
        self.vectors = vectors
        self.reranker = MultiCriteriaReranker(llm, vectors, HOP_WEIGHTS, question=question)
        self.depth = depth
        self.passages = passages
        self.reads = reads
        self.sentences = sentences
        self.rewrites = rewrites

    def answer(self, requests: Sequence[HopRequest], step: int) -> list[list[HopCandidate]]:
        """Distinct candidate answers per request, best first (empty: "unknown" after every rewrite)."""
        ranked = self._ranked(requests, [r.query for r in requests], step, {})
        results: list[list[HopCandidate]] = [[] for _ in requests]
        read: dict[int, set[int]] = {r.key: set() for r in requests}
        self._read(requests, ranked, results, read, step, attempt=0, groups=self.reads)
        for attempt in range(1, self.rewrites + 1):
            unanswered = [i for i, found in enumerate(results) if not found]
            if not unanswered:
                break
            retry = [requests[i] for i in unanswered]
            queries = [rewrite_query(r.query, r.names) for r in retry]
            asked = [{"chain": r.key, "query": q} for r, q in zip(retry, queries, strict=True)]
            self.llm.trace.record("rewrite", round=step, attempt=attempt, queries=asked)
            again = self._ranked(retry, queries, step, read)
            partial: list[list[HopCandidate]] = [[] for _ in retry]
            self._read(retry, again, partial, read, step, attempt=attempt, groups=1)
            for i, found in zip(unanswered, partial, strict=True):
                results[i] = found
        return results

    def _ranked(
        self, requests: Sequence[HopRequest], queries: Sequence[str], step: int, exclude: dict[int, set[int]]
    ) -> list[list[Candidate]]:
        """Each request's candidates: passages titled with its entities first, then the reranked rest."""
        chain_queries = [
            ChainQuery(r.key, q, self._anchors(r.names), frozenset(exclude.get(r.key, ())))
            for r, q in zip(requests, queries, strict=True)
        ]
        found = self.retriever.candidates(chain_queries, self.depth, step)
        titled = self._titled(requests, exclude)
        merged = []
        for candidates, own in zip(found, titled, strict=True):
            rows = {c.row for c in candidates}
            merged.append(candidates + [c for c in own if c.row not in rows])
        reranked = self.reranker.rerank(
            [
                RerankRequest(r.key, q, q, candidates, [])
                for r, q, candidates in zip(requests, queries, merged, strict=True)
            ],
            step,
        )
        out = []
        for own, candidates in zip(titled, reranked, strict=True):
            first = {c.row for c in own}
            out.append([c for c in candidates if c.row in first] + [c for c in candidates if c.row not in first])
        return out

    def _anchors(self, names: Sequence[str]) -> tuple[int, ...]:
        graph = self.retriever.resources.graph
        if graph is None or not self.retriever.use_graph:
            return ()
        found = (graph.graph_index.graph.find(name) for name in names)
        return tuple(dict.fromkeys(e for e in found if e is not None))

    def _titled(self, requests: Sequence[HopRequest], exclude: dict[int, set[int]]) -> list[list[Candidate]]:
        """The passages whose title is one of each request's entity names (found by searching the name)."""
        names = sorted({n for r in requests for n in r.names})
        if not names:
            return [[] for _ in requests]
        searcher = self.retriever.resources.searcher
        hits = dict(zip(names, searcher.search_rows(names, "hybrid", TITLE_SEARCH_DEPTH), strict=True))
        rows = sorted({row for ranked in hits.values() for row, _ in ranked})
        passages = dict(zip(rows, searcher.bundle.store.get_rows(rows), strict=True))
        out = []
        for request in requests:
            own: dict[int, Candidate] = {}
            for name in request.names:
                key = normalize_name(name)
                for rank, (row, _) in enumerate(hits[name], start=1):
                    passage = passages[row]
                    titles = {normalize_name(passage.title), *title_aliases(passage.title)}
                    if key in titles and row not in own and row not in exclude.get(request.key, ()):
                        own[row] = Candidate(row, passage, {"title": rank})
            out.append(list(own.values()))
        return out

    def _read(
        self,
        requests: Sequence[HopRequest],
        ranked: Sequence[Sequence[Candidate]],
        results: list[list[HopCandidate]],
        read: dict[int, set[int]],
        step: int,
        *,
        attempt: int,
        groups: int,
    ) -> None:
        jobs: list[tuple[int, tuple[EvidenceItem, ...]]] = []
        for i, (request, candidates) in enumerate(zip(requests, ranked, strict=True)):
            target = self.vectors.of_texts([request.query])[0]
            fresh = [c for c in candidates if c.row not in read[request.key]]
            for g in range(groups):
                group = fresh[g * self.passages : (g + 1) * self.passages]
                if not group:
                    break
                items = tuple(
                    EvidenceItem(
                        number=n,
                        row=c.row,
                        passage=c.passage,
                        sentences=best_sentences(c.passage, target, self.vectors, self.sentences),
                        score=c.score,
                        round=step,
                        sources=tuple(sorted(c.ranks)),
                    )
                    for n, c in enumerate(group, start=1)
                )
                read[request.key].update(c.row for c in group)
                jobs.append((i, items))
        if not jobs:
            return
        prompts = [hop_prompt(requests[i].query, [e.line() for e in items]) for i, items in jobs]
        with self.llm.trace.stage("hop"):
            replies = self.llm(HOP_READ, prompts, chains=[requests[i].key for i, _ in jobs], round_no=step)
        for (i, items), reply in zip(jobs, replies, strict=True):
            candidate = self._candidate(requests[i].query, requests[i].names, items, reply, attempt)
            self.llm.trace.record(
                "hop_read",
                chain=requests[i].key,
                round=step,
                query=requests[i].query,
                attempt=attempt,
                passages=[{"passage_id": e.passage.id, "title": e.passage.title, "score": round(e.score, 4)}
                          for e in items],
                answer=candidate.answer if candidate else "unknown",
                score=round(candidate.score, 4) if candidate else 0.0,
                logprob=candidate.logprob if candidate else None,
            )  # fmt: skip
            if candidate is not None:
                results[i] = merge_candidates([*results[i], candidate])

    def _candidate(
        self,
        step: str,
        names: Sequence[str],
        items: tuple[EvidenceItem, ...],
        reply: dict[str, object] | None,
        attempt: int,
    ) -> HopCandidate | None:
        answer = clean_answer(field_str(reply, "answer", 80))
        if is_unknown(answer) or answer_in_text(answer, [step]):
            return None  # an answer naming what the step asks about is no answer
        logprob = logprob_or_none((reply or {}).get("answer_logprob"))
        score = math.exp(logprob) if logprob is not None else NO_LOGPROB
        cited = next((e for e in items if answer_in_text(answer, [" ".join(e.sentences), e.passage.title])), None)
        if cited is None:
            cited = next((e for e in items if answer_in_text(answer, [e.passage.text])), None)
        if cited is None:
            score *= NOT_EXTRACTIVE
            cited = _most_similar(answer, items)
        if not answer_type_matches(step, answer) or (_WHERE.match(step) and _YEAR.search(answer)):
            score *= WRONG_TYPE
        if (
            names
            and cited is not None
            and not any(answer_in_text(n, [cited.passage.title, cited.passage.text]) for n in names)
        ):
            score *= NOT_GROUNDED
        return HopCandidate(answer, max(score, 1e-4), logprob, cited, items, attempt)


def _most_similar(answer: str, items: Sequence[EvidenceItem]) -> EvidenceItem | None:
    """The passage sharing most words with a non-extractive answer (a yes/no cites the first passage)."""
    words = content_words(answer)
    if not items:
        return None
    return max(items, key=lambda e: (len(words & content_words(e.passage.embedding_text)), -e.number))


def merge_candidates(candidates: Sequence[HopCandidate]) -> list[HopCandidate]:
    """One candidate per distinct (normalised) answer, best first; agreement from several passage groups
    raises its score (noisy-or of their scores), and it keeps its best reading's citation."""
    groups: dict[str, list[HopCandidate]] = {}
    for c in candidates:
        groups.setdefault(normalize_answer(c.answer), []).append(c)
    merged = []
    for group in groups.values():
        best = max(group, key=lambda c: c.score)
        combined = 1.0 - math.prod(1.0 - c.score for c in group)
        merged.append(
            HopCandidate(
                best.answer, combined, best.logprob, best.cited, tuple(e for c in group for e in c.read), best.attempt
            )
        )
    return sorted(merged, key=lambda c: (-c.score, c.answer))


_LIST = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*")


def split_lists(candidates: Sequence[HopCandidate]) -> list[HopCandidate]:
    """A hop answer that lists several names ("Nicki Minaj and Lil Wayne") as one candidate per name, in
    order, the later ones at 0.9 of the score each: a later step asks about one entity at a time."""
    out: list[HopCandidate] = []
    for c in candidates:
        parts = [p for p in _LIST.split(c.answer) if p]
        if 2 <= len(parts) <= 4 and all(p[:1].isupper() and len(p.split()) <= 5 for p in parts):
            out += [replace(c, answer=p, score=c.score * 0.9**i) for i, p in enumerate(parts)]
        else:
            out.append(c)
    return sorted(out, key=lambda c: (-c.score, c.answer))


def rewrite_query(query: str, names: Sequence[str]) -> str:
    """A keyword form of a step for a second search: its entity names, then its other content words."""
    words = [w for w in content_words(query) if not any(w in n.lower() for n in names)]
    return " ".join([*names, *sorted(words)]) or query
