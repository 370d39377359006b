from __future__ import annotations

import json

import pytest

from kg.openie import TRIPLE_SCHEMA, LLMTripleExtractor, Triple
from reasoning.llm.scripted import ScriptedLLM

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
