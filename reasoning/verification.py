"""Cross-chain verification: the chains' answers normalised and grouped, contradictions detected, a vote
weighted by critic confidence and evidence support, and optionally the winner re-checked by the LLM
against the passages its chain cited (unless, with `trust_critic`, the critic judged a chain of the winning
group sufficient and no rival group contradicts it). With no answer, or none that anything supports,
Sleuth abstains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reasoning.chain import Chain
from reasoning.prompts import VERIFY, verify_prompt
from reasoning.structured import JsonCaller, field_str
from reasoning.text import answer_in_text, answer_type_matches, clean_answer, is_unknown, normalize_answer

CONTRADICTION_SHARE = 0.5  # a rival group with at least this share of the winner's weight is a contradiction
MAX_CHECKS = 2  # groups the LLM re-checks at most


@dataclass
class AnswerGroup:
    answer: str  # the representative surface form
    key: str  # its normalised form
    chains: list[int] = field(default_factory=list)
    weight: float = 0.0
    support: float = 0.0  # the best evidence support among its chains

    def to_json(self) -> dict[str, object]:
        return {"answer": self.answer, "chains": self.chains, "weight": round(self.weight, 4), "support": self.support}


@dataclass(frozen=True)
class Verified:
    answer: str
    chain: int | None  # the chain whose evidence and explanation stand behind the answer
    confidence: float
    abstained: bool
    groups: list[AnswerGroup]


def evidence_support(chain: Chain) -> float:
    """1 when the answer is found in the chain's evidence, 0.5 for yes/no (text cannot show it), else 0."""
    key = normalize_answer(chain.answer)
    if key in ("yes", "no"):
        return 0.5
    texts = [" ".join(e.sentences) for e in chain.evidence] + [e.passage.title for e in chain.evidence]
    return 1.0 if answer_in_text(chain.answer, texts) else 0.0


@dataclass(frozen=True)
class Ballot:
    """One chain's vote: its answer, the critic's confidence in it, the evidence support, the answer type."""

    chain: int
    answer: str
    confidence: float
    support: float
    type_matches: bool = True

    @property
    def weight(self) -> float:
        weight = max(0.05, self.confidence) * (0.5 + 0.5 * self.support)
        return weight if self.type_matches else weight * 0.3  # a name where a number is asked for


def ballot(chain: Chain) -> Ballot:
    confidence = chain.verdict.confidence if chain.verdict is not None else 0.5
    matches = answer_type_matches(chain.question, chain.answer)
    return Ballot(chain.id, chain.answer, confidence, evidence_support(chain), matches)


def group_answers(chains: Sequence[Chain]) -> list[AnswerGroup]:
    """The chains' answers grouped and weighed (`group_ballots`)."""
    return group_ballots([ballot(c) for c in chains])


def group_ballots(ballots: Sequence[Ballot]) -> list[AnswerGroup]:
    """Groups of equal answers (after normalisation, or one's words within the other's), heaviest first."""
    groups: list[AnswerGroup] = []
    for vote in ballots:
        if is_unknown(vote.answer):
            continue
        key = normalize_answer(vote.answer)
        group = next((g for g in groups if _same(g.key, key)), None)
        if group is None:
            group = AnswerGroup(vote.answer, key)
            groups.append(group)
        elif len(key) < len(group.key) and vote.support >= group.support:
            group.answer, group.key = vote.answer, key  # prefer the shorter, equally supported form
        group.chains.append(vote.chain)
        group.weight += vote.weight
        group.support = max(group.support, vote.support)
    return sorted(groups, key=lambda g: (-g.weight, g.key))


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    if a in ("yes", "no") or b in ("yes", "no"):
        return False
    words_a, words_b = set(a.split()), set(b.split())
    return bool(words_a and words_b) and (words_a <= words_b or words_b <= words_a)


class CrossChainVerifier:
    def __init__(self, question: str, llm: JsonCaller, *, llm_check: bool, trust_critic: bool = False) -> None:
        self.question = question
        self.llm = llm
        self.trace = llm.trace
        self.llm_check = llm_check
        self.trust_critic = trust_critic

    def verify(self, chains: Sequence[Chain]) -> Verified:
        with self.trace.stage("verify"):
            groups = group_answers(chains)
        total = sum(g.weight for g in groups)
        contradiction = len(groups) > 1 and groups[1].weight >= CONTRADICTION_SHARE * groups[0].weight
        self.trace.record("verify", groups=[g.to_json() for g in groups], contradiction=contradiction)
        if not groups:
            return self._abstain(groups, "no chain found an answer")
        if self.llm_check:
            vouched = _vouched_chain(chains, groups[0]) if self.trust_critic and not contradiction else None
            if vouched is None:
                return self._checked(chains, groups, total)
            self.trace.record("verify_skipped", chain=vouched, answer=groups[0].answer, reason="critic sufficient")
        best = groups[0]
        return Verified(best.answer, _best_chain(chains, best), best.weight / total if total else 0.0, False, groups)

    def _checked(self, chains: Sequence[Chain], groups: list[AnswerGroup], total: float) -> Verified:
        by_id = {c.id: c for c in chains}
        for group in groups[:MAX_CHECKS]:
            chain = by_id[_best_chain(chains, group)]
            prompt = verify_prompt(self.question, chain.lines(), group.answer)
            reply = self.llm(VERIFY, [prompt], chains=[chain.id])[0]
            supported = reply.get("supported") if reply else None
            self.trace.record("verify_check", chain=chain.id, answer=group.answer, supported=supported)
            if supported is None:  # the check could not run (caps, LLM error): keep the vote
                return Verified(group.answer, chain.id, group.weight / total, False, groups)
            if supported:
                return Verified(group.answer, chain.id, min(1.0, group.weight / total + 0.2), False, groups)
            corrected = clean_answer(field_str(reply, "answer", 80))
            if not is_unknown(corrected) and answer_in_text(corrected, [" ".join(e.sentences) for e in chain.evidence]):
                self.trace.record("verify_corrected", chain=chain.id, answer=corrected, was=group.answer)
                return Verified(corrected, chain.id, 0.5 * group.weight / total, False, groups)
        supported_groups = [g for g in groups if g.support > 0]
        if not supported_groups:
            return self._abstain(groups, "the LLM rejected every answer and no evidence contains one")
        best = supported_groups[0]
        return Verified(best.answer, _best_chain(chains, best), 0.5 * best.weight / total, False, groups)

    def _abstain(self, groups: list[AnswerGroup], reason: str) -> Verified:
        self.trace.record("abstain", reason=reason)
        return Verified("", None, 0.0, True, groups)


def _vouched_chain(chains: Sequence[Chain], group: AnswerGroup) -> int | None:
    """The most confident chain of `group` that the critic judged sufficient, if any."""
    vouched = [c for c in chains if c.id in group.chains and c.verdict is not None and c.verdict.sufficient]
    return max(vouched, key=lambda c: (c.verdict.confidence if c.verdict else 0.0, -c.id)).id if vouched else None


def _best_chain(chains: Sequence[Chain], group: AnswerGroup) -> int:
    members = [c for c in chains if c.id in group.chains]
    best = max(members, key=lambda c: (c.verdict.confidence if c.verdict else 0.0, evidence_support(c), -c.id))
    return best.id
