"""The embedder's runtime (torch, ONNX Runtime fp32 or int8): chosen, recorded in the manifest, and matched by
every later use of the index (searches, incremental adds, shards), without the real model."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from retrieval import onnx_export, onnx_runtime
from retrieval.builder import BuildOptions, build_index
from retrieval.bundle import IndexBundle
from retrieval.cpu_features import cpu_flags
from retrieval.documents import Document
from retrieval.embedder_runtime import (
    EmbedderRuntime,
    cpu_quantization_config,
    embedder_section,
    matching_embedder,
)
from retrieval.errors import DependencyError, IndexLoadError
from retrieval.incremental import add_documents
from retrieval.onnx_runtime import start_runtime
from retrieval.searcher import Searcher
from retrieval.sharding import embed_shard, prepare_shards
from tests.fakes import HashingEmbedder, RuntimeHashingEmbedder

pytestmark = pytest.mark.unit

INT8 = EmbedderRuntime("onnx", "avx2", "model_qint8_avx2.onnx")
FP32 = EmbedderRuntime("onnx", None, "model.onnx")
TORCH = EmbedderRuntime()


@pytest.mark.parametrize("runtime", [TORCH, FP32, INT8, EmbedderRuntime("onnx", "avx512_vnni", "x.onnx")])
def test_runtime_round_trips_through_the_manifest(runtime: EmbedderRuntime) -> None:
    section = {"name": "m", "dimension": 8, "max_tokens": 16, **runtime.as_manifest()}
    assert EmbedderRuntime.from_manifest(section) == runtime


def test_manifest_without_a_runtime_was_embedded_by_torch() -> None:
    assert EmbedderRuntime.from_manifest({"name": "m", "dimension": 8, "max_tokens": 16}) == TORCH
    assert TORCH.describe() == "torch" and FP32.describe() == "onnx fp32"
    assert INT8.describe() == "onnx int8 (avx2)"


@pytest.mark.parametrize(
    "section",
    [{"backend": "openvino"}, {"backend": "onnx", "quantization": "avx9000", "file": "model.onnx"}],
)
def test_unknown_runtime_in_a_manifest_is_a_load_error(section: dict[str, Any]) -> None:
    with pytest.raises(IndexLoadError, match="unknown to this version"):
        EmbedderRuntime.from_manifest(section)


def test_torch_runtime_has_no_onnx_file() -> None:
    with pytest.raises(ValueError, match="no quantization"):
        EmbedderRuntime("torch", "avx2", None)
    with pytest.raises(ValueError, match="unknown quantization"):
        EmbedderRuntime("onnx", "fp8", "model.onnx")


@pytest.mark.parametrize(
    ("flags", "machine", "config"),
    [
        ({"avx2", "avx512f", "avx512bw", "avx512_vnni"}, "x86_64", "avx512_vnni"),
        ({"avx2", "avx512f", "avx512bw", "avx512vl"}, "x86_64", "avx512"),
        ({"avx2", "avx512f"}, "x86_64", "avx2"),  # AVX-512 without BW: its int8 kernels need BW
        ({"avx", "avx2", "fma"}, "x86_64", "avx2"),
        ({"sse4_2", "avx"}, "x86_64", None),
        (set(), "aarch64", "arm64"),
        (set(), "arm64", "arm64"),
    ],
)
def test_cpu_quantization_config(flags: set[str], machine: str, config: str | None) -> None:
    assert cpu_quantization_config(frozenset(flags), machine) == config


def test_cpu_flags_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse avx2 avx512_vnni\n")
    assert cpu_flags(cpuinfo) == frozenset({"fpu", "sse", "avx2", "avx512_vnni"})
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_embedder_section_records_the_runtime_where_the_embedder_has_one() -> None:
    section = embedder_section(RuntimeHashingEmbedder(INT8))
    assert section == {
        "name": "fake-hashing",
        "dimension": 64,
        "max_tokens": 128,
        "backend": "onnx",
        "quantization": "avx2",
        "file": "model_qint8_avx2.onnx",
    }
    assert embedder_section(HashingEmbedder()) == {"name": "fake-hashing", "dimension": 64, "max_tokens": 128}


def test_matching_embedder_switches_to_the_recorded_runtime() -> None:
    embedder = RuntimeHashingEmbedder(TORCH)
    matched = matching_embedder(embedder, embedder_section(RuntimeHashingEmbedder(INT8)))
    assert matched.runtime == INT8 and embedder.switched_to == [INT8]
    assert matching_embedder(embedder, embedder_section(RuntimeHashingEmbedder(TORCH))) is embedder
    legacy = {"name": "fake-hashing", "dimension": 64, "max_tokens": 128}  # written before runtimes were recorded
    assert matching_embedder(RuntimeHashingEmbedder(INT8), legacy).runtime == TORCH
    plain = HashingEmbedder()
    assert matching_embedder(plain, embedder_section(RuntimeHashingEmbedder(INT8))) is plain


def test_index_built_on_one_runtime_is_searched_and_extended_on_it(small_dump: Path, tmp_path: Path) -> None:
    out = tmp_path / "index"
    build_index([small_dump], out, RuntimeHashingEmbedder(INT8))
    bundle = IndexBundle.open(out)
    assert EmbedderRuntime.from_manifest(bundle.manifest.data["embedder"]) == INT8
    searcher = Searcher(bundle, embedder=RuntimeHashingEmbedder(TORCH))  # e.g. SLEUTH_EMBEDDER_BACKEND=torch
    assert searcher.embedder.runtime == INT8  # type: ignore[attr-defined]
    assert searcher.search("Analytical Engine", "dense", 1).hits
    factory = Searcher(bundle, embedder_factory=lambda name: RuntimeHashingEmbedder(FP32, name=name))
    assert factory.embedder.runtime == INT8  # type: ignore[attr-defined]
    adding = RuntimeHashingEmbedder(TORCH)
    add_documents(out, [Document("d9", "Grace Hopper", "Grace Hopper wrote a compiler.")], adding, update_id="u")
    assert adding.switched_to == [INT8]
    assert EmbedderRuntime.from_manifest(IndexBundle.open(out).manifest.data["embedder"]) == INT8


def test_every_shard_is_embedded_on_the_plan_runtime(small_dump: Path, tmp_path: Path) -> None:
    plan = prepare_shards(
        [small_dump], tmp_path / "out", RuntimeHashingEmbedder(FP32), BuildOptions(), build_id="b", shard_size=2
    )
    worker = RuntimeHashingEmbedder(TORCH)  # a worker configured differently
    for shard in range(len(plan.shards)):
        embed_shard(plan, shard, worker)
    assert worker.switched_to == [FP32] * len(plan.shards)


def _cpu_model() -> Any:
    return SimpleNamespace(device="cpu")


def test_auto_falls_back_to_torch_without_onnxruntime(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    with caplog.at_level(logging.WARNING, logger="retrieval.onnx_runtime"):
        assert start_runtime(_cpu_model(), "m", "auto", None, tmp_path) == (TORCH, None)
    assert "onnxruntime is not installed" in caplog.text and "embedding with torch" in caplog.text
    for backend in ("onnx", "onnx-int8"):
        with pytest.raises(DependencyError, match="onnxruntime is not installed"):
            start_runtime(_cpu_model(), "m", backend, None, tmp_path)  # type: ignore[arg-type]
    with pytest.raises(DependencyError, match="cannot run here"):
        start_runtime(_cpu_model(), "m", "auto", INT8, tmp_path)  # an index's recorded runtime is required


def test_torch_and_gpu_never_touch_onnx(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert start_runtime(_cpu_model(), "m", "torch", None, tmp_path) == (TORCH, None)
    assert start_runtime(SimpleNamespace(device="cuda:0"), "m", "auto", None, tmp_path) == (TORCH, None)
    assert start_runtime(_cpu_model(), "m", "onnx", TORCH, tmp_path) == (TORCH, None)  # the recorded one wins


def _fake_export(monkeypatch: pytest.MonkeyPatch, cosine: float = 1.0) -> None:
    """export_folder without a model: a fixed fingerprint, and a check against torch that gives `cosine`."""
    monkeypatch.setattr(onnx_export, "model_fingerprint", lambda model: "f" * 16)
    monkeypatch.setattr(onnx_export.OnnxEncoder, "of_model", classmethod(lambda cls, model, path: None))
    monkeypatch.setattr(onnx_export, "probe_cosine_to_torch", lambda model, encoder: cosine)


def test_a_failed_export_leaves_no_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_export(monkeypatch)

    def failing_export(model: Any, target: Path) -> None:
        target.write_bytes(b"half a model")
        raise RuntimeError("exporter died")

    monkeypatch.setattr(onnx_export, "_export_fp32", failing_export)
    with pytest.raises(RuntimeError, match="exporter died"):
        onnx_export.export_folder(object(), "some/model", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_export_that_changes_the_vectors_is_not_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_export(monkeypatch, cosine=0.95)  # e.g. a graph fusion that does not fit the model
    monkeypatch.setattr(onnx_export, "_export_fp32", lambda model, target: target.write_bytes(b"model"))
    with pytest.raises(ValueError, match="differ from torch"):
        onnx_export.export_folder(object(), "some/model", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_export_made_meanwhile_by_another_process_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_export(monkeypatch)
    final = tmp_path / f"some-model-{'f' * 16}"

    def racing_export(model: Any, target: Path) -> None:
        target.write_bytes(b"ours")
        final.mkdir()  # the other process renames its complete folder into place first
        (final / onnx_export.FP32_FILE).write_bytes(b"theirs")
        (final / "export.json").write_text("{}")

    monkeypatch.setattr(onnx_export, "_export_fp32", racing_export)
    assert onnx_export.export_folder(object(), "some/model", tmp_path) == final
    assert (final / onnx_export.FP32_FILE).read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == [final.name]  # our staging folder is gone
    assert onnx_export.export_folder(object(), "some/model", tmp_path) == final  # reused, not exported again


def test_files_are_written_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "model_qint8_avx2.onnx"

    def failing(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        onnx_export._write_atomically(target, failing)
    assert list(tmp_path.iterdir()) == []
    onnx_export._write_atomically(target, lambda path: path.write_bytes(b"whole"))
    assert target.read_bytes() == b"whole" and list(tmp_path.iterdir()) == [target]


@pytest.fixture
def fake_onnx(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """start_runtime's ONNX steps without a model: the export is a folder, an encoder is the path it runs."""
    state: dict[str, Any] = {"cosine": 0.995, "config": "avx2"}
    monkeypatch.setattr(onnx_runtime, "_export", lambda model, name, cache_dir: tmp_path)
    monkeypatch.setattr(onnx_runtime, "_encoder", lambda model, path: path)
    monkeypatch.setattr(onnx_runtime, "keeps_quality", lambda folder, config, fp32: state["cosine"])
    monkeypatch.setattr(onnx_runtime, "ensure_quantized", lambda folder, config: folder / f"model_qint8_{config}.onnx")
    monkeypatch.setattr(onnx_runtime, "cpu_quantization_config", lambda: state["config"])
    return state


def test_auto_takes_int8_only_where_it_keeps_quality(fake_onnx: dict[str, Any], tmp_path: Path) -> None:
    assert start_runtime(_cpu_model(), "m", "auto", None, tmp_path) == (INT8, tmp_path / "model_qint8_avx2.onnx")
    assert start_runtime(_cpu_model(), "m", "onnx", None, tmp_path) == (FP32, tmp_path / "model.onnx")
    fake_onnx["cosine"] = 0.97  # below MIN_INT8_COSINE: auto keeps fp32, an explicit onnx-int8 is obeyed
    assert start_runtime(_cpu_model(), "m", "auto", None, tmp_path) == (FP32, tmp_path / "model.onnx")
    assert start_runtime(_cpu_model(), "m", "onnx-int8", None, tmp_path)[0] == INT8
    fake_onnx["config"] = None  # a CPU without AVX2: no int8 configuration
    assert start_runtime(_cpu_model(), "m", "auto", None, tmp_path)[0] == FP32
    with pytest.raises(DependencyError, match="no int8 configuration"):
        start_runtime(_cpu_model(), "m", "onnx-int8", None, tmp_path)
