"""The packaged MiniLM on ONNX Runtime gives torch's vectors (fp32), or vectors close to them (int8)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.embedder_runtime import EmbedderRuntime, cpu_quantization_config
from retrieval.embedders import SentenceTransformerEmbedder, packaged_model_path
from retrieval.errors import DependencyError
from retrieval.onnx_export import FP32_FILE, MIN_INT8_COSINE, quantized_file_name

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEXTS = [
    "short",
    "  Ada Lovelace wrote the first published computer program.  ",
    "Who designed the Analytical Engine that Ada Lovelace wrote about?",
    "Charles Babbage " * 200,  # past the 256-token limit: truncated the same way
    "Berlin is the capital of Germany. " * 8,
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: pip install onnxruntime onnx")
    try:
        packaged_model_path()
    except DependencyError as exc:
        pytest.skip(f"the packaged MiniLM is not installed: {exc}")
    return tmp_path_factory.mktemp("embedders")


@pytest.fixture(scope="module")
def torch_vectors(cache: Path) -> np.ndarray:
    return SentenceTransformerEmbedder(backend="torch", batch_size=2).embed(TEXTS)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_onnx_fp32_gives_torch_vectors(cache: Path, torch_vectors: np.ndarray) -> None:
    embedder = SentenceTransformerEmbedder(backend="onnx", batch_size=2, cache_dir=cache)
    assert embedder.runtime == EmbedderRuntime("onnx", None, FP32_FILE)
    vectors = embedder.embed(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == torch_vectors.shape
    assert _cosines(vectors, torch_vectors).min() > 0.999
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    (folder,) = (p for p in cache.iterdir() if not p.name.startswith("."))
    assert json.loads((folder / "export.json").read_text())["min_probe_cosine_to_torch"] >= 0.999
    together = embedder.embed(TEXTS[1:3])  # padding to another batch's length changes nothing
    assert _cosines(together, vectors[1:3]).min() > 0.99999


def test_onnx_int8_stays_close_to_torch(cache: Path, torch_vectors: np.ndarray) -> None:
    config = cpu_quantization_config()
    if config is None:
        pytest.skip("no int8 configuration fits this CPU")
    embedder = SentenceTransformerEmbedder(backend="onnx-int8", batch_size=2, cache_dir=cache)
    assert embedder.runtime == EmbedderRuntime("onnx", config, quantized_file_name(config))
    assert _cosines(embedder.embed(TEXTS), torch_vectors).min() > MIN_INT8_COSINE
    (folder,) = (p for p in cache.iterdir() if not p.name.startswith("."))
    record = json.loads((folder / f"quality_{config}.json").read_text())
    assert record["min_probe_cosine"] >= MIN_INT8_COSINE
    auto = SentenceTransformerEmbedder(cache_dir=cache)  # the quality check is recorded: the same choice again
    assert auto.runtime == embedder.runtime
    assert sorted(p.name for p in cache.iterdir()) == [folder.name]  # no staging folders left
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no partial files left


def test_switching_runtime_gives_that_runtime_vectors(cache: Path, torch_vectors: np.ndarray) -> None:
    onnx = SentenceTransformerEmbedder(backend="onnx", cache_dir=cache)
    torch = onnx.on_runtime(EmbedderRuntime())
    assert torch.runtime == EmbedderRuntime() and onnx.on_runtime(EmbedderRuntime()) is torch
    assert np.allclose(torch.embed(TEXTS), torch_vectors, atol=1e-5)


def test_auto_embeds_with_torch_where_onnxruntime_is_missing(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert SentenceTransformerEmbedder(cache_dir=cache).runtime == EmbedderRuntime()
