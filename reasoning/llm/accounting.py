"""Usage accounting across LLM calls: one `CallRecord` per `generate` call, summed by `UsageLedger`.

Wrap a backend in `MeteredBackend` and every call (failed ones too, with their error code) lands in the
ledger, which the reasoning trace reads to report calls, tokens and latency per question.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reasoning.llm.protocol import (
    Completion,
    CompletionMixin,
    GenerationParams,
    LLMBackend,
    LLMError,
    Prompt,
)


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


class UsageLedger:
    """A thread-safe list of call records."""

    def __init__(self) -> None:
        self._records: list[CallRecord] = []
        self._lock = threading.Lock()

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[CallRecord]:
        with self._lock:
            return list(self._records)

    def totals(self) -> UsageTotals:
        return UsageTotals.of(self.records)

    def since(self, mark: int) -> UsageTotals:
        """Totals of the records added after `mark` (a previous `len(ledger)`), e.g. one question's calls."""
        with self._lock:
            return UsageTotals.of(self._records[mark:])

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)


class MeteredBackend(CompletionMixin):
    """A backend that records every `generate` call into a ledger; otherwise it is the backend it wraps."""

    def __init__(self, backend: LLMBackend, ledger: UsageLedger | None = None) -> None:
        self.backend = backend
        self.ledger = ledger if ledger is not None else UsageLedger()

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def context_window(self) -> int:
        return self.backend.context_window

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]:
        start = time.perf_counter()
        try:
            completions = self.backend.generate(prompts, params)
        except LLMError as exc:
            self.ledger.add(CallRecord.failed(self.name, len(prompts), params, exc, time.perf_counter() - start))
            raise
        self.ledger.add(CallRecord.of(self.name, params, completions, time.perf_counter() - start))
        return completions
