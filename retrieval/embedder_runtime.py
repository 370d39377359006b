"""Which runtime an embedder runs on (torch, or ONNX Runtime in fp32 or int8), as the index manifest records it.

An index's passage vectors and its query vectors must come from the same runtime: int8 vectors differ from
fp32 ones (cosine about 0.99), enough to move rankings. The manifest's `embedder` section records the
runtime (`backend`, `quantization`, `file`); a section without `backend` was written before runtimes were
recorded, by torch. `matching_embedder` gives the embedder that embeds queries as the index was built.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from retrieval.cpu_features import cpu_flags
from retrieval.errors import IndexLoadError

log = logging.getLogger(__name__)

# What a user asks for: `auto` is ONNX Runtime int8 where onnxruntime is installed and the export works
# (torch otherwise, and always on a GPU); `onnx` is ONNX Runtime fp32, `onnx-int8` its int8 model.
EmbedderBackend = Literal["auto", "torch", "onnx", "onnx-int8"]
EMBEDDER_BACKENDS: tuple[EmbedderBackend, ...] = ("auto", "torch", "onnx", "onnx-int8")
DEFAULT_EMBEDDER_BACKEND: EmbedderBackend = "auto"

# Dynamic int8 quantisation settings per CPU family (those of optimum's AutoQuantizationConfig, which
# sentence-transformers' export_dynamic_quantized_onnx_model uses): weight type and reduce_range.
QUANTIZATION_CONFIGS: dict[str, tuple[Literal["QInt8", "QUInt8"], bool]] = {
    "avx512_vnni": ("QInt8", False),
    "avx512": ("QInt8", False),
    "avx2": ("QUInt8", False),
    "arm64": ("QInt8", False),
}


@dataclass(frozen=True)
class EmbedderRuntime:
    """How vectors were (or are) computed: `torch`, or `onnx` with its model file and int8 config."""

    backend: Literal["torch", "onnx"] = "torch"
    quantization: str | None = None  # a QUANTIZATION_CONFIGS key, None for fp32
    file: str | None = None  # the ONNX model file in the export folder

    def __post_init__(self) -> None:
        if self.quantization is not None and self.quantization not in QUANTIZATION_CONFIGS:
            known = ", ".join(QUANTIZATION_CONFIGS)
            raise ValueError(f"unknown quantization {self.quantization!r}: use one of {known}")
        if self.backend == "torch" and (self.quantization or self.file):
            raise ValueError("the torch runtime has no quantization and no ONNX file")

    def describe(self) -> str:
        if self.backend == "torch":
            return "torch"
        return f"onnx int8 ({self.quantization})" if self.quantization else "onnx fp32"

    def as_manifest(self) -> dict[str, Any]:
        return {"backend": self.backend, "quantization": self.quantization, "file": self.file}

    @classmethod
    def from_manifest(cls, section: Mapping[str, Any]) -> EmbedderRuntime:
        """The runtime a manifest's `embedder` section records (torch when it records none)."""
        backend = section.get("backend") or "torch"
        if backend == "torch":
            return cls()
        if backend != "onnx":
            raise IndexLoadError(f"the index's embedder backend {backend!r} is unknown to this version")
        try:
            return cls(backend="onnx", quantization=section.get("quantization"), file=section.get("file"))
        except ValueError as exc:
            raise IndexLoadError(f"the index's embedder runtime is unknown to this version: {exc}") from exc


@runtime_checkable
class RuntimeSwitchable(Protocol):
    """An embedder that knows its runtime and can give the same model on another one."""

    @property
    def runtime(self) -> EmbedderRuntime: ...

    def on_runtime(self, runtime: EmbedderRuntime) -> Any: ...


def embedder_section(embedder: Any) -> dict[str, Any]:
    """The manifest's `embedder` section: model, dimension, token limit, and the runtime where it has one."""
    section: dict[str, Any] = {
        "name": embedder.name,
        "dimension": embedder.dimension,
        "max_tokens": embedder.max_tokens,
    }
    if isinstance(embedder, RuntimeSwitchable):
        section |= embedder.runtime.as_manifest()
    return section


def matching_embedder(embedder: Any, section: Mapping[str, Any], where: str = "the index") -> Any:
    """`embedder`, or the same model on the runtime `section` records, so that new vectors match old ones.
    Embedders that do not know their runtime (test fakes) are returned as they are."""
    if not isinstance(embedder, RuntimeSwitchable):
        return embedder
    recorded = EmbedderRuntime.from_manifest(section)
    if embedder.runtime == recorded:
        return embedder
    log.info("%s was embedded with %s: embedding with it too", where, recorded.describe())
    return embedder.on_runtime(recorded)


def cpu_quantization_config(flags: frozenset[str] | None = None, machine: str | None = None) -> str | None:
    """The int8 config for this CPU: avx512_vnni, avx512, avx2, arm64, or None where none fits."""
    machine = (machine or platform.machine()).lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    flags = cpu_flags() if flags is None else flags
    if "avx512_vnni" in flags or "avx512vnni" in flags:
        return "avx512_vnni"
    if {"avx512f", "avx512bw"} <= flags:
        return "avx512"
    if "avx2" in flags:
        return "avx2"
    return None
