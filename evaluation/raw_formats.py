"""The official raw formats of HotpotQA, 2WikiMultiHopQA and MuSiQue, and their paragraphs as a corpus.

- HotpotQA and 2WikiMultiHopQA: one JSON list of records with `_id`, `question`, `answer`,
  `supporting_facts` ([title, sentence index] pairs), `context` ([title, [sentences]] pairs), `type`
  (HotpotQA also `level`, 2Wiki also `evidences`). The gold paragraphs are the context paragraphs whose
  titles the supporting facts name.
- MuSiQue: JSON Lines with `id`, `question`, `answer`, `answer_aliases`, `paragraphs` (`idx`, `title`,
  `paragraph_text`, `is_supporting`) and `question_decomposition`.

Paragraph ids are content-derived (`<dataset>-` + a hash of title and text), so the same paragraph in
the context of several questions is one corpus record, and the gold ids of a question are the ids of its
supporting paragraphs in the corpus `write_corpus` emits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.datasets import Question, QuestionFormat, check_dataset, detect_format, iter_jsonl, open_text
from evaluation.datasets import question_type as type_of
from retrieval.errors import InputDataError


@dataclass(frozen=True)
class Paragraph:
    id: str
    title: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "text": self.text}


@dataclass(frozen=True)
class RawRecord:
    question: Question
    paragraphs: tuple[Paragraph, ...]  # the question's own context paragraphs


def paragraph_id(dataset: str, title: str, text: str) -> str:
    digest = hashlib.blake2b(f"{title}\n{text}".encode(), digest_size=8).hexdigest()
    return f"{dataset}-{digest}"


def iter_raw_records(path: Path, dataset: str, fmt: QuestionFormat | None = None) -> Iterator[RawRecord]:
    """The records of a raw-format file; a bad record raises InputDataError naming the file and line."""
    check_dataset(dataset)
    fmt = fmt or detect_format(path)
    if fmt == "hotpotqa-json":
        for line_no, index, record in _iter_json_list(path):
            yield _parse(path, line_no, f"record {index}: ", lambda r=record: _hotpot_record(r, dataset))
    elif fmt == "musique-jsonl":
        for line_no, record in iter_jsonl(path):
            yield _parse(path, line_no, "", lambda r=record: _musique_record(r, dataset))
    else:
        raise InputDataError("not a raw HotpotQA, 2WikiMultiHopQA or MuSiQue file", source=str(path))


def write_corpus(path: Path, dataset: str, out: Path, limit: int | None = None) -> int:
    """Write the distinct context paragraphs of a raw-format file (of its first `limit` questions) as
    JSONL {id, title, text}; their count."""
    seen: set[str] = set()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        for count, record in enumerate(iter_raw_records(path, dataset)):
            if limit is not None and count >= limit:
                break
            for paragraph in record.paragraphs:
                if paragraph.id not in seen:
                    seen.add(paragraph.id)
                    handle.write(json.dumps(paragraph.to_json(), ensure_ascii=False) + "\n")
    partial.replace(out)
    return len(seen)


def _parse(path: Path, line_no: int, where: str, parse: Any) -> RawRecord:
    try:
        record: RawRecord = parse()
    except KeyError as exc:
        raise InputDataError(f"{where}missing field {exc}", source=str(path), line=line_no) from exc
    except (TypeError, ValueError, IndexError, AttributeError) as exc:
        raise InputDataError(f"{where}bad record: {exc}", source=str(path), line=line_no) from exc
    return record


def _iter_json_list(path: Path) -> Iterator[tuple[int, int, Any]]:
    """(line, index, element) of each element of a top-level JSON list, with the line it starts on."""
    with open_text(path) as handle:
        text = handle.read()
    decoder = json.JSONDecoder()
    pos, line, counted = _skip_space(text, text.index("[") + 1), 1, 0
    index = 0
    while pos < len(text) and text[pos] != "]":
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            element, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InputDataError(f"malformed JSON: {exc.msg}", source=str(path), line=exc.lineno) from exc
        yield line, index, element
        index += 1
        pos = _skip_space(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_space(text, pos + 1)
        elif pos >= len(text) or text[pos] != "]":
            line += text.count("\n", counted, pos)
            raise InputDataError("malformed JSON: expected ',' or ']'", source=str(path), line=line)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _hotpot_record(record: dict[str, Any], dataset: str) -> RawRecord:
    if not isinstance(record, dict):
        raise TypeError("a record must be a JSON object")
    paragraphs = tuple(p for p in (_context_paragraph(dataset, entry) for entry in record["context"]) if p)
    gold_titles = _distinct(str(title) for title, _sentence in record["supporting_facts"])
    question_id = str(record["_id"])
    question = Question(
        id=question_id,
        question=_text(record["question"], "question"),
        answers=(_text(record["answer"], "answer"),),
        supporting_ids=_distinct(p.id for p in paragraphs if p.title in gold_titles),
        type=type_of(dataset, question_id, record.get("type")),
        supporting_titles=gold_titles,
        dataset=dataset,
        context_ids=_distinct(p.id for p in paragraphs),
    )
    return RawRecord(question, paragraphs)


def _musique_record(record: dict[str, Any], dataset: str) -> RawRecord:
    paragraphs: list[Paragraph] = []
    gold: list[Paragraph] = []
    for entry in record["paragraphs"]:
        paragraph = _paragraph(dataset, entry["title"], entry["paragraph_text"])
        if paragraph is not None:
            paragraphs.append(paragraph)
            if entry.get("is_supporting"):
                gold.append(paragraph)
    aliases = record.get("answer_aliases") or []
    if not isinstance(aliases, list):
        raise TypeError("answer_aliases must be a list")
    question_id = str(record["id"])
    question = Question(
        id=question_id,
        question=_text(record["question"], "question"),
        answers=_distinct([_text(record["answer"], "answer"), *(str(a) for a in aliases)]),
        supporting_ids=_distinct(p.id for p in gold),
        type=type_of(dataset, question_id, None),
        supporting_titles=_distinct(p.title for p in gold),
        dataset=dataset,
        context_ids=_distinct(p.id for p in paragraphs),
    )
    return RawRecord(question, tuple(paragraphs))


def _context_paragraph(dataset: str, entry: Any) -> Paragraph | None:
    title, sentences = entry
    if not isinstance(sentences, list):
        raise TypeError(f"the sentences of context paragraph {title!r} must be a list")
    return _paragraph(dataset, title, join_sentences(str(s) for s in sentences))


def join_sentences(sentences: Iterator[str] | list[str]) -> str:
    """HotpotQA sentences carry their leading space, 2Wiki ones do not: add one only where missing."""
    out = ""
    for sentence in sentences:
        out += sentence if not out or sentence[:1].isspace() or out[-1:].isspace() else " " + sentence
    return out.strip()


def _paragraph(dataset: str, title: object, text: object) -> Paragraph | None:
    """A context paragraph, or None for one without text (nothing to index)."""
    if not isinstance(text, str):
        raise TypeError(f"the text of paragraph {title!r} must be a string")
    if not text.strip():
        return None
    title_s = str(title)
    return Paragraph(paragraph_id(dataset, title_s, text), title_s, text)


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _distinct(values: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
