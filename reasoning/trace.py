"""The trace of one question: what every stage did, in order, with its time.

A `Trace` is an append-only list of `TraceEvent`s (stage, chain, round, data, seconds since the start);
`stage()` times a block and records its duration. Listeners receive each event as it is recorded, which
is how the API streams a running question (Server-Sent Events). Everything in it is JSON-serialisable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from reasoning.llm.accounting import CallRecord

JSON = dict[str, Any]


@dataclass(frozen=True)
class TraceEvent:
    seq: int
    stage: str  # link, decompose, retrieve, rerank, reason, critic, verify, answer, llm, budget, note, ...
    at_s: float  # seconds since the trace started
    data: JSON
    chain: int | None = None
    round: int | None = None

    def to_json(self) -> JSON:
        out: JSON = {"seq": self.seq, "stage": self.stage, "at_s": round(self.at_s, 4)}
        if self.chain is not None:
            out["chain"] = self.chain
        if self.round is not None:
            out["round"] = self.round
        out.update(self.data)
        return out


TraceListener = Callable[[TraceEvent], None]


@dataclass
class Trace:
    """Thread-safe event log of one question; `seconds_by_stage` sums the timed blocks."""

    listeners: list[TraceListener] = field(default_factory=list)
    events: list[TraceEvent] = field(default_factory=list)
    seconds_by_stage: dict[str, float] = field(default_factory=dict)
    _start: float = field(default_factory=time.perf_counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, stage: str, *, chain: int | None = None, round: int | None = None, **data: Any) -> TraceEvent:
        with self._lock:
            event = TraceEvent(len(self.events), stage, time.perf_counter() - self._start, data, chain, round)
            self.events.append(event)
        for listener in self.listeners:
            listener(event)
        return event

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Times a block and adds its seconds to `seconds_by_stage[name]` (also when it raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            with self._lock:
                self.seconds_by_stage[name] = self.seconds_by_stage.get(name, 0.0) + elapsed

    def llm_call(self, purpose: str, record: CallRecord, *, chain: int | None = None, round: int | None = None) -> None:
        """One LLM `generate` call (a batch counts once) with its tokens and latency."""
        self.record(
            "llm",
            chain=chain,
            round=round,
            purpose=purpose,
            prompts=record.prompts,
            prompt_tokens=record.prompt_tokens,
            completion_tokens=record.completion_tokens,
            cached_prompt_tokens=record.cached_prompt_tokens,
            latency_s=round_s(record.latency_s),
            error=record.error,
        )

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self._start

    def to_json(self) -> JSON:
        with self._lock:
            return {
                "events": [e.to_json() for e in self.events],
                "seconds_by_stage": {k: round_s(v) for k, v in sorted(self.seconds_by_stage.items())},
            }


def round_s(seconds: float) -> float:
    return round(seconds, 4)
