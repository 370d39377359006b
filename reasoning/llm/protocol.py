"""What every LLM backend offers: generation parameters, completions, the backend protocol and typed errors.

A prompt is either plain text or chat messages (`[{"role": "user", "content": "..."}]`). `generate` takes a
batch of prompts and returns one `Completion` per prompt, in order; a backend decides how much of the batch
runs at once (llama.cpp one after another, an OpenAI-compatible server and vLLM concurrently).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol, runtime_checkable

from retrieval.errors import ConfigError, DependencyError, SleuthError

ChatMessage = dict[str, str]
Prompt = str | list[ChatMessage]

CHAT_ROLES = frozenset({"system", "user", "assistant", "tool"})


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings for one `generate` call; `seed=None` asks for non-reproducible sampling."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None
    seed: int | None = 0
    logprobs: bool = False  # also return each generated token's log-probability, where the backend can

    def __post_init__(self) -> None:
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be a positive integer, got {self.max_tokens!r}")
        if not math.isfinite(self.temperature) or not 0.0 <= self.temperature <= 2.0:
            raise ConfigError(f"temperature must be in [0, 2], got {self.temperature!r}")
        if not math.isfinite(self.top_p) or not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.n, int) or self.n < 1:
            raise ConfigError(f"n must be a positive integer, got {self.n!r}")
        if not isinstance(self.stop, tuple) or not all(isinstance(s, str) and s for s in self.stop):
            raise ConfigError(f"stop must be a tuple of non-empty strings, got {self.stop!r}")
        if self.json_schema is not None and not isinstance(self.json_schema, dict):
            raise ConfigError(f"json_schema must be a dict or None, got {type(self.json_schema).__name__}")
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise ConfigError(f"seed must be a non-negative integer or None, got {self.seed!r}")
        if not isinstance(self.logprobs, bool):
            raise ConfigError(f"logprobs must be true or false, got {self.logprobs!r}")

    def sampling_options(self) -> dict[str, Any]:
        """The sampling fields under the names the OpenAI API and vLLM share; stop and seed only when set."""
        options: dict[str, Any] = {
            "n": self.n,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }
        if self.stop:
            options["stop"] = list(self.stop)
        if self.seed is not None:
            options["seed"] = self.seed
        return options

    def with_(self, **changes: Any) -> GenerationParams:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token: its text and the log-probability the model gave it when it was chosen."""

    text: str
    logprob: float


@dataclass(frozen=True)
class Completion:
    """The n sampled texts for one prompt.

    `finish_reason` is "stop" when every sample ended by itself, otherwise the first other reason
    ("length" means a sample was cut at max_tokens). `usage.prompt_tokens` counts the prompt once,
    `usage.completion_tokens` sums all samples. `cached_prompt_tokens` is how much of the prompt the
    backend reused from its cache (0 where the backend cannot tell). `logprobs`, when the call asked for
    them and the backend gives them, holds one list of tokens per sample (empty otherwise).
    """

    texts: list[str]
    finish_reason: str
    usage: Usage
    latency_s: float
    cached_prompt_tokens: int = 0
    logprobs: list[list[TokenLogprob]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.texts[0]


def span_logprobs(tokens: Sequence[TokenLogprob], start: int, end: int) -> list[float]:
    """The log-probabilities of the tokens that overlap characters [start, end) of the text they spell."""
    found = []
    offset = 0
    for token in tokens:
        after = offset + len(token.text)
        if after > start and offset < end:
            found.append(token.logprob)
        if after >= end:
            break
        offset = after
    return found


def merge_finish_reasons(reasons: Sequence[str | None]) -> str:
    """One finish reason for n samples: "stop" when all stopped by themselves, else the first other one."""
    for reason in reasons:
        if reason != "stop":
            return reason or "unknown"
    return "stop"


@runtime_checkable
class LLMBackend(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def context_window(self) -> int: ...

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]: ...

    def count_tokens(self, text: str) -> int: ...

    def complete(self, prompts: Sequence[str], *, max_tokens: int, json_schema: dict[str, Any] | None) -> list[str]: ...


class CompletionMixin:
    """Gives a backend `complete` (the `kg.openie.CompletionModel` protocol) on top of its `generate`."""

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]:
        raise NotImplementedError

    def complete(self, prompts: Sequence[str], *, max_tokens: int, json_schema: dict[str, Any] | None) -> list[str]:
        params = GenerationParams(max_tokens=max_tokens, temperature=0.0, json_schema=json_schema)
        return [completion.texts[0] for completion in self.generate(list(prompts), params)]


def is_chat(prompt: Prompt) -> bool:
    return not isinstance(prompt, str)


def validate_prompt(prompt: Prompt) -> None:
    """Refuse a prompt that is neither text nor a non-empty list of {"role", "content"} messages."""
    if isinstance(prompt, str):
        return
    if not isinstance(prompt, list) or not prompt:
        raise ConfigError(f"a prompt is a string or a non-empty list of chat messages, got {type(prompt).__name__}")
    for message in prompt:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise ConfigError(f"a chat message needs a string 'content', got {message!r:.80}")
        if message.get("role") not in CHAT_ROLES:
            raise ConfigError(f"chat message role must be one of {sorted(CHAT_ROLES)}, got {message.get('role')!r}")


def prompt_text(prompt: Prompt) -> str:
    """The prompt as one string: the text itself, or "role: content" lines for chat messages."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m['role']}: {m['content']}" for m in prompt)


def check_fits(prompt_tokens: int, max_tokens: int, context_window: int) -> None:
    """Raise ContextTooLongError unless the prompt and max_tokens of output fit the window."""
    if prompt_tokens + max_tokens > context_window:
        raise ContextTooLongError(prompt_tokens=prompt_tokens, max_tokens=max_tokens, context_window=context_window)


class LLMError(SleuthError):
    """A failed LLM call. `code` is stable (for traces, metrics and HTTP mapping); `retryable` says whether
    trying the same call again later may succeed."""

    code: ClassVar[str] = "llm_error"
    retryable: ClassVar[bool] = False
    exit_code = 69  # EX_UNAVAILABLE


class LLMTimeoutError(LLMError):
    code = "timeout"
    retryable = True


class BackendUnavailableError(LLMError):
    """The backend could not be reached or answered with an overload/server error (429, 5xx)."""

    code = "unavailable"
    retryable = True

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class InvalidRequestError(LLMError):
    """The backend refused the request itself (bad parameters, unknown model, auth)."""

    code = "invalid_request"
    exit_code = 64  # EX_USAGE

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ContextTooLongError(LLMError):
    code = "context_length"
    exit_code = 65  # EX_DATAERR

    def __init__(
        self,
        message: str | None = None,
        *,
        prompt_tokens: int | None = None,
        max_tokens: int | None = None,
        context_window: int | None = None,
    ) -> None:
        if message is None:
            message = (
                f"prompt of {prompt_tokens} tokens plus max_tokens={max_tokens} does not fit the context window "
                f"of {context_window} tokens"
            )
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.context_window = context_window


class ModelNotInstalledError(LLMError, DependencyError):
    """The model's files are missing or corrupt; the message says how to install them."""

    code = "model_missing"
    exit_code = 69  # EX_UNAVAILABLE
