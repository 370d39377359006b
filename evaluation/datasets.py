"""Multi-hop QA questions in the format of ../shared/data (one JSON object per line)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import InputDataError

DATASETS = ("hotpotqa", "2wikimultihopqa", "musique")


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]
    supporting_ids: tuple[str, ...]
    type: str


def load_questions(path: Path, limit: int | None = None) -> list[Question]:
    questions: list[Question] = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if limit is not None and len(questions) >= limit:
                break
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                questions.append(
                    Question(
                        id=str(record["id"]),
                        question=str(record["question"]),
                        answers=tuple(str(a) for a in record.get("answers") or ()),
                        supporting_ids=tuple(str(i) for i in record.get("supporting_ids") or ()),
                        type=str(record.get("type") or ""),
                    )
                )
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise InputDataError(f"bad question record: {exc}", source=str(path), line=line_no) from exc
    return questions
