"""Lexical BM25 index over passages, on top of bm25s.

Documents are analysed by one analyzer (lower-case, bm25s's token regex, stopwords, PyStemmer) into term
ids batch by batch, so a build from a stream of millions of texts holds only the ids, never the strings.
Passages are identified by their row (0..N-1) in the order the texts came. An index is saved as a
directory: bm25s's own files (JSON + ``.npy``, no pickle) plus ``sleuth_bm25.json`` with our settings.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from retrieval.errors import ConfigError, DependencyError, IndexLoadError

logger = logging.getLogger(__name__)

METHODS = ("robertson", "lucene", "atire", "bm25l", "bm25+")
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default splitter
META_FILE = "sleuth_bm25.json"
FORMAT_VERSION = 1
_VOCAB_FILE = "vocab.index.json"
_PARAMS_FILE = "params.index.json"
_ARRAY_FILES = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")
_NONOCCURRENCE_FILE = "nonoccurrence_array.index.npy"


def _stopword_list(name: str | None) -> frozenset[str]:
    if name is None:
        return frozenset()
    try:
        # bm25s's own resolver of stopword list names ("en", "english", "de", ...).
        return frozenset(bm25s.tokenization._infer_stopwords(name))
    except ValueError:
        raise ConfigError(f"unknown bm25s stopword list {name!r}") from None


def _stemmer(language: str | None) -> Callable[[list[str]], list[str]] | None:
    if language is None:
        return None
    try:
        import Stemmer  # PyStemmer
    except ImportError as exc:
        raise DependencyError("PyStemmer is not installed: pip install PyStemmer") from exc
    if language not in Stemmer.algorithms():
        raise ConfigError(f"unknown stemmer language {language!r}; PyStemmer has {Stemmer.algorithms()}")
    stem_words: Callable[[list[str]], list[str]] = Stemmer.Stemmer(language).stemWords
    return stem_words


@dataclass(frozen=True)
class BM25Config:
    """BM25 parameters and the analyzer's settings."""

    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    stemmer: str | None = "english"
    stopwords: str | None = "en"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.k1) and self.k1 > 0):
            raise ConfigError(f"BM25 k1 must be a positive number, got {self.k1}")
        if not 0 <= self.b <= 1:
            raise ConfigError(f"BM25 b must be between 0 and 1, got {self.b}")
        if self.method not in METHODS:
            raise ConfigError(f"unknown BM25 method {self.method!r}; choose one of {', '.join(METHODS)}")
        _stopword_list(self.stopwords)
        _stemmer(self.stemmer)


_DEFAULT_CONFIG = BM25Config()


class _Analyzer:
    """Text -> terms, the same for documents and queries. Not thread-safe (PyStemmer is not)."""

    def __init__(self, config: BM25Config) -> None:
        self._stopwords = _stopword_list(config.stopwords)
        self._stem = _stemmer(config.stemmer)

    def __call__(self, text: str) -> list[str]:
        words = [word for word in TOKEN_PATTERN.findall(text.lower()) if word not in self._stopwords]
        return self._stem(words) if self._stem is not None and words else words


class _TokenIds:
    """The corpus as term ids: one flat int32 array plus offsets, iterated as one list per document."""

    def __init__(self, flat: np.ndarray, offsets: np.ndarray) -> None:
        self._flat = flat
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __iter__(self) -> Iterator[list[int]]:
        for start, end in zip(self._offsets[:-1].tolist(), self._offsets[1:].tolist(), strict=True):
            yield self._flat[start:end].tolist()


def _batches(texts: Iterable[str], batch_size: int) -> Iterator[list[str]]:
    iterator = iter(texts)
    while batch := list(islice(iterator, batch_size)):
        yield batch


def _encode_batch(batch: list[str], analyzer: _Analyzer, vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    ids: list[int] = []
    lengths: list[int] = []
    for text in batch:
        terms = analyzer(text)
        ids.extend(vocab.setdefault(term, len(vocab)) for term in terms)
        lengths.append(len(terms))
    return np.asarray(ids, dtype=np.int32), np.asarray(lengths, dtype=np.int64)


def _encode_corpus(
    texts: Iterable[str],
    analyzer: _Analyzer,
    batch_size: int,
    on_progress: Callable[[int], None] | None,
) -> tuple[_TokenIds, dict[str, int]]:
    vocab: dict[str, int] = {}
    id_chunks: list[np.ndarray] = [np.zeros(0, dtype=np.int32)]
    length_chunks: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
    for batch in _batches(texts, batch_size):
        ids, lengths = _encode_batch(batch, analyzer, vocab)
        id_chunks.append(ids)
        length_chunks.append(lengths)
        if on_progress is not None:
            on_progress(len(batch))
    offsets = np.cumsum(np.concatenate(length_chunks))
    return _TokenIds(np.concatenate(id_chunks), offsets), vocab


def _top_k(rows: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k best (row, score) pairs by (-score, row), exact at ties on the k-th score."""
    if len(rows) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth
        rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores))[:k]
    return [(int(row), float(score)) for row, score in zip(rows[order], scores[order], strict=True)]


class BM25Index:
    """A BM25 index whose search returns passage rows, best first."""

    def __init__(self, model: Any, config: BM25Config) -> None:
        self.config = config
        self._model = model
        self._analyzer = _Analyzer(config)

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        config: BM25Config = _DEFAULT_CONFIG,
        *,
        batch_size: int = 10_000,
        on_progress: Callable[[int], None] | None = None,
    ) -> BM25Index:
        """Index a stream of texts; ``on_progress(n)`` after each batch gets that batch's size."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        started = time.perf_counter()
        analyzer = _Analyzer(config)
        corpus, vocab = _encode_corpus(texts, analyzer, batch_size, on_progress)
        model = bm25s.BM25(k1=config.k1, b=config.b, method=config.method)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # mean of an empty corpus
            model.scores = model.build_index_from_ids(list(range(len(vocab))), corpus, show_progress=False)
        model.vocab_dict = vocab
        index = cls(model, config)
        logger.info(
            "BM25 index built: %d documents, %d terms in %.1fs",
            index.num_documents,
            index.vocab_size,
            time.perf_counter() - started,
        )
        return index

    @property
    def num_documents(self) -> int:
        return int(self._model.scores["num_docs"])

    @property
    def vocab_size(self) -> int:
        return len(self._model.vocab_dict)

    def analyze(self, text: str) -> list[str]:
        """The terms of a text, exactly as documents and queries are analysed."""
        return self._analyzer(text)

    def search(self, query: str, k: int = 10) -> list[tuple[int, float]]:
        """Rows with a positive score, best first, ties by row; [] when no query term is in the index."""
        return self._rank(self._query_ids(query), k)

    def search_many(self, queries: Sequence[str], k: int = 10, n_threads: int = 0) -> list[list[tuple[int, float]]]:
        """``search`` for each query; n_threads > 1 scores in threads, -1 uses every CPU."""
        if n_threads < -1:
            raise ConfigError(f"n_threads must be -1, 0 or positive, got {n_threads}")
        encoded = [self._query_ids(query) for query in queries]  # analyser in this thread only
        workers = (os.cpu_count() or 1) if n_threads == -1 else n_threads
        if workers <= 1 or len(encoded) < 2:
            return self._rank_all(encoded, k)
        chunks = [encoded[start::workers] for start in range(workers)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            ranked = list(pool.map(partial(self._rank_all, k=k), chunks))
        results: list[list[tuple[int, float]]] = [[] for _ in encoded]
        for start, chunk_results in enumerate(ranked):
            results[start::workers] = chunk_results
        return results

    def _rank_all(self, encoded: list[list[int]], k: int) -> list[list[tuple[int, float]]]:
        return [self._rank(ids, k) for ids in encoded]

    def _query_ids(self, query: str) -> list[int]:
        vocab: dict[str, int] = self._model.vocab_dict
        return [vocab[term] for term in self._analyzer(query) if term in vocab]

    def _rank(self, term_ids: list[int], k: int) -> list[tuple[int, float]]:
        if k < 0:
            raise ConfigError(f"k must be >= 0, got {k}")
        if not term_ids or k == 0:
            return []
        scores = np.asarray(self._model.get_scores_from_ids(term_ids))
        positive = scores > 0
        if self._model.nonoccurrence_array is not None:
            positive &= self._matching(term_ids)  # bm25l/bm25+ give every document a base score
        rows = np.flatnonzero(positive)
        return _top_k(rows, scores[rows], min(k, self.num_documents))

    def _matching(self, term_ids: list[int]) -> np.ndarray:
        indptr, indices = self._model.scores["indptr"], self._model.scores["indices"]
        mask = np.zeros(self.num_documents, dtype=bool)
        for term in set(term_ids):
            mask[indices[indptr[term] : indptr[term + 1]]] = True
        return mask

    def save(self, directory: Path) -> None:
        """Write the index into ``directory`` (created if needed); our JSON is written last."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._model.save(str(directory), allow_pickle=False, show_progress=False)
        meta = {"format": "sleuth-bm25", "format_version": FORMAT_VERSION, **self.describe()}
        (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, *, mmap: bool = False) -> BM25Index:
        """Load a saved index; ``mmap`` maps the score arrays instead of reading them into memory."""
        directory = Path(directory)
        meta = _read_json_object(directory / META_FILE)
        config = _config_from_meta(meta, directory / META_FILE)
        vocab = _read_json_object(directory / _VOCAB_FILE)
        _read_json_object(directory / _PARAMS_FILE)
        arrays = _ARRAY_FILES + ((_NONOCCURRENCE_FILE,) if config.method in ("bm25l", "bm25+") else ())
        for name in arrays:
            _check_npy(directory / name)
        try:
            model = bm25s.BM25.load(str(directory), mmap=mmap, load_vocab=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexLoadError(f"{directory}: cannot load BM25 index: {exc}") from exc
        model.vocab_dict = vocab
        _check_consistency(model, meta, directory)
        return cls(model, config)

    def describe(self) -> dict[str, object]:
        """Settings and counts for the index manifest."""
        return {
            **asdict(self.config),
            "num_documents": self.num_documents,
            "vocab_size": self.vocab_size,
            "bm25s_version": bm25s.__version__,
        }


def _read_json_object(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise IndexLoadError(f"BM25 index file missing: {path}")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexLoadError(f"corrupt BM25 index file {path}: {exc}") from exc
    if not isinstance(value, dict):
        raise IndexLoadError(f"corrupt BM25 index file {path}: expected a JSON object")
    return value


def _config_from_meta(meta: dict[str, Any], path: Path) -> BM25Config:
    if meta.get("format") != "sleuth-bm25" or meta.get("format_version") != FORMAT_VERSION:
        raise IndexLoadError(f"{path}: not a Sleuth BM25 index of format version {FORMAT_VERSION}")
    try:
        return BM25Config(**{field.name: meta[field.name] for field in fields(BM25Config)})
    except (KeyError, TypeError, ConfigError) as exc:
        raise IndexLoadError(f"{path}: bad BM25 settings: {exc}") from exc


def _check_npy(path: Path) -> None:
    """Header and size of a ``.npy`` file, without reading its data."""
    if not path.is_file():
        raise IndexLoadError(f"BM25 index file missing: {path}")
    try:
        with path.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            needed = handle.tell() + math.prod(shape) * dtype.itemsize
    except (OSError, ValueError) as exc:
        raise IndexLoadError(f"corrupt BM25 index file {path}: {exc}") from exc
    if dtype.hasobject or path.stat().st_size < needed:
        raise IndexLoadError(f"corrupt BM25 index file {path}: truncated or not a plain array")


def _check_consistency(model: Any, meta: dict[str, Any], directory: Path) -> None:
    scores = model.scores
    n_terms = len(scores["indptr"]) - 1
    problems = []
    if n_terms != len(model.vocab_dict) or n_terms != meta.get("vocab_size"):
        problems.append(f"{n_terms} score columns for {len(model.vocab_dict)} vocabulary terms")
    if scores["num_docs"] != meta.get("num_documents"):
        problems.append(f"{scores['num_docs']} documents, manifest says {meta.get('num_documents')}")
    if len(scores["data"]) != len(scores["indices"]):
        problems.append("score data and row indices differ in length")
    if problems:
        raise IndexLoadError(f"{directory}: inconsistent BM25 index: {'; '.join(problems)}")
