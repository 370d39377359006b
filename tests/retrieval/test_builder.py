from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval.builder import BuildOptions, build_index
from retrieval.bundle import IndexBundle
from retrieval.errors import ConfigError, InputDataError, OutputExistsError, PathOutsideRootError
from retrieval.readers import FieldMapping
from retrieval.searcher import GRAPH_MODE_NAMES, Searcher
from tests.conftest import REPO, write_jsonl
from tests.fakes import FailingEmbedder, HashingEmbedder

pytestmark = pytest.mark.unit


def _build(inputs: list[Path], out: Path, **kwargs: object) -> IndexBundle:
    build_index(inputs, out, HashingEmbedder(), **kwargs)  # type: ignore[arg-type]
    return IndexBundle.open(out)


def test_build_writes_a_complete_bundle(small_dump: Path, tmp_path: Path) -> None:
    bundle = _build([small_dump], tmp_path / "index")
    data = bundle.manifest.data
    assert data["counts"] == {"documents": 4, "passages": 4, "skipped_invalid": 0}
    assert data["embedder"] == {"name": "fake-hashing", "dimension": 64, "max_tokens": 128}
    assert data["dense"]["kind"] == "flat" and data["bm25"]["method"] == "lucene"
    assert set(data["build"]["stages"]) == {"read+chunk+store", "bm25", "embed", "faiss"}
    source = data["sources"][0]
    assert source["records"] == 4 and len(source["sha256"]) == 64 and source["format"] == "jsonl"
    assert "numpy" in data["versions"]
    assert not (tmp_path / "index" / "embeddings.tmp.npy").exists()


def test_search_modes_find_the_right_passage(small_dump: Path, tmp_path: Path) -> None:
    searcher = Searcher(_build([small_dump], tmp_path / "index"), embedder=HashingEmbedder())
    for mode in ("bm25", "dense", "hybrid"):
        hits = searcher.search("who designed the Analytical Engine", mode, 2).hits
        assert hits[0].passage.doc_id in {"d2", "d3"}, mode
        assert [h.rank for h in hits] == [1, 2]


def test_several_inputs_and_long_documents_are_chunked(small_dump: Path, tmp_path: Path) -> None:
    long_text = " ".join(f"Sentence number {i} talks about engines and numbers." for i in range(60))
    other = write_jsonl(tmp_path / "more.jsonl", [{"id": "long", "title": "Long", "contents": long_text}])
    bundle = _build([small_dump, other], tmp_path / "index")
    passages = [p for p in bundle.store.iter_passages() if p.doc_id == "long"]
    assert len(passages) > 1 and all(p.title == "Long" for p in passages)
    assert bundle.manifest.data["counts"]["documents"] == 5


def test_malformed_line_stops_the_build_and_leaves_nothing(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": \n')
    with pytest.raises(InputDataError, match=r"dump.jsonl:2: "):
        _build([dump], tmp_path / "index")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".index.lock", "dump.jsonl"]


def test_skip_invalid_counts_and_records_in_manifest(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": \n{"id": "c", "title": "no text"}\n')
    bundle = _build([dump], tmp_path / "index", options=BuildOptions(skip_invalid=True))
    data = bundle.manifest.data
    assert data["counts"]["skipped_invalid"] == 2 and data["counts"]["documents"] == 1
    assert [e["line"] for e in data["sources"][0]["skipped_examples"]] == [2, 3]


def test_duplicate_ids_across_inputs(small_dump: Path, tmp_path: Path) -> None:
    again = write_jsonl(tmp_path / "again.jsonl", [{"id": "d3", "text": "clash"}])
    with pytest.raises(InputDataError, match=r"again.jsonl:1: duplicate document id 'd3'"):
        _build([small_dump, again], tmp_path / "index")
    assert not (tmp_path / "index").exists()


def test_field_mapping(tmp_path: Path) -> None:
    dump = write_jsonl(tmp_path / "d.jsonl", [{"key": "k1", "name": "N", "body": "body text here"}])
    bundle = _build([dump], tmp_path / "index", options=BuildOptions(fields=FieldMapping("key", "name", "body")))
    passage = next(bundle.store.iter_passages())
    assert (passage.doc_id, passage.title, passage.text) == ("k1", "N", "body text here")


def test_existing_output_without_overwrite(small_dump: Path, tmp_path: Path) -> None:
    _build([small_dump], tmp_path / "index")
    with pytest.raises(OutputExistsError):
        _build([small_dump], tmp_path / "index")


def test_failed_rebuild_keeps_the_previous_index(small_dump: Path, tmp_path: Path) -> None:
    before = _build([small_dump], tmp_path / "index").manifest.data
    with pytest.raises(RuntimeError, match="on purpose"):
        build_index([small_dump], tmp_path / "index", FailingEmbedder(fail_on_call=1), overwrite=True)
    assert IndexBundle.open(tmp_path / "index").manifest.data == before
    assert not list(tmp_path.glob(".index.building-*"))


_SLOW_BUILD = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from retrieval.builder import BuildOptions, build_index
from tests.fakes import HashingEmbedder
build_index([Path(sys.argv[1])], Path(sys.argv[2]), HashingEmbedder(delay=0.5),
            BuildOptions(embed_batch=5), overwrite=True)
"""


@pytest.mark.slow
def test_kill_9_during_a_build_leaves_the_previous_index(small_dump: Path, tmp_path: Path) -> None:
    out = tmp_path / "index"
    before = _build([small_dump], out).manifest.data
    big = write_jsonl(tmp_path / "big.jsonl", [{"id": f"b{i}", "text": f"document {i}"} for i in range(200)])
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_BUILD, str(big), str(out), str(REPO)])
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".index.building-*/embeddings.tmp.npy")):
        assert proc.poll() is None and time.monotonic() < deadline, "the build ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((out / "manifest.json").read_text()) == before
    assert IndexBundle.open(out).store.document_count() == 4
    _build([small_dump], out, overwrite=True)  # the next build removes what the killed one left
    assert not list(tmp_path.glob(".index.building-*"))


def test_skip_invalid_skips_duplicate_ids_and_counts_them(small_dump: Path, tmp_path: Path) -> None:
    again = write_jsonl(
        tmp_path / "again.jsonl",
        [{"id": "d3", "text": "clash"}, {"id": "new", "text": "fresh"}, {"id": "new", "text": "x"}],
    )
    bundle = _build([small_dump, again], tmp_path / "index", options=BuildOptions(skip_invalid=True))
    data = bundle.manifest.data
    assert data["counts"] == {"documents": 5, "passages": 5, "skipped_invalid": 2}
    source = data["sources"][1]
    assert (source["records"], source["skipped"]) == (1, 2)
    assert [(e["line"], e["reason"].split(" (")[0]) for e in source["skipped_examples"]] == [
        (1, "duplicate document id 'd3'"),
        (3, "duplicate document id 'new'"),
    ]
    assert [p.text for p in bundle.store.iter_passages() if p.doc_id == "d3"] == [
        "The Analytical Engine was a proposed mechanical computer."
    ]


def test_a_root_refuses_directory_files_that_link_out(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("outside")
    docs = tmp_path / "root" / "docs"
    docs.mkdir(parents=True)
    (docs / "a.txt").write_text("inside")
    (docs / "b.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(PathOutsideRootError, match="b.txt"):
        _build([docs], tmp_path / "index", options=BuildOptions(root=tmp_path / "root"))
    assert not (tmp_path / "index").exists()
    assert _build([docs], tmp_path / "index").manifest.data["counts"]["documents"] == 2  # no root: as before


def test_graph_search_on_an_index_without_a_graph_says_so(small_dump: Path, tmp_path: Path) -> None:
    from kg.graph_search import GRAPH_MODES

    assert GRAPH_MODE_NAMES == GRAPH_MODES
    searcher = Searcher(_build([small_dump], tmp_path / "plain"), embedder=HashingEmbedder())
    for mode in GRAPH_MODES:
        with pytest.raises(ConfigError, match=rf"index 'plain' has no knowledge graph, which {re.escape(mode)} search"):
            searcher.search("Ada", mode)
    with pytest.raises(ConfigError, match="unknown search mode 'telepathy'"):
        searcher.search("Ada", "telepathy")
