"""JSON out of the LLM: one batched call, schema-constrained where the backend can, parsed, repaired,
retried a bounded number of times, within the question's caps, and recorded in the trace.

A prompt whose output cannot be parsed after the retries yields None: the caller degrades that chain
(and the trace says so) rather than failing the question.

A call with `confidence_of` set asks the backend for token log-probabilities and adds to each reply the
mean log-probability of that string field's value as the model wrote it, under "<field>_logprob", and its
least likely token's, under "<field>_min_logprob" (both left out where the backend gives none, or the
value is empty): the reader's own confidence in, say, its answer.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reasoning.llm.accounting import CallRecord, SpendingLedger
from reasoning.llm.protocol import (
    Completion,
    GenerationParams,
    LLMBackend,
    LLMError,
    Prompt,
    prompt_text,
    span_logprobs,
)
from reasoning.trace import Trace

CHARS_PER_TOKEN = 3.2  # a cautious estimate for the caps, before the backend counts


@dataclass(frozen=True)
class JsonCall:
    purpose: str  # decompose, reason, critic, judge, verify, read
    schema: dict[str, Any]
    max_tokens: int
    temperature: float = 0.0
    retries: int = 1
    confidence_of: str | None = None  # a string field whose value's mean token log-probability is added


def object_schema(properties: dict[str, Any], required: Sequence[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required if required is not None else properties),
        "additionalProperties": False,
    }


class CancelledError(Exception):
    """Raised inside a run when its cancel event is set (checked between stages and before each LLM call)."""


@dataclass
class JsonCaller:
    """The LLM as one question's run uses it: JSON calls on its backend, each checked against and counted in
    the question's spending ledger, recorded in its trace, seeded from its seed, and refused once the
    question is cancelled. The reasoning parts that call the LLM receive this, nothing more."""

    backend: LLMBackend
    spending: SpendingLedger
    trace: Trace
    seed: int = 0
    cancel: threading.Event | None = None

    def check_cancelled(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            self.trace.record("cancelled")
            raise CancelledError("the question was cancelled")

    def __call__(
        self,
        call: JsonCall,
        prompts: Sequence[Prompt],
        *,
        chains: Sequence[int | None] | None = None,
        round_no: int | None = None,
    ) -> list[dict[str, Any] | None]:
        """One parsed JSON object (or None) per prompt; the prompts go to the backend as one batch."""
        results: list[dict[str, Any] | None] = [None] * len(prompts)
        pending = list(range(len(prompts)))
        for attempt in range(call.retries + 1):
            if not pending:
                break
            completions = self._generate(call, [prompts[i] for i in pending], attempt, round_no)
            if completions is None:
                break
            failed = []
            for index, completion in zip(pending, completions, strict=True):
                parsed = parse_json_object(completion.text)
                if parsed is not None and call.confidence_of is not None:
                    _add_confidence(parsed, completion, call.confidence_of)
                if parsed is None:
                    failed.append(index)
                    self.trace.record(
                        "json_error", chain=chains[index] if chains else None, round=round_no, purpose=call.purpose,
                        attempt=attempt, text=completion.text[:300],
                    )  # fmt: skip
                results[index] = parsed
            pending = failed
        for index in pending:
            self.trace.record(
                "degraded", chain=chains[index] if chains else None, round=round_no, purpose=call.purpose,
                reason="no parsable JSON after retries",
            )  # fmt: skip
        return results

    def _generate(
        self, call: JsonCall, prompts: list[Prompt], attempt: int, round_no: int | None
    ) -> list[Completion] | None:
        estimate = sum(len(prompt_text(p)) for p in prompts) / CHARS_PER_TOKEN + call.max_tokens * len(prompts)
        if not self.spending.can_afford(1, int(estimate)):
            spent = self.spending.totals()
            self.trace.record(
                "budget", round=round_no, purpose=call.purpose, reason="LLM call or token cap reached",
                calls=spent.calls, tokens=spent.total_tokens,
            )  # fmt: skip
            return None
        params = GenerationParams(
            max_tokens=call.max_tokens,
            temperature=call.temperature if attempt == 0 else max(call.temperature, 0.3),
            json_schema=call.schema,
            seed=self.seed + (round_no or 0) * 101 + attempt,
            logprobs=call.confidence_of is not None,
        )
        self.check_cancelled()
        start = time.perf_counter()
        try:
            with self.trace.stage(f"llm:{call.purpose}"):
                completions = self.backend.generate(prompts, params)
        except LLMError as exc:
            record = CallRecord.failed(self.backend.name, len(prompts), params, exc, time.perf_counter() - start)
            self.spending.add(record)
            self.trace.llm_call(call.purpose, record, round=round_no)
            self.trace.record("llm_error", round=round_no, purpose=call.purpose, code=exc.code, message=str(exc)[:300])
            return None
        record = CallRecord.of(self.backend.name, params, completions, time.perf_counter() - start)
        self.spending.add(record)
        self.trace.llm_call(call.purpose, record, round=round_no)
        return completions


def _add_confidence(parsed: dict[str, Any], completion: Completion, name: str) -> None:
    mean_key, min_key = f"{name}_logprob", f"{name}_min_logprob"
    parsed.pop(mean_key, None)  # only ever the measured values
    parsed.pop(min_key, None)
    span = string_value_span(completion.text, name)
    if span is None or not completion.logprobs:
        return
    values = span_logprobs(completion.logprobs[0], *span)
    if values:
        parsed[mean_key] = round(sum(values) / len(values), 4)
        parsed[min_key] = round(min(values), 4)


def string_value_span(text: str, name: str) -> tuple[int, int] | None:
    """Where the first non-empty string value of key `name` lies in a JSON text (its characters, quotes out)."""
    for match in re.finditer(rf'"{re.escape(name)}"\s*:\s*"((?:[^"\\]|\\.)*)"', text):
        if match.group(1).strip():
            return match.span(1)
    return None


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in an LLM reply: as is, else repaired (code fences, text around it, trailing
    commas, a reply cut off inside a string or before its closing braces); None when nothing works."""
    candidates = [text.strip(), _FENCE.sub("", text).strip()]
    start = text.find("{")
    if start >= 0:
        body = text[start : text.rfind("}") + 1] if "}" in text[start:] else text[start:]
        candidates += [body, _close(text[start:])]
    for candidate in candidates:
        for variant in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            try:
                value = json.loads(variant)
            except (json.JSONDecodeError, ValueError):
                continue
            if isinstance(value, dict):
                return value
    return None


def _close(text: str) -> str:
    """Close a JSON text cut off part-way: an open string, then open arrays and objects."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    closed = text + ('"' if in_string else "")
    closed = re.sub(r",\s*$", "", closed.rstrip())
    if closed.endswith(":"):
        closed += " null"
    return closed + "".join(reversed(stack))


def field_str(obj: dict[str, Any] | None, key: str, limit: int = 400) -> str:
    """A string field of a parsed reply, coerced and trimmed ('' when absent)."""
    if not obj:
        return ""
    value = obj.get(key)
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return " ".join(str(value).split())[:limit]


def field_float(obj: dict[str, Any] | None, key: str, default: float) -> float:
    try:
        value = float((obj or {}).get(key, default))
    except (TypeError, ValueError):
        return default
    return min(1.0, max(0.0, value)) if value == value else default
