"""The answering methods, by name: Sleuth and its baselines, all on the same backend and indexes."""

from __future__ import annotations

from collections.abc import Callable

from reasoning.baselines import direct, ppr, rag
from reasoning.context import MethodContext
from reasoning.loop import LoopPolicy, ReasoningLoop
from reasoning.result import AskResult


def sleuth(ctx: MethodContext) -> AskResult:
    return ReasoningLoop(ctx, LoopPolicy(method="sleuth")).run()


def iterative(ctx: MethodContext) -> AskResult:
    policy = LoopPolicy(method="iterative", decompose=False, use_graph=False, multi_criteria=False, stop_on_answer=True)
    return ReasoningLoop(ctx, policy).run()


METHOD_FUNCTIONS: dict[str, Callable[[MethodContext], AskResult]] = {
    "direct": direct,
    "rag": rag,
    "iterative": iterative,
    "ppr": ppr,
    "sleuth": sleuth,
}
METHODS = tuple(METHOD_FUNCTIONS)
BUDGET_AWARE = frozenset({"iterative", "sleuth"})  # the others read the same k passages at every budget


def run_method(method: str, ctx: MethodContext) -> AskResult:
    return METHOD_FUNCTIONS[method](ctx)
