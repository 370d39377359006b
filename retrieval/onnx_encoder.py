"""A sentence-transformers model's forward pass on ONNX Runtime: tokenise, run the ONNX transformer, pool.

Only the model layouts whose pooling can be reproduced exactly are run here: a Transformer module, then
Pooling (mean, cls or max), then optionally Normalize. The vectors are always L2-normalised.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SUPPORTED_POOLING = ("mean", "cls", "max")


def pooling_mode(model: Any) -> str | None:
    """The pooling of a loaded SentenceTransformer if its layout can run on ONNX, else None."""
    kinds = [type(module).__name__ for module in model]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return None
    if not hasattr(model[0], "auto_model"):
        return None
    mode = model[1].get_config_dict().get("pooling_mode")
    if mode is None:  # older sentence-transformers: one flag per mode
        modes = model[1].get_config_dict()
        mode = next((m for m in SUPPORTED_POOLING if modes.get(f"pooling_mode_{m}_tokens")), None)
    return mode if mode in SUPPORTED_POOLING else None


class OnnxEncoder:
    """Embeds texts with one ONNX model file; batches are sorted by length so padding stays short."""

    def __init__(self, path: Path, tokenizer: Any, *, max_seq_length: int, pooling: str, lowercase: bool) -> None:
        import onnxruntime as ort

        if pooling not in SUPPORTED_POOLING:
            raise ValueError(f"pooling must be one of {', '.join(SUPPORTED_POOLING)}, got {pooling!r}")
        self.path = path
        self._tokenizer = tokenizer
        self._max_seq_length = max_seq_length
        self._pooling = pooling
        self._lowercase = lowercase
        self._tokenizer_lock = threading.Lock()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]

    @classmethod
    def of_model(cls, model: Any, path: Path) -> OnnxEncoder:
        """An encoder of `path` (an export of a loaded SentenceTransformer) with its tokeniser and pooling."""
        pooling = pooling_mode(model)
        if pooling is None:
            raise ValueError("the model's modules are not Transformer + mean/cls/max Pooling (+ Normalize)")
        return cls(
            path,
            model.tokenizer,
            max_seq_length=int(model.max_seq_length),
            pooling=pooling,
            lowercase=bool(getattr(model[0], "do_lower_case", False)),
        )

    def sibling(self, path: Path) -> OnnxEncoder:
        """Another model file of the same model (its int8 version), with the same tokeniser and pooling."""
        return OnnxEncoder(
            path,
            self._tokenizer,
            max_seq_length=self._max_seq_length,
            pooling=self._pooling,
            lowercase=self._lowercase,
        )

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        vectors = np.zeros((len(texts), 0), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            batch = self._encode_batch([texts[i] for i in rows])
            if vectors.shape[1] == 0:
                vectors = np.zeros((len(texts), batch.shape[1]), dtype=np.float32)
            vectors[rows] = batch
        return vectors

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        texts = [t.strip() for t in texts]  # as sentence-transformers does before tokenising
        if self._lowercase:
            texts = [t.lower() for t in texts]
        with self._tokenizer_lock:  # a fast tokeniser sets its padding and truncation per call: one at a time
            tokens = self._tokenizer(
                texts, padding=True, truncation=True, max_length=self._max_seq_length, return_tensors="np"
            )
        feed = {name: np.asarray(tokens[name], dtype=np.int64) for name in self._inputs}
        hidden = self._session.run(None, feed)[0]
        pooled = _pool(hidden, np.asarray(tokens["attention_mask"]), self._pooling)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    if mode == "cls":
        return hidden[:, 0]
    weights = mask[..., None].astype(hidden.dtype)
    if mode == "max":
        return np.where(weights > 0, hidden, np.finfo(hidden.dtype).min).max(axis=1)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
