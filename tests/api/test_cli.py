"""The command line in-process, with the fake embedder: exit statuses and messages of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api import cli_index
from api.cli import main
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_index, "SentenceTransformerEmbedder", lambda *a, **k: HashingEmbedder())


def _build(*args: str) -> int:
    return main(["index", "build", *args])


def test_build_info_search(small_dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "index"
    assert _build("--input", str(small_dump), "--out", str(out), "--no-kg") == 0
    assert "passages 4" in capsys.readouterr().out
    assert main(["index", "info", str(out), "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["counts"]["documents"] == 4 and "--no-kg" in manifest["graph"]["reason"]
    assert main(["search", "capital of England", "--index", str(out), "--mode", "bm25", "-k", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"hits", "seconds"}
    assert set(result["hits"][0]) == {"id", "doc_id", "title", "text", "score", "rank"}
    assert result["hits"][0]["doc_id"] == "d4"


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b'{"id": "a", "text": "ok"}\n{"id": oops}\n', 65, "dump.jsonl:2: "),
        (b'{"id": "a", "title": "no text"}\n', 65, "dump.jsonl:1: "),
        (b"", 65, "no documents"),
        (b'{"id": "a", "text": "caf\xe9"}\n', 65, "dump.jsonl:1: "),
        (b'{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', 65, "duplicate document id 'a'"),
    ],
    ids=["malformed-json", "no-text", "empty-dump", "not-utf8", "duplicate-ids"],
)
def test_bad_input_one_line_error_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, status: int, message: str
) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(content)
    assert _build("--input", str(dump), "--out", str(tmp_path / "index")) == status
    err = capsys.readouterr().err.strip()
    assert err.startswith("sleuth: error: ") and message in err and "\n" not in err
    assert not (tmp_path / "index").exists() and not list(tmp_path.glob(".index.building-*"))


def test_skip_invalid_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"id": "a", "text": "ok"}\n{"id": oops}\n')
    assert _build("--input", str(dump), "--out", str(tmp_path / "index"), "--skip-invalid") == 0
    assert "skipped 1" in capsys.readouterr().out


def test_existing_output_and_missing_input(
    small_dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "index"
    assert _build("--input", str(small_dump), "--out", str(out)) == 0
    assert _build("--input", str(small_dump), "--out", str(out)) == 73
    assert "--overwrite" in capsys.readouterr().err
    assert _build("--input", str(small_dump), "--out", str(out), "--overwrite") == 0
    assert _build("--input", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "x")) == 66


def test_search_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "q", "--index", str(tmp_path / "none")]) == 66
    assert "no index at" in capsys.readouterr().err


def test_csv_and_directory_inputs(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,title,text\n1,One,first text\n")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.md").write_text("# Note\nmarkdown body")
    assert _build("--input", str(tmp_path / "a.csv"), str(docs), "--out", str(tmp_path / "index")) == 0


def test_skip_invalid_skips_duplicate_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"id": "a", "text": "ok"}\n{"id": "a", "text": "again"}\n{"id": "b", "text": "fine"}\n')
    assert _build("--input", str(dump), "--out", str(tmp_path / "index"), "--skip-invalid") == 0
    assert "documents 2  passages 2  skipped 1" in capsys.readouterr().out


def test_data_root_refuses_links_out_of_it(
    small_dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "secret.txt").write_text("outside")
    docs = tmp_path / "root" / "docs"
    docs.mkdir(parents=True)
    (docs / "a.txt").write_text("inside")
    (docs / "b.txt").symlink_to(tmp_path / "secret.txt")
    out = tmp_path / "index"
    assert _build("--input", str(docs), "--out", str(out), "--data-root", str(tmp_path / "root")) == 64
    assert "b.txt: a symbolic link to a file outside" in capsys.readouterr().err and not out.exists()
    assert _build("--input", str(small_dump), "--out", str(out), "--data-root", str(docs)) == 64
    assert _build("--input", str(docs), "--out", str(out)) == 0  # without a root: followed, as before


def test_info_into_a_closed_pipe_exits_quietly(small_dump: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    out = tmp_path / "index"
    assert _build("--input", str(small_dump), "--out", str(out), "--no-kg") == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written, as `| head` is after its lines
    try:
        done = subprocess.run(
            [sys.executable, "-m", "api.cli", "index", "info", str(out)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=REPO,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.stderr.decode() == ""  # no BrokenPipeError traceback
    assert done.returncode == 141


def test_build_takes_the_embedder_backend_from_the_flag_or_the_environment(
    small_dump: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from retrieval.embedder_runtime import EmbedderRuntime
    from tests.fakes import RuntimeHashingEmbedder

    asked: list[str] = []
    int8 = EmbedderRuntime("onnx", "avx2", "model_qint8_avx2.onnx")

    def embedder(*args: object, backend: str = "auto", **kwargs: object) -> RuntimeHashingEmbedder:
        asked.append(backend)
        return RuntimeHashingEmbedder(int8 if backend != "torch" else None)

    monkeypatch.setattr(cli_index, "SentenceTransformerEmbedder", embedder)
    monkeypatch.setenv("SLEUTH_EMBEDDER_BACKEND", "onnx-int8")
    assert _build("--input", str(small_dump), "--out", str(tmp_path / "a"), "--no-kg") == 0
    assert "onnx int8 (avx2)" in capsys.readouterr().out  # the summary names the runtime
    torch = ("--no-kg", "--embedder-backend", "torch")
    assert _build("--input", str(small_dump), "--out", str(tmp_path / "b"), *torch) == 0
    assert asked == ["onnx-int8", "torch"]
    capsys.readouterr()
    assert main(["index", "info", str(tmp_path / "a"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["embedder"]["quantization"] == "avx2"
