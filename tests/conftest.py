from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE_CORPUS = REPO / "retrieval" / "samples" / "hotpotqa_sample.jsonl"
SAMPLE_QUESTIONS = REPO / "retrieval" / "samples" / "hotpotqa_sample_questions.jsonl"


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def small_dump(tmp_path: Path) -> Path:
    records = [
        {
            "id": "d1",
            "title": "Ada Lovelace",
            "text": "Ada Lovelace wrote the first published computer program.",
        },
        {"id": "d2", "title": "Charles Babbage", "text": "Charles Babbage designed the Analytical Engine."},
        {
            "id": "d3",
            "title": "Analytical Engine",
            "text": "The Analytical Engine was a proposed mechanical computer.",
        },
        {"id": "d4", "title": "London", "text": "London is the capital city of England."},
    ]
    return write_jsonl(tmp_path / "dump.jsonl", records)
