"""The answering methods, by name: Sleuth and its baselines, all on the same backend and indexes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from reasoning.baselines import direct, ppr, rag
from reasoning.context import MethodContext
from reasoning.hop_search import HopSearch
from reasoning.loop import LoopPolicy, ReasoningLoop
from reasoning.result import AskResult

MethodName = Literal["direct", "rag", "iterative", "ppr", "chains", "sleuth"]
METHODS: tuple[MethodName, ...] = get_args(MethodName)
ITERATIVE = LoopPolicy(method="iterative", decompose=False, use_graph=False, multi_criteria=False)


def sleuth(ctx: MethodContext) -> AskResult:
    """Hop-by-hop reasoning with a beam search over the hops' answers (reasoning.hop_search)."""
    return HopSearch(ctx).run()


def chains(ctx: MethodContext) -> AskResult:
    """The multi-chain loop Sleuth answered with before its hop-by-hop search (kept for comparison): rounds of
    retrieve -> rerank -> reason -> critic over parallel chains following one decomposition."""
    return ReasoningLoop(ctx, LoopPolicy(method="chains")).run()


def iterative(ctx: MethodContext) -> AskResult:
    """The loop under a narrow policy; its chain stops at its first answer (`StopPolicy.first_answer`, which
    the system gives every method not in BUDGET_STOP_POLICY), whatever the budget's critic."""
    return ReasoningLoop(ctx, ITERATIVE).run()


METHOD_FUNCTIONS: dict[MethodName, Callable[[MethodContext], AskResult]] = {
    "direct": direct,
    "rag": rag,
    "iterative": iterative,
    "ppr": ppr,
    "chains": chains,
    "sleuth": sleuth,
}
BUDGET_AWARE = frozenset({"iterative", "chains", "sleuth"})  # the others read the same k passages at every budget
# the methods whose stop policy (ctx.stop) is the budget's; the others get `StopPolicy.first_answer()`
BUDGET_STOP_POLICY = frozenset({"chains", "sleuth"})


def run_method(method: MethodName, ctx: MethodContext) -> AskResult:
    return METHOD_FUNCTIONS[method](ctx)
