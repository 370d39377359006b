"""The reasoning loop with test-time search: decompose, then rounds of
retrieve -> rerank -> reason -> critic over K chains (each round's LLM calls of all active chains go to the
backend as one batch), then cross-chain verification and the answer.

The same loop, with a narrower policy, is the `iterative` baseline (IRCoT / IterDRAG-style): one chain,
no decomposition, no graph, relevance-only ranking, and it stops as soon as it has an answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from reasoning.chain import Chain, seed_chains
from reasoning.chain_retrieval import ChainQuery, ChainRetriever
from reasoning.context import MethodContext
from reasoning.critic import CriticInput, FeatureCritic, PromptedCritic, SufficiencyCritic, Verdict
from reasoning.decomposition import decompose
from reasoning.evidence import PassageVectors
from reasoning.explanation import result_of
from reasoning.prompts import REASON, reason_prompt
from reasoning.reranking import RELEVANCE_ONLY, MultiCriteriaReranker, RerankRequest, blend_weights
from reasoning.result import AskResult
from reasoning.structured import call_json
from reasoning.verification import CrossChainVerifier


@dataclass(frozen=True)
class LoopPolicy:
    method: str = "sleuth"
    decompose: bool = True
    use_graph: bool = True
    multi_criteria: bool = True  # False: relevance only
    stop_on_answer: bool = False  # the iterative baseline's rule, instead of a critic
    temperature: float | None = None  # of the reasoning step; None: 0.3 with several chains, else the prompt's


class AnswerPresentCritic:
    """Sufficient as soon as the chain has an answer: the iterative baseline's stopping rule."""

    name = "answer-present"

    def judge(self, inputs: Sequence[CriticInput], round: int) -> list[Verdict]:
        verdicts = []
        for item in inputs:
            has = bool(item.answer)
            verdicts.append(Verdict(has, 0.6 if has else 0.0, "" if has else item.next_query, self.name))
        return verdicts


class FixedRoundsCritic:
    """Never sufficient: every chain runs all its rounds (the fixed-rounds baseline of the critics)."""

    name = "none"

    def judge(self, inputs: Sequence[CriticInput], round: int) -> list[Verdict]:
        return [Verdict(False, 0.0, item.next_query, self.name) for item in inputs]


def _critic_says(critic: SufficiencyCritic, name: str) -> bool:
    return bool(getattr(critic, name, False))


def _knob_or_critic(value: bool | None, critic: SufficiencyCritic, name: str) -> bool:
    """A budget knob's value, or with none given, the critic's own setting (off for critics without one)."""
    return value if value is not None else _critic_says(critic, name)


class ReasoningLoop:
    def __init__(self, ctx: MethodContext, policy: LoopPolicy, critic: SufficiencyCritic | None = None) -> None:
        self.ctx = ctx
        self.policy = policy
        self.budget = ctx.budget
        self.retriever = ChainRetriever(ctx.resources, ctx.trace, use_graph=policy.use_graph)
        self.vectors = PassageVectors(ctx.resources.bundle, ctx.resources.searcher.embedder)
        self.critic = critic or self._default_critic()
        # a critic trained on answers given every round must be shown such answers; one trained to end the
        # run at the first sufficient chain stops it so, and its sufficient answers may skip the LLM re-check,
        # unless the budget says otherwise
        self.answer_every_round = self.budget.answer_every_round or _critic_says(self.critic, "answer_every_round")
        self.stop_run = _knob_or_critic(self.budget.stop_run, self.critic, "stop_run")
        self.trust_critic = _knob_or_critic(self.budget.trust_critic, self.critic, "trust_critic")
        self.reason_call = replace(REASON, temperature=self._reason_temperature())

    def _reason_temperature(self) -> float:
        if self.policy.temperature is not None:
            return self.policy.temperature
        if self.budget.chains > 1 and self.policy.decompose:
            return 0.3  # sampling varies the chains too
        return REASON.temperature

    def _default_critic(self) -> SufficiencyCritic:
        if self.policy.stop_on_answer:
            return AnswerPresentCritic()
        if self.budget.critic == "prompted":
            return PromptedCritic(self.ctx)
        if self.budget.critic == "none":
            return FixedRoundsCritic()
        if self.budget.critic == "trained":
            from reasoning.trained_critic import load_critic

            return load_critic(self.budget.critic_dir)
        return FeatureCritic()

    def run(self) -> AskResult:
        ctx, budget = self.ctx, self.budget
        # as run: a critic may set these
        knobs = budget.to_json() | {
            "answer_every_round": self.answer_every_round,
            "stop_run": self.stop_run,
            "trust_critic": self.trust_critic,
        }
        ctx.trace.record("start", method=self.policy.method, question=ctx.question, budget=knobs)
        decomposition = decompose(
            ctx,
            self.retriever,
            use_llm=self.policy.decompose,
            with_criteria=self.policy.decompose and budget.llm_criteria,
        )
        weights = blend_weights(decomposition.criteria) if self.policy.multi_criteria else RELEVANCE_ONLY
        reranker = MultiCriteriaReranker(
            ctx, self.vectors, weights, question=ctx.question, llm_judge=self.policy.multi_criteria and budget.llm_judge
        )
        chains = seed_chains(ctx.question, decomposition, budget.chains if self.policy.decompose else 1)
        for round in range(1, budget.max_rounds + 1):
            active = [c for c in chains if c.active]
            if not active:
                break
            ctx.check_cancelled()
            self._round(active, chains, reranker, round)
        for chain in chains:
            if chain.active:
                chain.stop("max rounds")
        return self._answer(chains)

    def _round(self, active: list[Chain], chains: list[Chain], reranker: MultiCriteriaReranker, round: int) -> None:
        ctx, budget = self.ctx, self.budget
        queries = [
            ChainQuery(c.id, c.query(), c.anchors, c.held_rows, c.graph_weight if self.policy.use_graph else 0.0)
            for c in active
        ]
        found = self.retriever.candidates(queries, budget.rerank_depth, round)
        requests = [
            RerankRequest(c.id, c.focus, c.pending(), candidates, list(c.evidence))
            for c, candidates in zip(active, found, strict=True)
        ]
        ranked = reranker.rerank(requests, round)
        for chain, candidates in zip(active, ranked, strict=True):
            chain.add_evidence(candidates, budget.passages_per_round, round, self.vectors, budget.sentences_per_passage)
        last = round == budget.max_rounds
        prompts = [
            reason_prompt(ctx.question, c.lines(), c.plan, last_round=last, always_answer=self.answer_every_round)
            for c in active
        ]
        focus = {c.id: c.focus for c in active}  # before the step moves the chains on
        with ctx.trace.stage("reason"):
            replies = call_json(ctx, self.reason_call, prompts, chains=[c.id for c in active], round=round)
        stepped = []
        for chain, reply in zip(active, replies, strict=True):
            if reply is None:
                chain.stop("degraded: no usable LLM reply" if ctx.spending.can_afford(1, 0) else "budget cap")
                continue
            chain.apply(reply)
            ctx.trace.record("reason", chain=chain.id, round=round, **reply)
            stepped.append(chain)
        if not stepped:
            return
        with ctx.trace.stage("critic"):
            inputs = [
                replace(
                    c.critic_input(budget.max_rounds),
                    focus=focus[c.id],
                    facts=tuple(c.facts),
                    others=tuple(o.answer for o in chains if o.id != c.id),
                )
                for c in stepped
            ]
            verdicts = self.critic.judge(inputs, round)
        for chain, verdict in zip(stepped, verdicts, strict=True):
            chain.verdict = verdict
            ctx.trace.record(
                "critic", chain=chain.id, round=round, answer=chain.answer, focus=focus[chain.id], **verdict.to_json()
            )
            if verdict.sufficient:
                chain.stop("sufficient")
        sufficient = [c.id for c, v in zip(stepped, verdicts, strict=True) if v.sufficient]
        if self.stop_run and sufficient:
            stopped = [c for c in chains if c.active]
            for chain in stopped:
                chain.stop("another chain sufficient")
            ctx.trace.record("stop_run", round=round, sufficient=sufficient, stopped=[c.id for c in stopped])

    def _answer(self, chains: list[Chain]) -> AskResult:
        ctx = self.ctx
        ctx.trace.record("chains", chains=[c.to_json() for c in chains])
        verifier = CrossChainVerifier(
            ctx, llm_check=self.budget.verify and self.policy.decompose, trust_critic=self.trust_critic
        )
        verified = verifier.verify(chains)
        by_id = {c.id: c for c in chains}
        winner = by_id.get(verified.chain) if verified.chain is not None else max(chains, key=lambda c: len(c.evidence))
        cited_rows = {e.row for e in winner.evidence} if winner is not None else set()
        paths = self.retriever.paths_for(winner.id, cited_rows) if winner is not None else []
        return result_of(
            ctx, self.policy.method, verified.answer, winner, chains, confidence=verified.confidence, graph_paths=paths
        )
