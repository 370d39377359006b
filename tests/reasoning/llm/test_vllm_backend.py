"""VLLMBackend against a stand-in vllm module (unit) and a real engine on a CUDA machine (integration)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from reasoning.llm.protocol import ContextTooLongError, GenerationParams, LLMBackend
from reasoning.llm.vllm_backend import VLLMBackend
from retrieval.errors import DependencyError
from tests.reasoning.llm.stubs import FakeStructured, FakeVLLMEngine, fake_vllm_modules

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


@pytest.fixture(params=[True, False], ids=["structured_outputs", "guided_decoding"])
def fake_vllm(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    for name, module in fake_vllm_modules(structured_outputs=request.param).items():
        monkeypatch.setitem(sys.modules, name, module)
    return bool(request.param)


@pytest.mark.unit
def test_all_prompts_go_to_the_engine_in_one_call(fake_vllm: bool) -> None:
    llm = VLLMBackend("some/model", max_model_len=64, gpu_memory_utilization=0.5, enforce_eager=True)
    engine = FakeVLLMEngine.instances[-1]
    assert engine.options == {
        "model": "some/model",
        "gpu_memory_utilization": 0.5,
        "max_model_len": 64,
        "enable_prefix_caching": True,
        "seed": 0,
        "enforce_eager": True,
    }
    chat = [{"role": "user", "content": "hello there"}]
    params = GenerationParams(n=2, temperature=0.7, top_p=0.9, stop=("\n",), max_tokens=5, seed=11)
    outs = llm.generate(["a b c", chat, "d"], params)
    ((prompts, sampling),) = engine.generate_calls
    assert prompts[0]["prompt_token_ids"] == [0, 1, 2, 3]  # the tokenizer's special token first for text
    assert len(prompts[1]["prompt_token_ids"]) == 4  # "<user> hello there <assistant>", template adds specials
    assert sampling.options == {"n": 2, "temperature": 0.7, "top_p": 0.9, "max_tokens": 5, "seed": 11, "stop": ["\n"]}
    assert [o.texts for o in outs] == [["s0", "s1"]] * 3
    assert (outs[0].usage.prompt_tokens, outs[0].usage.completion_tokens, outs[0].cached_prompt_tokens) == (4, 3, 1)
    assert isinstance(llm, LLMBackend) and llm.name == "vllm:some/model" and llm.context_window == 64


@pytest.mark.unit
def test_json_schema_uses_whichever_structured_output_api_exists(fake_vllm: bool) -> None:
    llm = VLLMBackend("m")
    llm.generate(["x"], GenerationParams(json_schema=SCHEMA))
    (_, sampling) = FakeVLLMEngine.instances[-1].generate_calls[0]
    key = "structured_outputs" if fake_vllm else "guided_decoding"
    assert sampling.options[key] == FakeStructured(json=SCHEMA)


@pytest.mark.unit
def test_too_long_prompts_are_refused_before_the_engine_runs(fake_vllm: bool) -> None:
    llm = VLLMBackend("m", max_model_len=32)
    with pytest.raises(ContextTooLongError):
        llm.generate(["ok", "w " * 30], GenerationParams(max_tokens=4))
    assert FakeVLLMEngine.instances[-1].generate_calls == []
    assert llm.generate([], GenerationParams()) == []


@pytest.mark.unit
def test_token_logprobs_are_the_sampled_tokens_own(fake_vllm: bool) -> None:
    llm = VLLMBackend("m")
    (out,) = llm.generate(["x"], GenerationParams(n=2, logprobs=True))
    (_, sampling) = FakeVLLMEngine.instances[-1].generate_calls[0]
    assert sampling.options["logprobs"] == 0
    assert [[(t.text, t.logprob) for t in sample] for sample in out.logprobs] == [[("s", -0.5)], [("s", -0.5)] * 2]
    (plain,) = llm.generate(["x"], GenerationParams())
    assert plain.logprobs == []


@pytest.mark.unit
def test_missing_vllm_has_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(DependencyError, match="pip install vllm"):
        VLLMBackend("m")


@pytest.mark.integration
@pytest.mark.slow
def test_real_engine_batches_and_follows_a_schema() -> None:
    pytest.importorskip("vllm")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("vLLM needs a CUDA GPU")
    model = os.environ.get("SLEUTH_VLLM_MODEL")
    if not model:
        pytest.skip("set SLEUTH_VLLM_MODEL to a local model directory or a cached model name")
    llm = VLLMBackend(model, gpu_memory_utilization=0.5, max_model_len=2048)
    chat = [{"role": "user", "content": "Name the capital of France as JSON with a 'city' field."}]
    outs = llm.generate(
        [chat] * 4, GenerationParams(max_tokens=32, json_schema={"type": "object"}, n=2, temperature=0.7)
    )
    assert len(outs) == 4 and all(len(o.texts) == 2 for o in outs)
    assert all(isinstance(json.loads(t), dict) for o in outs for t in o.texts)
