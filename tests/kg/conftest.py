from __future__ import annotations

from pathlib import Path

import pytest

from kg.graph_stage import GraphBuildConfig, KnowledgeGraphStage
from retrieval.builder import build_index
from tests.conftest import write_jsonl
from tests.fakes import GazetteerExtractor, HashingEmbedder

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
    stage = KnowledgeGraphStage(GazetteerExtractor(NAMES), GraphBuildConfig())
    build_index([dump], tmp_path / "index", HashingEmbedder(), extra_stages=[stage])
    return tmp_path / "index"
