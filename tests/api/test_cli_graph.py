"""`sleuth graph ...` and graph search modes, in-process, on an index built with fakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main

pytestmark = pytest.mark.unit


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_graph_info_neighbors_paths(graph_index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = str(graph_index_dir)
    info = _json(capsys, "graph", "info", index, "--json")
    assert info["section"]["counts"]["entities"] >= 8 and info["top_entities"]
    near = _json(capsys, "graph", "neighbors", "Alice Smith", "--index", index, "--hops", "2", "--json")
    names = {n["entity"]: n for n in near["neighbors"]}
    assert names["Acme Corp"]["hops"] == 1 and names["Acme Corp"]["passages"][0]["title"] == "Alice Smith"
    paths = _json(capsys, "graph", "paths", "Alice Smith", "Berlin", "--index", index, "--json")
    assert paths["paths"] and paths["paths"][0]["entities"][0] == "Alice Smith"
    assert paths["paths"][0]["entities"][-1] == "Berlin"


def test_unknown_entity_and_graphless_index(
    graph_index_dir: Path,
    small_dump: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert main(["graph", "neighbors", "Nobody Atall", "--index", str(graph_index_dir)]) == 64
    assert "no entity named 'Nobody Atall'" in capsys.readouterr().err
    from api import cli_index
    from tests.fakes import HashingEmbedder

    monkeypatch.setattr(cli_index, "SentenceTransformerEmbedder", lambda *a, **k: HashingEmbedder())
    assert main(["index", "build", "--input", str(small_dump), "--out", str(tmp_path / "plain"), "--no-kg"]) == 0
    capsys.readouterr()
    assert main(["search", "London", "--index", str(tmp_path / "plain"), "--mode", "graph"]) == 66
    assert "no knowledge graph" in capsys.readouterr().err
    assert main(["graph", "info", str(tmp_path / "plain")]) == 66
