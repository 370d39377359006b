from __future__ import annotations

import re

import pytest

from reasoning.llm.protocol import BackendUnavailableError, ContextTooLongError, GenerationParams
from reasoning.llm.scripted import ScriptedLLM

pytestmark = pytest.mark.unit

GREEDY = GenerationParams()


def test_rules_are_checked_in_order_substring_then_regex_then_default() -> None:
    llm = ScriptedLLM(
        [("capital", "Paris"), (re.compile(r"born in \d{4}"), "1815"), ("capital of", "never reached")],
        default="unknown",
    )
    out = llm.generate(["What is the capital of France?", "Ada was born in 1815.", "Who?"], GREEDY)
    assert [c.text for c in out] == ["Paris", "1815", "unknown"]
    assert llm.unmatched == ["Who?"]


def test_records_prompts_params_and_batches() -> None:
    llm = ScriptedLLM(default="x")
    llm.generate(["a", "b", "c"], GREEDY.with_(max_tokens=9))
    llm.generate(["d"], GREEDY)
    assert llm.batch_calls == 2 and llm.prompts == ["a", "b", "c", "d"]
    assert llm.calls[0].params.max_tokens == 9 and llm.calls[0].prompts == ("a", "b", "c")


def test_samples_cycle_through_a_list_reply_and_callables_see_the_prompt() -> None:
    llm = ScriptedLLM([("vote", ["A", "B"]), ("echo", lambda text: text.upper())])
    (votes, echoed) = llm.generate(["vote", "echo me"], GREEDY.with_(n=3, temperature=0.7))
    assert votes.texts == ["A", "B", "A"] and echoed.texts == ["ECHO ME"] * 3


def test_chat_prompts_match_as_role_lines() -> None:
    llm = ScriptedLLM([("user: hello", "hi")])
    (out,) = llm.generate([[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]], GREEDY)
    assert out.text == "hi"


def test_token_counts_stop_strings_and_length_cut() -> None:
    llm = ScriptedLLM(default="one two three\nAnswer: four five")
    (stopped,) = llm.generate(["p q"], GREEDY.with_(stop=("\nAnswer:",)))
    assert stopped.text == "one two three" and stopped.finish_reason == "stop"
    assert (stopped.usage.prompt_tokens, stopped.usage.completion_tokens) == (2, 3)
    (cut,) = llm.generate(["p"], GREEDY.with_(max_tokens=2))
    assert cut.text == "one two" and cut.finish_reason == "length"
    assert llm.count_tokens("  a b\tc ") == 3


def test_raises_the_given_error_on_the_kth_call() -> None:
    llm = ScriptedLLM(default="ok")
    llm.fail_on_call(2, BackendUnavailableError("down"))
    llm.generate(["a"], GREEDY)
    with pytest.raises(BackendUnavailableError):
        llm.generate(["b"], GREEDY)
    assert llm.generate(["c"], GREEDY)[0].text == "ok" and llm.batch_calls == 3


def test_no_default_makes_an_unscripted_prompt_an_error() -> None:
    with pytest.raises(LookupError, match="no rule"):
        ScriptedLLM(default=None).generate(["surprise"], GREEDY)


def test_context_window_is_enforced() -> None:
    llm = ScriptedLLM(default="x", context_window=10)
    with pytest.raises(ContextTooLongError):
        llm.generate(["w " * 8], GREEDY.with_(max_tokens=5))
    assert llm.complete(["short"], max_tokens=4, json_schema=None) == ["x"]
