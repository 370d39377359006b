"""OpenAICompatibleBackend against a real HTTP server on 127.0.0.1 that imitates the OpenAI API."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from reasoning.llm.openai_backend import OpenAICompatibleBackend
from reasoning.llm.protocol import (
    BackendUnavailableError,
    ContextTooLongError,
    GenerationParams,
    InvalidRequestError,
    LLMBackend,
    LLMTimeoutError,
)
from retrieval.errors import ConfigError
from tests.reasoning.llm.stubs import StubServer

pytestmark = pytest.mark.unit

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def backend(server: StubServer, **options: object) -> OpenAICompatibleBackend:
    options = {"backoff_s": 0.01, "timeout_s": 5.0, **options}
    return OpenAICompatibleBackend(server.base_url, "stub-model", **options)  # type: ignore[arg-type]


def test_text_and_chat_prompts_go_to_their_endpoints(stub_server: StubServer) -> None:
    llm = backend(stub_server, api_key="sk-test")
    params = GenerationParams(max_tokens=7, stop=("\n",), seed=3)
    text, chat = llm.generate(["two words", [{"role": "user", "content": "hello there"}]], params)
    assert text.text == "echo: two words" and chat.text == "echo: hello there"
    assert (text.usage.prompt_tokens, text.usage.completion_tokens, text.cached_prompt_tokens) == (2, 2, 1)
    by_path = dict(stub_server.behaviour.requests)
    assert by_path["/v1/completions"]["prompt"] == "two words"
    body = by_path["/v1/chat/completions"]
    assert body["messages"] == [{"role": "user", "content": "hello there"}]
    assert (body["model"], body["max_tokens"], body["stop"], body["seed"], body["n"]) == ("stub-model", 7, ["\n"], 3, 1)
    assert isinstance(llm, LLMBackend) and llm.name == "openai:stub-model"


def test_n_samples_come_from_one_request_in_index_order(stub_server: StubServer) -> None:
    (out,) = backend(stub_server).generate(["q"], GenerationParams(n=3, temperature=0.7))
    assert out.texts == ["echo: q #0", "echo: q #1", "echo: q #2"] and out.finish_reason == "length"
    assert len(stub_server.behaviour.requests) == 1


def test_json_schema_is_sent_as_response_format_and_guided_json(stub_server: StubServer) -> None:
    chat = [{"role": "user", "content": "ok?"}]
    outs = backend(stub_server).generate([chat, "ok?"], GenerationParams(json_schema=SCHEMA))
    assert [json.loads(o.text) for o in outs] == [{"ok": True}] * 2
    for body in stub_server.behaviour.completion_requests():
        assert body["response_format"]["json_schema"]["schema"] == SCHEMA and body["guided_json"] == SCHEMA
    stub_server.behaviour.requests.clear()
    backend(stub_server, vllm_extras=False).generate([chat], GenerationParams(json_schema=SCHEMA))
    (body,) = stub_server.behaviour.completion_requests()
    assert "guided_json" not in body and body["response_format"]["type"] == "json_schema"


def test_token_logprobs_are_asked_for_and_read_from_either_api(stub_server: StubServer) -> None:
    chat = [{"role": "user", "content": "hello there"}]
    outs = backend(stub_server).generate([chat, "two words"], GenerationParams(logprobs=True))
    for out, expected in zip(outs, ["echo: hello there", "echo: two words"], strict=True):
        (tokens,) = out.logprobs
        assert "".join(t.text for t in tokens) == expected and {t.logprob for t in tokens} == {-0.25}
    bodies = {path: body for path, body in stub_server.behaviour.requests}
    assert bodies["/v1/chat/completions"]["logprobs"] is True and bodies["/v1/completions"]["logprobs"] == 0
    stub_server.behaviour.requests.clear()
    (plain,) = backend(stub_server).generate(["q"], GenerationParams())
    assert plain.logprobs == [] and "logprobs" not in stub_server.behaviour.requests[0][1]


def test_server_errors_are_retried_with_backoff(stub_server: StubServer) -> None:
    stub_server.behaviour.fail_statuses = [500, 500]
    (out,) = backend(stub_server, max_retries=3).generate(["q"], GenerationParams())
    assert out.text == "echo: q" and len(stub_server.behaviour.requests) == 3
    stub_server.behaviour.fail_statuses = [429]
    backend(stub_server).generate(["q"], GenerationParams())
    assert len(stub_server.behaviour.requests) == 5


def test_retries_run_out(stub_server: StubServer) -> None:
    stub_server.behaviour.fail_statuses = [503] * 5
    with pytest.raises(BackendUnavailableError) as caught:
        backend(stub_server, max_retries=1).generate(["q"], GenerationParams())
    assert caught.value.status == 503 and caught.value.retryable and len(stub_server.behaviour.requests) == 2


def test_a_client_error_is_not_retried(stub_server: StubServer) -> None:
    stub_server.behaviour.fail_statuses = [404]
    with pytest.raises(InvalidRequestError, match="404"):
        backend(stub_server).generate(["q"], GenerationParams())
    assert len(stub_server.behaviour.requests) == 1


def test_a_context_length_400_becomes_context_too_long(stub_server: StubServer) -> None:
    stub_server.behaviour.context_error = True
    with pytest.raises(ContextTooLongError) as caught:
        backend(stub_server).generate(["q"], GenerationParams(max_tokens=200))
    assert (caught.value.context_window, caught.value.prompt_tokens, caught.value.max_tokens) == (2048, 2800, 200)
    assert not caught.value.retryable and len(stub_server.behaviour.requests) == 1


def test_a_slow_answer_times_out_without_retrying(stub_server: StubServer) -> None:
    stub_server.behaviour.delay_s = 2.0
    start = time.perf_counter()
    with pytest.raises(LLMTimeoutError, match="within 0.2 s"):
        backend(stub_server, timeout_s=0.2).generate(["q"], GenerationParams())
    assert time.perf_counter() - start < 1.5 and len(stub_server.behaviour.requests) == 1


def test_an_unreachable_server_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    llm = OpenAICompatibleBackend(f"http://127.0.0.1:{port}/v1", "m", max_retries=1, backoff_s=0.01)
    with pytest.raises(BackendUnavailableError, match="cannot reach"):
        llm.generate(["q"], GenerationParams())


def test_a_batch_runs_concurrently_in_about_the_time_of_one_request(stub_server: StubServer) -> None:
    stub_server.behaviour.delay_s = 0.5
    llm = backend(stub_server, max_concurrency=8)
    start = time.perf_counter()
    outs = llm.generate([f"question {i}" for i in range(8)], GenerationParams())
    elapsed = time.perf_counter() - start
    assert [o.text for o in outs] == [f"echo: question {i}" for i in range(8)]  # in prompt order
    assert 5 <= stub_server.behaviour.max_in_flight <= 8  # 8 unless this machine is very busy
    assert elapsed < 0.5 * 3, f"8 requests took {elapsed:.2f} s; one takes 0.5 s, sequential would be 4 s"


def test_in_flight_requests_never_exceed_max_concurrency_across_threads(stub_server: StubServer) -> None:
    stub_server.behaviour.delay_s = 0.05
    llm = backend(stub_server, max_concurrency=3)
    threads = [
        threading.Thread(target=llm.generate, args=([f"t{t} q{i}" for i in range(5)], GenerationParams()))
        for t in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stub_server.behaviour.requests) == 15 and 2 <= stub_server.behaviour.max_in_flight <= 3


def test_context_window_and_token_counts_come_from_the_server(stub_server: StubServer) -> None:
    assert backend(stub_server).context_window == 2048
    assert backend(stub_server, context_window=1000).context_window == 1000
    llm = backend(stub_server)
    assert llm.count_tokens("four words right here") == 4
    stub_server.behaviour.tokenize = False
    llm = backend(stub_server)
    assert llm.count_tokens("x" * 40) == 10 and llm.count_tokens("") == 0


def test_complete_for_openie(stub_server: StubServer) -> None:
    assert backend(stub_server).complete(["a b", "c"], max_tokens=5, json_schema=None) == ["echo: a b", "echo: c"]
    assert all(body["temperature"] == 0.0 for body in stub_server.behaviour.completion_requests())


@pytest.mark.parametrize(
    "bad",
    [{"base_url": "localhost:8000"}, {"model": ""}, {"max_concurrency": 0}, {"timeout_s": 0}, {"max_retries": -1}],
)
def test_bad_settings_are_refused(bad: dict[str, object]) -> None:
    settings: dict[str, object] = {"base_url": "http://127.0.0.1:1/v1", "model": "m", **bad}
    with pytest.raises(ConfigError):
        OpenAICompatibleBackend(**settings)  # type: ignore[arg-type]
