"""Allocating test-time compute (IterDRAG-style inference scaling): the configuration predicted best within
a token budget per question.

An allocation model (a JSON file written by `sleuth allocation fit`, see `evaluation.allocation`) holds
the configurations measured in benchmark runs (their budget knobs, mean tokens per question, measured
F1) and a small linear model of F1 by question type:

    F1 = intercept + sum(coefficient * column), clipped to [0, 1]

over the columns of `design_row`: log2(chains), max_rounds, passages_per_round, rerank_depth, ln(mean
tokens per question), and per question type an offset and a slope on ln(tokens). A question of unknown
type gets the types' predictions weighted by their shares in the runs.

`choose_budget(N, model)` picks, among the measured configurations whose mean tokens fit within N, the one
predicted best (ties: fewer tokens), and caps its `max_tokens` at N. Without an F1 model it takes the
largest preset whose measured mean tokens fit; without any allocation model, the largest preset whose
token cap fits. When nothing fits it says so and by how much.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reasoning.budget import BUDGET_NAMES, KNOBS, PRESETS, Budget
from retrieval.errors import ConfigError, InputNotFoundError

FORMAT = "sleuth-allocation"
FORMAT_VERSION = 1
SHAPE_KNOBS = ("chains", "max_rounds", "passages_per_round", "rerank_depth")


def design_row(
    knobs: Mapping[str, Any], mean_tokens: float, question_type: str, types: Sequence[str]
) -> dict[str, float]:
    log_tokens = math.log(max(1.0, mean_tokens))
    row = {
        "log2_chains": math.log2(max(1, int(knobs["chains"]))),
        "max_rounds": float(knobs["max_rounds"]),
        "passages_per_round": float(knobs["passages_per_round"]),
        "rerank_depth": float(knobs["rerank_depth"]),
        "log_tokens": log_tokens,
    }
    for kind in types:
        on = float(kind == question_type)
        row[f"type={kind}"] = on
        row[f"type={kind}*log_tokens"] = on * log_tokens
    return row


@dataclass(frozen=True)
class Configuration:
    budget: str  # the budget name it ran under
    knobs: dict[str, Any]  # every budget knob it ran with
    mean_tokens: float
    questions: int
    measured_f1: float

    def to_budget(self) -> Budget:
        known = {k: v for k, v in self.knobs.items() if k in KNOBS}
        base = PRESETS.get(self.budget, Budget(name=self.budget))
        return replace(base, name=self.budget, **known)


@dataclass(frozen=True)
class F1Model:
    columns: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float
    type_shares: dict[str, float]  # question type -> share of the questions

    def predict(self, knobs: Mapping[str, Any], mean_tokens: float, question_type: str | None = None) -> float:
        types = tuple(self.type_shares)
        if question_type is None or question_type not in self.type_shares:
            return sum(share * self.predict(knobs, mean_tokens, kind) for kind, share in self.type_shares.items())
        row = design_row(knobs, mean_tokens, question_type, types)
        value = self.intercept + sum(
            c * row.get(name, 0.0) for name, c in zip(self.columns, self.coefficients, strict=True)
        )
        return min(1.0, max(0.0, value))


@dataclass(frozen=True)
class AllocationModel:
    method: str
    configurations: tuple[Configuration, ...]
    f1: F1Model | None
    data: dict[str, Any]

    @classmethod
    def load(cls, path: Path | str) -> AllocationModel:
        path = Path(path)
        if not path.is_file():
            raise InputNotFoundError(f"allocation model not found: {path} (fit one with `sleuth allocation fit`)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"not a version {FORMAT_VERSION} {FORMAT} file")
            configurations = tuple(Configuration(**c) for c in data["configurations"])
            f1 = _f1_model(data["f1_model"]) if data.get("f1_model") else None
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"allocation model {path} is corrupt: {exc}") from exc
        return cls(str(data.get("method", "sleuth")), configurations, f1, data)

    def predicted_f1(self, config: Configuration) -> float | None:
        """The F1 predicted for the configuration on a question of unknown type (the types' mix)."""
        return None if self.f1 is None else self.f1.predict(config.knobs, config.mean_tokens)


def _f1_model(data: dict[str, Any]) -> F1Model:
    columns, coefficients = tuple(str(c) for c in data["columns"]), tuple(float(c) for c in data["coefficients"])
    if len(columns) != len(coefficients):
        raise ValueError(f"{len(columns)} columns but {len(coefficients)} coefficients")
    shares = {str(k): float(v) for k, v in data["type_shares"].items()}
    return F1Model(columns, coefficients, float(data["intercept"]), shares)


@dataclass(frozen=True)
class Allocation:
    budget: Budget
    source: str  # model, measured or caps
    predicted_f1: float | None
    expected_tokens: float | None
    message: str


def choose_budget(tokens: int, model: AllocationModel | None = None) -> Allocation:
    """The budget for at most `tokens` prompt + completion tokens per question (see the module docstring)."""
    if not isinstance(tokens, int) or tokens < 1:
        raise ConfigError(f"budget tokens must be a positive integer, got {tokens!r}")
    if model is None:
        return _by_caps(tokens)
    fitting = [c for c in model.configurations if c.mean_tokens <= tokens]
    if not fitting:
        cheapest = min(model.configurations, key=lambda c: c.mean_tokens, default=None)
        detail = f"; the cheapest measured, {cheapest.budget}, used {cheapest.mean_tokens:,.0f}" if cheapest else ""
        raise ConfigError(f"no configuration fits within {tokens:,} tokens per question{detail}: raise --budget-tokens")
    if model.f1 is not None:
        best = max(fitting, key=lambda c: (model.predicted_f1(c) or 0.0, -c.mean_tokens))
        predicted = model.predicted_f1(best)
        return _allocation(best, tokens, "model", predicted, f"predicted F1 {predicted:.3f}")
    presets = [c for c in fitting if c.budget in BUDGET_NAMES]
    if not presets:
        raise ConfigError(f"no preset was measured within {tokens:,} tokens per question: raise --budget-tokens")
    best = max(presets, key=lambda c: BUDGET_NAMES.index(c.budget))
    return _allocation(
        best, tokens, "measured", None, f"the largest preset measured within it (F1 {best.measured_f1:.3f})"
    )


def _allocation(config: Configuration, tokens: int, source: str, predicted: float | None, why: str) -> Allocation:
    budget = config.to_budget()
    budget = replace(budget, max_tokens=min(budget.max_tokens, tokens))
    measured = f"measured {config.mean_tokens:,.0f} tokens per question"
    message = f"{tokens:,} tokens per question: {config.budget} ({why}; {measured})"
    return Allocation(budget, source, predicted, config.mean_tokens, message)


def _by_caps(tokens: int) -> Allocation:
    fitting = [name for name in BUDGET_NAMES if PRESETS[name].max_tokens <= tokens]
    if not fitting:
        cheapest = min(PRESETS.values(), key=lambda b: b.max_tokens)
        raise ConfigError(
            f"no preset's token cap fits within {tokens:,} tokens per question (the smallest, {cheapest.name}, caps at "
            f"{cheapest.max_tokens:,}); raise the token budget, or fit an allocation model from measured runs "
            "(`sleuth allocation fit`)"
        )
    budget = PRESETS[fitting[-1]]
    message = f"{tokens:,} tokens per question: {budget.name} (no allocation model: the largest preset whose cap fits)"
    return Allocation(budget, "caps", None, None, message)


def load_allocation(path: Path | str | None) -> AllocationModel | None:
    """The allocation model at `path` (`SystemSettings.allocation`, `--allocation`); None without one, and
    then `choose_budget` goes by the presets' caps and says so in its message."""
    return AllocationModel.load(path) if path is not None else None
