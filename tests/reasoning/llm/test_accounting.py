from __future__ import annotations

import pytest

from reasoning.llm.accounting import CallRecord, SpendingLedger, UsageTotals
from reasoning.llm.protocol import GenerationParams, LLMTimeoutError
from reasoning.llm.scripted import ScriptedLLM
from reasoning.prompts import READ
from reasoning.structured import JsonCaller
from reasoning.trace import Trace

pytestmark = pytest.mark.unit


def test_the_ledger_records_every_call_of_a_question_and_sums_them() -> None:
    scripted = ScriptedLLM(default='{"facts": "f", "answer": "Berlin"}')
    scripted.fail_on_call(2, LLMTimeoutError("slow"))
    spending = SpendingLedger(max_calls=5, max_tokens=10_000)
    llm = JsonCaller(scripted, spending, Trace())
    assert llm(READ, ["one two", "three"]) == [{"facts": "f", "answer": "Berlin"}] * 2
    assert llm(READ, ["x"]) == [None]  # the backend failed: the call is counted, its reply is None
    first, failed = spending.records
    assert (first.prompts, first.samples, first.prompt_tokens, first.error) == (2, 2, 3, None)
    assert failed.error == "timeout" and failed.prompt_tokens == 0
    totals = spending.totals()
    assert (totals.calls, totals.failed_calls, totals.prompts) == (2, 1, 3)
    assert totals.total_tokens == first.prompt_tokens + first.completion_tokens and totals.latency_s >= 0.0
    assert [e.data["purpose"] for e in llm.trace.events if e.stage == "llm"] == ["read", "read"]


def test_the_caps_are_checked_against_the_ledger() -> None:
    spending = SpendingLedger(max_calls=2, max_tokens=100)
    assert spending.can_afford(2, 100) and not spending.can_afford(3, 0) and not spending.can_afford(1, 101)
    spending.add(CallRecord.of("b", GenerationParams(), [], 0.0))
    assert spending.can_afford(1, 100) and not spending.can_afford(2, 0)


def test_totals_of_records() -> None:
    records = [CallRecord("b", 1, 1, 10, 5, 4, 0.5), CallRecord("b", 2, 2, 20, 6, 0, 0.25, error=None)]
    totals = UsageTotals.of(records)
    assert totals == UsageTotals(2, 0, 3, 3, 30, 11, 4, 0.75)
    assert SpendingLedger(1, 1).totals() == UsageTotals()
