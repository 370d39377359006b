"""LlamaCppBackend against a stand-in llama_cpp module (unit) and against the real 0.5B model (integration)."""

from __future__ import annotations

import json
import math
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from reasoning.llm.llama_cpp_backend import LlamaCppBackend
from reasoning.llm.protocol import ContextTooLongError, GenerationParams, LLMBackend, ModelNotInstalledError
from retrieval.errors import ConfigError, DependencyError
from tests.reasoning.llm.stubs import FakeGrammar, FakeLlama

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    return path


def llama_of(backend: LlamaCppBackend) -> FakeLlama:
    return FakeLlama.instances[-1]


@pytest.mark.unit
def test_loads_with_the_given_options(fake_llama_cpp: types.ModuleType, model_file: Path) -> None:
    backend = LlamaCppBackend(model_file, n_ctx=512, n_threads=2, n_batch=64, seed=3, chat_format="chatml")
    llama = llama_of(backend)
    assert llama.model_path == str(model_file)
    assert llama.options == {
        "n_ctx": 512,
        "n_batch": 64,
        "seed": 3,
        "verbose": False,
        "n_threads": 2,
        "n_threads_batch": 2,
        "chat_format": "chatml",
    }
    assert isinstance(backend, LLMBackend) and backend.context_window == 512 and backend.name == "llama-cpp:model.gguf"
    assert backend.count_tokens("three little words") == 3


@pytest.mark.unit
def test_generates_on_every_usable_cpu_by_default(
    fake_llama_cpp: types.ModuleType, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reasoning.llm import llama_cpp_backend

    monkeypatch.setattr(llama_cpp_backend, "usable_cpus", lambda: 6)
    llama = llama_of(LlamaCppBackend(model_file))
    assert llama.options["n_threads"] == 6 and llama.options["n_threads_batch"] == 6  # not llama-cpp's cpus // 2
    monkeypatch.setenv("SLEUTH_LLM_THREADS", "3")  # a worker process's share
    assert llama_of(LlamaCppBackend(model_file)).options["n_threads"] == 3
    monkeypatch.setenv("SLEUTH_LLM_THREADS", "many")
    with pytest.raises(ConfigError, match="SLEUTH_LLM_THREADS must be a positive integer"):
        LlamaCppBackend(model_file)


@pytest.mark.unit
def test_text_prompts_with_n_samples_seeds_stops_and_a_json_grammar(
    fake_llama_cpp: types.ModuleType, model_file: Path
) -> None:
    backend = LlamaCppBackend(model_file, n_ctx=512)
    params = GenerationParams(max_tokens=32, temperature=0.8, top_p=0.9, n=3, stop=("\n\n",), seed=5)
    (out,) = backend.generate(["Question: who? Answer:"], params)
    calls = llama_of(backend).calls
    assert [kind for kind, _ in calls] == ["text"] * 3 and [kw["seed"] for _, kw in calls] == [5, 6, 7]
    assert calls[0][1]["stop"] == ["\n\n"] and calls[0][1]["temperature"] == 0.8 and calls[0][1]["max_tokens"] == 32
    assert out.texts == ["out-5", "out-6", "out-7"] and out.finish_reason == "stop"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (3, 6) and out.latency_s >= 0
    json_out = backend.generate(["a", "b"], GenerationParams(json_schema=SCHEMA))
    assert [json.loads(c.text) for c in json_out] == [{"ok": True}] * 2
    assert len(FakeGrammar.built) == 1 and json.loads(FakeGrammar.built[0]) == SCHEMA  # built once, reused


@pytest.mark.unit
def test_chat_prompts_use_chat_completion_with_a_json_response_format(
    fake_llama_cpp: types.ModuleType, model_file: Path
) -> None:
    backend = LlamaCppBackend(model_file, n_ctx=512)
    messages = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "ok?"}]
    (out,) = backend.generate([messages], GenerationParams(json_schema=SCHEMA, seed=None))
    kind, kwargs = llama_of(backend).calls[0]
    assert kind == "chat" and kwargs["messages"] == messages and kwargs["seed"] is None
    assert kwargs["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert json.loads(out.text) == {"ok": True}


@pytest.mark.unit
def test_a_prompt_too_long_for_the_window_is_refused_before_calling(
    fake_llama_cpp: types.ModuleType, model_file: Path
) -> None:
    backend = LlamaCppBackend(model_file, n_ctx=64)
    with pytest.raises(ContextTooLongError, match="60 tokens plus max_tokens=8"):
        backend.generate(["w " * 60], GenerationParams(max_tokens=8))
    chat = [{"role": "user", "content": "w " * 50}]
    with pytest.raises(ContextTooLongError):
        backend.generate([chat], GenerationParams(max_tokens=8))
    assert llama_of(backend).calls == []
    llama_of(backend).fail_with = ValueError("Requested tokens (70) exceed context window of 64")
    with pytest.raises(ContextTooLongError, match="exceed context window"):
        backend.generate(["short"], GenerationParams(max_tokens=8))


@pytest.mark.unit
def test_chat_length_uses_the_models_template_when_it_has_one(
    fake_llama_cpp: types.ModuleType, model_file: Path
) -> None:
    backend = LlamaCppBackend(model_file, n_ctx=64)
    llama_of(backend).metadata["tokenizer.chat_template"] = "{{ messages }}"
    chat = [{"role": "user", "content": "w " * 50}]  # 52 tokens rendered ("<user> w ... <assistant>"), 61 estimated
    backend.generate([chat], GenerationParams(max_tokens=8))
    (follow_up,) = backend.generate([[*chat, {"role": "user", "content": "again"}]], GenerationParams(max_tokens=8))
    assert follow_up.cached_prompt_tokens == 51  # "<user> w ... w" is shared with the previous call


@pytest.mark.unit
def test_reports_the_prompt_prefix_reused_from_the_kv_cache(fake_llama_cpp: types.ModuleType, model_file: Path) -> None:
    backend = LlamaCppBackend(model_file, n_ctx=512)
    shared = "Passages: Ada wrote notes. Babbage built engines. "
    first, second, third = backend.generate([shared + "Q1?", shared + "Q2?", "Something else"], GenerationParams())
    assert first.cached_prompt_tokens == 0
    assert second.cached_prompt_tokens == len(shared.split())
    assert third.cached_prompt_tokens == 0


@pytest.mark.unit
def test_complete_is_greedy_text_for_openie(fake_llama_cpp: types.ModuleType, model_file: Path) -> None:
    backend = LlamaCppBackend(model_file, n_ctx=512)
    assert backend.complete(["x", "y"], max_tokens=16, json_schema=None) == ["out-0", "out-0"]
    assert all(kw["temperature"] == 0.0 and kw["max_tokens"] == 16 for _, kw in llama_of(backend).calls)


@pytest.mark.unit
def test_missing_library_model_or_bad_options(
    monkeypatch: pytest.MonkeyPatch, model_file: Path, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(DependencyError, match="pip install llama-cpp-python"):
        LlamaCppBackend(model_file)
    with pytest.raises(ModelNotInstalledError, match="not found"):
        LlamaCppBackend(tmp_path / "absent.gguf")
    with pytest.raises(ConfigError, match="n_threads"):
        LlamaCppBackend(model_file, n_threads=0)


# --- the real model --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_model() -> Iterator[LlamaCppBackend]:
    pytest.importorskip("llama_cpp")
    from reasoning.llm.model_files import MODELS, default_model_cache, ensure_model_file

    try:
        path = ensure_model_file(MODELS["qwen2.5-coder-1.5b"], default_model_cache())
    except ModelNotInstalledError as exc:
        pytest.skip(str(exc))
    backend = LlamaCppBackend(path, n_ctx=2048, n_threads=2)
    yield backend
    backend.close()


@pytest.mark.integration
@pytest.mark.slow
def test_real_model_answers_greedily_and_reproducibly(small_model: LlamaCppBackend) -> None:
    chat = [{"role": "user", "content": "What is the capital of France? Answer with one word."}]
    first, again = small_model.generate([chat, chat], GenerationParams(max_tokens=8))
    assert "Paris" in first.text and first.text == again.text
    assert first.usage.prompt_tokens > 5 and 0 < first.usage.completion_tokens <= 8
    shared = "Passage: Ada Lovelace wrote the first published computer program.\nQuestion: "
    _, second = small_model.generate([shared + "Who wrote it?", shared + "What did she write?"], GenerationParams())
    assert second.cached_prompt_tokens >= small_model.count_tokens(shared) - 2


@pytest.mark.integration
@pytest.mark.slow
def test_real_model_follows_a_json_schema(small_model: LlamaCppBackend) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    chat = [{"role": "user", "content": "Name the capital of Italy as JSON with a 'city' field."}]
    text_prompt = "The capital of Spain, as JSON with a 'city' field: "
    for out in small_model.generate([chat, text_prompt], GenerationParams(max_tokens=32, json_schema=schema)):
        assert isinstance(json.loads(out.text)["city"], str)
    assert small_model.complete(["1 + 1 ="], max_tokens=4, json_schema=None)[0].strip() != ""


@pytest.mark.integration
@pytest.mark.slow
def test_real_model_gives_each_chosen_tokens_logprob_without_changing_the_text(small_model: LlamaCppBackend) -> None:
    chat = [{"role": "user", "content": "What is the capital of France? Answer as JSON with a 'city' field."}]
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    params = GenerationParams(max_tokens=24, json_schema=schema)
    (plain,) = small_model.generate([chat], params)
    (measured,) = small_model.generate([chat], params.with_(logprobs=True))
    assert measured.text == plain.text and plain.logprobs == []
    (tokens,) = measured.logprobs
    spelled = "".join(t.text for t in tokens)
    assert spelled and measured.text.startswith(spelled)  # all but the last token sampled, which is never evaluated
    assert all(t.logprob <= 0.0 for t in tokens)
    paris = [t.logprob for t in tokens if "Paris" in t.text]
    assert paris and math.exp(paris[0]) > 0.5  # the model is sure of it


@pytest.mark.unit
def test_the_logprob_recorder_reads_each_chosen_token_one_step_later() -> None:
    from reasoning.llm.llama_cpp_backend import ChosenTokenLogprobs

    recorder = ChosenTokenLogprobs()
    first, second = np.log(np.array([0.5, 0.25, 0.25])), np.log(np.array([0.1, 0.1, 0.8]))
    assert recorder(np.array([4, 9]), first) is first  # the prompt ends with 9: nothing chosen yet
    recorder(np.array([4, 9, 1]), second)  # token 1 was chosen at p 0.25
    recorder(np.array([4, 9, 1, 2]), second * 3)  # token 2 at p 0.8
    assert recorder.tokens == [1, 2]
    assert np.allclose(np.exp(recorder.logprobs), [0.25, 0.8])


@pytest.mark.unit
def test_the_prompt_cache_counts_the_logits_each_state_holds() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    import types

    import numpy as np

    from reasoning.llm.llama_cpp_backend import _bounded_ram_cache

    cache = _bounded_ram_cache(llama_cpp, capacity_bytes=10_000)
    for i in range(5):  # each state: 1,000 bytes of KV and 4,000 of logits
        cache[(1, 2, i)] = types.SimpleNamespace(llama_state_size=1_000, scores=np.zeros(1_000, dtype=np.float32))
    assert len(cache.cache_state) == 2 and cache.cache_size <= 10_000
    assert (1, 2, 4) in cache.cache_state  # the most recent stay
