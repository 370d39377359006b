"""Fitting the allocation model from benchmark runs (`sleuth allocation fit`), and checking it on
held-apart questions.

Input: a `sleuth eval` run file (predictions.jsonl) with one method (default sleuth) under several
budgets. Each scored answer gives (question type, budget knobs, F1, tokens): the knobs come from the
trace's "start" event (which records the budget it ran with), else from the preset of that name. Failed
answers are left out (they measure the machine, not the configuration).

The questions are split (a seeded hash of the id) into a fitting part and a held-apart part; the F1 model
(`reasoning.allocation`: a ridge regression on standardised columns, folded back to raw coefficients) is
fitted on the first and its predictions per configuration and question type are set against the F1
measured on the second. The model written out is then refitted on all the questions.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.critic_training import split_questions
from evaluation.run_file import RunFile
from reasoning.allocation import FORMAT, FORMAT_VERSION, Configuration, F1Model, design_row
from reasoning.budget import PRESETS
from retrieval.checksums import sha256_file
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MeasuredAnswer:
    question: str  # dataset:id
    type: str
    budget: str
    knobs: dict[str, Any]
    f1: float
    tokens: int


def load_answers(predictions: Path, method: str = "sleuth") -> list[MeasuredAnswer]:
    """The scored answers of `method` in a run file, with the knobs each ran with."""
    if not Path(predictions).is_file():
        raise ConfigError(f"no run file at {predictions} (write one with `sleuth eval`)")
    answers, unknown = [], 0
    for record in RunFile(predictions).records(light=False).values():
        if record.method != method or record.failed:
            continue
        knobs = _knobs(record.extra.get("trace"), record.budget)
        if knobs is None:
            unknown += 1
            continue
        key = f"{record.dataset}:{record.id}"
        answers.append(MeasuredAnswer(key, record.type, record.budget, knobs, record.f1, record.tokens))
    if unknown:
        log.warning("%d answers without a known budget (no trace start event, not a preset) were left out", unknown)
    if not answers:
        raise ConfigError(f"no scored {method} answers in {predictions}")
    return answers


def _knobs(trace: Any, budget: str) -> dict[str, Any] | None:
    events = trace.get("events") if isinstance(trace, dict) else None
    for event in events or []:
        if event.get("stage") == "start" and isinstance(event.get("budget"), dict):
            return {k: v for k, v in event["budget"].items() if k != "name"}
    preset = PRESETS.get(budget)
    return {k: v for k, v in preset.to_json().items() if k != "name"} if preset else None


def configurations(answers: Sequence[MeasuredAnswer]) -> list[Configuration]:
    """The configurations measured: per budget name (and its knobs), mean tokens and F1."""
    groups: dict[tuple[str, str], list[MeasuredAnswer]] = defaultdict(list)
    for a in answers:
        groups[(a.budget, json.dumps(a.knobs, sort_keys=True))].append(a)
    out = []
    for (budget, _), members in sorted(groups.items()):
        out.append(
            Configuration(
                budget=budget,
                knobs=members[0].knobs,
                mean_tokens=round(float(np.mean([a.tokens for a in members])), 1),
                questions=len(members),
                measured_f1=round(float(np.mean([a.f1 for a in members])), 4),
            )
        )
    return out


def fit_f1_model(answers: Sequence[MeasuredAnswer], configs: Sequence[Configuration], alpha: float = 1.0) -> F1Model:
    """Ridge regression of per-answer F1 on the design columns (config-level mean tokens), standardised."""
    types = sorted({a.type for a in answers})
    tokens = {(c.budget, json.dumps(c.knobs, sort_keys=True)): c.mean_tokens for c in configs}
    rows = [
        design_row(a.knobs, tokens[(a.budget, json.dumps(a.knobs, sort_keys=True))], a.type, types) for a in answers
    ]
    columns = tuple(rows[0])
    x = np.array([[r[c] for c in columns] for r in rows], dtype=np.float64)
    y = np.array([a.f1 for a in answers], dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    w = np.linalg.solve(z.T @ z + alpha * np.eye(len(columns)), z.T @ (y - y.mean()))
    coefficients = w / scale
    intercept = float(y.mean() - np.sum(coefficients * mean))
    counts = {t: sum(1 for a in answers if a.type == t) for t in types}
    shares = {t: round(n / len(answers), 6) for t, n in counts.items()}
    return F1Model(columns, tuple(round(float(c), 8) for c in coefficients), round(intercept, 8), shares)


def held_apart_report(
    answers: Sequence[MeasuredAnswer], share: float = 0.3, seed: int = 0, alpha: float = 1.0
) -> list[dict[str, Any]]:
    """Per configuration and question type (and "all"): F1 predicted from the fitting questions against F1
    measured on the held-apart ones."""
    split = split_questions([a.question for a in answers], share, seed)
    fitting = [a for a in answers if a.question in split.train]
    held = [a for a in answers if a.question in split.validation]
    configs = configurations(fitting)
    model = fit_f1_model(fitting, configs, alpha)
    rows = []
    for config in configs:
        of_config = [a for a in held if a.budget == config.budget and a.knobs == config.knobs]
        for kind in [None, *sorted({a.type for a in of_config})]:
            members = [a for a in of_config if kind is None or a.type == kind]
            if not members:
                continue
            rows.append(
                {
                    "budget": config.budget,
                    "type": kind or "all",
                    "questions": len(members),
                    "predicted_f1": round(model.predict(config.knobs, config.mean_tokens, kind), 4),
                    "measured_f1": round(float(np.mean([a.f1 for a in members])), 4),
                    "mean_tokens": config.mean_tokens,
                }
            )
    return rows


def fit_allocation(
    predictions: Path, method: str = "sleuth", *, share: float = 0.3, seed: int = 0, alpha: float = 1.0
) -> dict[str, Any]:
    """The allocation model's JSON (see `reasoning.allocation`), with the held-apart comparison in it."""
    if not 0.0 < share < 1.0:
        raise ConfigError(f"the held-apart share must be between 0 and 1, got {share}")
    if alpha <= 0:
        raise ConfigError(f"alpha must be positive, got {alpha}")
    answers = load_answers(predictions, method)
    configs = configurations(answers)
    model = fit_f1_model(answers, configs, alpha)
    report = held_apart_report(answers, share, seed, alpha) if len({a.question for a in answers}) >= 2 else []
    errors = [abs(r["predicted_f1"] - r["measured_f1"]) for r in report if r["type"] == "all"]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": method,
        "configurations": [
            {
                "budget": c.budget,
                "knobs": c.knobs,
                "mean_tokens": c.mean_tokens,
                "questions": c.questions,
                "measured_f1": c.measured_f1,
            }
            for c in configs
        ],
        "f1_model": {
            "columns": list(model.columns),
            "coefficients": list(model.coefficients),
            "intercept": model.intercept,
            "type_shares": model.type_shares,
            "alpha": alpha,
        },
        "held_apart": {
            "share": share,
            "seed": seed,
            "rows": report,
            "mae_all": round(float(np.mean(errors)), 4) if errors else None,
        },
        "data": {"predictions": str(predictions), "sha256": sha256_file(predictions), "answers": len(answers)},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def render_comparison(model: dict[str, Any]) -> str:
    lines = [
        "Predicted against measured F1 on held-apart questions:",
        "",
        "| budget | type | N | predicted F1 | measured F1 | tokens/q |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in model["held_apart"]["rows"]:
        lines.append(
            f"| {r['budget']} | {r['type']} | {r['questions']} | {r['predicted_f1']:.3f} | {r['measured_f1']:.3f} | "
            f"{r['mean_tokens']:,.0f} |"
        )
    mae = model["held_apart"]["mae_all"]
    lines += [
        "",
        f"mean absolute error over budgets (all types): {mae:.3f}" if mae is not None else "no held-apart rows",
    ]
    return "\n".join(lines) + "\n"
