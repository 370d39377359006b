"""Open information extraction with an LLM: (subject, relation, object) triples from passages.

The LLM is anything that completes prompts (the reasoning layer's backends satisfy `CompletionModel`).
Output is asked for as JSON under a strict schema and validated here: a triple with a missing, empty,
over-long or non-string part is dropped, and a completion that is not JSON counts as a failure; nothing
invalid reaches the graph.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

TRIPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "triples": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "subject": {"type": "string"},
                    "relation": {"type": "string"},
                    "object": {"type": "string"},
                },
                "required": ["subject", "relation", "object"],
            },
        }
    },
    "required": ["triples"],
}

PROMPT = (
    "Extract the factual relations stated in the passage as JSON: "
    '{{"triples": [{{"subject": ..., "relation": ..., "object": ...}}]}}. '
    "Subjects and objects are named entities or dates, as written in the passage; relations are short "
    "verb phrases. At most {max_triples} triples.\n\nTitle: {title}\nPassage: {text}\nJSON:"
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
    passages: int = 0
    triples: int = 0
    invalid_json: int = 0
    invalid_triples: int = 0
    errors: list[str] = field(default_factory=list)


class LLMTripleExtractor:
    """Batched triple extraction; `stats` counts what was kept and what was refused."""

    def __init__(
        self,
        model: CompletionModel,
        *,
        batch_size: int = 8,
        max_triples: int = 10,
        max_tokens: int = 384,
        max_part_chars: int = 120,
    ) -> None:
        self._model = model
        self.batch_size = batch_size
        self.max_triples = max_triples
        self.max_tokens = max_tokens
        self.max_part_chars = max_part_chars
        self.stats = ExtractionStats()

    def extract(self, passages: Sequence[tuple[str, str]]) -> Iterator[list[Triple]]:
        """(title, text) pairs in, one list of valid triples per passage out, in order."""
        for start in range(0, len(passages), self.batch_size):
            batch = passages[start : start + self.batch_size]
            prompts = [PROMPT.format(max_triples=self.max_triples, title=t, text=x) for t, x in batch]
            completions = self._model.complete(prompts, max_tokens=self.max_tokens, json_schema=TRIPLE_SCHEMA)
            for completion in completions:
                self.stats.passages += 1
                triples = self.parse(completion)
                self.stats.triples += len(triples)
                yield triples

    def parse(self, completion: str) -> list[Triple]:
        try:
            data = json.loads(completion)
        except json.JSONDecodeError as exc:
            self.stats.invalid_json += 1
            if len(self.stats.errors) < 10:
                self.stats.errors.append(f"not JSON: {exc.msg}")
            return []
        raw = data.get("triples") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            self.stats.invalid_json += 1
            return []
        triples = [t for t in (self._triple(item) for item in raw[: self.max_triples]) if t is not None]
        self.stats.invalid_triples += min(len(raw), self.max_triples) - len(triples)
        return triples

    def _triple(self, item: object) -> Triple | None:
        if not isinstance(item, dict):
            return None
        parts = [item.get(key) for key in ("subject", "relation", "object")]
        if not all(isinstance(p, str) and p.strip() and len(p) <= self.max_part_chars for p in parts):
            return None
        subject, relation, obj = (str(p).strip() for p in parts)
        return Triple(subject, relation, obj)
