from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from retrieval.bm25_index import BM25Config, BM25Index
from retrieval.errors import ConfigError, IndexLoadError

pytestmark = pytest.mark.unit

HOTPOTQA = Path(__file__).resolve().parents[3] / "shared" / "data" / "hotpotqa" / "corpus.jsonl.gz"

DOCS = [
    "The cat sat on the mat and the cat purred.",
    "A dog chased the cat across the garden.",
    "Dogs and cats are common household pets.",
    "The garden was full of roses, tulips and daisies.",
    "Roses need sunlight, water and good soil to grow.",
    "The astronaut floated inside the space station.",
    "Space stations orbit the Earth every ninety minutes.",
    "The Moon orbits the Earth and reflects sunlight.",
    "Mars is a red planet with two small moons.",
    "Jupiter is the largest planet in the solar system.",
    "The chef cooked pasta with tomato sauce and basil.",
    "Fresh basil and garlic make a fragrant pesto sauce.",
    "Bake the bread in a hot oven for forty minutes.",
    "The baker sold warm bread and croissants every morning.",
    "The orchestra played a symphony by Beethoven.",
    "Beethoven wrote nine symphonies and one opera.",
    "The pianist practised scales on the grand piano for hours.",
    "A violin concerto was performed by the young violinist.",
    "The football team won the championship final.",
    "The striker scored two goals in the football match.",
    "Tennis players serve, volley and return the ball.",
    "The marathon runner trained for months before the race.",
    "Running every morning improves heart health.",
    "The river flowed through the valley to the sea.",
    "Mountains and valleys shape the climate of the region.",
    "Heavy rain caused the river to flood the valley town.",
    "The library lends books, maps and old newspapers.",
    "She read a novel about a detective in London.",
    "The detective solved the mystery of the missing painting.",
    "The museum displayed a painting by a Dutch master.",
    "Programmers write code in Python, Rust and Java.",
    "The Python interpreter runs code line by line.",
    "A compiler translates Rust code into machine code.",
    "The train left the station at nine in the morning.",
    "Trains and buses carry commuters into the city.",
    "The city council approved a new bus station.",
    "Bees collect nectar from flowers to make honey.",
    "Honey and lemon soothe a sore throat.",
    "The farmer harvested wheat, barley and oats.",
    "Wheat flour is used to bake bread and pasta.",
]

QUERIES = [
    "cat dog",
    "space station orbit",
    "planet moons",
    "basil sauce pasta",
    "bread oven baker",
    "Beethoven symphony",
    "football goals",
    "river valley flood",
    "detective painting",
    "python code",
    "honey bees flowers",
    "morning train station",
]


def _robertson(stemmer: str | None) -> BM25Config:
    return BM25Config(method="robertson", stopwords=None, stemmer=stemmer)


def _reference_ranking(
    index: BM25Index, texts: list[str], queries: list[str]
) -> Iterator[tuple[str, list[int], np.ndarray]]:
    """rank-bm25's BM25Okapi on the same analyzer's tokens: (query, rows by (-score, row), scores)."""
    rank_bm25 = pytest.importorskip("rank_bm25")
    reference = rank_bm25.BM25Okapi([index.analyze(text) for text in texts], k1=1.5, b=0.75)
    for query in queries:
        scores = np.asarray(reference.get_scores(index.analyze(query)))
        rows = sorted(np.flatnonzero(scores > 0).tolist(), key=lambda row: (-scores[row], row))
        yield query, rows, scores


def _assert_parity(index: BM25Index, texts: list[str], queries: list[str]) -> None:
    for query, expected_rows, scores in _reference_ranking(index, texts, queries):
        hits = index.search(query, k=len(texts))
        assert [row for row, _ in hits] == expected_rows, query
        ours = np.array([score for _, score in hits])
        np.testing.assert_allclose(ours * (1.5 + 1), scores[expected_rows], rtol=1e-5, err_msg=query)


def _assert_terms_selective(index: BM25Index, texts: list[str], queries: list[str]) -> None:
    """Parity holds for terms in at most half the documents (rank-bm25 and bm25s treat idf < 0 apart)."""
    doc_terms = [set(index.analyze(text)) for text in texts]
    for query in queries:
        for term in index.analyze(query):
            assert sum(term in terms for terms in doc_terms) <= len(texts) / 2, (query, term)


@pytest.fixture(scope="module")
def index() -> BM25Index:
    return BM25Index.build(DOCS)


@pytest.mark.parametrize("stemmer", [None, "english"])
def test_parity_with_rank_bm25(stemmer: str | None) -> None:
    index = BM25Index.build(DOCS, _robertson(stemmer))
    _assert_terms_selective(index, DOCS, QUERIES)
    _assert_parity(index, DOCS, QUERIES)


def test_parity_on_hotpotqa_sample() -> None:
    if not HOTPOTQA.exists():
        pytest.skip(f"{HOTPOTQA} not present")
    with gzip.open(HOTPOTQA, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in itertools.islice(handle, 2000)]
    texts = [f"{record['title']}\n{record['text']}" for record in records]
    index = BM25Index.build(texts, BM25Config(method="robertson", stemmer=None, stopwords="en"))
    doc_freq: dict[str, int] = {}
    for text in texts:
        for term in set(index.analyze(text)):
            doc_freq[term] = doc_freq.get(term, 0) + 1
    queries = []
    for record in records[::100]:
        words = index.analyze(f"{record['title']} {record['text'][:80]}")
        queries.append(" ".join(word for word in words if doc_freq.get(word, 0) <= len(texts) / 2))
    assert len(queries) == 20
    _assert_parity(index, texts, queries)


def test_search_results(index: BM25Index) -> None:
    hits = index.search("basil sauce", k=10)
    assert {row for row, _ in hits} == {10, 11}
    assert all(score > 0 for _, score in hits)
    assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)


def test_ties_broken_by_row() -> None:
    texts = ["apple banana", "cherry date", "apple banana", "apple banana", "elderberry fig"]
    index = BM25Index.build(texts, BM25Config(stemmer=None))
    hits = index.search("apple", k=10)
    assert [row for row, _ in hits] == [0, 2, 3]
    assert len({score for _, score in hits}) == 1
    assert [row for row, _ in index.search("apple", k=2)] == [0, 2]


def test_empty_and_unknown_queries_return_nothing(index: BM25Index) -> None:
    assert index.search("") == []
    assert index.search("   ") == []
    assert index.search("the and of") == []  # only stopwords
    assert index.search("xylophone zeppelin") == []
    assert index.search_many(["", "xylophone"]) == [[], []]


def test_k_is_clamped_and_zero_returns_nothing(index: BM25Index) -> None:
    everything = index.search("the cat bread code", k=10_000)
    assert 0 < len(everything) <= index.num_documents
    assert index.search("cat", k=0) == []
    with pytest.raises(ConfigError):
        index.search("cat", k=-1)


def test_analyzer_lowercases_drops_stopwords_and_stems(index: BM25Index) -> None:
    assert index.analyze("The Cats are RUNNING quickly!") == ["cat", "run", "quick"]
    plain = BM25Index.build(["x"], BM25Config(stemmer=None, stopwords=None))
    assert plain.analyze("The Cats, a b c were RUNNING") == ["the", "cats", "were", "running"]


def test_streaming_build_matches_single_batch() -> None:
    seen: list[int] = []
    streamed = BM25Index.build((text for text in DOCS), batch_size=7, on_progress=seen.append)
    whole = BM25Index.build(DOCS, batch_size=len(DOCS))
    assert seen == [7, 7, 7, 7, 7, 5]
    assert streamed.num_documents == whole.num_documents == len(DOCS)
    assert streamed.vocab_size == whole.vocab_size
    for query in QUERIES:
        assert streamed.search(query, k=20) == whole.search(query, k=20)


def test_search_many_equals_search(index: BM25Index) -> None:
    queries = [*QUERIES, "", "unknownword"]
    expected = [index.search(query, k=5) for query in queries]
    assert index.search_many(queries, k=5) == expected
    assert index.search_many(queries, k=5, n_threads=4) == expected
    assert index.search_many(queries, k=5, n_threads=-1) == expected
    assert index.search_many([], k=5) == []


@pytest.mark.parametrize("method", ["robertson", "lucene", "atire", "bm25l", "bm25+"])
@pytest.mark.parametrize("mmap", [False, True])
def test_save_load_round_trip(tmp_path: Path, method: str, mmap: bool) -> None:
    built = BM25Index.build(DOCS, BM25Config(method=method))
    built.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25", mmap=mmap)
    assert loaded.config == built.config
    assert loaded.describe() == built.describe()
    for query in QUERIES:
        assert loaded.search(query, k=10) == built.search(query, k=10)
    assert not list((tmp_path / "bm25").glob("*.pkl"))


def test_bm25_plus_returns_only_matching_documents() -> None:
    index = BM25Index.build(DOCS, BM25Config(method="bm25+"))
    rows = {row for row, _ in index.search("beethoven", k=100)}
    assert rows == {14, 15}


def test_describe(index: BM25Index) -> None:
    described = index.describe()
    assert described["method"] == "lucene"
    assert described["k1"] == 1.5
    assert described["num_documents"] == len(DOCS)
    assert described["vocab_size"] == index.vocab_size > 0
    assert isinstance(described["bm25s_version"], str)
    json.dumps(described)


def test_empty_corpus() -> None:
    index = BM25Index.build([])
    assert index.num_documents == 0
    assert index.search("cat") == []


def test_load_missing_directory_or_file(tmp_path: Path, index: BM25Index) -> None:
    with pytest.raises(IndexLoadError, match=r"sleuth_bm25\.json"):
        BM25Index.load(tmp_path / "nowhere")
    index.save(tmp_path / "bm25")
    (tmp_path / "bm25" / "indptr.csc.index.npy").unlink()
    with pytest.raises(IndexLoadError, match=r"indptr\.csc\.index\.npy"):
        BM25Index.load(tmp_path / "bm25")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("sleuth_bm25.json", b"{not json"),
        ("vocab.index.json", b"[1, 2"),
        ("data.csc.index.npy", b"\x93NUMPY garbage"),
        ("indices.csc.index.npy", None),  # truncated
    ],
)
def test_load_corrupt_file(tmp_path: Path, index: BM25Index, name: str, content: bytes | None) -> None:
    index.save(tmp_path / "bm25")
    path = tmp_path / "bm25" / name
    path.write_bytes(content if content is not None else path.read_bytes()[:-8])
    with pytest.raises(IndexLoadError, match=name.replace(".", r"\.")):
        BM25Index.load(tmp_path / "bm25")


@pytest.mark.parametrize(
    ("settings", "bad"),
    [
        ({"k1": 0.0}, "0.0"),
        ({"k1": -1.0}, "-1.0"),
        ({"b": 1.5}, "1.5"),
        ({"b": -0.1}, "-0.1"),
        ({"method": "bm26"}, "bm26"),
        ({"stopwords": "klingon"}, "klingon"),
        ({"stemmer": "klingon"}, "klingon"),
    ],
)
def test_config_validation(settings: dict[str, object], bad: str) -> None:
    with pytest.raises(ConfigError, match=bad):
        BM25Config(**settings)  # type: ignore[arg-type]


def test_bad_batch_size() -> None:
    with pytest.raises(ConfigError):
        BM25Index.build(DOCS, batch_size=0)
