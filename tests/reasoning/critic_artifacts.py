"""Writing small trained-critic directories by hand, for tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from reasoning.trained_critic import FORMAT, FORMAT_VERSION, LOGISTIC, MANIFEST


def write_logistic_critic(
    directory: Path,
    weights: Mapping[str, float],
    intercept: float = 0.0,
    threshold: float = 0.5,
    answer_every_round: bool = False,
    **legacy: object,
) -> Path:
    """A logistic critic; `legacy` keys go into the manifest as they are (e.g. the stop_run and trust_critic
    that older manifests carried)."""
    directory.mkdir(parents=True, exist_ok=True)
    features = list(weights)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": "logistic",
        "features": features,
        "threshold": threshold,
        "metrics": {},
        "split": {"train_questions": [], "val_questions": []},
        "data": {"answer_every_round": answer_every_round},
        **legacy,
    }
    logistic = {"features": features, "coefficients": [weights[f] for f in features], "intercept": intercept}
    (directory / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    (directory / LOGISTIC).write_text(json.dumps(logistic), encoding="utf-8")
    return directory
