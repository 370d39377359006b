"""Choosing and starting an embedder's runtime: ONNX Runtime (fp32 or int8) where it can run, torch otherwise.

`start_runtime` is called with a loaded SentenceTransformer (torch) and gives the runtime to embed with,
and the ONNX encoder when that runtime is ONNX. Asked for `auto` on the CPU, it takes int8 where the CPU has
an int8 configuration whose vectors stay close to fp32's (`retrieval.onnx_export.keeps_quality`), fp32
otherwise; a missing onnxruntime, a model layout the ONNX encoder cannot reproduce, or a failed export
fall back to torch with a warning that says why. Asked for `onnx` or `onnx-int8`, or for an index's
recorded runtime, they are errors.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from retrieval.embedder_runtime import EmbedderBackend, EmbedderRuntime, cpu_quantization_config
from retrieval.errors import DependencyError
from retrieval.onnx_encoder import OnnxEncoder, pooling_mode
from retrieval.onnx_export import (
    FP32_FILE,
    MIN_INT8_COSINE,
    ensure_quantized,
    export_folder,
    keeps_quality,
    quantized_file_name,
)

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install onnxruntime onnx"


class OnnxUnavailable(Exception):
    """Why this model cannot run on ONNX Runtime here."""


def start_runtime(
    model: Any, name: str, backend: EmbedderBackend, recorded: EmbedderRuntime | None, cache_dir: Path
) -> tuple[EmbedderRuntime, OnnxEncoder | None]:
    """The runtime to embed with and, for ONNX, its encoder (see the module docstring)."""
    if recorded is not None:
        return recorded, None if recorded.backend == "torch" else _recorded_onnx(model, name, recorded, cache_dir)
    if backend == "torch" or (backend == "auto" and str(model.device) != "cpu"):
        return EmbedderRuntime(), None
    try:
        return _chosen_onnx(model, name, backend, cache_dir)
    except OnnxUnavailable as exc:
        if backend != "auto":
            raise DependencyError(f"embedder backend {backend!r} cannot run: {exc}") from exc
        log.warning("embedder %s cannot run on ONNX Runtime: %s; embedding with torch", name, exc)
        return EmbedderRuntime(), None


def _chosen_onnx(
    model: Any, name: str, backend: EmbedderBackend, cache_dir: Path
) -> tuple[EmbedderRuntime, OnnxEncoder]:
    folder = _export(model, name, cache_dir)
    fp32 = EmbedderRuntime("onnx", None, FP32_FILE)
    config = cpu_quantization_config()
    if backend == "onnx" or (config is None and backend == "auto"):
        if config is None:
            log.info("no int8 configuration fits this CPU: embedding with onnx fp32")
        return fp32, _encoder(model, folder / FP32_FILE)
    if config is None:
        raise OnnxUnavailable("no int8 configuration fits this CPU (it needs AVX2, AVX-512 or ARM64)")
    try:
        cosine = keeps_quality(folder, config, lambda: _encoder(model, folder / FP32_FILE))
        path = ensure_quantized(folder, config)
    except Exception as exc:  # onnxruntime's quantiser raises many kinds
        if backend != "auto":
            raise OnnxUnavailable(f"int8 quantisation ({config}) failed ({type(exc).__name__}: {exc})") from exc
        log.warning("int8 quantisation (%s) failed: %s: %s; embedding with onnx fp32", config, type(exc).__name__, exc)
        return fp32, _encoder(model, folder / FP32_FILE)
    if cosine < MIN_INT8_COSINE:
        message = f"int8 ({config}) moves the vectors too far (probe cosine {cosine:.4f} < {MIN_INT8_COSINE})"
        if backend == "auto":
            log.warning("%s: embedding with onnx fp32", message)
            return fp32, _encoder(model, folder / FP32_FILE)
        log.warning("%s: embedding with it as asked", message)
    return EmbedderRuntime("onnx", config, path.name), _encoder(model, path)


def _recorded_onnx(model: Any, name: str, runtime: EmbedderRuntime, cache_dir: Path) -> OnnxEncoder:
    """The encoder of exactly the runtime an index records (its int8 file made here if missing)."""
    expected = quantized_file_name(runtime.quantization) if runtime.quantization else FP32_FILE
    if runtime.file != expected:
        raise DependencyError(f"the index records ONNX file {runtime.file!r} for {runtime.describe()}: not {expected}")
    try:
        folder = _export(model, name, cache_dir)
        path = folder / FP32_FILE if runtime.quantization is None else ensure_quantized(folder, runtime.quantization)
        return _encoder(model, path)
    except Exception as exc:
        raise DependencyError(
            f"the index was embedded with {name} on {runtime.describe()}, which cannot run here ({exc}); "
            f"install it ({INSTALL_HINT}) or rebuild the index with another embedder backend"
        ) from exc


def _export(model: Any, name: str, cache_dir: Path) -> Path:
    """The export folder of the model (see retrieval.onnx_export), or why there can be none."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise OnnxUnavailable(f"onnxruntime is not installed ({INSTALL_HINT})") from exc
    if pooling_mode(model) is None:
        raise OnnxUnavailable("its modules are not Transformer + mean/cls/max Pooling (+ Normalize)")
    try:
        return export_folder(model, name, cache_dir)
    except Exception as exc:  # torch's exporter and onnxruntime's optimiser raise many kinds
        raise OnnxUnavailable(f"the ONNX export failed ({type(exc).__name__}: {exc})") from exc


def _encoder(model: Any, path: Path) -> OnnxEncoder:
    """An ONNX Runtime session of one model file, with the model's tokeniser, sequence limit and pooling."""
    try:
        return OnnxEncoder.of_model(model, path)
    except Exception as exc:  # onnxruntime raises its own kinds for a model it cannot load
        raise OnnxUnavailable(f"ONNX Runtime cannot load {path.name} ({type(exc).__name__}: {exc})") from exc
