from __future__ import annotations

import pytest

from reasoning.llm.accounting import CallRecord, MeteredBackend, UsageLedger, UsageTotals
from reasoning.llm.protocol import GenerationParams, LLMBackend, LLMTimeoutError
from reasoning.llm.scripted import ScriptedLLM

pytestmark = pytest.mark.unit


def test_metered_backend_records_every_call_and_sums_them() -> None:
    scripted = ScriptedLLM(default="an answer")
    scripted.fail_on_call(3, LLMTimeoutError("slow"))
    llm = MeteredBackend(scripted)
    assert isinstance(llm, LLMBackend) and llm.name == "scripted" and llm.context_window == 4096
    llm.generate(["one two", "three"], GenerationParams(n=2, temperature=0.5))
    mark = len(llm.ledger)
    llm.complete(["four five six"], max_tokens=8, json_schema=None)
    with pytest.raises(LLMTimeoutError):
        llm.generate(["x"], GenerationParams())
    first, second, failed = llm.ledger.records
    assert (first.prompts, first.samples, first.prompt_tokens, first.completion_tokens) == (2, 4, 3, 8)
    assert (second.prompt_tokens, second.completion_tokens, second.error) == (3, 2, None)
    assert failed.error == "timeout" and failed.prompt_tokens == 0
    totals = llm.ledger.totals()
    assert (totals.calls, totals.failed_calls, totals.prompts, totals.total_tokens) == (3, 1, 4, 16)
    assert llm.ledger.since(mark).calls == 2 and totals.latency_s >= 0.0


def test_totals_of_records() -> None:
    records = [CallRecord("b", 1, 1, 10, 5, 4, 0.5), CallRecord("b", 2, 2, 20, 6, 0, 0.25, error=None)]
    totals = UsageTotals.of(records)
    assert totals == UsageTotals(2, 0, 3, 3, 30, 11, 4, 0.75)
    assert UsageLedger().totals() == UsageTotals()
