"""The CPU default: a GGUF model run in process by llama.cpp (llama-cpp-python).

llama.cpp is not batched here: `generate` runs its prompts one after another (and n samples as n calls
with seeds seed, seed+1, ...), under a lock, so one backend serves one call at a time. What makes a
sequence of calls cheap is the KV cache, which is kept between calls: llama.cpp re-evaluates only the
part of a prompt after the longest prefix it shares with the previous call. So build prompts with the
shared part first (instructions, then retrieved passages, then the question or the chain so far) and
send prompts that share a prefix one after another; `cached_prompt_tokens` reports the reused prefix.
With `prompt_cache_mb` > 0 the KV states of recent prompts are also kept in RAM (llama.cpp's LlamaRAMCache),
so a prompt reuses the longest cached prefix even when other prompts ran in between (chains taking turns).
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reasoning.llm.cpu_variants import CpuVariant, load_cpu_variant
from reasoning.llm.protocol import (
    ChatMessage,
    Completion,
    CompletionMixin,
    ContextTooLongError,
    GenerationParams,
    ModelNotInstalledError,
    Prompt,
    TokenLogprob,
    Usage,
    check_fits,
    merge_finish_reasons,
    validate_prompt,
)
from retrieval.errors import ConfigError, DependencyError

log = logging.getLogger(__name__)

CHAT_OVERHEAD_TOKENS = 8  # per message, for the estimate used when the chat template cannot be rendered


def _bounded_ram_cache(llama_cpp: Any, capacity_bytes: int) -> Any:
    """llama-cpp-python's RAM cache counts only a saved state's KV bytes, but every state also holds an
    (n_batch x vocabulary) float32 logits array (311 MB for Qwen2.5 at n_batch 512), most of its size:
    uncounted, a 1 GiB cache grew past 10 GB. This one counts both, so the capacity holds."""

    class BoundedRAMCache(llama_cpp.LlamaRAMCache):
        @property
        def cache_size(self) -> int:
            return sum(s.llama_state_size + s.scores.nbytes for s in self.cache_state.values())

    return BoundedRAMCache(capacity_bytes=capacity_bytes)


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise DependencyError(
            "the llama.cpp backend needs llama-cpp-python: pip install llama-cpp-python "
            "(it compiles from source, 6-12 minutes on 2 cores)"
        ) from exc
    return llama_cpp


THREADS_ENV = "SLEUTH_LLM_THREADS"  # threads per model: set where several processes share the CPUs


def default_threads() -> int:
    """Threads for llama.cpp: `SLEUTH_LLM_THREADS`, else every CPU this process may use.

    llama-cpp-python's own default generates on half the CPUs (it assumes hyperthreads); on a small
    machine every CPU decodes faster (2 cores: 1.8x the tokens per second of one). Its threads spin while
    they wait, so processes whose threads add up to more than the CPUs slow each other down many times
    over: a worker with several processes gives each its share (`workers.app.run_worker`)."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(f"{THREADS_ENV} must be a positive integer, got {value!r}")
        return int(value)
    return usable_cpus()


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class ChosenTokenLogprobs:
    """A llama.cpp logits processor that records the log-probability of each token the model then chose.

    llama-cpp-python returns log-probabilities only from a model loaded with `logits_all=True`, which keeps
    the logits of every prompt token (n_ctx x vocabulary floats, 2.5 GB for Qwen2.5 at 4096) and computes
    the output layer for all of them. A processor sees the logits of each step before sampling, and the
    step after sees the token chosen (the last of `input_ids`): so it keeps one step's log-softmax and
    reads the chosen token's entry one step later. The logits are the model's own, before any grammar
    constrains them. The last token sampled (the end of the text, or the one that hit max_tokens) is
    never evaluated, so it has no entry. It changes nothing: it returns the logits it was given.
    """

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.logprobs: list[float] = []
        self._previous: np.ndarray | None = None  # the last step's logits
        self._log_total = 0.0  # and the log of their softmax's denominator

    def __call__(self, input_ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        if self._previous is not None and len(input_ids):
            token = int(input_ids[-1])
            self.tokens.append(token)
            self.logprobs.append(float(self._previous[token]) - self._log_total)
        top = float(np.max(logits))
        self._previous = np.array(logits, dtype=np.float32)
        self._log_total = top + float(np.log(np.sum(np.exp(self._previous - top), dtype=np.float64)))
        return logits


class LlamaCppBackend(CompletionMixin):
    def __init__(
        self,
        model_path: Path | str,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
        chat_format: str | None = None,
        prompt_cache_mb: int = 2048,
        *,
        verbose: bool = False,
    ) -> None:
        if n_ctx < 16:
            raise ConfigError(f"n_ctx must be at least 16, got {n_ctx}")
        if n_threads is not None and n_threads < 1:
            raise ConfigError(f"n_threads must be positive or None, got {n_threads}")
        if n_batch < 1:
            raise ConfigError(f"n_batch must be positive, got {n_batch}")
        if prompt_cache_mb < 0:
            raise ConfigError(f"prompt_cache_mb must be >= 0, got {prompt_cache_mb}")
        path = Path(model_path)
        if not path.is_file():
            raise ModelNotInstalledError(f"model file not found: {path}")
        llama_cpp = _import_llama_cpp()
        threads = n_threads or default_threads()
        options: dict[str, Any] = {
            "n_ctx": n_ctx,
            "n_batch": n_batch,
            "seed": seed,
            "verbose": verbose,
            "n_threads": threads,
            "n_threads_batch": threads,
        }
        if chat_format is not None:
            options["chat_format"] = chat_format
        # a GGML_BACKEND_DL build has no CPU code linked in: load the best build of it this CPU runs
        self.cpu_variant: CpuVariant = load_cpu_variant(
            Path(llama_cpp.__file__).parent / "lib", getattr(getattr(llama_cpp, "llama_cpp", None), "_lib", None)
        )
        log.info("loading %s with llama.cpp (n_ctx=%d, CPU build %s)", path, n_ctx, self.cpu_variant.name)
        self._llama = llama_cpp.Llama(model_path=str(path), **options)
        if prompt_cache_mb > 0 and hasattr(llama_cpp, "LlamaRAMCache"):
            # KV states of recent prompts, so that chains taking turns still reuse their own prefixes
            self._llama.set_cache(_bounded_ram_cache(llama_cpp, prompt_cache_mb << 20))
        self._module = llama_cpp
        self._path = path
        self._chat_format = chat_format
        self._lock = threading.Lock()
        self._grammars: dict[str, Any] = {}
        self._chat_formatter: Any = None
        self._chat_formatter_tried = False

    @property
    def name(self) -> str:
        return f"llama-cpp:{self._path.name}"

    @property
    def context_window(self) -> int:
        return int(self._llama.n_ctx())

    @property
    def vocabulary_size(self) -> int:
        return int(self._llama.n_vocab())

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]:
        for prompt in prompts:
            validate_prompt(prompt)
        with self._lock:
            return [self._generate_one(prompt, params) for prompt in prompts]

    def _generate_one(self, prompt: Prompt, params: GenerationParams) -> Completion:
        tokens = self._prompt_tokens(prompt)
        if tokens is None and not isinstance(prompt, str):
            prompt_tokens = sum(self.count_tokens(m["content"]) + CHAT_OVERHEAD_TOKENS for m in prompt) + 3
        else:
            prompt_tokens = len(tokens or [])
        check_fits(prompt_tokens, params.max_tokens, self.context_window)
        cached = self._cached_prefix(tokens) if tokens is not None else 0
        start = time.perf_counter()
        texts: list[str] = []
        logprobs: list[list[TokenLogprob]] = []
        reasons: list[str | None] = []
        reported_prompt = 0
        completion_tokens = 0
        for sample in range(params.n):
            seed = None if params.seed is None else params.seed + sample
            recorder = ChosenTokenLogprobs() if params.logprobs else None
            response = self._call(prompt, params, seed, recorder)
            choice = response["choices"][0]
            texts.append(self._choice_text(choice))
            if recorder is not None:
                logprobs.append(self._token_logprobs(recorder))
            reasons.append(choice.get("finish_reason"))
            usage = response.get("usage") or {}
            reported_prompt = reported_prompt or int(usage.get("prompt_tokens", 0))
            completion_tokens += int(usage.get("completion_tokens", 0))
        return Completion(
            texts=texts,
            finish_reason=merge_finish_reasons(reasons),
            usage=Usage(reported_prompt or prompt_tokens, completion_tokens),
            latency_s=time.perf_counter() - start,
            cached_prompt_tokens=cached,
            logprobs=logprobs,
        )

    def _token_logprobs(self, recorder: ChosenTokenLogprobs) -> list[TokenLogprob]:
        """The recorded tokens with their texts; a character split over tokens goes with its last byte."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return [
            TokenLogprob(decoder.decode(bytes(self._llama.detokenize([token]))), logprob)
            for token, logprob in zip(recorder.tokens, recorder.logprobs, strict=True)
        ]

    def _call(
        self, prompt: Prompt, params: GenerationParams, seed: int | None, recorder: ChosenTokenLogprobs | None
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stop": list(params.stop),
            "seed": seed,
            "repeat_penalty": 1.0,
        }
        if recorder is not None:
            kwargs["logits_processor"] = self._module.LogitsProcessorList([recorder])
        try:
            if isinstance(prompt, str):
                if params.json_schema is not None:
                    kwargs["grammar"] = self._grammar(params.json_schema)
                return dict(self._llama.create_completion(prompt=prompt, **kwargs))
            if params.json_schema is not None:
                kwargs["response_format"] = {"type": "json_object", "schema": params.json_schema}
            return dict(self._llama.create_chat_completion(messages=prompt, **kwargs))
        except ValueError as exc:
            if "context window" in str(exc):
                raise ContextTooLongError(f"llama.cpp refused the prompt: {exc}") from exc
            raise

    @staticmethod
    def _choice_text(choice: dict[str, Any]) -> str:
        if "message" in choice:
            return str(choice["message"].get("content") or "")
        return str(choice.get("text") or "")

    def _grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = self._module.LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def _prompt_tokens(self, prompt: Prompt) -> list[int] | None:
        """The prompt's tokens as llama.cpp will evaluate them; None for chat when the template is unknown."""
        if isinstance(prompt, str):
            return list(self._llama.tokenize(prompt.encode("utf-8"), special=True))
        rendered = self._render_chat(prompt)
        if rendered is None:
            return None
        text, added_special = rendered
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=not added_special, special=True))

    def _render_chat(self, messages: list[ChatMessage]) -> tuple[str, bool] | None:
        formatter = self._formatter()
        if formatter is None:
            return None
        try:
            result = formatter(messages=messages)
            return str(result.prompt), bool(getattr(result, "added_special", False))
        except Exception as exc:  # a template error must not fail the call: llama.cpp checks the length too
            log.debug("could not render the chat template: %s", exc)
            return None

    def _formatter(self) -> Any:
        """The model's own Jinja chat template (what llama-cpp-python uses when chat_format is None)."""
        if self._chat_formatter_tried:
            return self._chat_formatter
        self._chat_formatter_tried = True
        template = (getattr(self._llama, "metadata", None) or {}).get("tokenizer.chat_template")
        if self._chat_format is not None or not template:
            return None
        try:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            eos, bos = self._llama.token_eos(), self._llama.token_bos()
            self._chat_formatter = Jinja2ChatFormatter(
                template=template, eos_token=self._token_text(eos), bos_token=self._token_text(bos)
            )
        except Exception as exc:  # older or newer llama-cpp-python: fall back to the estimate
            log.debug("chat template formatter unavailable: %s", exc)
        return self._chat_formatter

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return bytes(self._llama.detokenize([token], special=True)).decode("utf-8", errors="ignore")

    def _cached_prefix(self, tokens: list[int]) -> int:
        """How many leading prompt tokens the KV cache already holds (llama.cpp always re-evaluates the last)."""
        n_cached = int(getattr(self._llama, "n_tokens", 0) or 0)
        input_ids = getattr(self._llama, "input_ids", None)
        if n_cached <= 0 or input_ids is None:
            return 0
        shared = 0
        for old, new in zip(input_ids[:n_cached], tokens[:-1], strict=False):
            if int(old) != new:
                break
            shared += 1
        return shared

    def system_info(self) -> str:
        """llama.cpp's own account of the instruction sets its loaded CPU code uses ("AVX512 = 1 | ...")."""
        info = self._module.llama_print_system_info()
        return (info.decode() if isinstance(info, bytes) else str(info)).strip()

    def close(self) -> None:
        close = getattr(self._llama, "close", None)
        if callable(close):
            close()
