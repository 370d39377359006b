"""A scripted LLM for unit tests of control flow. Never used on a path a user runs.

Replies are chosen by rules checked in order: a plain string matches as a substring of the prompt, a
compiled pattern with `re.search`; the first match wins, else `default`. A reply is a string, a list of
strings (sample i of n gets item i modulo its length, so best-of-N code can see different answers), or a
function of the prompt text. Chat prompts are matched as "role: content" lines. Token counts are
whitespace words, so they are deterministic; replies are cut at stop strings and at max_tokens words.
A call that asks for log-probabilities gets each word (with the spaces after it) as one token, at
`token_logprob` (none when it is None).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reasoning.llm.protocol import (
    Completion,
    CompletionMixin,
    GenerationParams,
    LLMError,
    Prompt,
    TokenLogprob,
    Usage,
    check_fits,
    merge_finish_reasons,
    prompt_text,
    validate_prompt,
)

Matcher = str | re.Pattern[str]
Reply = str | Sequence[str] | Callable[[str], str]


@dataclass(frozen=True)
class ScriptedCall:
    """One `generate` call as the scripted LLM received it."""

    prompts: tuple[Prompt, ...]
    params: GenerationParams


class ScriptedLLM(CompletionMixin):
    def __init__(
        self,
        rules: Sequence[tuple[Matcher, Reply]] = (),
        *,
        default: Reply | None = "",
        name: str = "scripted",
        context_window: int = 4096,
        token_logprob: float | None = None,
    ) -> None:
        self.rules = list(rules)
        self.default = default
        self._name = name
        self._context_window = context_window
        self.token_logprob = token_logprob
        self.calls: list[ScriptedCall] = []
        self.unmatched: list[str] = []
        self._failures: dict[int, LLMError] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def context_window(self) -> int:
        return self._context_window

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def fail_on_call(self, k: int, error: LLMError) -> None:
        """Make the k-th `generate` call (1-based, counting from construction) raise `error`."""
        self._failures[k] = error

    @property
    def batch_calls(self) -> int:
        """How many `generate` calls were made (a batch of prompts counts once)."""
        return len(self.calls)

    @property
    def prompts(self) -> list[Prompt]:
        """Every prompt received, in order, across calls."""
        return [p for call in self.calls for p in call.prompts]

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]:
        with self._lock:
            self.calls.append(ScriptedCall(tuple(prompts), params))
            failure = self._failures.pop(len(self.calls), None)
        if failure is not None:
            raise failure
        return [self._complete(prompt, params) for prompt in prompts]

    def _complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        validate_prompt(prompt)
        text = prompt_text(prompt)
        prompt_tokens = self.count_tokens(text)
        check_fits(prompt_tokens, params.max_tokens, self.context_window)
        reply = self._reply_for(text)
        samples = [self._cut(self._render(reply, text, i), params) for i in range(params.n)]
        return Completion(
            texts=[s for s, _ in samples],
            finish_reason=merge_finish_reasons([r for _, r in samples]),
            usage=Usage(prompt_tokens, sum(self.count_tokens(s) for s, _ in samples)),
            latency_s=0.0,
            logprobs=[self._logprobs(s) for s, _ in samples] if params.logprobs else [],
        )

    def _logprobs(self, text: str) -> list[TokenLogprob]:
        if self.token_logprob is None:
            return []
        return [TokenLogprob(word, self.token_logprob) for word in re.findall(r"\s*\S+\s*", text)]

    def _reply_for(self, text: str) -> Reply:
        for matcher, reply in self.rules:
            found = matcher in text if isinstance(matcher, str) else matcher.search(text) is not None
            if found:
                return reply
        with self._lock:
            self.unmatched.append(text)
        if self.default is None:
            raise LookupError(f"ScriptedLLM has no rule for prompt: {text[:200]!r}")
        return self.default

    @staticmethod
    def _render(reply: Reply, text: str, sample: int) -> str:
        if isinstance(reply, str):
            return reply
        if callable(reply):
            return reply(text)
        return reply[sample % len(reply)]

    @staticmethod
    def _cut(reply: str, params: GenerationParams) -> tuple[str, str]:
        for stop in params.stop:
            if stop in reply:
                reply = reply[: reply.index(stop)]
        words = reply.split()
        if len(words) > params.max_tokens:
            return " ".join(words[: params.max_tokens]), "length"
        return reply, "stop"
