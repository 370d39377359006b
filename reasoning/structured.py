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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reasoning.context import MethodContext
from reasoning.llm.accounting import CallRecord
from reasoning.llm.protocol import Completion, GenerationParams, LLMError, Prompt, prompt_text, span_logprobs

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


def call_json(
    ctx: MethodContext,
    call: JsonCall,
    prompts: Sequence[Prompt],
    *,
    chains: Sequence[int | None] | None = None,
    round: int | None = None,
) -> list[dict[str, Any] | None]:
    """One parsed JSON object (or None) per prompt; the prompts go to the backend as one batch."""
    results: list[dict[str, Any] | None] = [None] * len(prompts)
    pending = list(range(len(prompts)))
    for attempt in range(call.retries + 1):
        if not pending:
            break
        completions = _generate(ctx, call, [prompts[i] for i in pending], attempt, round)
        if completions is None:
            break
        failed = []
        for index, completion in zip(pending, completions, strict=True):
            text = completion.text
            parsed = parse_json_object(text)
            if parsed is not None and call.confidence_of is not None:
                _add_confidence(parsed, completion, call.confidence_of)
            if parsed is None:
                failed.append(index)
                chain = chains[index] if chains else None
                ctx.trace.record(
                    "json_error", chain=chain, round=round, purpose=call.purpose, attempt=attempt, text=text[:300]
                )
            results[index] = parsed
        pending = failed
    for index in pending:
        ctx.trace.record(
            "degraded", chain=chains[index] if chains else None, round=round, purpose=call.purpose,
            reason="no parsable JSON after retries",
        )  # fmt: skip
    return results


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


def _generate(
    ctx: MethodContext, call: JsonCall, prompts: list[Prompt], attempt: int, round: int | None
) -> list[Completion] | None:
    estimate = sum(len(prompt_text(p)) for p in prompts) / CHARS_PER_TOKEN + call.max_tokens * len(prompts)
    if not ctx.spending.can_afford(1, int(estimate)):
        ctx.trace.record(
            "budget", round=round, purpose=call.purpose, reason="LLM call or token cap reached",
            calls=ctx.spending.calls, tokens=ctx.spending.tokens,
        )  # fmt: skip
        return None
    params = GenerationParams(
        max_tokens=call.max_tokens,
        temperature=call.temperature if attempt == 0 else max(call.temperature, 0.3),
        json_schema=call.schema,
        seed=ctx.seed + (round or 0) * 101 + attempt,
        logprobs=call.confidence_of is not None,
    )
    ctx.check_cancelled()
    start = time.perf_counter()
    spending = ctx.spending
    try:
        with ctx.trace.stage(f"llm:{call.purpose}"):
            completions = ctx.backend.generate(prompts, params)
    except LLMError as exc:
        spending.calls += 1
        spending.failed_calls += 1
        record = CallRecord.failed(ctx.backend.name, len(prompts), params, exc, time.perf_counter() - start)
        ctx.trace.llm_call(call.purpose, record, round=round)
        ctx.trace.record("llm_error", round=round, purpose=call.purpose, code=exc.code, message=str(exc)[:300])
        return None
    record = CallRecord.of(ctx.backend.name, params, completions, time.perf_counter() - start)
    spending.calls += 1
    spending.prompt_tokens += record.prompt_tokens
    spending.completion_tokens += record.completion_tokens
    ctx.trace.llm_call(call.purpose, record, round=round)
    return completions


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
