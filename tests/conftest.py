from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE_CORPUS = REPO / "retrieval" / "samples" / "hotpotqa_sample.jsonl"
SAMPLE_QUESTIONS = REPO / "retrieval" / "samples" / "hotpotqa_sample_questions.jsonl"


@pytest.fixture(scope="session")
def real_sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample corpus indexed by the installed `sleuth` with the real MiniLM and spaCy."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("sample") / "index"
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "index", "build", "--input", str(SAMPLE_CORPUS), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    assert "built index" in done.stdout
    return out


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


NAMES = {
    "Alice Smith": "PERSON",
    "Acme Corp": "ORG",
    "Acme Corporation": "ORG",
    "Berlin": "GPE",
    "Germany": "GPE",
    "1990": "DATE",
    "Bob Jones": "PERSON",
    "Paris": "GPE",
}

DOCS = [
    {
        "id": "alice",
        "title": "Alice Smith",
        "text": "Alice Smith founded Acme Corp in 1990. She was born in Paris.",
    },
    {
        "id": "acme",
        "title": "Acme Corporation",
        "text": "Acme Corporation is based in Berlin. It grew fast in 1990.",
    },
    {"id": "berlin", "title": "Berlin", "text": "Berlin is the capital of Germany. The wall fell in 1990."},
    {"id": "bob", "title": "Bob Jones", "text": "Bob Jones was a painter from Paris. He liked 1990 music."},
    {"id": "paris", "title": "Paris", "text": "Paris is a city. It hosted a fair in 1990."},
]


@pytest.fixture
def graph_index_dir(tmp_path: Path) -> Path:
    dump = write_jsonl(tmp_path / "docs.jsonl", DOCS)
    from kg.graph_stage import GraphBuildConfig, KnowledgeGraphStage
    from retrieval.builder import build_index
    from tests.fakes import GazetteerExtractor, HashingEmbedder

    stage = KnowledgeGraphStage(GazetteerExtractor(NAMES), GraphBuildConfig())
    build_index([dump], tmp_path / "index", HashingEmbedder(), extra_stages=[stage])
    return tmp_path / "index"
