"""Sleuth's answering method: a plan of single-hop steps, executed hop by hop with a beam search over the
hops' answers, and a final answer computed from the best paths.

1. Plan (`reasoning.plan`): lookup steps that may use earlier answers as #k, and a final operation.
2. Execute step by step. Each path (one answer per step so far) substitutes its answers into the step,
   retrieves for it grounded on those entities, and the reader answers the step alone
   (`reasoning.hop_reading`). Paths asking the same rewritten step share its reading; all reads of a
   step, across paths, go to the backend as one batch.
3. Search over hop answers: every path grows by each of its step's candidate answers; a path's score is
   the product of its hops' scores; the best `beam_width` paths go on. A path whose step stays "unknown"
   after its rewrites ends there.
4. The final operation on each surviving path: the answer of a step, a comparison of dates or numbers
   returning the option chosen, yes / no from equality (`reasoning.operations`), or a short LLM composition
   (also the fallback for a comparison that does not parse or ties; the trace says so).
5. The paths' final answers are grouped and voted on by path score; the winner's path is the explanation,
   each hop citing the passage its answer came from; the critic judges it for the confidence shown.
Where no path reaches the end, the reader answers the whole question from every passage read (as `rag`
does), and the trace says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reasoning.chain_retrieval import ChainRetriever
from reasoning.context import MethodContext
from reasoning.critic import CriticInput, FeatureCritic, PromptedCritic, SufficiencyCritic
from reasoning.evidence import EvidenceItem, PassageVectors
from reasoning.explanation import cost_of, ranked_evidence
from reasoning.hop_reading import HopCandidate, HopReader, HopRequest, split_lists
from reasoning.operations import compare, equality
from reasoning.plan import Plan, make_plan, substitute
from reasoning.prompts import COMPOSE, READ, compose_prompt, read_prompt, with_choices
from reasoning.result import ABSTAIN, AskResult, Citation
from reasoning.structured import field_str
from reasoning.text import clean_answer, is_unknown, normalize_answer

FALLBACK_PASSAGES = 6  # passages the whole-question fallback reads
BEAM_RATIO = 0.5  # a path scoring under this share of the best one is not expanded further


@dataclass(frozen=True)
class Hop:
    step: int  # 1-based
    query: str  # the step with earlier answers substituted
    candidate: HopCandidate

    @property
    def answer(self) -> str:
        return self.candidate.answer


@dataclass(frozen=True)
class Path:
    hops: tuple[Hop, ...] = ()

    @property
    def score(self) -> float:
        return math.prod(h.candidate.score for h in self.hops) if self.hops else 1.0

    @property
    def answers(self) -> dict[int, str]:
        return {h.step: h.answer for h in self.hops}

    def grow(self, hop: Hop) -> Path:
        return Path((*self.hops, hop))

    def to_json(self) -> dict[str, object]:
        return {"score": round(self.score, 5), "answers": [h.answer for h in self.hops]}


@dataclass
class Finished:
    """A path with its final answer, and how the final operation got it."""

    path: Path
    answer: str
    operation: dict[str, Any] = field(default_factory=dict)


class HopSearch:
    def __init__(self, ctx: MethodContext) -> None:
        self.ctx = ctx
        self.budget = ctx.budget
        self.retriever = ChainRetriever(ctx.resources, ctx.trace)
        self.vectors = PassageVectors(ctx.resources.bundle, ctx.resources.searcher.embedder)
        self.reader = HopReader(
            ctx.llm,
            self.retriever,
            self.vectors,
            question=ctx.question,
            depth=self.budget.rerank_depth,
            passages=self.budget.hop_passages,
            reads=self.budget.hop_reads,
            sentences=self.budget.hop_sentences,
            rewrites=self.budget.rewrites,
        )

    @property
    def critic(self) -> SufficiencyCritic:
        """The budget's critic judges the answer for the confidence shown, unless it would ask the LLM: a
        whole prompt for a confidence figure is not worth its time on a CPU, and the features judge instead."""
        critic = self.ctx.stop.critic
        return FeatureCritic() if isinstance(critic, PromptedCritic) else critic

    def run(self) -> AskResult:
        ctx = self.ctx
        ctx.trace.record(
            "start", method="sleuth", question=ctx.question, budget=self.budget.to_json(), stop=ctx.stop.describe()
        )
        plan = make_plan(ctx.question, ctx.llm)
        beam: list[Path] = [Path()]
        ended: list[Path] = []
        for step in range(1, len(plan.steps) + 1):
            ctx.check_cancelled()
            beam, dead = self._step(plan, beam, step)
            ended += dead
            if not beam:
                break
        finished = self._finish(plan, beam) if beam else []
        return self._answer(plan, finished, beam or ended)

    # --- one step over the beam ------------------------------------------------------------------------

    def _step(self, plan: Plan, beam: list[Path], step: int) -> tuple[list[Path], list[Path]]:
        queries: dict[str, HopRequest] = {}
        of_path: list[str] = []
        for path in beam:
            query = substitute(plan.steps[step - 1], path.answers)
            if query not in queries:
                names = [path.answers[k] for k in plan.refs(step) if k in path.answers]
                names += [e.name for e in self.retriever.link(query)]
                queries[query] = HopRequest(len(queries), query, tuple(dict.fromkeys(n for n in names if n)))
            of_path.append(query)
        requests = list(queries.values())
        found = dict(zip(queries, self.reader.answer(requests, step), strict=True))
        grown: list[Path] = []
        dead: list[Path] = []
        used_later = any(step in plan.refs(k) for k in range(step + 1, len(plan.steps) + 1))
        for path, query in zip(beam, of_path, strict=True):
            candidates = (split_lists(found[query]) if used_later else found[query])[: self.budget.beam_width]
            if not candidates:
                dead.append(path)
            grown += [path.grow(Hop(step, query, c)) for c in candidates]
        grown.sort(key=lambda p: (-p.score, [h.answer for h in p.hops]))
        kept = [p for p in grown[: self.budget.beam_width] if p.score >= BEAM_RATIO * grown[0].score]
        self.ctx.trace.record(
            "beam",
            round=step,
            step=plan.steps[step - 1],
            candidates={q: [c.to_json() for c in found[q]] for q in queries},
            kept=[p.to_json() for p in kept],
            dropped=len(grown) - len(kept),
            ended=len(dead),
        )
        return kept, dead

    # --- the final operation ---------------------------------------------------------------------------

    def _finish(self, plan: Plan, beam: list[Path]) -> list[Finished]:
        finished = []
        compose: list[tuple[Finished, str]] = []
        for path in beam:
            values = [path.answers[k] for k in plan.over]
            done = Finished(path, "", {"operation": plan.operation, "over": list(plan.over), "values": values})
            if plan.operation == "answer":
                done.answer = values[-1]
            elif plan.is_comparison:
                outcome = compare(plan.operation, values)  # type: ignore[arg-type]
                done.operation.update(outcome.to_json())
                if outcome.computed and outcome.winner is not None:
                    done.answer = _chosen(plan, path, outcome.winner)
                else:
                    compose.append((done, f"The comparison could not be computed ({outcome.reason}). "))
            elif plan.is_equality:
                outcome = equality(plan.operation, values)  # type: ignore[arg-type]
                done.operation.update(outcome.to_json())
                if outcome.computed:
                    done.answer = outcome.answer
                else:
                    compose.append((done, ""))
            else:
                compose.append((done, ""))
            finished.append(done)
        if compose:
            prompts = [compose_prompt(self.ctx.question, _findings(d.path), note) for d, note in compose]
            with self.ctx.trace.stage("compose"):
                replies = self.ctx.llm(with_choices(COMPOSE, plan.choices), prompts, round_no=len(plan.steps) + 1)
            for (done, _), reply in zip(compose, replies, strict=True):
                answer = clean_answer(field_str(reply, "answer", 80))
                done.answer = "" if is_unknown(answer) else answer
                done.operation["llm"] = True
        for done in finished:
            self.ctx.trace.record("final", path=done.path.to_json(), **(done.operation | {"answer": done.answer}))
        return [d for d in finished if d.answer]

    # --- choosing among paths, and the answer ----------------------------------------------------------

    def _answer(self, plan: Plan, finished: list[Finished], paths: list[Path]) -> AskResult:
        ctx = self.ctx
        votes: dict[str, float] = {}
        for done in finished:
            key = normalize_answer(done.answer)
            votes[key] = votes.get(key, 0.0) + done.path.score
        read = _read_items(paths)
        if finished:
            best_key = max(votes, key=lambda k: (votes[k], k))
            winner = max((d for d in finished if normalize_answer(d.answer) == best_key), key=lambda d: d.path.score)
            share = votes[best_key] / (sum(votes.values()) or 1.0)
            hop_mean = winner.path.score ** (1.0 / max(1, len(winner.path.hops)))
            answer, confidence = winner.answer, share * hop_mean
            explanation, citations, cited = explain_path(winner)
            ctx.trace.record("vote", votes={k: round(v, 5) for k, v in votes.items()}, winner=answer)
        else:
            answer, confidence, explanation, citations, cited = self._fallback(read, plan.choices)
        if answer:
            judged = self._critic_input(answer, cited or read[:3], plan)
            verdict = self.critic.judge([judged], len(plan.steps) + 1)[0]
            ctx.trace.record("critic", chain=0, round=len(plan.steps) + 1, answer=answer, **verdict.to_json())
            confidence = 0.5 * confidence + 0.5 * verdict.confidence
        abstained = not answer
        refs = ranked_evidence(cited, [read])
        graph_paths = self.retriever.paths_for({e.row for e in cited})
        result = AskResult(
            answer=ABSTAIN if abstained else answer,
            explanation="No answer: the evidence gathered does not support one." if abstained else explanation,
            citations=[] if abstained else citations,
            method="sleuth",
            budget=self.budget.name,
            cost=cost_of(ctx),
            trace=ctx.trace,
            confidence=0.0 if abstained else confidence,
            abstained=abstained,
            evidence=refs,
            graph_paths=graph_paths,
        )
        ctx.trace.record(
            "answer",
            answer=result.answer,
            abstained=abstained,
            confidence=round(result.confidence, 4),
            citations=[c.to_json() for c in result.citations],
            cost=result.cost.to_json(),
        )
        return result

    def _fallback(
        self, read: list[EvidenceItem], choices: tuple[str, ...]
    ) -> tuple[str, float, str, list[Citation], list[EvidenceItem]]:
        """No path reached the end: the reader answers the whole question from the passages read (one of the
        question's options, for a comparison)."""
        items = sorted(read, key=lambda e: (-e.score, e.row))[:FALLBACK_PASSAGES]
        self.ctx.trace.record("fallback", reason="no path reached the final step", passages=len(items))
        prompt = read_prompt(self.ctx.question, [e.line() for e in numbered(items)])
        reply = self.ctx.llm(with_choices(READ, choices), [prompt])[0]
        answer = clean_answer(field_str(reply, "answer", 80))
        if is_unknown(answer):
            return "", 0.0, "", [], items
        cited = [e for e in items if normalize_answer(answer) in normalize_answer(e.passage.text)][:2] or items[:1]
        text = field_str(reply, "facts", 300) or answer
        return answer, 0.25, text, citations_of(cited), cited

    def _critic_input(self, answer: str, evidence: list[EvidenceItem], plan: Plan) -> CriticInput:
        return CriticInput(
            chain=0,
            question=self.ctx.question,
            answer=answer,
            evidence=numbered(evidence),
            plan_done=True,
            next_query="",
            round=len(plan.steps),
            max_rounds=len(plan.steps),
        )


def _chosen(plan: Plan, path: Path, winner: int) -> str:
    """The option a comparison chooses: the question's choice that goes with the winning step, else the
    entity the winning step was about (its substituted reference, else its own text)."""
    if len(plan.choices) == len(plan.over):
        return plan.choices[winner]
    step = plan.over[winner]
    refs = plan.refs(step)
    return path.answers[refs[0]] if refs else plan.steps[step - 1]


def _findings(path: Path) -> list[str]:
    return [f"{h.query} -> {h.answer}" for h in path.hops]


def _read_items(paths: Sequence[Path]) -> list[EvidenceItem]:
    """Every passage the paths' hops read, each once, in hop order."""
    seen: set[int] = set()
    items = []
    for path in paths:
        for hop in path.hops:
            for item in hop.candidate.read:
                if item.row not in seen:
                    seen.add(item.row)
                    items.append(item)
    return items


def explain_path(done: Finished) -> tuple[str, list[Citation], list[EvidenceItem]]:
    """The path as the explanation: each hop's question and answer citing the passage it came from, then
    the final operation; the cited passages numbered [1].. in hop order."""
    cited: list[EvidenceItem] = []
    numbers: dict[int, int] = {}
    parts = []
    for hop in done.path.hops:
        item = hop.candidate.cited
        mark = ""
        if item is not None:
            if item.row not in numbers:
                numbers[item.row] = len(cited) + 1
                cited.append(item)
            mark = f" [{numbers[item.row]}]"
        parts.append(f"{hop.query} {hop.answer}{mark}.")
    op = done.operation.get("operation")
    if op not in (None, "answer"):
        how = "by the LLM from these answers" if done.operation.get("llm") else f"{op} of the answers above"
        parts.append(f"So ({how}): {done.answer}.")
    return " ".join(parts), citations_of(cited), numbered(cited)


def numbered(items: Sequence[EvidenceItem]) -> list[EvidenceItem]:
    """The passages numbered [1].. in order, as a prompt or an explanation cites them."""
    return [replace(e, number=n) for n, e in enumerate(items, start=1)]


def citations_of(items: Sequence[EvidenceItem]) -> list[Citation]:
    """The citations [1].. of passages in order."""
    return [Citation(n, e.passage.id, e.passage.doc_id, e.passage.title) for n, e in enumerate(items, start=1)]
