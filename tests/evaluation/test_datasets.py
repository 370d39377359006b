from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.corpus import prepare_corpus
from evaluation.datasets import DATASETS, detect_format, load_benchmark, load_questions
from evaluation.raw_formats import join_sentences, paragraph_id, write_corpus
from retrieval.errors import ConfigError, InputDataError, InputNotFoundError
from tests.conftest import SAMPLE_QUESTIONS, SHARED_DATA, write_jsonl

pytestmark = pytest.mark.unit

HOTPOT_RAW = [
    {
        "_id": "h1",
        "question": "Which city is the capital of the country where Ada was born?",
        "answer": "London",
        "type": "bridge",
        "level": "hard",
        "supporting_facts": [["Ada Lovelace", 0], ["England", 1], ["Ada Lovelace", 1]],
        "context": [
            ["Ada Lovelace", ["Ada Lovelace was born in England.", " She wrote programs."]],
            ["England", ["England is a country.", " Its capital is London."]],
            ["Paris", ["Paris is in France."]],
        ],
    },
    {
        "_id": "h2",
        "question": "Are Paris and London capitals?",
        "answer": "yes",
        "type": "comparison",
        "level": "easy",
        "supporting_facts": [["Paris", 0]],
        "context": [["Paris", ["Paris is in France."]], ["Empty", []]],
    },
]
TWOWIKI_RAW = [
    {
        "_id": "w1",
        "question": "When did Lothair II's mother die?",
        "answer": "20 March 851",
        "type": "compositional",
        "evidences": [["Lothair II", "mother", "Ermengarde of Tours"]],
        "supporting_facts": [["Lothair II", 1], ["Ermengarde of Tours", 0]],
        "context": [
            ["Lothair II", ["Lothair II was a king.", "His mother was Ermengarde of Tours."]],
            ["Ermengarde of Tours", ["Ermengarde of Tours died on 20 March 851."]],
        ],
    }
]
MUSIQUE_RAW = [
    {
        "id": "3hop1__1_2_3",
        "question": "Who is the spouse of the founder?",
        "answer": "Kris Benson",
        "answer_aliases": ["Kris"],
        "answerable": True,
        "paragraphs": [
            {
                "idx": 0,
                "title": "Anna Benson",
                "paragraph_text": "Anna Benson married Kris Benson.",
                "is_supporting": True,
            },
            {"idx": 1, "title": "Other", "paragraph_text": "Nothing here.", "is_supporting": False},
            {"idx": 2, "title": "Kris Benson", "paragraph_text": "Kris Benson is a pitcher.", "is_supporting": True},
        ],
        "question_decomposition": [{"id": 1, "question": "x", "answer": "y", "paragraph_support_idx": 0}],
    }
]


def write_json(path: Path, data: object, indent: int | None = 1) -> Path:
    path.write_text(json.dumps(data, indent=indent), encoding="utf-8")
    return path


def test_load_questions_reads_the_shared_format(tmp_path: Path) -> None:
    questions = load_questions(SAMPLE_QUESTIONS, limit=2)
    assert len(questions) == 2
    first = questions[0]
    assert first.answers == ("yes",) and first.type == "comparison"
    assert first.supporting_ids == ("hotpotqa-000001", "hotpotqa-000004")
    assert first.supporting_titles == ("Scott Derrickson", "Ed Wood")


def test_skip_and_limit_select_a_slice_in_every_format(tmp_path: Path) -> None:
    every = load_questions(SAMPLE_QUESTIONS)
    assert [q.id for q in load_benchmark(SAMPLE_QUESTIONS, "hotpotqa", limit=2, skip=1)] == [q.id for q in every[1:3]]
    assert load_benchmark(SAMPLE_QUESTIONS, "hotpotqa", skip=len(every)) == []
    raw = write_json(tmp_path / "hotpot_dev.json", HOTPOT_RAW)
    assert [q.id for q in load_benchmark(raw, "hotpotqa", skip=1)] == [r["_id"] for r in HOTPOT_RAW[1:]]
    with pytest.raises(ConfigError, match="skip must be >= 0"):
        load_benchmark(raw, "hotpotqa", skip=-1)


def test_musique_types_are_hop_counts(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "dev.jsonl",
        [
            {"id": "3hop1__1_2", "question": "q?", "answers": ["a"], "type": "3hop1"},
            {"id": "odd", "question": "q?", "answers": ["a"], "type": "4hop2"},
        ],
    )
    assert [q.type for q in load_benchmark(path, "musique")] == ["3hop", "4hop"]
    assert [q.type for q in load_benchmark(path, "hotpotqa")] == ["3hop1", "4hop2"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"dev.jsonl:2: malformed JSON"),
        ('{"question": "q?"}', r"dev.jsonl:2: bad question record: missing field 'id'"),
        ('{"id": "x", "question": "q?", "answers": "a"}', r"dev.jsonl:2: bad question record: answers must be a list"),
        ("[1, 2]", r"dev.jsonl:2: a record must be a JSON object"),
    ],
)
def test_bad_question_records_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "dev.jsonl"
    path.write_text('{"id": "ok", "question": "q?", "answers": ["a"]}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=message):
        load_benchmark(path, "hotpotqa")


def test_raw_hotpotqa_json(tmp_path: Path) -> None:
    path = write_json(tmp_path / "hotpot_dev_distractor_v1.json", HOTPOT_RAW)
    assert detect_format(path) == "hotpotqa-json"
    first, second = load_benchmark(path, "hotpotqa")
    assert first.id == "h1" and first.answers == ("London",) and first.type == "bridge"
    assert first.supporting_titles == ("Ada Lovelace", "England")
    ada = paragraph_id("hotpotqa", "Ada Lovelace", "Ada Lovelace was born in England. She wrote programs.")
    assert first.supporting_ids[0] == ada and len(first.supporting_ids) == 2
    assert len(first.context_ids) == 3
    assert second.type == "comparison" and len(second.context_ids) == 1  # the empty paragraph is left out


def test_raw_corpus_is_deduplicated_and_matches_the_gold_ids(tmp_path: Path) -> None:
    path = write_json(tmp_path / "dev.json", HOTPOT_RAW)
    out = tmp_path / "corpus.jsonl"
    assert write_corpus(path, "hotpotqa", out) == 3  # Paris is in both contexts
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert set(records[0]) == {"id", "title", "text"}
    ids = {r["id"] for r in records}
    assert all(set(q.supporting_ids) <= ids for q in load_benchmark(path, "hotpotqa"))
    assert write_corpus(path, "hotpotqa", out, limit=1) == 3


def test_raw_2wiki_json_joins_sentences_with_spaces(tmp_path: Path) -> None:
    path = write_json(tmp_path / "dev.json", TWOWIKI_RAW, indent=None)
    (question,) = load_benchmark(path, "2wikimultihopqa")
    assert question.type == "compositional" and question.answers == ("20 March 851",)
    write_corpus(path, "2wikimultihopqa", tmp_path / "c.jsonl")
    text = json.loads((tmp_path / "c.jsonl").read_text(encoding="utf-8").splitlines()[0])["text"]
    assert text == "Lothair II was a king. His mother was Ermengarde of Tours."
    assert join_sentences(["A.", " B.", "C."]) == "A. B. C."


def test_raw_musique_jsonl(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "musique_ans_v1.0_dev.jsonl", MUSIQUE_RAW)
    assert detect_format(path) == "musique-jsonl"
    (question,) = load_benchmark(path, "musique")
    assert question.answers == ("Kris Benson", "Kris") and question.type == "3hop"
    assert question.supporting_titles == ("Anna Benson", "Kris Benson") and len(question.context_ids) == 3


def test_bad_raw_records_name_file_line_and_record(tmp_path: Path) -> None:
    broken = [HOTPOT_RAW[0], {k: v for k, v in HOTPOT_RAW[1].items() if k != "answer"}]
    path = write_json(tmp_path / "dev.json", broken, indent=1)
    line = 1 + json.dumps(broken, indent=1).split("\n").index(" {", 2)
    with pytest.raises(InputDataError, match=rf"dev.json:{line}: record 1: missing field 'answer'"):
        load_benchmark(path, "hotpotqa")
    path.write_text("[" + json.dumps(HOTPOT_RAW[0]) + ",\n {bad}]", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"dev.json:2: malformed JSON"):
        load_benchmark(path, "hotpotqa")
    bad = dict(MUSIQUE_RAW[0], paragraphs=[{"title": "T"}])
    path = write_jsonl(tmp_path / "m.jsonl", [MUSIQUE_RAW[0], bad])
    with pytest.raises(InputDataError, match=r"m.jsonl:2: missing field 'paragraph_text'"):
        load_benchmark(path, "musique")


def test_unknown_dataset_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_benchmark(SAMPLE_QUESTIONS, "nq")
    with pytest.raises(InputNotFoundError):
        load_benchmark(tmp_path / "nope.jsonl", "hotpotqa")


def test_context_only_corpus(tmp_path: Path) -> None:
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl", [{"id": f"c{i}", "title": f"T{i}", "text": f"text {i}"} for i in range(5)]
    )
    questions = write_jsonl(
        tmp_path / "q.jsonl", [{"id": "q", "question": "q?", "answers": ["a"], "context_ids": ["c1", "c3"]}]
    )
    loaded = load_benchmark(questions, "hotpotqa")
    out = prepare_corpus("hotpotqa", questions, corpus, tmp_path / "work", context_of=loaded)
    assert [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()] == ["c1", "c3"]
    assert prepare_corpus("hotpotqa", questions, corpus, tmp_path / "work") == corpus
    with pytest.raises(ConfigError, match="give --corpus"):
        prepare_corpus("hotpotqa", questions, None, tmp_path / "work")
    raw = write_json(tmp_path / "dev.json", HOTPOT_RAW)
    emitted = prepare_corpus("hotpotqa", raw, None, tmp_path / "work")
    assert len(emitted.read_text(encoding="utf-8").splitlines()) == 3


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data is not here")
@pytest.mark.parametrize("dataset", DATASETS)
def test_the_shared_dev_sets_load(dataset: str) -> None:
    questions = load_benchmark(SHARED_DATA / dataset / "dev.jsonl", dataset)
    assert len(questions) > 100
    assert all(q.answers and q.supporting_ids and q.question for q in questions)
    types = {q.type for q in questions}
    if dataset == "musique":
        assert types <= {"2hop", "3hop", "4hop"}
    else:
        assert "comparison" in types
