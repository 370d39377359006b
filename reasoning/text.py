"""Text helpers of the reasoning loop: answer normalisation, sentences, content words."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
_CITE = re.compile(r"\[(\d{1,3})\]")
_CITE_WITH_SPACE = re.compile(r"(\s*)\[(\d{1,3})\]")
UNKNOWN_ANSWERS = frozenset({"", "unknown", "none", "n/a", "no answer", "not mentioned", "insufficient evidence"})

_STOP_WORDS = """a an the of in on at to for from by with and or but is are was were be been being do does did has
have had what which who whom whose when where why how that this these those it its as than then there their his her
he she they them same both either neither not no yes"""
STOP = frozenset(_STOP_WORDS.split())


def normalize_answer(text: str) -> str:
    """SQuAD / HotpotQA normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def is_unknown(answer: str | None) -> bool:
    return answer is None or normalize_answer(answer) in UNKNOWN_ANSWERS


def sentences(text: str) -> list[str]:
    """Sentences of a passage (a light rule: end punctuation followed by a capital or digit)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip())]
    return [p for p in parts if p]


def content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if w.lower() not in STOP and len(w) > 1}


def cited_numbers(text: str) -> list[int]:
    """The [n] citation numbers in a text, in order of first appearance."""
    return list(dict.fromkeys(int(m) for m in _CITE.findall(text)))


def replace_citations(text: str, mapping: dict[int, int]) -> str:
    """Renumber [n] citations by `mapping`; citations not in it are dropped with the space before them."""

    def swap(match: re.Match[str]) -> str:
        new = mapping.get(int(match.group(2)))
        return f"{match.group(1)}[{new}]" if new is not None else ""

    return _CITE_WITH_SPACE.sub(swap, text).strip()


def answer_in_text(answer: str, texts: Iterable[str]) -> bool:
    """True when the normalised answer occurs as a token sequence in one of the texts (yes/no never do)."""
    target = normalize_answer(answer)
    if not target or target in ("yes", "no"):
        return False
    padded = f" {target} "
    return any(padded in f" {normalize_answer(t)} " for t in texts)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_YES_NO_START = re.compile(r"^(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b", re.I)
_NUMBER_QUESTION = re.compile(
    r"\b(how (many|much|old|long|far|tall|big)|what year|which year|when|in what year)\b", re.I
)
_NUMBER_WORDS = frozenset(
    [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "hundred",
        "thousand",
        "million",
    ]
)


def expected_answer_type(question: str) -> str:
    """yes/no, number (counts, amounts, years, dates) or any, from the question's wording."""
    if _YES_NO_START.match(question.strip()) and " or " not in question:
        return "yes/no"
    if _NUMBER_QUESTION.search(question):
        return "number"
    return "any"


def answer_type_matches(question: str, answer: str) -> bool:
    """Whether an answer has the form the question asks for (a yes/no question gets yes or no, and so on)."""
    kind, normalized = expected_answer_type(question), normalize_answer(answer)
    if kind == "yes/no":
        return normalized in ("yes", "no")
    if kind == "number":
        return any(ch.isdigit() for ch in normalized) or bool(set(normalized.split()) & _NUMBER_WORDS)
    return normalized not in ("yes", "no")


def clean_answer(text: str) -> str:
    """An answer as the LLM wrote it, without citations, quotes around it or a final full stop."""
    text = _CITE.sub("", text).strip().strip("\"'“”").strip()
    return " ".join(text.rstrip(".").split())
