"""Open information extraction with an LLM: (subject, relation, object) triples from passages.

The LLM is anything that completes prompts (the reasoning layer's backends satisfy `CompletionModel`;
`sleuth index build --kg-llm SPEC` builds one and passes it in). Output is asked for as JSON under a
strict schema (at most `max_triples` triples, each part at most `max_part_chars` characters) and validated
here: a triple with a missing, empty, over-long or non-string part is dropped, and a completion that is not
JSON counts as a failure; nothing invalid reaches the graph. A completion call that raises (a timeout, a
prompt too long for the model) is retried passage by passage, and a passage whose own call fails is
counted and skipped; `max_consecutive_failures` failed calls in a row (a backend that is down) stop the
extraction with the backend's own error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kg.graph import normalize_name
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)

MAX_TRIPLES = 10
MAX_PART_CHARS = 120


def triple_schema(max_triples: int = MAX_TRIPLES, max_part_chars: int = MAX_PART_CHARS) -> dict[str, Any]:
    """The JSON schema of one completion; its bounds also keep a small model from rambling on."""
    part = {"type": "string", "minLength": 1, "maxLength": max_part_chars}
    return {
        "type": "object",
        "properties": {
            "triples": {
                "type": "array",
                "maxItems": max_triples,
                "items": {
                    "type": "object",
                    "properties": {"subject": part, "relation": part, "object": part},
                    "required": ["subject", "relation", "object"],
                },
            }
        },
        "required": ["triples"],
    }


TRIPLE_SCHEMA: dict[str, Any] = triple_schema()

# One worked example: with it, Qwen2.5-Coder-0.5B under its chat template put the passage's subject first
# and found 4 triples a passage, against 1 (often reversed) without, on 2Wiki paragraphs. Instructions and
# example come first, so a backend with a prompt cache evaluates them once.
PROMPT = (
    "Extract the factual relations stated in the passage as JSON: "
    '{{"triples": [{{"subject": ..., "relation": ..., "object": ...}}]}}. '
    "Subjects and objects are named entities or dates, as written in the passage; relations are short "
    "verb phrases. At most {max_triples} triples.\n\n"
    "Title: Marie Curie\nPassage: Marie Curie (born 7 November 1867 in Warsaw) was a Polish physicist. "
    "She married Pierre Curie in 1895.\n"
    'JSON: {{"triples": [{{"subject": "Marie Curie", "relation": "born on", "object": "7 November 1867"}}, '
    '{{"subject": "Marie Curie", "relation": "born in", "object": "Warsaw"}}, '
    '{{"subject": "Marie Curie", "relation": "spouse", "object": "Pierre Curie"}}]}}\n\n'
    "Title: {title}\nPassage: {text}\nJSON:"
)


class CompletionModel(Protocol):
    def complete(self, prompts: Sequence[str], *, max_tokens: int, json_schema: dict[str, Any] | None) -> list[str]: ...


@dataclass(frozen=True)
class Triple:
    subject: str
    relation: str
    object: str


@dataclass
class ExtractionStats:
    passages: int = 0  # passages given to the model, failed calls included
    triples: int = 0  # valid triples parsed
    invalid_json: int = 0  # completions that were not the asked-for JSON
    invalid_triples: int = 0  # triples dropped by validation
    failed_calls: int = 0  # passages whose completion call raised
    ungrounded_triples: int = 0  # triples naming a subject or object the passage does not (with `grounded`)
    duplicate_triples: int = 0  # the same triple again from one passage
    errors: list[str] = field(default_factory=list)  # the first few failure messages

    @property
    def failures(self) -> int:
        """Passages that gave no usable completion."""
        return self.invalid_json + self.failed_calls

    def note(self, message: str) -> None:
        if len(self.errors) < 10:
            self.errors.append(message)


class LLMTripleExtractor:
    """Batched triple extraction; `stats` counts what was kept and what was refused."""

    def __init__(
        self,
        model: CompletionModel,
        *,
        batch_size: int = 8,
        max_triples: int = MAX_TRIPLES,
        max_tokens: int = 384,
        max_part_chars: int = MAX_PART_CHARS,
        max_consecutive_failures: int = 3,
        grounded: bool = False,
    ) -> None:
        """`grounded`: keep only triples whose subject and object occur in the passage or its title
        (normalised as entity names are), which drops what a small model invents or copies from the
        prompt's example."""
        for name, value in [
            ("batch_size", batch_size),
            ("max_triples", max_triples),
            ("max_tokens", max_tokens),
            ("max_part_chars", max_part_chars),
            ("max_consecutive_failures", max_consecutive_failures),
        ]:
            if value < 1:
                raise ConfigError(f"triple extraction {name} must be at least 1, got {value}")
        self._model = model
        self.batch_size = batch_size
        self.max_triples = max_triples
        self.max_tokens = max_tokens
        self.max_part_chars = max_part_chars
        self.max_consecutive_failures = max_consecutive_failures
        self.grounded = grounded
        self.schema = triple_schema(max_triples, max_part_chars)
        self.stats = ExtractionStats()
        self._consecutive_failures = 0

    def extract(self, passages: Sequence[tuple[str, str]]) -> Iterator[list[Triple]]:
        """(title, text) pairs in, one list of valid triples per passage out, in order."""
        for start in range(0, len(passages), self.batch_size):
            batch = passages[start : start + self.batch_size]
            prompts = [PROMPT.format(max_triples=self.max_triples, title=t, text=x) for t, x in batch]
            for passage, completion in zip(batch, self._complete(prompts), strict=True):
                self.stats.passages += 1
                triples = [] if completion is None else self.parse(completion, passage)
                self.stats.triples += len(triples)
                yield triples

    def _complete(self, prompts: list[str]) -> list[str | None]:
        """One completion per prompt; None where the call failed (a failed batch is retried one by one)."""
        try:
            completions = self._model.complete(prompts, max_tokens=self.max_tokens, json_schema=self.schema)
            if len(completions) != len(prompts):
                raise ValueError(f"the model gave {len(completions)} completions for {len(prompts)} prompts")
        except Exception as exc:  # the model's own error types belong to the reasoning layer
            if len(prompts) > 1:
                log.info("a batch of %d extraction calls failed (%s); trying them one by one", len(prompts), exc)
                return [c for prompt in prompts for c in self._complete([prompt])]
            self._consecutive_failures += 1
            self.stats.failed_calls += 1
            self.stats.note(f"call failed: {type(exc).__name__}: {exc}")
            log.warning("triple extraction call failed: %s: %s", type(exc).__name__, exc)
            if self._consecutive_failures >= self.max_consecutive_failures:
                raise
            return [None]
        self._consecutive_failures = 0
        return list(completions)

    def parse(self, completion: str, passage: tuple[str, str] | None = None) -> list[Triple]:
        """The valid triples of one completion, each once; with `grounded`, only those whose subject and
        object the (title, text) passage names."""
        try:
            data = json.loads(completion)
        except json.JSONDecodeError as exc:
            self.stats.invalid_json += 1
            self.stats.note(f"not JSON: {exc.msg}")
            return []
        raw = data.get("triples") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            self.stats.invalid_json += 1
            self.stats.note("no list of triples")
            return []
        valid = [t for t in (self._triple(item) for item in raw[: self.max_triples]) if t is not None]
        self.stats.invalid_triples += min(len(raw), self.max_triples) - len(valid)
        triples = list(dict.fromkeys(valid))
        self.stats.duplicate_triples += len(valid) - len(triples)
        if self.grounded and passage is not None:
            names = f" {normalize_name(' '.join(passage))} "
            kept = [t for t in triples if _named_in(t.subject, names) and _named_in(t.object, names)]
            self.stats.ungrounded_triples += len(triples) - len(kept)
            triples = kept
        return triples

    def _triple(self, item: object) -> Triple | None:
        if not isinstance(item, dict):
            return None
        parts = [item.get(key) for key in ("subject", "relation", "object")]
        if not all(isinstance(p, str) and p.strip() and len(p) <= self.max_part_chars for p in parts):
            return None
        subject, relation, obj = (str(p).strip() for p in parts)
        return Triple(subject, relation, obj)


def _named_in(name: str, normalised_text: str) -> bool:
    key = normalize_name(name)
    return bool(key) and f" {key} " in normalised_text
