from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from kg.openie import TRIPLE_SCHEMA, LLMTripleExtractor, Triple, triple_schema
from reasoning.llm.scripted import ScriptedLLM
from retrieval.errors import ConfigError

pytestmark = pytest.mark.unit

GOOD = json.dumps({"triples": [{"subject": "Alice", "relation": "founded", "object": "Acme"}]})


def test_batches_and_parses_valid_triples() -> None:
    model = ScriptedLLM(default=GOOD)
    extractor = LLMTripleExtractor(model, batch_size=2)
    out = list(extractor.extract([("A", "x"), ("B", "y"), ("C", "z")]))
    assert out == [[Triple("Alice", "founded", "Acme")]] * 3
    assert len(model.prompts) == 3 and "Title: B" in model.prompts[1]
    assert extractor.stats.triples == 3 and TRIPLE_SCHEMA["required"] == ["triples"]


@pytest.mark.parametrize(
    "completion",
    ["not json", "[]", json.dumps({"triples": "x"}), json.dumps({"other": []})],
)
def test_malformed_completions_are_counted_not_raised(completion: str) -> None:
    extractor = LLMTripleExtractor(ScriptedLLM(default=completion))
    assert list(extractor.extract([("A", "x")])) == [[]]
    assert extractor.stats.invalid_json == 1


def test_invalid_triples_are_dropped() -> None:
    items = [
        {"subject": "Alice", "relation": "founded", "object": "Acme"},
        {"subject": "", "relation": "r", "object": "o"},
        {"subject": "s", "relation": 3, "object": "o"},
        {"subject": "s", "relation": "r"},
        "just a string",
        {"subject": "s" * 500, "relation": "r", "object": "o"},
    ]
    extractor = LLMTripleExtractor(ScriptedLLM(default=json.dumps({"triples": items})))
    assert list(extractor.extract([("A", "x")])) == [[Triple("Alice", "founded", "Acme")]]
    assert extractor.stats.invalid_triples == 5


class FlakyModel:
    """Completes every prompt with GOOD, except prompts naming a title in `bad` (the call raises)."""

    def __init__(self, bad: set[str]) -> None:
        self.bad = bad
        self.calls: list[int] = []

    def complete(self, prompts: Sequence[str], *, max_tokens: int, json_schema: dict[str, Any] | None) -> list[str]:
        self.calls.append(len(prompts))
        if any(f"Title: {title}\n" in p for p in prompts for title in self.bad):
            raise TimeoutError("the model timed out")
        return [GOOD] * len(prompts)


def test_a_failed_batch_is_retried_one_by_one_and_failures_are_counted() -> None:
    model = FlakyModel({"B"})
    extractor = LLMTripleExtractor(model, batch_size=3)
    out = list(extractor.extract([("A", "x"), ("B", "y"), ("C", "z"), ("D", "w")]))
    good = [Triple("Alice", "founded", "Acme")]
    assert out == [good, [], good, good]
    assert model.calls == [3, 1, 1, 1, 1]
    stats = extractor.stats
    assert (stats.passages, stats.triples, stats.failed_calls, stats.failures) == (4, 3, 1, 1)
    assert stats.errors == ["call failed: TimeoutError: the model timed out"]


def test_consecutive_failed_calls_stop_with_the_backend_error() -> None:
    extractor = LLMTripleExtractor(FlakyModel({"A", "B", "C"}), batch_size=1, max_consecutive_failures=3)
    with pytest.raises(TimeoutError):
        list(extractor.extract([("A", "x"), ("B", "y"), ("C", "z"), ("D", "w")]))
    assert extractor.stats.failed_calls == 3


def test_a_model_that_drops_completions_is_a_failure() -> None:
    class Short:
        def complete(self, prompts: Sequence[str], **kwargs: Any) -> list[str]:
            return [GOOD][: len(prompts) - 1]

    extractor = LLMTripleExtractor(Short(), max_consecutive_failures=10)
    assert list(extractor.extract([("A", "x"), ("B", "y")])) == [[], []]
    assert extractor.stats.failed_calls == 2
    assert "the model gave 0 completions for 1 prompts" in extractor.stats.errors[0]


def test_the_schema_bounds_the_output_and_settings_are_checked() -> None:
    schema = triple_schema(3, 50)
    assert schema["properties"]["triples"]["maxItems"] == 3
    assert schema["properties"]["triples"]["items"]["properties"]["object"]["maxLength"] == 50
    model = ScriptedLLM(default=GOOD)
    extractor = LLMTripleExtractor(model, max_triples=3, max_part_chars=50)
    list(extractor.extract([("A", "x")]))
    assert model.calls[0].params.json_schema == schema and triple_schema() == TRIPLE_SCHEMA
    with pytest.raises(ConfigError, match="batch_size must be at least 1, got 0"):
        LLMTripleExtractor(model, batch_size=0)


def test_grounded_extraction_keeps_what_the_passage_names_once() -> None:
    items = [
        {"subject": "Ada Lovelace", "relation": "wrote", "object": "the first program"},
        {"subject": "Ada Lovelace", "relation": "wrote", "object": "the first program"},
        {"subject": "Ada Lovelace", "relation": "spouse", "object": "Pierre Curie"},  # copied from the example
        {"subject": "Lovelace", "relation": "born in", "object": "London"},  # the title counts as named
    ]
    passage = ("Ada Lovelace (London)", "Ada Lovelace wrote the first program.")
    reply = json.dumps({"triples": items})
    grounded = LLMTripleExtractor(ScriptedLLM(default=reply), grounded=True)
    assert list(grounded.extract([passage])) == [
        [Triple("Ada Lovelace", "wrote", "the first program"), Triple("Lovelace", "born in", "London")]
    ]
    assert (grounded.stats.duplicate_triples, grounded.stats.ungrounded_triples, grounded.stats.triples) == (1, 1, 2)
    loose = LLMTripleExtractor(ScriptedLLM(default=reply))
    assert len(next(loose.extract([passage]))) == 3 and loose.stats.ungrounded_triples == 0
