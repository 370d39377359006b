"""Multi-hop QA questions: the format of ../shared/data and the official raw formats of the three sets.

`load_questions` reads the shared format (one JSON object per line: `id`, `question`, `answers`,
`supporting_ids`, `supporting_titles`, `type`). `load_benchmark` reads any of the supported formats of a
named dataset, telling them apart by their content:

| format | file | recognised by |
|---|---|---|
| `sleuth` | JSON Lines, the shared format | an object per line without `paragraphs` |
| `hotpotqa-json` | HotpotQA / 2WikiMultiHopQA official JSON: one list of records with `_id`, `context` | a `[` first |
| `musique-jsonl` | MuSiQue official JSON Lines with `paragraphs` and `answer_aliases` | `paragraphs` in a record |

The raw formats are read by `evaluation.raw_formats`, which also writes their context paragraphs out as a
corpus to index. A MuSiQue question's type is its hop count (`2hop`, `3hop`, `4hop`) from the id prefix.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any, Literal

from retrieval.errors import ConfigError, InputDataError, InputNotFoundError

DATASETS = ("hotpotqa", "2wikimultihopqa", "musique")
QuestionFormat = Literal["sleuth", "hotpotqa-json", "musique-jsonl"]
_HOPS = re.compile(r"^(\d+hop)")


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]  # the gold answer first, then its aliases
    supporting_ids: tuple[str, ...]  # corpus ids of the gold paragraphs
    type: str
    supporting_titles: tuple[str, ...] = ()
    dataset: str = ""
    context_ids: tuple[str, ...] = ()  # corpus ids of the question's own paragraphs (gold and distractors)


def load_questions(path: Path, limit: int | None = None, *, dataset: str = "", skip: int = 0) -> list[Question]:
    """Questions in the shared format (the first `limit` of them after the first `skip`)."""
    return _select(_iter_shared(path, dataset), limit, skip)


def load_benchmark(path: Path, dataset: str, limit: int | None = None, skip: int = 0) -> list[Question]:
    """Questions of `dataset` from a file in any supported format (see the module docstring): the first
    `limit` after the first `skip` (how a set is split into evaluation and practice questions)."""
    check_dataset(dataset)
    fmt = detect_format(path)
    if fmt == "sleuth":
        return load_questions(path, limit, dataset=dataset, skip=skip)
    from evaluation.raw_formats import iter_raw_records

    return _select((record.question for record in iter_raw_records(path, dataset, fmt)), limit, skip)


def _iter_shared(path: Path, dataset: str) -> Iterator[Question]:
    for line_no, record in iter_jsonl(path):
        try:
            yield _shared_question(record, dataset)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputDataError(f"bad question record: {_describe(exc)}", source=str(path), line=line_no) from exc


def _select(questions: Iterator[Question], limit: int | None, skip: int) -> list[Question]:
    if skip < 0 or (limit is not None and limit < 1):
        raise ConfigError(f"skip must be >= 0 and limit positive, got skip {skip}, limit {limit}")
    return list(islice(questions, skip, None if limit is None else skip + limit))


def check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}: use one of {', '.join(DATASETS)}")
    return dataset


def detect_format(path: Path) -> QuestionFormat:
    """Which question format a file holds, from its first record."""
    if not Path(path).is_file():
        raise InputNotFoundError(f"questions file not found: {path}")
    with open_text(path) as handle:
        head = handle.read(1 << 16)
    stripped = head.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise InputDataError("the questions file is empty", source=str(path))
    if stripped.startswith("["):
        return "hotpotqa-json"
    first_line = stripped.split("\n", 1)[0]
    try:
        first = json.loads(first_line)
    except json.JSONDecodeError:
        return "sleuth"  # a first line longer than the peek, or bad JSON: the line reader names the problem
    return "musique-jsonl" if isinstance(first, dict) and "paragraphs" in first else "sleuth"


def question_type(dataset: str, question_id: str, raw_type: object) -> str:
    """The type used in breakdowns: the set's own type; for MuSiQue the hop count from the id prefix."""
    if dataset == "musique":
        for source in (question_id, str(raw_type or "")):
            match = _HOPS.match(source)
            if match:
                return match.group(1)
    return str(raw_type or "")


def open_text(path: Path) -> IO[str]:
    if Path(path).suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line raises InputDataError naming it."""
    with open_text(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputDataError(f"malformed JSON: {exc.msg}", source=str(path), line=line_no) from exc
            if not isinstance(record, dict):
                raise InputDataError("a record must be a JSON object", source=str(path), line=line_no)
            yield line_no, record


def _shared_question(record: dict[str, Any], dataset: str) -> Question:
    question_id = str(record["id"])
    text = record["question"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty question")
    return Question(
        id=question_id,
        question=text,
        answers=_strings(record.get("answers"), "answers"),
        supporting_ids=_strings(record.get("supporting_ids"), "supporting_ids"),
        type=question_type(dataset, question_id, record.get("type")),
        supporting_titles=_strings(record.get("supporting_titles"), "supporting_titles"),
        dataset=dataset,
        context_ids=_strings(record.get("context_ids"), "context_ids"),
    )


def _strings(value: object, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TypeError(f"{name} must be a list, got {type(value).__name__}")
    return tuple(str(v) for v in value)


def _describe(exc: Exception) -> str:
    return f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
