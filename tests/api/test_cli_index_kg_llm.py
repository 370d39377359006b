"""`sleuth index build --kg-llm SPEC [--kg-llm-limit N]` and `sleuth graph build --kg-llm`, in-process,
with the fake embedder, the packaged spaCy NER and a scripted LLM in place of the model the spec names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api import cli_graph, cli_index
from api.cli import main
from reasoning.llm.scripted import ScriptedLLM
from retrieval.bundle import IndexBundle
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.unit

TRIPLES = json.dumps(
    {"triples": [{"subject": "Ada Lovelace", "relation": "wrote", "object": "the first published computer program"}]}
)


@pytest.fixture
def specs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The specs the command asked for; each gets a scripted LLM that reads one triple from Ada's page."""
    asked: list[str] = []

    def scripted(spec: str) -> ScriptedLLM:
        asked.append(spec)
        return ScriptedLLM([("Title: Ada Lovelace", TRIPLES)], default='{"triples": []}')

    monkeypatch.setattr(cli_index, "SentenceTransformerEmbedder", lambda *a, **k: HashingEmbedder())
    monkeypatch.setattr(cli_graph, "relation_llm", scripted)
    return asked


def test_build_with_relation_extraction(
    small_dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], specs: list[str]
) -> None:
    out = tmp_path / "index"
    argv = ["index", "build", "--input", str(small_dump), "--out", str(out)]
    assert main([*argv, "--kg-llm", "llama-cpp:qwen2.5-coder-0.5b", "--kg-llm-limit", "2"]) == 0
    assert specs == ["llama-cpp:qwen2.5-coder-0.5b"]
    printed = capsys.readouterr().out
    assert "relations 1 triples from 2 passages by llama-cpp:qwen2.5-coder-0.5b (0 failures" in printed
    graph = IndexBundle.open(out).manifest.data["graph"]
    relations = graph["llm_relations"]
    assert relations["used"] and relations["model"] == "llama-cpp:qwen2.5-coder-0.5b"
    assert (relations["limit"], relations["passages"], relations["triples"], relations["failures"]) == (2, 2, 1, 0)
    assert graph["counts"]["relation_edges"] == 1


def test_graph_build_adds_relations_to_an_existing_index(
    small_dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], specs: list[str]
) -> None:
    out = tmp_path / "index"
    assert main(["index", "build", "--input", str(small_dump), "--out", str(out)]) == 0
    assert not IndexBundle.open(out).manifest.data["graph"]["llm_relations"]["used"] and specs == []
    assert main(["graph", "build", str(out), "--kg-llm", "openai:http://127.0.0.1:1/v1#m"]) == 0
    relations = IndexBundle.open(out).manifest.data["graph"]["llm_relations"]
    assert relations["passages"] == 4 and relations["limit"] is None and relations["triples"] == 1
    assert "relation_edges 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--kg-llm", "x:y", "--kg-llm-limit", "-3"], "--kg-llm-limit must be at least 1 passage, got -3"),
        (["--kg-llm", "x:y", "--kg-llm-limit", "0"], "--kg-llm-limit must be at least 1 passage, got 0"),
        (["--kg-llm-limit", "5"], "--kg-llm-limit needs --kg-llm SPEC"),
        (["--kg-llm", "x:y", "--no-kg"], "cannot go with --no-kg"),
        (["--kg-llm", " "], "--kg-llm needs a model spec"),
    ],
    ids=["negative-limit", "zero-limit", "limit-without-llm", "with-no-kg", "empty-spec"],
)
def test_bad_options_fail_before_anything_is_built(
    small_dump: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    specs: list[str],
    options: list[str],
    message: str,
) -> None:
    out = tmp_path / "index"
    assert main(["index", "build", "--input", str(small_dump), "--out", str(out), *options]) == 64
    err = capsys.readouterr().err
    assert message in err and specs == [] and not out.exists()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("qwen2.5-coder-0.5b", "unknown LLM backend 'qwen2.5-coder-0.5b'"),
        ("llama-cpp:qwen-9000", "unknown llama-cpp model 'qwen-9000'"),
        ("openai:http://127.0.0.1:1/v1", "an openai spec names its model after '#'"),
    ],
)
def test_bad_spec_is_a_clear_error(
    small_dump: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    spec: str,
    message: str,
) -> None:
    monkeypatch.setattr(cli_index, "SentenceTransformerEmbedder", lambda *a, **k: HashingEmbedder())
    out = tmp_path / "index"
    assert main(["index", "build", "--input", str(small_dump), "--out", str(out), "--kg-llm", spec]) == 64
    assert message in capsys.readouterr().err and not out.exists()


def test_the_backend_is_asked_in_chat_form_under_the_schema() -> None:
    from kg.openie import TRIPLE_SCHEMA, LLMTripleExtractor

    backend = ScriptedLLM([("Title: Ada Lovelace", TRIPLES)])
    extractor = LLMTripleExtractor(cli_graph.ChatCompletions(backend), grounded=True)
    passage = ("Ada Lovelace", "Ada Lovelace wrote the first published computer program.")
    assert [t.object for t in next(extractor.extract([passage]))] == ["the first published computer program"]
    (call,) = backend.calls
    prompt = call.prompts[0]
    assert isinstance(prompt, list) and len(prompt) == 1 and prompt[0]["role"] == "user"
    assert "Title: Ada Lovelace" in prompt[0]["content"]
    assert call.params.json_schema == TRIPLE_SCHEMA and call.params.temperature == 0.0
