from __future__ import annotations

import json

import pytest

from kg.openie import TRIPLE_SCHEMA, LLMTripleExtractor, Triple
from reasoning.llm.protocol import (
    BackendUnavailableError,
    Completion,
    ContextTooLongError,
    GenerationParams,
    InvalidRequestError,
    LLMBackend,
    LLMError,
    LLMTimeoutError,
    ModelNotInstalledError,
    Usage,
    check_fits,
    merge_finish_reasons,
    prompt_text,
    validate_prompt,
)
from reasoning.llm.scripted import ScriptedLLM
from retrieval.errors import ConfigError, DependencyError, SleuthError

pytestmark = pytest.mark.unit


def test_params_defaults_are_greedy_and_reproducible() -> None:
    params = GenerationParams()
    assert (params.max_tokens, params.temperature, params.top_p, params.n, params.seed) == (256, 0.0, 1.0, 1, 0)
    assert params.with_(n=4, temperature=0.7) == GenerationParams(n=4, temperature=0.7)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"n": 0}, "n must"),
        ({"stop": ["x"]}, "stop"),
        ({"stop": ("",)}, "stop"),
        ({"json_schema": "{}"}, "json_schema"),
        ({"seed": -1}, "seed"),
    ],
)
def test_params_refuse_bad_values_naming_them(changes: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        GenerationParams(**changes)  # type: ignore[arg-type]


def test_error_tree_codes_and_retry_flags() -> None:
    expected = {
        LLMTimeoutError: ("timeout", True),
        BackendUnavailableError: ("unavailable", True),
        ContextTooLongError: ("context_length", False),
        ModelNotInstalledError: ("model_missing", False),
        InvalidRequestError: ("invalid_request", False),
    }
    for cls, (code, retryable) in expected.items():
        assert issubclass(cls, LLMError) and issubclass(cls, SleuthError)
        assert (cls.code, cls.retryable) == (code, retryable)
    assert issubclass(ModelNotInstalledError, DependencyError)
    error = ContextTooLongError(prompt_tokens=5000, max_tokens=256, context_window=4096)
    assert "5000" in str(error) and "4096" in str(error) and error.context_window == 4096


def test_check_fits_counts_the_answer_too() -> None:
    check_fits(3840, 256, 4096)
    with pytest.raises(ContextTooLongError, match="3841 tokens"):
        check_fits(3841, 256, 4096)


def test_prompts_are_text_or_chat_messages() -> None:
    validate_prompt("plain")
    validate_prompt([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
    for bad in ([], [{"role": "user"}], [{"role": "wizard", "content": "x"}], [("user", "x")]):
        with pytest.raises(ConfigError):
            validate_prompt(bad)  # type: ignore[arg-type]
    assert prompt_text([{"role": "user", "content": "hi"}]) == "user: hi"


def test_finish_reason_of_samples() -> None:
    assert merge_finish_reasons(["stop", "stop"]) == "stop"
    assert merge_finish_reasons(["stop", "length", "abort"]) == "length"
    assert merge_finish_reasons([None]) == "unknown"
    completion = Completion(["a", "b"], "stop", Usage(3, 4), 0.1)
    assert completion.text == "a" and completion.usage.total_tokens == 7


def test_backends_satisfy_the_openie_completion_model() -> None:
    reply = json.dumps({"triples": [{"subject": "Ada", "relation": "wrote", "object": "a program"}]})
    llm = ScriptedLLM([("Title: Ada", reply)])
    assert isinstance(llm, LLMBackend)
    extractor = LLMTripleExtractor(llm, batch_size=2)
    assert list(extractor.extract([("Ada", "x"), ("Ada", "y")])) == [[Triple("Ada", "wrote", "a program")]] * 2
    (call,) = llm.calls
    assert call.params.json_schema == TRIPLE_SCHEMA and call.params.temperature == 0.0
    assert call.params.max_tokens == extractor.max_tokens
