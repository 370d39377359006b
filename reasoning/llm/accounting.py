"""Usage accounting of LLM calls: one `CallRecord` per `generate` call, kept per question by
`SpendingLedger` (which the budget's caps check, and whose totals are the question's cost, the trace's
figures and the service's usage metrics), summed by `UsageTotals`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reasoning.llm.protocol import Completion, GenerationParams, LLMError


@dataclass(frozen=True)
class CallRecord:
    """One `generate` call: how many prompts and samples, the tokens, and its wall-clock latency."""

    backend: str
    prompts: int
    samples: int
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    latency_s: float
    error: str | None = None  # LLMError.code when the call failed

    @classmethod
    def of(
        cls, backend: str, params: GenerationParams, completions: Sequence[Completion], latency_s: float
    ) -> CallRecord:
        return cls(
            backend=backend,
            prompts=len(completions),
            samples=len(completions) * params.n,
            prompt_tokens=sum(c.usage.prompt_tokens for c in completions),
            completion_tokens=sum(c.usage.completion_tokens for c in completions),
            cached_prompt_tokens=sum(c.cached_prompt_tokens for c in completions),
            latency_s=latency_s,
        )

    @classmethod
    def failed(
        cls, backend: str, prompts: int, params: GenerationParams, error: LLMError, latency_s: float
    ) -> CallRecord:
        return cls(backend, prompts, prompts * params.n, 0, 0, 0, latency_s, error=error.code)


@dataclass(frozen=True)
class UsageTotals:
    calls: int = 0
    failed_calls: int = 0
    prompts: int = 0
    samples: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    latency_s: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def of(cls, records: Iterable[CallRecord]) -> UsageTotals:
        totals = cls()
        for r in records:
            totals = cls(
                calls=totals.calls + 1,
                failed_calls=totals.failed_calls + (r.error is not None),
                prompts=totals.prompts + r.prompts,
                samples=totals.samples + r.samples,
                prompt_tokens=totals.prompt_tokens + r.prompt_tokens,
                completion_tokens=totals.completion_tokens + r.completion_tokens,
                cached_prompt_tokens=totals.cached_prompt_tokens + r.cached_prompt_tokens,
                latency_s=totals.latency_s + r.latency_s,
            )
        return totals


class SpendingLedger:
    """One question's LLM calls against its budget's hard caps: every call made for it (failed ones too),
    what the caps check, what its cost reports, and what the service's usage metrics add up."""

    def __init__(self, max_calls: int, max_tokens: int) -> None:
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self._records: list[CallRecord] = []
        self._lock = threading.Lock()  # the calls of one question may come from several threads

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[CallRecord]:
        with self._lock:
            return list(self._records)

    def totals(self) -> UsageTotals:
        return UsageTotals.of(self.records)

    def can_afford(self, calls: int, tokens: int) -> bool:
        """Whether `calls` more calls of about `tokens` tokens in all stay within both caps."""
        totals = self.totals()
        return totals.calls + calls <= self.max_calls and totals.total_tokens + tokens <= self.max_tokens
