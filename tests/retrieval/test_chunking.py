from __future__ import annotations

import itertools

import pytest

from retrieval.chunking import (
    RESERVED_TOKENS,
    Chunker,
    ChunkingConfig,
    TokenCounter,
    WhitespaceTokenCounter,
    split_sentences,
)
from retrieval.documents import Document, Passage, passage_id
from retrieval.errors import ConfigError

pytestmark = pytest.mark.unit


class WordCounter:
    """Counts words exactly, and how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0

    def count_tokens(self, text: str) -> int:
        self.calls += 1
        return len(text.split())


class CharCounter:
    """One token per four characters, so a long word is over the budget on its own."""

    def count_tokens(self, text: str) -> int:
        return -(-len(text) // 4)


def sentence(number: int, words: int = 10) -> str:
    return " ".join([f"S{number}w{index}" for index in range(words - 1)] + [f"end{number}."])


def long_doc(sentences: int = 40, words: int = 10, title: str = "A Title") -> Document:
    text = " ".join(sentence(number, words) for number in range(sentences))
    return Document(doc_id="doc-1", title=title, text=text)


def text_budget(counter: TokenCounter, config: ChunkingConfig, title: str) -> int:
    return max(config.max_tokens - counter.count_tokens(title) - RESERVED_TOKENS, config.max_tokens // 4)


def sentences_of(passage: Passage) -> list[str]:
    return split_sentences(passage.text)


# --- short documents ------------------------------------------------------------------------------


def test_short_document_stays_whole_and_unchanged() -> None:
    doc = Document(doc_id="d", title="T", text="  One sentence.\n\nAnother one!  ")
    counter = WordCounter()

    [passage] = Chunker(counter).chunk(doc)

    assert passage == Passage(id=passage_id("d", doc.text), doc_id="d", title="T", text=doc.text, chunk=0)
    assert counter.calls == 2  # the title, then the whole text once


def test_document_exactly_at_budget_stays_whole() -> None:
    config = ChunkingConfig(max_tokens=64, overlap_tokens=8)
    budget = text_budget(WordCounter(), config, "Title")
    doc = Document(doc_id="d", title="Title", text=" ".join(["w"] * budget))

    assert len(Chunker(WordCounter(), config).chunk(doc)) == 1


# --- long documents -------------------------------------------------------------------------------


@pytest.mark.parametrize("counter", [WordCounter(), WhitespaceTokenCounter()], ids=["words", "whitespace"])
@pytest.mark.parametrize(("max_tokens", "overlap"), [(64, 0), (64, 16), (128, 32), (256, 32)])
def test_long_document_chunks_within_budget(counter: TokenCounter, max_tokens: int, overlap: int) -> None:
    config = ChunkingConfig(max_tokens=max_tokens, overlap_tokens=overlap)
    doc = long_doc()
    budget = text_budget(counter, config, doc.title)

    passages = Chunker(counter, config).chunk(doc)

    assert len(passages) > 1
    assert [p.chunk for p in passages] == list(range(len(passages)))
    for passage in passages:
        assert counter.count_tokens(passage.text) <= budget
        assert counter.count_tokens(passage.title) + counter.count_tokens(passage.text) + 3 <= max_tokens
        assert (passage.doc_id, passage.title) == ("doc-1", "A Title")
        assert passage.id == passage_id("doc-1", passage.text)


def test_every_sentence_is_kept_in_order() -> None:
    doc = long_doc()
    passages = Chunker(WordCounter(), ChunkingConfig(max_tokens=64, overlap_tokens=0)).chunk(doc)

    assert " ".join(p.text for p in passages) == doc.text


def test_overlap_between_consecutive_chunks_is_present_and_bounded() -> None:
    config = ChunkingConfig(max_tokens=64, overlap_tokens=25)
    counter = WordCounter()
    passages = Chunker(counter, config).chunk(long_doc())

    for previous, current in itertools.pairwise(passages):
        before, after = sentences_of(previous), sentences_of(current)
        shared = [s for s in after if s in before]
        assert shared, "consecutive chunks share the trailing sentences"
        assert shared == before[-len(shared) :] == after[: len(shared)]
        assert sum(counter.count_tokens(s) for s in shared) <= config.overlap_tokens
        assert len(shared) < len(after), "no chunk is only overlap"


def test_no_overlap_when_disabled() -> None:
    passages = Chunker(WordCounter(), ChunkingConfig(max_tokens=64, overlap_tokens=0)).chunk(long_doc())

    for previous, current in itertools.pairwise(passages):
        assert not set(sentences_of(previous)) & set(sentences_of(current))


def test_long_title_still_leaves_a_quarter_of_the_budget() -> None:
    config = ChunkingConfig(max_tokens=64, overlap_tokens=0)
    doc = long_doc(title=" ".join(["title"] * 100), words=4)

    passages = Chunker(WordCounter(), config).chunk(doc)

    assert all(len(p.text.split()) <= 16 for p in passages)
    assert all(p.title == doc.title for p in passages)


def test_ids_are_stable_and_follow_the_text() -> None:
    chunker = Chunker(WhitespaceTokenCounter(), ChunkingConfig(max_tokens=64, overlap_tokens=16))
    doc = long_doc()
    changed = Document(doc_id=doc.doc_id, title=doc.title, text=doc.text.replace("end39.", "finish39."))

    first, again, other = chunker.chunk(doc), chunker.chunk(doc), chunker.chunk(changed)

    assert [p.id for p in first] == [p.id for p in again]
    assert len({p.id for p in first}) == len(first)
    assert first[0].id == other[0].id
    assert first[-1].id != other[-1].id


def test_identical_chunks_are_emitted_once() -> None:
    text = " ".join([sentence(1, 30)] * 6)
    doc = Document(doc_id="rep", title="", text=text)

    passages = Chunker(WordCounter(), ChunkingConfig(max_tokens=64, overlap_tokens=0)).chunk(doc)

    assert len(passages) == 1
    assert passages[0].chunk == 0


def test_over_long_sentence_is_split_at_word_boundaries() -> None:
    words = [f"w{index}" for index in range(200)]
    doc = Document(doc_id="d", title="", text=" ".join(words) + ".")
    config = ChunkingConfig(max_tokens=64, overlap_tokens=0)
    budget = text_budget(WordCounter(), config, "")

    passages = Chunker(WordCounter(), config).chunk(doc)

    assert all(len(p.text.split()) <= budget for p in passages)
    assert " ".join(p.text for p in passages).split() == doc.text.split()


def test_over_long_word_is_split_between_characters() -> None:
    word = "".join(chr(ord("a") + index % 26) for index in range(1000))
    doc = Document(doc_id="d", title="", text=f"Short start. {word} Short end.")
    config = ChunkingConfig(max_tokens=64, overlap_tokens=0)

    passages = Chunker(CharCounter(), config).chunk(doc)

    assert all(CharCounter().count_tokens(p.text) <= 61 for p in passages)
    assert "".join(p.text for p in passages).replace(" ", "") == doc.text.replace(" ", "")


def test_paragraphs_without_punctuation_are_separate_sentences() -> None:
    paragraphs = [" ".join([f"p{number}"] * 20) for number in range(10)]
    doc = Document(doc_id="d", title="", text="\n\n".join(paragraphs))

    passages = Chunker(WordCounter(), ChunkingConfig(max_tokens=64, overlap_tokens=0)).chunk(doc)

    assert [len(p.text.split()) for p in passages] == [60, 60, 60, 20]


# --- sentences ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mr. Smith met Dr. Jones at St. Paul's. They talked.",
            ["Mr. Smith met Dr. Jones at St. Paul's.", "They talked."],
        ),
        ("J. R. R. Tolkien wrote it. Then he rested.", ["J. R. R. Tolkien wrote it.", "Then he rested."]),
        ("The U.S. Army moved. It was 3.5 km away.", ["The U.S. Army moved.", "It was 3.5 km away."]),
        ("Fruit, e.g. apples, i.e. red ones. Next!", ["Fruit, e.g. apples, i.e. red ones.", "Next!"]),
        ("See Fig. 2 and No. 7 for details. Done.", ["See Fig. 2 and No. 7 for details.", "Done."]),
        (
            'He said "Stop." Then he left. Why? Because.',
            ['He said "Stop."', "Then he left.", "Why?", "Because."],
        ),
        ("Wait... what? Then it ended... Later.", ["Wait... what?", "Then it ended...", "Later."]),
        (
            "Version 2.0 shipped (finally). Users cheered.",
            ["Version 2.0 shipped (finally).", "Users cheered."],
        ),
        ("A heading\n\nA paragraph\nwrapped. Next.", ["A heading", "A paragraph\nwrapped.", "Next."]),
        ("第一句。第二句！", ["第一句。", "第二句！"]),
        ("", []),
        ("  \n ", []),
        ("no punctuation at all", ["no punctuation at all"]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_sentences_loses_only_whitespace_between_sentences() -> None:
    text = "  First one.  Second (with Mr. X)!\n\n\tThird?   Fourth...Fifth. "

    sentences = split_sentences(text)

    assert "".join("".join(sentences).split()) == "".join(text.split())
    position = 0
    for sentence in sentences:  # each sentence is a slice of the text, its inner whitespace kept
        position = text.index(sentence, position) + len(sentence)
    assert all(s == s.strip() for s in sentences)


# --- counters and config --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "tokens"), [("", 0), ("one", 2), ("one two three", 4), (" ".join("w" * 10), 13)])
def test_whitespace_token_counter(text: str, tokens: int) -> None:
    assert WhitespaceTokenCounter().count_tokens(text) == tokens


def test_config_defaults() -> None:
    assert (ChunkingConfig().max_tokens, ChunkingConfig().overlap_tokens) == (256, 32)


@pytest.mark.parametrize(
    ("max_tokens", "overlap", "message"),
    [
        (31, 0, "max_tokens must be at least 32, got 31"),
        (0, 0, "max_tokens must be at least 32, got 0"),
        (64, -1, "got -1"),
        (64, 32, "less than max_tokens // 2 = 32, got 32"),
        (256, 200, "got 200"),
    ],
)
def test_config_validation(max_tokens: int, overlap: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ChunkingConfig(max_tokens=max_tokens, overlap_tokens=overlap)
