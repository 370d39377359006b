"""The answering methods, by name: Sleuth and its baselines, all on the same backend and indexes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from reasoning.baselines import direct, ppr, rag
from reasoning.context import MethodContext
from reasoning.loop import LoopPolicy, ReasoningLoop
from reasoning.result import AskResult

MethodName = Literal["direct", "rag", "iterative", "ppr", "sleuth"]
METHODS: tuple[MethodName, ...] = get_args(MethodName)
ITERATIVE = LoopPolicy(method="iterative", decompose=False, use_graph=False, multi_criteria=False)


def sleuth(ctx: MethodContext) -> AskResult:
    return ReasoningLoop(ctx, LoopPolicy(method="sleuth")).run()


def iterative(ctx: MethodContext) -> AskResult:
    """The loop under a narrow policy; its chain stops at its first answer (`StopPolicy.first_answer`, which
    the system gives every method not in BUDGET_STOP_POLICY), whatever the budget's critic."""
    return ReasoningLoop(ctx, ITERATIVE).run()


METHOD_FUNCTIONS: dict[MethodName, Callable[[MethodContext], AskResult]] = {
    "direct": direct,
    "rag": rag,
    "iterative": iterative,
    "ppr": ppr,
    "sleuth": sleuth,
}
BUDGET_AWARE = frozenset({"iterative", "sleuth"})  # the others read the same k passages at every budget
# the methods whose stop policy (ctx.stop) is the budget's; the others get `StopPolicy.first_answer()`
BUDGET_STOP_POLICY = frozenset({"sleuth"})


def run_method(method: MethodName, ctx: MethodContext) -> AskResult:
    return METHOD_FUNCTIONS[method](ctx)
