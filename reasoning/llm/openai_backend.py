"""A client for any OpenAI-compatible server (`vllm serve`, llama.cpp's server, hosted APIs).

`generate` sends its prompts as concurrent requests, at most `max_concurrency` in flight per backend
(shared by all threads using it), so a batch of K prompts takes about as long as its slowest request when
the server batches (vLLM does, continuously). Chat prompts go to /chat/completions, text to /completions;
n samples come from the `n` parameter in one request. Connection errors, 429 and 5xx are retried with
exponential backoff (backoff_s, 2*backoff_s, ...); a read timeout is not retried here (it would multiply
the wait) and surfaces as LLMTimeoutError, whose `retryable` flag lets the caller decide.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reasoning.llm.protocol import (
    BackendUnavailableError,
    Completion,
    CompletionMixin,
    ContextTooLongError,
    GenerationParams,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    Prompt,
    TokenLogprob,
    Usage,
    merge_finish_reasons,
    validate_prompt,
)
from retrieval.errors import ConfigError, DependencyError

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_WINDOW = 8192
CONTEXT_MESSAGE = re.compile(r"context length|context window|context_length|maximum context|too long", re.I)
WINDOW_NUMBER = re.compile(r"maximum context length is (\d+)|limit of (\d+)", re.I)
PROMPT_NUMBER = re.compile(r"\((\d+) in the messages|has (\d+) input tokens|prompt \((\d+) tokens\)", re.I)


def _import_httpx() -> Any:
    try:
        import httpx
    except ImportError as exc:
        raise DependencyError("the OpenAI-compatible backend needs httpx: pip install httpx") from exc
    return httpx


def _first_number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    if match is None:
        return None
    return int(next(g for g in match.groups() if g is not None))


class OpenAICompatibleBackend(CompletionMixin):
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_concurrency: int = 8,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        *,
        context_window: int | None = None,
        vllm_extras: bool = True,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {base_url!r}")
        if not model:
            raise ConfigError("model must be named (the name the server serves it under)")
        if timeout_s <= 0 or max_concurrency < 1 or max_retries < 0 or backoff_s < 0:
            raise ConfigError(
                f"need timeout_s > 0, max_concurrency >= 1, max_retries >= 0, backoff_s >= 0; got {timeout_s}, "
                f"{max_concurrency}, {max_retries}, {backoff_s}"
            )
        self._httpx = _import_httpx()
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.vllm_extras = vllm_extras  # send vLLM's guided_json and use its /tokenize endpoint
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = self._httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency)
        self._client = self._httpx.Client(timeout=timeout_s, headers=headers, limits=limits)
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._context_window = context_window
        self._tokenize_supported = vllm_extras

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    @property
    def context_window(self) -> int:
        """As given, else the server's `max_model_len` from /models (vLLM reports it), else 8192."""
        if self._context_window is None:
            self._context_window = self._served_context_window() or DEFAULT_CONTEXT_WINDOW
        return self._context_window

    def count_tokens(self, text: str) -> int:
        """Exact through vLLM's /tokenize when the server has it, else an estimate of 4 characters a token."""
        if self._tokenize_supported:
            try:
                response = self._client.post(
                    self._root_url() + "/tokenize",
                    json={"model": self.model, "prompt": text, "add_special_tokens": False},
                )
                if response.status_code == 200:
                    return int(response.json()["count"])
            except (self._httpx.HTTPError, ValueError, KeyError) as exc:
                log.debug("/tokenize failed: %s", exc)
            log.info("%s has no /tokenize endpoint; token counts are estimates", self.base_url)
            self._tokenize_supported = False
        return max(1, math.ceil(len(text) / 4)) if text else 0

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]:
        for prompt in prompts:
            validate_prompt(prompt)
        if len(prompts) <= 1:
            return [self._request(prompt, params) for prompt in prompts]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(prompts))) as pool:
            return list(pool.map(lambda prompt: self._request(prompt, params), prompts))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatibleBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _request(self, prompt: Prompt, params: GenerationParams) -> Completion:
        path, body = self._body(prompt, params)
        start = time.perf_counter()
        data = self._post_with_retries(path, body)
        return self._parse(data, isinstance(prompt, list), params, time.perf_counter() - start)

    def _body(self, prompt: Prompt, params: GenerationParams) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": self.model, **params.sampling_options()}
        chat = isinstance(prompt, list)
        body["messages" if chat else "prompt"] = prompt
        schema = params.json_schema
        if schema is not None and (chat or self.vllm_extras):
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
        if schema is not None and self.vllm_extras:
            body["guided_json"] = schema
        if params.logprobs:  # the chosen tokens' own: true on chat, a count of alternatives (0) on completions
            body["logprobs"] = True if chat else 0
        return ("/chat/completions" if chat else "/completions"), body

    def _post_with_retries(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(self.max_retries + 1):
            try:
                with self._slots:
                    return self._post(path, body)
            except LLMError as exc:
                if not exc.retryable or isinstance(exc, LLMTimeoutError) or attempt == self.max_retries:
                    raise
                delay = self.backoff_s * 2**attempt
                log.warning("%s (attempt %d of %d); retrying in %.2f s", exc, attempt + 1, self.max_retries + 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.base_url + path
        httpx = self._httpx
        try:
            response = self._client.post(url, json=body)
        except httpx.ConnectTimeout as exc:
            raise BackendUnavailableError(f"cannot connect to {url} within {self.timeout_s} s") from exc
        except httpx.TimeoutException as exc:
            raise LLMTimeoutError(f"{url} did not answer within {self.timeout_s} s") from exc
        except httpx.TransportError as exc:
            raise BackendUnavailableError(f"cannot reach {url}: {exc}") from exc
        status = int(response.status_code)
        if status == 200:
            try:
                return dict(response.json())
            except ValueError as exc:
                raise BackendUnavailableError(f"{url} answered with malformed JSON", status=status) from exc
        message = self._error_message(response)
        if status == 429 or status >= 500:
            raise BackendUnavailableError(f"{url} answered {status}: {message}", status=status)
        if status in (400, 413, 422) and CONTEXT_MESSAGE.search(message):
            raise ContextTooLongError(
                f"the server refused the prompt as too long: {message}",
                prompt_tokens=_first_number(PROMPT_NUMBER, message),
                max_tokens=body.get("max_tokens"),
                context_window=_first_number(WINDOW_NUMBER, message),
            )
        raise InvalidRequestError(f"{url} answered {status}: {message}", status=status)

    @staticmethod
    def _error_message(response: Any) -> str:
        try:
            data = response.json()
        except ValueError:
            return str(response.text)[:500]
        error = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(error, dict):
            return str(error.get("message") or error)[:500]
        return str(error)[:500]

    def _parse(self, data: dict[str, Any], chat: bool, params: GenerationParams, latency_s: float) -> Completion:
        choices = sorted(data.get("choices") or [], key=lambda c: int(c.get("index", 0)))
        if len(choices) != params.n:
            raise InvalidRequestError(f"{self.base_url} returned {len(choices)} choices for n={params.n}")
        texts = [
            str((c.get("message") or {}).get("content") or "") if chat else str(c.get("text") or "") for c in choices
        ]
        usage = data.get("usage") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        return Completion(
            texts=texts,
            finish_reason=merge_finish_reasons([c.get("finish_reason") for c in choices]),
            usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
            latency_s=latency_s,
            cached_prompt_tokens=int(cached),
            logprobs=[_choice_logprobs(c) for c in choices] if params.logprobs else [],
        )

    def _root_url(self) -> str:
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url

    def _served_context_window(self) -> int | None:
        try:
            response = self._client.get(self.base_url + "/models")
            models = response.json().get("data", []) if response.status_code == 200 else []
        except (self._httpx.HTTPError, ValueError, AttributeError) as exc:
            log.warning(
                "cannot read %s/models (%s); assuming a %d-token context", self.base_url, exc, DEFAULT_CONTEXT_WINDOW
            )
            return None
        for entry in models:
            if isinstance(entry, dict) and entry.get("id") == self.model and entry.get("max_model_len"):
                return int(entry["max_model_len"])
        log.warning(
            "%s/models does not report max_model_len for %s; assuming %d",
            self.base_url,
            self.model,
            DEFAULT_CONTEXT_WINDOW,
        )
        return None


def _choice_logprobs(choice: dict[str, Any]) -> list[TokenLogprob]:
    """A choice's tokens and log-probabilities: chat's `logprobs.content` or completions' parallel lists
    (empty when the server gave none)."""
    logprobs = choice.get("logprobs") or {}
    if logprobs.get("content") is not None:
        return [TokenLogprob(str(t.get("token", "")), float(t.get("logprob", 0.0))) for t in logprobs["content"]]
    tokens, values = logprobs.get("tokens") or [], logprobs.get("token_logprobs") or []
    return [TokenLogprob(str(t), float(v)) for t, v in zip(tokens, values, strict=False) if v is not None]
