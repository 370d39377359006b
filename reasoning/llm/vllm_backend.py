"""An in-process vLLM engine for GPU workers.

`generate` hands ALL its prompts to vLLM in one `LLM.generate` call, so the engine batches them
(continuous batching) and, with prefix caching on, computes a prefix shared by several prompts (the same
passages, the same instructions) once. Chat prompts are rendered with the model's chat template and sent
as token ids alongside the text prompts, so one batch may mix both. Every completion of a batch reports the
batch's wall-clock time as its latency.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from reasoning.llm.protocol import (
    Completion,
    CompletionMixin,
    GenerationParams,
    Prompt,
    TokenLogprob,
    Usage,
    check_fits,
    merge_finish_reasons,
    validate_prompt,
)
from retrieval.errors import ConfigError, DependencyError

log = logging.getLogger(__name__)


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise DependencyError(
            "the vLLM backend needs vllm on a CUDA machine: pip install vllm (it belongs in the GPU image)"
        ) from exc
    return vllm


def structured_output_options(schema: dict[str, Any]) -> dict[str, Any]:
    """SamplingParams keyword for JSON-schema decoding: `structured_outputs` (newer vLLM) or
    `guided_decoding` (older)."""
    try:
        from vllm.sampling_params import StructuredOutputsParams

        return {"structured_outputs": StructuredOutputsParams(json=schema)}
    except ImportError:
        pass
    try:
        from vllm.sampling_params import GuidedDecodingParams

        return {"guided_decoding": GuidedDecodingParams(json=schema)}
    except ImportError as exc:
        raise DependencyError("this vLLM version has neither StructuredOutputsParams nor GuidedDecodingParams") from exc


class VLLMBackend(CompletionMixin):
    def __init__(
        self,
        model: str,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int = 8192,
        enable_prefix_caching: bool = True,
        seed: int = 0,
        **engine_options: Any,
    ) -> None:
        if not 0.0 < gpu_memory_utilization <= 1.0:
            raise ConfigError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
        if max_model_len < 16:
            raise ConfigError(f"max_model_len must be at least 16, got {max_model_len}")
        self._vllm = _import_vllm()
        log.info("starting vLLM with %s (max_model_len=%d)", model, max_model_len)
        self._llm = self._vllm.LLM(
            model=model,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            enable_prefix_caching=enable_prefix_caching,
            seed=seed,
            **engine_options,
        )
        self._tokenizer = self._llm.get_tokenizer()
        self.model = model
        self._max_model_len = max_model_len
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"vllm:{self.model}"

    @property
    def context_window(self) -> int:
        return self._max_model_len

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]:
        if not prompts:
            return []
        token_ids = [self._token_ids(prompt) for prompt in prompts]
        for ids in token_ids:
            check_fits(len(ids), params.max_tokens, self.context_window)
        sampling = self.sampling_params(params)
        start = time.perf_counter()
        with self._lock:  # the offline engine is not re-entrant
            outputs = self._llm.generate([{"prompt_token_ids": ids} for ids in token_ids], sampling, use_tqdm=False)
        latency = time.perf_counter() - start
        return [self._completion(output, latency, params.logprobs) for output in outputs]

    def sampling_params(self, params: GenerationParams) -> Any:
        options = params.sampling_options()  # no seed key means vLLM's default, seed=None
        if params.logprobs:
            options["logprobs"] = 0  # no alternatives: vLLM always gives the sampled token's own
        if params.json_schema is not None:
            options.update(structured_output_options(params.json_schema))
        return self._vllm.SamplingParams(**options)

    def _token_ids(self, prompt: Prompt) -> list[int]:
        validate_prompt(prompt)
        if isinstance(prompt, str):
            return list(self._tokenizer.encode(prompt))
        text = self._tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    @staticmethod
    def _completion(output: Any, latency_s: float, logprobs: bool = False) -> Completion:
        samples = sorted(output.outputs, key=lambda o: int(getattr(o, "index", 0)))
        cached = getattr(output, "num_cached_tokens", None) or 0
        return Completion(
            texts=[str(s.text) for s in samples],
            finish_reason=merge_finish_reasons([s.finish_reason for s in samples]),
            usage=Usage(len(output.prompt_token_ids or []), sum(len(s.token_ids) for s in samples)),
            latency_s=latency_s,
            cached_prompt_tokens=int(cached),
            logprobs=[_sample_logprobs(s) for s in samples] if logprobs else [],
        )


def _sample_logprobs(sample: Any) -> list[TokenLogprob]:
    """A vLLM sample's tokens with their log-probabilities (`logprobs` holds, per step, {token id: Logprob})."""
    steps = getattr(sample, "logprobs", None) or []
    found = []
    for token, step in zip(sample.token_ids, steps, strict=False):
        entry = step.get(token) if hasattr(step, "get") else None
        if entry is not None:
            found.append(TokenLogprob(str(getattr(entry, "decoded_token", "") or ""), float(entry.logprob)))
    return found
