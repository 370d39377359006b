"""Build an LLM backend from a one-string spec (the form settings and the command line use).

    llama-cpp:qwen2.5-coder-1.5b          the CPU default, joined from its PyPI part packages
    llama-cpp:qwen2.5-coder-0.5b          the smaller CPU model
    llama-cpp:/path/to/model.gguf         any GGUF file
    openai:http://host:8000/v1#model      an OpenAI-compatible server (vllm serve, llama.cpp's server)
    vllm:MODEL                            an in-process vLLM engine (a local path or a cached model name)

Keyword options go to the backend's constructor (n_ctx, max_concurrency, gpu_memory_utilization, ...).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from reasoning.llm.model_files import MODELS, ensure_model_file
from reasoning.llm.protocol import LLMBackend
from retrieval.errors import ConfigError

DEFAULT_BACKEND = "llama-cpp:qwen2.5-coder-1.5b"

FORMS = (
    "llama-cpp:" + " | llama-cpp:".join(MODELS),
    "llama-cpp:/path/to/model.gguf",
    "openai:http://host:port/v1#model-name",
    "vllm:MODEL",
)


def make_backend(spec: str = DEFAULT_BACKEND, *, cache_dir: Path, **options: Any) -> LLMBackend:
    kind, sep, target = spec.partition(":")
    if not sep or not target:
        raise _unknown(spec)
    if kind == "llama-cpp":
        return _llama_cpp(target, cache_dir, options)
    if kind == "openai":
        url, _, model = target.partition("#")
        if not model:
            raise ConfigError(f"an openai spec names its model after '#': openai:{url}#MODEL, got {spec!r}")
        from reasoning.llm.openai_backend import OpenAICompatibleBackend

        _check_options(OpenAICompatibleBackend, options, spec)
        return OpenAICompatibleBackend(url, model, **options)
    if kind == "vllm":
        from reasoning.llm.vllm_backend import VLLMBackend

        return VLLMBackend(target, **options)  # extra options are vLLM engine arguments
    raise _unknown(spec)


def _llama_cpp(target: str, cache_dir: Path, options: dict[str, Any]) -> LLMBackend:
    from reasoning.llm.llama_cpp_backend import LlamaCppBackend

    _check_options(LlamaCppBackend, options, f"llama-cpp:{target}")
    if target in MODELS:
        path = ensure_model_file(MODELS[target], cache_dir)
    elif target.endswith(".gguf") or "/" in target:
        path = ensure_model_file(Path(target).expanduser(), cache_dir)
    else:
        raise ConfigError(f"unknown llama-cpp model {target!r}: use one of {sorted(MODELS)} or a path to a .gguf file")
    return LlamaCppBackend(path, **options)


def _check_options(backend: type, options: dict[str, Any], spec: str) -> None:
    accepted = set(inspect.signature(backend).parameters) - {"self", "model_path", "base_url", "model"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(f"{spec}: unknown option(s) {', '.join(unknown)}; accepted: {', '.join(sorted(accepted))}")


def _unknown(spec: str) -> ConfigError:
    return ConfigError(f"unknown LLM backend {spec!r}; use one of: {'; '.join(FORMS)}")
