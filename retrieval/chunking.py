"""Sentence-aware chunking of documents into passages that fit the embedder's input.

A document that fits the token budget stays one passage, its text unchanged. A longer one is split
into sentences and packed greedily into chunks within the budget; each chunk starts with the trailing
sentences of the one before (the overlap), so a fact that spans a chunk border is still found.

Token counts of sentences are added up to size a chunk: exact for tokenizers that split on whitespace
first (WordPiece, the whitespace approximation), which is what the budget is meant for.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from retrieval.documents import Document, Passage, passage_id
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)

RESERVED_TOKENS = 3  # the separator between title and text, and the embedder's two special tokens
MIN_MAX_TOKENS = 32
MAX_CHARS_PER_TOKEN = 8  # when a word over the budget is split between characters: the longest piece tried

# A sentence ends at terminal punctuation (with closing quotes or brackets) before whitespace, at CJK
# terminal punctuation, or at a blank line.
_CANDIDATE = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s)|[。！？]+["'”’」』)\]]*|\n[^\S\n]*\n""")
_NEXT_VISIBLE = re.compile(r"""\s*["'“‘(\[]*(\S)?""")
_LAST_WORD = re.compile(r"\S+$")
_INITIALISM = re.compile(r"[A-Z]|(?:[A-Za-z]\.)+[A-Za-z]")  # J. / U.S. / e.g. / i.e.
_ABBREVIATION_WORDS = """
mr mrs ms dr prof sr jr st mt ft vs etc inc ltd co corp no nos fig figs vol vols pp ed eds approx cf al
gen col lt sgt capt cmdr rev hon gov sen rep jan feb mar apr jun jul aug sep sept oct nov dec
"""
_ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())  # a period after these does not end a sentence

_Piece = tuple[str, int]  # a sentence (or part of one) and its token count


class TokenCounter(Protocol):
    """Counts the tokens the embedder's tokenizer makes of a text, special tokens not included."""

    def count_tokens(self, text: str) -> int: ...


class WhitespaceTokenCounter:
    """An approximation for tests and for when no tokenizer is at hand: ceil(1.3 tokens per word)."""

    def count_tokens(self, text: str) -> int:
        return (len(text.split()) * 13 + 9) // 10


@dataclass(frozen=True)
class ChunkingConfig:
    """How long a passage may be, in tokens of the embedder."""

    max_tokens: int = 256  # the embedder's input limit: title + text + special tokens
    overlap_tokens: int = 32  # sentences carried over from the previous chunk, at most this many tokens

    def __post_init__(self) -> None:
        if self.max_tokens < MIN_MAX_TOKENS:
            raise ConfigError(f"max_tokens must be at least {MIN_MAX_TOKENS}, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise ConfigError(
                f"overlap_tokens must be at least 0 and less than max_tokens // 2 = {self.max_tokens // 2}, "
                f"got {self.overlap_tokens}"
            )


DEFAULT_CHUNKING = ChunkingConfig()


def split_sentences(text: str) -> list[str]:
    """The sentences of a text, punctuation kept; only the whitespace between sentences is dropped."""
    sentences: list[str] = []
    start = 0
    for match in _CANDIDATE.finditer(text):
        if _is_boundary(text, match):
            sentences.append(text[start : match.end()].strip())
            start = match.end()
    sentences.append(text[start:].strip())
    return [sentence for sentence in sentences if sentence]


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    """Whether a candidate ends a sentence: not before a lowercase word, not after an abbreviation."""
    punctuation = match.group()
    if punctuation[0] not in ".!?…":  # a blank line or CJK punctuation always ends a sentence
        return True
    following = _NEXT_VISIBLE.match(text, match.end())
    next_char = following.group(1) if following else None
    if next_char is None:
        return True
    if next_char.islower():
        return False
    if punctuation[0] != "." or punctuation.startswith(".."):  # ! ? and ellipses are not abbreviations
        return True
    word = _LAST_WORD.search(text, max(0, match.start() - 40), match.start())
    token = word.group().lstrip("\"'“‘([") if word else ""
    return token.lower() not in _ABBREVIATIONS and not _INITIALISM.fullmatch(token)


class Chunker:
    """Splits documents into passages of at most `config.max_tokens` tokens, title included."""

    def __init__(self, counter: TokenCounter, config: ChunkingConfig = DEFAULT_CHUNKING) -> None:
        self._counter = counter
        self.config = config

    def budget(self, title: str) -> int:
        """The tokens left for a passage's text once its title and the special tokens are counted."""
        limit = self.config.max_tokens
        return max(limit - self._counter.count_tokens(title) - RESERVED_TOKENS, limit // 4)

    def chunk(self, doc: Document) -> list[Passage]:
        """The document whole if it fits the budget, else its chunks, numbered from 0."""
        budget = self.budget(doc.title)
        if self._counter.count_tokens(doc.text) <= budget:
            return [_passage(doc, doc.text, 0)]
        chunks = self._pack(list(self._pieces(doc.text, budget)), budget)
        return _passages(doc, chunks) or [_passage(doc, doc.text, 0)]

    def _pieces(self, text: str, budget: int) -> Iterator[_Piece]:
        for sentence in split_sentences(text):
            tokens = self._counter.count_tokens(sentence)
            if tokens <= budget:
                yield sentence, tokens
            else:
                yield from self._split_oversized(sentence.split(), budget, " ")

    def _split_oversized(self, units: Sequence[str], budget: int, separator: str) -> Iterator[_Piece]:
        """Pieces within budget of an over-long sentence (units: words) or word (units: characters)."""
        start = 0
        while start < len(units):
            end, tokens = self._longest_fit(units, start, budget, separator)
            if end > start:
                yield separator.join(units[start:end]), tokens
            elif separator:  # one word longer than the budget: split it between characters
                yield from self._split_oversized(units[start], budget, "")
            else:
                log.warning("a single character is over the token budget of %d: %r", budget, units[start])
                yield units[start], self._counter.count_tokens(units[start])
            start = max(end, start + 1)

    def _longest_fit(self, units: Sequence[str], start: int, budget: int, separator: str) -> tuple[int, int]:
        """The largest end with units[start:end] within budget (start if none), by binary search."""
        most = budget if separator else budget * MAX_CHARS_PER_TOKEN  # bounds the text counted per step
        low, high, tokens = start, min(len(units), start + most), 0
        while low < high:
            middle = (low + high + 1) // 2
            count = self._counter.count_tokens(separator.join(units[start:middle]))
            if count <= budget:
                low, tokens = middle, count
            else:
                high = middle - 1
        return low, tokens

    def _pack(self, pieces: list[_Piece], budget: int) -> list[str]:
        """Greedy packing; every chunk after the first starts with the previous chunk's overlap."""
        chunks: list[str] = []
        current: list[_Piece] = []
        used = 0
        for piece in pieces:
            if current and used + piece[1] > budget:
                chunks.append(" ".join(text for text, _ in current))
                current = self._overlap(current, budget - piece[1])
                used = sum(tokens for _, tokens in current)
            current.append(piece)
            used += piece[1]
        if current:
            chunks.append(" ".join(text for text, _ in current))
        return chunks

    def _overlap(self, pieces: list[_Piece], room: int) -> list[_Piece]:
        """The trailing pieces within both the overlap limit and the room the next piece leaves."""
        limit = min(self.config.overlap_tokens, room)
        kept: list[_Piece] = []
        total = 0
        for piece in reversed(pieces):
            if total + piece[1] > limit:
                break
            kept.append(piece)
            total += piece[1]
        return kept[::-1]


def _passages(doc: Document, chunks: list[str]) -> list[Passage]:
    """One passage per distinct chunk text, numbered in order."""
    seen: set[str] = set()
    passages: list[Passage] = []
    for text in chunks:
        if text not in seen:
            seen.add(text)
            passages.append(_passage(doc, text, len(passages)))
    return passages


def _passage(doc: Document, text: str, chunk: int) -> Passage:
    return Passage(id=passage_id(doc.doc_id, text), doc_id=doc.doc_id, title=doc.title, text=text, chunk=chunk)
