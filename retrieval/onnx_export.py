"""The sentence-transformers model exported to ONNX once, locally (no model hub), into a cache folder.

A folder per model weights (`~/.cache/sleuth/embedders/<name>-<fingerprint>/`) holds `model.onnx` (fp32,
with ONNX Runtime's transformer fusions, kept only where its vectors of fixed probe texts match torch's:
`export.json` records the check) and, on demand, `model_qint8_<config>.onnx` (dynamic int8 quantisation with
the settings of that CPU family). The folder is built in a temporary sibling and renamed into place, and a
quantised file is written to a temporary file beside it and renamed, so a crash or a concurrent export never
leaves a half-written model. Whether an int8 model stays close to fp32 on the probe texts is measured once
and recorded (`quality_<config>.json`); `retrieval.onnx_runtime` uses fp32 where it does not.

Why not sentence-transformers' own `backend="onnx"`: it needs optimum-onnx, whose releases pin
transformers below 4.58, while sentence-transformers 6 needs transformers 5. The export here is torch's
ONNX exporter and onnxruntime's own optimiser and quantiser, which optimum wraps.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.embedder_runtime import QUANTIZATION_CONFIGS
from retrieval.onnx_encoder import OnnxEncoder, pooling_mode

log = logging.getLogger(__name__)

EXPORT_FORMAT = 2  # bump when the exported graph changes, so that old exports are not reused
FP32_FILE = "model.onnx"
FUSED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "distilbert")  # those ONNX Runtime's BERT fusions fit
MIN_FP32_COSINE = 0.999  # the lowest probe cosine (the export vs torch) at which an export is kept
MIN_INT8_COSINE = 0.98  # the lowest probe cosine (int8 vs fp32) at which an int8 model is kept
PROBE_TEXTS = (
    "Who directed the film that won the Palme d'Or in 1994?",
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris, France.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Marie Curie, born in Warsaw, was the first person to win Nobel Prizes in two sciences.",
    "What is the capital of the country where the Amazon river has its mouth?",
    "The 2008 financial crisis began with the collapse of the US subprime mortgage market.",
    "Mount Kilimanjaro, a dormant volcano in Tanzania, is the highest mountain in Africa.",
    "Which band released the album whose lead single reached number one in 1971?",
    "In mathematics, a prime number has exactly two distinct positive divisors.",
    "Johann Sebastian Bach composed the Brandenburg Concertos between 1708 and 1721.",
    "The mitochondrion is the organelle that produces most of a cell's ATP.",
    "Arsenal Football Club plays its home matches at the Emirates Stadium in Islington, London.",
)


def default_embedder_cache() -> Path:
    return Path.home() / ".cache" / "sleuth" / "embedders"


def quantized_file_name(config: str) -> str:
    return f"model_qint8_{config}.onnx"


def model_fingerprint(model: Any) -> str:
    """A hash of the model's weights, sequence limit and pooling: an export is reused only for these."""
    digest = hashlib.sha256(f"format={EXPORT_FORMAT};max={model.max_seq_length};".encode())
    digest.update(json.dumps(pooling_mode(model)).encode())
    for key, tensor in sorted(model[0].auto_model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def export_folder(model: Any, name: str, cache_dir: Path) -> Path:
    """The export folder of `model` (a loaded SentenceTransformer), with its fp32 ONNX file, made once."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip("/")).strip("-")[-60:] or "model"
    folder = cache_dir / f"{slug}-{model_fingerprint(model)}"
    if (folder / FP32_FILE).is_file():
        return folder
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=cache_dir))
    try:
        log.info("exporting embedder %s to ONNX in %s (once)", name, folder)
        _export_fp32(model, staging / FP32_FILE)
        cosine = probe_cosine_to_torch(model, OnnxEncoder.of_model(model, staging / FP32_FILE))
        if cosine < MIN_FP32_COSINE:
            raise ValueError(f"the ONNX model's vectors differ from torch's (probe cosine {cosine:.5f})")
        record = {"name": name, "format": EXPORT_FORMAT, "min_probe_cosine_to_torch": round(cosine, 6)}
        (staging / "export.json").write_text(json.dumps(record) + "\n")
        try:
            staging.rename(folder)
        except OSError:  # another process made it first
            if not (folder / FP32_FILE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def ensure_quantized(folder: Path, config: str) -> Path:
    """The int8 model of `config` in the export folder, quantised from its fp32 model once."""
    target = folder / quantized_file_name(config)
    if not target.is_file():
        log.info("quantising %s to int8 (%s, once)", folder.name, config)
        _write_atomically(target, lambda path: _quantize(folder / FP32_FILE, path, config))
    return target


def keeps_quality(folder: Path, config: str, fp32: Callable[[], OnnxEncoder]) -> float:
    """The lowest cosine between the int8 model's vectors of the probe texts and fp32's (`fp32` makes the
    fp32 encoder). Computed once per export folder and config, and recorded in `quality_<config>.json`: the
    same model and texts on the same runtime give the same figure, so the choice is the same every time."""
    quality_path = folder / f"quality_{config}.json"
    if not quality_path.is_file():
        reference = fp32()
        cosine = probe_cosine(reference, reference.sibling(ensure_quantized(folder, config)))
        record = {"config": config, "min_probe_cosine": round(cosine, 5), "threshold": MIN_INT8_COSINE}
        _write_atomically(quality_path, lambda path: path.write_text(json.dumps(record) + "\n"))
    return float(json.loads(quality_path.read_text())["min_probe_cosine"])


def probe_cosine(reference: OnnxEncoder, candidate: OnnxEncoder) -> float:
    """The lowest cosine between two encoders' vectors of the probe texts."""
    a = reference.encode(list(PROBE_TEXTS), batch_size=len(PROBE_TEXTS))
    b = candidate.encode(list(PROBE_TEXTS), batch_size=len(PROBE_TEXTS))
    return float(np.min(np.sum(a * b, axis=1)))


def probe_cosine_to_torch(model: Any, encoder: OnnxEncoder) -> float:
    """The lowest cosine between the torch model's vectors of the probe texts and the encoder's."""
    texts = list(PROBE_TEXTS)
    reference = model.encode(texts, batch_size=len(texts), normalize_embeddings=True, convert_to_numpy=True)
    return float(np.min(np.sum(reference * encoder.encode(texts, batch_size=len(texts)), axis=1)))


def _export_fp32(model: Any, target: Path) -> None:
    """torch's ONNX exporter on the transformer (the attention traced as plain operators, which ONNX
    Runtime's optimiser fuses into its own Attention kernel), then the optimiser."""
    import torch

    transformer = model[0].auto_model.eval()
    sample = model.tokenizer(["a short sample", "a somewhat longer second sample"], padding=True, return_tensors="pt")
    sample = {k: v for k, v in sample.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    names = list(sample)
    raw = target.with_name("raw.onnx")
    with warnings.catch_warnings(), torch.no_grad(), _eager_attention(transformer):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _hidden_states_module(transformer, names),
            tuple(sample[n] for n in names),
            str(raw),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    _optimize(raw, target, transformer.config)
    raw.unlink()


@contextlib.contextmanager
def _eager_attention(transformer: Any) -> Iterator[None]:
    """The model's attention as explicit matrix products while it is traced (the pattern ONNX Runtime fuses;
    PyTorch's scaled_dot_product_attention is not fused), then as it was."""
    config = transformer.config
    was = getattr(config, "_attn_implementation", None)
    setter = getattr(transformer, "set_attn_implementation", None)
    if setter is not None:
        setter("eager")
    else:
        config._attn_implementation = "eager"
    try:
        yield
    finally:
        if setter is not None and was is not None:
            setter(was)
        else:
            config._attn_implementation = was


def _hidden_states_module(transformer: Any, names: list[str]) -> Any:
    """The Hugging Face model as a module of positional inputs that returns the last hidden states."""
    import torch

    class HiddenStates(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: Any) -> Any:
            return self.transformer(**dict(zip(names, inputs, strict=True))).last_hidden_state

    return HiddenStates()


def _optimize(source: Path, target: Path, config: Any) -> None:
    """ONNX Runtime's transformer fusions (attention, layer norm, GELU) where the model type is one its BERT
    optimiser knows, else a copy. The export check (`export_folder`) catches a fusion that changed results."""
    from onnxruntime.transformers.optimizer import optimize_model

    if getattr(config, "model_type", "") not in FUSED_MODEL_TYPES:
        shutil.copyfile(source, target)
        return
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_heads", 0)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "dim", 0)
    optimized = optimize_model(str(source), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1)
    optimized.save_model_to_file(str(target))


def _quantize(source: Path, target: Path, config: str) -> None:
    """Dynamic int8 quantisation of the fully connected layers (MatMul), with the weight type of `config`:
    the settings of optimum's AutoQuantizationConfig, which sentence-transformers' own int8 export uses."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight_type, reduce_range = QUANTIZATION_CONFIGS[config]
    quiet = _DropRecordsFrom("onnxruntime")  # the quantiser warns through the root logger
    logging.getLogger().addFilter(quiet)
    try:
        quantize_dynamic(
            str(source),
            str(target),
            op_types_to_quantize=["MatMul", "Add"],
            per_channel=True,
            reduce_range=reduce_range,
            weight_type=getattr(QuantType, weight_type),
            extra_options={
                "WeightSymmetric": True,
                "ActivationSymmetric": False,
                "DefaultTensorType": TensorProto.FLOAT,
            },
        )
    finally:
        logging.getLogger().removeFilter(quiet)


class _DropRecordsFrom(logging.Filter):
    def __init__(self, package: str) -> None:
        super().__init__()
        self._package = f"{os.sep}{package}{os.sep}"

    def filter(self, record: logging.LogRecord) -> bool:
        return self._package not in record.pathname


def _write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """`write` into a fresh temporary file beside `target`, then rename it into place (readers see the
    whole file or none; two writers of the same file each write their own and the last rename wins)."""
    handle, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    partial = Path(name)
    try:
        write(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
