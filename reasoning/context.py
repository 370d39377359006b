"""What one question's run carries: the question, the opened index, the budget, the LLM as the run uses it
(`JsonCaller`: backend, spending ledger, trace, seed, cancellation) and the resolved stop policy.

An answering method (reasoning.methods) receives it whole; the parts a method is made of receive only
what they use (the critic, the reranker, the verifier and decomposition take the `JsonCaller`).
"""

from __future__ import annotations

from dataclasses import dataclass

from reasoning.budget import Budget
from reasoning.llm.accounting import SpendingLedger
from reasoning.resources import IndexResources
from reasoning.stop_policy import StopPolicy
from reasoning.structured import CancelledError, JsonCaller
from reasoning.trace import Trace

__all__ = ["CancelledError", "MethodContext"]


@dataclass(frozen=True)
class MethodContext:
    question: str
    resources: IndexResources
    budget: Budget
    llm: JsonCaller
    stop: StopPolicy

    @property
    def trace(self) -> Trace:
        return self.llm.trace

    @property
    def spending(self) -> SpendingLedger:
        return self.llm.spending

    def check_cancelled(self) -> None:
        self.llm.check_cancelled()
