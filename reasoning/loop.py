"""The reasoning loop with test-time search: decompose, then rounds of
retrieve -> rerank -> reason -> critic over K chains (each round's LLM calls of all active chains go to the
backend as one batch), then cross-chain verification and the answer.

The same loop, with a narrower policy, is the `iterative` baseline (IRCoT / IterDRAG-style): one chain,
no decomposition, no graph, relevance-only ranking, and it stops as soon as it has an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from reasoning.chain import Chain, seed_chains
from reasoning.chain_retrieval import ChainQuery, ChainRetriever
from reasoning.context import MethodContext
from reasoning.decomposition import decompose
from reasoning.evidence import PassageVectors
from reasoning.explanation import result_of
from reasoning.prompts import REASON, reason_prompt
from reasoning.reranking import RELEVANCE_ONLY, MultiCriteriaReranker, Reranker, RerankRequest, blend_weights
from reasoning.result import AskResult
from reasoning.verification import CrossChainVerifier


@dataclass(frozen=True)
class LoopPolicy:
    method: str = "chains"
    decompose: bool = True
    use_graph: bool = True
    multi_criteria: bool = True  # False: relevance only
    temperature: float | None = None  # of the reasoning step; None: 0.3 with several chains, else the prompt's


class ReasoningLoop:
    def __init__(self, ctx: MethodContext, policy: LoopPolicy) -> None:
        self.ctx = ctx
        self.policy = policy
        self.stop = ctx.stop  # the critic and the rules around it, resolved from the budget
        self.budget = ctx.budget
        self.retriever = ChainRetriever(ctx.resources, ctx.trace, use_graph=policy.use_graph)
        self.vectors = PassageVectors(ctx.resources.bundle, ctx.resources.searcher.embedder)
        self.reason_call = replace(REASON, temperature=self._reason_temperature())

    def _reason_temperature(self) -> float:
        if self.policy.temperature is not None:
            return self.policy.temperature
        if self.budget.chains > 1 and self.policy.decompose:
            return 0.3  # sampling varies the chains too
        return REASON.temperature

    def run(self) -> AskResult:
        ctx, budget = self.ctx, self.budget
        ctx.trace.record(
            "start",
            method=self.policy.method,
            question=ctx.question,
            budget=budget.to_json(),
            stop=self.stop.describe(),
        )
        decomposition = decompose(
            ctx.question,
            ctx.llm,
            self.retriever,
            use_llm=self.policy.decompose,
            with_criteria=self.policy.decompose and budget.llm_criteria,
        )
        weights = blend_weights(decomposition.criteria) if self.policy.multi_criteria else RELEVANCE_ONLY
        reranker = MultiCriteriaReranker(
            ctx.llm,
            self.vectors,
            weights,
            question=ctx.question,
            llm_judge=self.policy.multi_criteria and budget.llm_judge,
        )
        chains = seed_chains(ctx.question, decomposition, budget.chains if self.policy.decompose else 1)
        for round_no in range(1, budget.max_rounds + 1):
            active = [c for c in chains if c.active]
            if not active:
                break
            ctx.check_cancelled()
            self._round(active, chains, reranker, round_no)
        for chain in chains:
            if chain.active:
                chain.stop("max rounds")
        return self._answer(chains)

    def _round(self, active: list[Chain], chains: list[Chain], reranker: Reranker, round_no: int) -> None:
        ctx, budget = self.ctx, self.budget
        queries = [
            ChainQuery(c.id, c.query(), c.anchors, c.held_rows, c.graph_weight if self.policy.use_graph else 0.0)
            for c in active
        ]
        found = self.retriever.candidates(queries, budget.rerank_depth, round_no)
        requests = [
            RerankRequest(c.id, c.focus, c.pending(), candidates, list(c.evidence))
            for c, candidates in zip(active, found, strict=True)
        ]
        ranked = reranker.rerank(requests, round_no)
        for chain, candidates in zip(active, ranked, strict=True):
            chain.add_evidence(
                candidates, budget.passages_per_round, round_no, self.vectors, budget.sentences_per_passage
            )
        last = round_no == budget.max_rounds
        always = self.stop.answer_every_round
        prompts = [
            reason_prompt(ctx.question, c.lines(), c.plan, last_round=last, always_answer=always) for c in active
        ]
        focus = {c.id: c.focus for c in active}  # before the step moves the chains on
        with ctx.trace.stage("reason"):
            replies = ctx.llm(self.reason_call, prompts, chains=[c.id for c in active], round_no=round_no)
        stepped = []
        for chain, reply in zip(active, replies, strict=True):
            if reply is None:
                chain.stop("degraded: no usable LLM reply" if ctx.spending.can_afford(1, 0) else "budget cap")
                continue
            chain.apply(reply)
            ctx.trace.record("reason", chain=chain.id, round=round_no, **reply)
            stepped.append(chain)
        if not stepped:
            return
        with ctx.trace.stage("critic"):
            inputs = [
                c.critic_input(budget.max_rounds, focus[c.id], others=tuple(o.answer for o in chains if o.id != c.id))
                for c in stepped
            ]
            verdicts = self.stop.critic.judge(inputs, round_no)
        for chain, verdict in zip(stepped, verdicts, strict=True):
            chain.verdict = verdict
            ctx.trace.record(
                "critic",
                chain=chain.id,
                round=round_no,
                answer=chain.answer,
                focus=focus[chain.id],
                **verdict.to_json(),
            )
            if verdict.sufficient:
                chain.stop("sufficient")
        sufficient = [c.id for c, v in zip(stepped, verdicts, strict=True) if v.sufficient]
        if self.stop.stop_run and sufficient:
            stopped = [c for c in chains if c.active]
            for chain in stopped:
                chain.stop("another chain sufficient")
            ctx.trace.record("stop_run", round=round_no, sufficient=sufficient, stopped=[c.id for c in stopped])

    def _answer(self, chains: list[Chain]) -> AskResult:
        ctx = self.ctx
        ctx.trace.record("chains", chains=[c.to_json() for c in chains])
        verifier = CrossChainVerifier(
            ctx.question,
            ctx.llm,
            llm_check=self.budget.verify and self.policy.decompose,
            trust_critic=self.stop.trust_critic,
        )
        verified = verifier.verify(chains)
        by_id = {c.id: c for c in chains}
        winner = by_id.get(verified.chain) if verified.chain is not None else max(chains, key=lambda c: len(c.evidence))
        cited_rows = {e.row for e in winner.evidence} if winner is not None else set()
        paths = self.retriever.paths_for(cited_rows, winner.id) if winner is not None else []
        return result_of(
            ctx, self.policy.method, verified.answer, winner, chains, confidence=verified.confidence, graph_paths=paths
        )
