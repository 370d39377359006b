"""Training the sufficiency critic on self-practice records (`sleuth critic train`).

The records are split by question (never by record: the rounds of one question are alike), a share of the
questions held out for validation. Candidates: a calibrated logistic regression on the chain-state
features (always) and, when asked, the packaged MiniLM fine-tuned as a cross-encoder classifier on
(question, candidate answer + reasoning + evidence). Each is measured on the validation questions
(decision accuracy, AUC); the better one (AUC, then accuracy; the logistic model on a tie) is kept and
written as a critic directory (format in `reasoning.trained_critic`), built aside and renamed into place.
"""

from __future__ import annotations

import hashlib
import logging
import math
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.critic_stopping import StopRule, choose_stop_rule
from evaluation.practice_file import SUFFICIENT, load_practice, question_key, recorded_decision
from reasoning.trained_critic import (
    CROSS_ENCODER,
    FORMAT,
    FORMAT_VERSION,
    LOGISTIC,
    MANIFEST,
    LogisticModel,
    decide,
    feature_names,
)
from retrieval.checksums import sha256_file
from retrieval.errors import ConfigError, OutputExistsError

log = logging.getLogger(__name__)
DEFAULT_FEATURES: tuple[str, ...] = feature_names()
C_GRID = (0.01, 0.1, 1.0, 10.0)


@dataclass(frozen=True)
class TrainingPlan:
    data: Path
    out: Path
    val_share: float = 0.2
    seed: int = 0
    features: tuple[str, ...] = DEFAULT_FEATURES
    cross_encoder: bool = False
    epochs: int = 1
    threshold: float | None = None  # None: chosen on the training questions (`choose_stop_rule`)
    # the threshold is chosen for runs that stop at their first sufficient chain (True) or for chains that
    # stop on their own (False); None: whichever simulates better; with a given threshold, False. Recorded in
    # the manifest's training; the loop follows the budget's stop_run knob, not the critic
    stop_run: bool | None = None
    force: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.val_share < 1.0:
            raise ConfigError(f"val share must be between 0 and 1, got {self.val_share}")
        unknown = sorted(set(self.features) - set(feature_names()))
        if unknown or not self.features:
            raise ConfigError(f"unknown or no features {unknown}: use some of {', '.join(feature_names())}")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold must be between 0 and 1, got {self.threshold}")
        check_epochs(self.epochs)


def check_epochs(epochs: int) -> None:
    """The cross-encoder's epochs, refused below one (no fine-tuning would leave MiniLM's untrained head)."""
    if epochs < 1:
        raise ConfigError(f"epochs must be at least 1, got {epochs}")


@dataclass(frozen=True)
class Split:
    train: frozenset[str]  # question keys (dataset:id)
    validation: frozenset[str]


def seeded_order(keys: Sequence[str], seed: int) -> list[str]:
    """The distinct question keys in the order of a seeded hash: a shuffle that is the same on every machine."""
    return sorted(set(keys), key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())


def split_questions(keys: Sequence[str], val_share: float, seed: int) -> Split:
    """A deterministic split of question keys: ordered by a seeded hash, the first share held out (at least
    one question on each side)."""
    unique = seeded_order(keys, seed)
    if len(unique) < 2:
        raise ConfigError(f"need practice on at least 2 questions to split them, got {len(unique)}")
    held = min(len(unique) - 1, max(1, round(len(unique) * val_share)))
    return Split(train=frozenset(unique[held:]), validation=frozenset(unique[:held]))


def feature_matrix(records: Sequence[dict[str, Any]], features: Sequence[str]) -> np.ndarray:
    return np.array([[float(r["features"].get(f, 0.0)) for f in features] for r in records], dtype=np.float64)


def labels(records: Sequence[dict[str, Any]]) -> np.ndarray:
    return np.array([1 if r["label"] == SUFFICIENT else 0 for r in records], dtype=np.int64)


def decision_metrics(y: np.ndarray, p: np.ndarray, decisions: np.ndarray) -> dict[str, Any]:
    """Decision accuracy, AUC of the probabilities (None with one class), Brier score, sufficient share."""
    from sklearn.metrics import roc_auc_score

    auc = float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else None
    return {
        "records": len(y),
        "accuracy": round(float(np.mean(decisions == y)), 4) if len(y) else None,
        "auc": round(auc, 4) if auc is not None else None,
        "brier": round(float(np.mean((p - y) ** 2)), 4) if len(y) else None,
        "sufficient_share": round(float(np.mean(y)), 4) if len(y) else None,
    }


def fit_logistic(
    x: np.ndarray, y: np.ndarray, groups: Sequence[str], features: Sequence[str], seed: int
) -> tuple[LogisticModel, dict[str, Any], np.ndarray]:
    """A logistic regression on standardised features (C chosen by grouped cross-validation), Platt-calibrated
    on its out-of-fold scores; both folded into one linear model on raw feature values. Also returns the
    calibrated out-of-fold probabilities of the training records (in-sample ones with a single group)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    if len(set(y.tolist())) < 2:
        raise ConfigError("the training questions have only one label: practise more questions or more rounds")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    folds = min(5, len(set(groups)))
    best_c, oof = 1.0, None
    if folds >= 2:
        best_loss = math.inf
        for c in C_GRID:
            scores = np.zeros(len(y))
            for train, test in GroupKFold(n_splits=folds).split(z, y, list(groups)):
                if len(set(y[train].tolist())) < 2:
                    scores[test] = 0.0
                    continue
                fold = LogisticRegression(C=c, max_iter=1000, random_state=seed).fit(z[train], y[train])
                scores[test] = fold.decision_function(z[test])
            loss = _log_loss(y, scores)
            if loss < best_loss:
                best_c, best_loss, oof = c, loss, scores
    model = LogisticRegression(C=best_c, max_iter=1000, random_state=seed).fit(z, y)
    a, b = 1.0, 0.0
    if oof is not None:  # Platt scaling of the out-of-fold scores
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(oof.reshape(-1, 1), y)
        a, b = float(platt.coef_[0][0]), float(platt.intercept_[0])
    if a <= 0:  # out of fold the scores ranked backwards (a handful of questions): no calibration can mend
        a, b = 1.0, 0.0  # that, and flipping the model would be worse: keep its own probabilities
    w, w0 = model.coef_[0], float(model.intercept_[0])
    coefficients = a * w / scale
    intercept = a * (w0 - float(np.sum(w * mean / scale))) + b
    fitted = LogisticModel(tuple(features), tuple(round(float(c), 8) for c in coefficients), round(intercept, 8))
    scores = oof if oof is not None else model.decision_function(z)
    probabilities = 1.0 / (1.0 + np.exp(-(a * scores + b)))
    return fitted, {"C": best_c, "platt": {"a": round(a, 6), "b": round(b, 6)}, "folds": folds}, probabilities


def _log_loss(y: np.ndarray, scores: np.ndarray) -> float:
    p = np.clip(1.0 / (1.0 + np.exp(-scores)), 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def gated_decisions(
    p: np.ndarray, records: Sequence[dict[str, Any]], threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """The critic's confidence and decisions as the loop makes them (`TrainedCritic.decide`): a chain without
    an answer is never sufficient (its confidence capped), one with an answer is when p >= threshold."""
    decided = [decide(r["features"], float(q), threshold) for r, q in zip(records, p, strict=True)]
    confidence = np.array([c for _, c in decided], dtype=float)
    return confidence, np.array([int(s) for s, _ in decided], dtype=np.int64)


def logistic_decisions(
    model: LogisticModel, records: Sequence[dict[str, Any]], threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    return gated_decisions(np.array([model.probability(r["features"]) for r in records]), records, threshold)


def cross_validated_decisions(
    records: Sequence[dict[str, Any]],
    features: Sequence[str],
    folds: int,
    seed: int,
    threshold: float | None,
    cross_encoder_epochs: int | None = None,
) -> dict[int, tuple[bool, float]]:
    """(sufficient, probability) of every record (by id) from the critic trained, as `train_critic` trains
    it, on the other folds of questions (assigned round-robin in the split's seeded hash order): the logistic
    model, or with `cross_encoder_epochs` the cross-encoder fine-tuned for that many epochs."""
    keys = [question_key(r) for r in records]
    ranked = seeded_order(keys, seed)
    if not 2 <= folds <= len(ranked):
        raise ConfigError(f"folds must be between 2 and the {len(ranked)} questions, got {folds}")
    if cross_encoder_epochs is not None:
        check_epochs(cross_encoder_epochs)
    fold_of = {key: i % folds for i, key in enumerate(ranked)}
    out: dict[int, tuple[bool, float]] = {}
    for fold in range(folds):
        train = [r for r, k in zip(records, keys, strict=True) if fold_of[k] != fold]
        test = [r for r, k in zip(records, keys, strict=True) if fold_of[k] == fold]
        y = labels(train)
        if cross_encoder_epochs is None:
            model, _, p_train = fit_logistic(
                feature_matrix(train, features), y, [question_key(r) for r in train], features, seed
            )
            p_test = np.array([model.probability(r["features"]) for r in test])
        else:
            from evaluation.cross_encoder_critic import cross_encoder_probabilities, fit_cross_encoder

            encoder, _ = fit_cross_encoder(train, y, cross_encoder_epochs, seed)
            p_train = cross_encoder_probabilities(encoder, train)  # in-sample, as `train_critic` chooses its rule
            p_test = cross_encoder_probabilities(encoder, test)
        chosen = threshold if threshold is not None else choose_stop_rule(train, p_train)[0].threshold
        p, decisions = gated_decisions(p_test, test, chosen)
        out |= {id(r): (bool(d), float(q)) for r, q, d in zip(test, p, decisions, strict=True)}
    return out


def train_critic(plan: TrainingPlan) -> dict[str, Any]:
    """Train, measure, keep the better and write the critic directory; returns its manifest."""
    if plan.out.exists() and not plan.force:
        raise OutputExistsError(f"{plan.out} exists; pass --force to replace it")
    started = time.perf_counter()
    records = load_practice(plan.data)
    split = split_questions([question_key(r) for r in records], plan.val_share, plan.seed)
    train = [r for r in records if question_key(r) in split.train]
    val = [r for r in records if question_key(r) in split.validation]
    y_train, y_val = labels(train), labels(val)
    logistic, logistic_info, p_train = fit_logistic(
        feature_matrix(train, plan.features), y_train, [question_key(r) for r in train], plan.features, plan.seed
    )
    rules = {"logistic": _stop_rule(plan, train, p_train, logistic_info)}
    p, decisions = logistic_decisions(logistic, val, rules["logistic"].threshold)
    metrics: dict[str, Any] = {"logistic": decision_metrics(y_val, p, decisions)}
    plan.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=plan.out.parent, prefix=f".{plan.out.name}.") as staging_root:
        staging = Path(staging_root) / "critic"
        staging.mkdir()
        training: dict[str, Any] = {"logistic": logistic_info}
        encoder: Any = None
        if plan.cross_encoder:
            from evaluation.cross_encoder_critic import (
                cross_encoder_probabilities,
                evaluate_cross_encoder,
                fit_cross_encoder,
            )

            encoder, training["cross_encoder"] = fit_cross_encoder(train, y_train, plan.epochs, plan.seed)
            in_sample = cross_encoder_probabilities(encoder, train)  # no folds for a fine-tuned model: in-sample
            rules["cross-encoder"] = _stop_rule(plan, train, in_sample, training["cross_encoder"])
            metrics["cross-encoder"] = evaluate_cross_encoder(encoder, val, y_val, rules["cross-encoder"].threshold)
        kind = choose(metrics)
        if kind == "cross-encoder":
            encoder.save(str(staging / CROSS_ENCODER))
        training["seconds"] = round(time.perf_counter() - started, 2)
        feature = recorded_metrics(val, y_val, "feature")
        manifest = _manifest(plan, kind, rules[kind], metrics, feature, records, split, train, val, training)
        _write_json(staging / LOGISTIC, logistic.to_json())
        _write_json(staging / MANIFEST, manifest)
        _replace(staging, plan.out)
    return manifest


def recorded_metrics(records: Sequence[dict[str, Any]], y: np.ndarray, critic: str) -> dict[str, Any]:
    """The decision metrics of a critic whose decisions practice recorded ({} where some record lacks one)."""
    found = [d for r in records if (d := recorded_decision(r, critic)) is not None]
    if not records or len(found) < len(records):
        return {}
    return decision_metrics(y, np.array([c for _, c in found]), np.array([int(s) for s, _ in found]))


def choose(metrics: dict[str, dict[str, Any]]) -> str:
    """The candidate with the best validation AUC (then accuracy); the logistic model within 0.005."""

    def key(name: str) -> tuple[float, float]:
        m = metrics[name]
        return (m["auc"] if m["auc"] is not None else -1.0, m["accuracy"] or 0.0)

    best = max(metrics, key=key)
    if best != "logistic" and key(best)[0] - key("logistic")[0] < 0.005 and key(best)[1] <= key("logistic")[1]:
        return "logistic"
    return best


def _stop_rule(plan: TrainingPlan, train: Sequence[dict[str, Any]], p: np.ndarray, info: dict[str, Any]) -> StopRule:
    """The plan's threshold, or a rule chosen on the training records (the choice and its curve go in `info`)."""
    if plan.threshold is not None:
        return StopRule(plan.threshold, bool(plan.stop_run))
    rule, info["threshold_curve"] = choose_stop_rule(train, p, plan.stop_run)
    info["threshold"], info["stop_run"] = rule.threshold, rule.stop_run
    return rule


def _manifest(
    plan: TrainingPlan,
    kind: str,
    rule: StopRule,
    metrics: dict[str, Any],
    feature: dict[str, Any],
    records: Sequence[dict[str, Any]],
    split: Split,
    train: Sequence[dict[str, Any]],
    val: Sequence[dict[str, Any]],
    training: dict[str, Any],
) -> dict[str, Any]:
    provenance = records[0].get("provenance") or {}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "features": list(plan.features),
        "threshold": rule.threshold,
        "threshold_chosen": plan.threshold is None,
        "metrics": {
            "validation": metrics,
            "kept": kind,
            "feature_critic": feature,
            "beats_feature_critic": feature.get("auc") is None or (metrics[kind]["auc"] or 0.0) > feature["auc"],
        },
        "data": {
            "path": str(plan.data),
            "sha256": sha256_file(plan.data),
            "records": len(records),
            "questions": len(split.train) + len(split.validation),
            "sufficient_share": round(float(np.mean(labels(records))), 4),
            "datasets": sorted({str(r["dataset"]) for r in records}),
            "llm": provenance.get("llm"),
            "index_manifest_sha256": provenance.get("index_manifest_sha256"),
            "answer_every_round": answer_every_round(records),
        },
        "split": {
            "by": "question",
            "seed": plan.seed,
            "val_share": plan.val_share,
            "train_records": len(train),
            "val_records": len(val),
            "train_questions": sorted(split.train),
            "val_questions": sorted(split.validation),
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": _versions(plan.cross_encoder),
        "training": training | {"threshold_rule": {"stop_run": rule.stop_run}},
    }


def answer_every_round(records: Sequence[dict[str, Any]]) -> bool:
    """Whether the practice asked the reader for an answer every round (its budget's knob); a critic learns
    the states of one way of asking, so a file that mixes both is refused."""
    modes = {bool(((r.get("provenance") or {}).get("budget") or {}).get("answer_every_round")) for r in records}
    if len(modes) > 1:
        raise ConfigError(
            "the practice file mixes runs with and without --answer-every-round: train on one kind (a critic "
            "judges the answers of the way it was practised)"
        )
    return modes.pop()


def _versions(cross_encoder: bool) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    packages = ["sleuth", "scikit-learn", "numpy"] + (["torch", "sentence-transformers"] if cross_encoder else [])
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


def _write_json(path: Path, data: object) -> None:
    import json

    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def _replace(staging: Path, out: Path) -> None:
    """Move the finished directory into place (the old one, if any, only after the new one is whole)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    old = out.with_name(f".{out.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        out.rename(old)
    shutil.move(str(staging), str(out))
    if old.exists():
        shutil.rmtree(old)
