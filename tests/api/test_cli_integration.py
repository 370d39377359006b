"""The installed `sleuth` command end to end with the real MiniLM embedder on the bundled sample corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_CORPUS

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _sleuth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture
def sample_index(real_sample_index: Path) -> Path:
    return real_sample_index


def test_info_reports_the_real_embedder(sample_index: Path) -> None:
    done = _sleuth("index", "info", str(sample_index), "--json")
    manifest = json.loads(done.stdout)
    assert manifest["embedder"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["embedder"]["dimension"] == 384
    assert manifest["counts"]["documents"] == 249


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_search_finds_the_gold_paragraph(sample_index: Path, mode: str) -> None:
    done = _sleuth(
        "search",
        "When was the director Scott Derrickson born?",
        "--index",
        str(sample_index),
        "--mode",
        mode,
        "-k",
        "3",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert "hotpotqa-000001" in [h["doc_id"] for h in hits]  # the Scott Derrickson paragraph
    if mode != "dense":  # the name is the whole signal for BM25, and BM25 leads the fusion
        assert hits[0]["title"] == "Scott Derrickson"


def test_unknown_embedder_is_a_clear_error(tmp_path: Path) -> None:
    done = _sleuth(
        "index",
        "build",
        "--input",
        str(SAMPLE_CORPUS),
        "--out",
        str(tmp_path / "i"),
        "--embedder",
        str(tmp_path / "no-such-model"),
    )
    assert done.returncode == 69 and "cannot load embedder" in done.stderr
    assert not (tmp_path / "i").exists()
