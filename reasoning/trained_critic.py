"""A sufficiency critic learnt from self-practice (SIM-RAG), loaded from a directory.

The artifact (written by `sleuth critic train`, see `evaluation.critic_training`) is a directory:

- `manifest.json`: `format` ("sleuth-critic"), `format_version` (1), `kind` ("logistic" or
  "cross-encoder"), `features` (names, in order), `threshold` (and `threshold_chosen`), `metrics`
  (validation decision accuracy and AUC of every candidate trained, which was kept, and the feature
  critic's on the same records), `data` (the practice file, its sha256, counts, whether the reader answered
  every round), `split` (seed, validation share, the training and validation question ids), `created`,
  `versions`, `training` (seconds, settings, and how the threshold was chosen).
- `logistic.json`: `features`, `coefficients` (one per feature, on raw feature values), `intercept`: the
  calibrated logistic model, p = sigmoid(intercept + coefficients . features). Always written.
- `cross_encoder/` (kind "cross-encoder" only): a sentence-transformers CrossEncoder (the packaged MiniLM
  fine-tuned) scoring the pair (question, `critic_pair_text`); p is the sigmoid of its logit.

No pickle: the logistic model is plain JSON. The features are `critic_features` of the chain's state (among
them `chains_agree`, the share of the run's other chains holding the same answer: always 0 with one chain).
A chain is judged sufficient when it has an answer and p >= threshold; without an answer its confidence is
capped (`reasoning.critic.cap_unanswered`).

The artifact is a model and nothing else: what the loop does with its verdicts (stop the whole run, skip
the verifier's re-check, ask for an answer every round) is the budget's, resolved in
`reasoning.stop_policy`.
"""

from __future__ import annotations

import functools
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from reasoning.critic import CriticInput, Verdict, cap_unanswered, critic_features, sigmoid
from retrieval.errors import SleuthError

FORMAT = "sleuth-critic"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOGISTIC = "logistic.json"
CROSS_ENCODER = "cross_encoder"
CriticModelKind = Literal["logistic", "cross-encoder"]
MODEL_KINDS: tuple[CriticModelKind, ...] = ("logistic", "cross-encoder")
PAIR_CHARS = 1500  # the evidence text a cross-encoder reads (its window is 256 word pieces anyway)


class CriticArtifactError(SleuthError):
    """A trained critic's directory is missing, incomplete or corrupt."""

    exit_code = 66  # EX_NOINPUT


def default_critic_dir() -> Path:
    """Where a default trained critic ships inside the package (it may not exist)."""
    return Path(__file__).resolve().parent / "critics" / "default"


def feature_names() -> tuple[str, ...]:
    """Every feature a trained critic may use (`critic_features` of a chain's state), in a stable order."""
    return tuple(critic_features(_EMPTY_INPUT))


def critic_pair_text(answer: str, facts: Sequence[str], evidence: Sequence[tuple[str, str]]) -> str:
    """The second text of a cross-encoder pair: the candidate answer first (truncation keeps it), the
    chain's last reasoning, then the evidence as `title: sentences`."""
    parts = [f"answer: {answer.strip() or 'unknown'}"]
    if facts:
        parts.append(f"reasoning: {facts[-1]}")
    parts += [f"{title}: {text}" for title, text in evidence]
    return " | ".join(parts)[:PAIR_CHARS]


def input_pair(item: CriticInput) -> tuple[str, str]:
    evidence = [(e.passage.title, " ".join(e.sentences)) for e in item.evidence]
    return item.question, critic_pair_text(item.answer, item.facts, evidence)


@dataclass(frozen=True)
class LogisticModel:
    features: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float

    def probability(self, features: dict[str, float]) -> float:
        pairs = zip(self.features, self.coefficients, strict=True)
        return sigmoid(self.intercept + sum(c * features.get(name, 0.0) for name, c in pairs))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "coefficients": list(self.coefficients), "intercept": self.intercept}


class TrainedCritic:
    """Implements `SufficiencyCritic` with a model trained on self-practice; see the module docstring."""

    name = "trained"

    def __init__(self, directory: Path, manifest: dict[str, Any], logistic: LogisticModel | None) -> None:
        self.directory = directory
        self.manifest = manifest
        self.kind: CriticModelKind = manifest["kind"]
        self.threshold = float(manifest["threshold"])
        # how its practice asked the reader (what its features learnt from); the budget says how a run asks
        self.practised_answer_every_round = bool((manifest.get("data") or {}).get("answer_every_round", False))
        self.logistic = logistic if self.kind == "logistic" else None
        self._cross_encoder: Any = None
        self._lock = threading.Lock()  # the system answers from several threads; the model loads once

    def judge(self, inputs: Sequence[CriticInput], round_no: int) -> list[Verdict]:
        if not inputs:
            return []
        rows = [critic_features(item) for item in inputs]
        pairs = [input_pair(item) for item in inputs] if self.kind == "cross-encoder" else []
        verdicts = []
        for item, features, p in zip(inputs, rows, self.probabilities(rows, pairs), strict=True):
            sufficient, confidence = self.decide(features, p)
            verdicts.append(Verdict(sufficient, confidence, "" if sufficient else item.next_query, self.name, features))
        return verdicts

    def decide(self, features: dict[str, float], probability: float) -> tuple[bool, float]:
        return decide(features, probability, self.threshold)

    def probabilities(self, rows: Sequence[dict[str, float]], pairs: Sequence[tuple[str, str]]) -> list[float]:
        """p(sufficient) of each chain state: from its features (logistic) or its text pair (cross-encoder)."""
        if self.logistic is not None:
            return [self.logistic.probability(r) for r in rows]
        import torch

        with self._lock:
            if self._cross_encoder is None:
                self._cross_encoder = load_cross_encoder(self.directory / CROSS_ENCODER)
        logits = self._cross_encoder.predict(list(pairs), activation_fn=torch.nn.Identity(), show_progress_bar=False)
        return [sigmoid(float(x)) for x in logits]


def decide(features: dict[str, float], probability: float, threshold: float) -> tuple[bool, float]:
    """Sufficient or not, and the confidence: no answer is never sufficient (its confidence capped)."""
    has_answer = bool(features.get("has_answer"))
    return has_answer and probability >= threshold, cap_unanswered(probability, has_answer)


def load_cross_encoder(directory: Path) -> Any:
    try:
        from sentence_transformers import CrossEncoder
    except ImportError as exc:  # pragma: no cover - a dependency
        from retrieval.errors import DependencyError

        raise DependencyError(
            "a cross-encoder critic needs sentence-transformers: pip install sentence-transformers"
        ) from exc
    try:
        return CrossEncoder(str(directory), device="cpu")
    except (OSError, ValueError) as exc:
        raise CriticArtifactError(f"the trained critic's cross-encoder at {directory} cannot be loaded: {exc}") from exc


def load_critic(directory: Path | str | None = None) -> TrainedCritic:
    """The trained critic in `directory` (default: the shipped one), loaded once per version of its files."""
    path = (Path(directory) if directory is not None else default_critic_dir()).expanduser().resolve()
    manifest = path / MANIFEST
    if not manifest.is_file():
        where = "no directory" if not path.is_dir() else f"{MANIFEST} is missing"
        raise CriticArtifactError(f"no trained critic at {path}: {where} (train one with `sleuth critic train`)")
    return _load_cached(path, manifest.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _load_cached(path: Path, _mtime_ns: int) -> TrainedCritic:
    manifest = read_manifest(path)
    logistic = read_logistic(path / LOGISTIC, manifest["features"]) if manifest["kind"] == "logistic" else None
    if manifest["kind"] == "cross-encoder" and not (path / CROSS_ENCODER).is_dir():
        raise CriticArtifactError(f"trained critic {path} is incomplete: {CROSS_ENCODER}/ is missing")
    return TrainedCritic(path, manifest, logistic)


def read_manifest(path: Path) -> dict[str, Any]:
    data = _read_json(path / MANIFEST)
    if data.get("format") != FORMAT:
        raise CriticArtifactError(
            f"{path / MANIFEST} is not a trained critic's manifest: format {data.get('format')!r}"
        )
    if data.get("format_version") != FORMAT_VERSION:
        raise CriticArtifactError(
            f"{path / MANIFEST}: critic format version {data.get('format_version')!r}, but this Sleuth reads "
            f"version {FORMAT_VERSION}; train it again with `sleuth critic train`"
        )
    if data.get("kind") not in MODEL_KINDS:
        raise CriticArtifactError(f"{path / MANIFEST}: unknown critic kind {data.get('kind')!r}")
    threshold = data.get("threshold")
    if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise CriticArtifactError(f"{path / MANIFEST}: threshold must be a number in [0, 1], got {threshold!r}")
    _check_features(data.get("features"), path / MANIFEST)
    return data


def read_logistic(path: Path, features: list[str]) -> LogisticModel:
    data = _read_json(path)
    names, coefficients, intercept = data.get("features"), data.get("coefficients"), data.get("intercept")
    _check_features(names, path)
    if names != features:
        raise CriticArtifactError(f"{path}: its features {names} differ from the manifest's {features}")
    if not isinstance(coefficients, list) or len(coefficients) != len(features):
        raise CriticArtifactError(f"{path}: expected {len(features)} coefficients, got {coefficients!r}")
    numbers = [*coefficients, intercept]
    if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in numbers):
        raise CriticArtifactError(f"{path}: coefficients and intercept must be finite numbers")
    return LogisticModel(tuple(features), tuple(float(c) for c in coefficients), float(numbers[-1]))


def _check_features(names: object, path: Path) -> None:
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise CriticArtifactError(f"{path}: `features` must be a non-empty list of names")
    unknown = sorted(set(names) - set(feature_names()))
    if unknown:
        known = ", ".join(feature_names())
        raise CriticArtifactError(f"{path}: unknown feature(s) {', '.join(unknown)}; known: {known}")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CriticArtifactError(f"trained critic {path.parent} is incomplete: {path.name} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CriticArtifactError(f"{path} is corrupt: {exc}") from exc
    if not isinstance(data, dict):
        raise CriticArtifactError(f"{path} is corrupt: expected a JSON object")
    return data


_EMPTY_INPUT = CriticInput(
    chain=0, question="", answer="", evidence=[], plan_done=False, next_query="", round=1, max_rounds=1
)
