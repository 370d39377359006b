"""What one question's run carries: the question, the index, the backend, the budget, the trace, the
caps on LLM calls and tokens, and cancellation."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from reasoning.budget import Budget
from reasoning.llm.protocol import LLMBackend
from reasoning.resources import IndexResources
from reasoning.trace import Trace


class CancelledError(Exception):
    """Raised inside a run when its cancel event is set (checked between stages)."""


@dataclass
class Spending:
    """LLM calls and tokens spent so far by one question, against the budget's hard caps."""

    max_calls: int
    max_tokens: int
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failed_calls: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def can_afford(self, calls: int, tokens: int) -> bool:
        """Whether `calls` more calls of about `tokens` tokens in all stay within both caps."""
        return self.calls + calls <= self.max_calls and self.tokens + tokens <= self.max_tokens


@dataclass
class MethodContext:
    question: str
    resources: IndexResources
    backend: LLMBackend
    budget: Budget
    trace: Trace
    seed: int = 0
    cancel: threading.Event | None = None
    spending: Spending = field(init=False)

    def __post_init__(self) -> None:
        self.spending = Spending(self.budget.max_llm_calls, self.budget.max_tokens)

    def check_cancelled(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            self.trace.record("cancelled")
            raise CancelledError("the question was cancelled")
