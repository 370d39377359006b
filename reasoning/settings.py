"""The reasoning system's settings: which LLM, where its models and the trained critic live, the seed, the
longest question. `build_system` (reasoning.system) builds the running system from them, for the CLI, the
API, the workers, evaluation and the benchmarks alike.

They nest in the workers' settings (`workers.config.WorkerConfig.system`), which nest in the service's
(`api.settings.Settings.worker`). Read from the environment only by `from_env` (at start-up, never at
import): SLEUTH_LLM, SLEUTH_LLM_OPTIONS (a JSON object), SLEUTH_MODEL_CACHE, SLEUTH_MAX_QUESTION_CHARS,
SLEUTH_SEED, SLEUTH_CRITIC_DIR, SLEUTH_ALLOCATION, SLEUTH_DEVICE, SLEUTH_EMBEDDER_BACKEND.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reasoning.llm.factory import DEFAULT_BACKEND
from retrieval.embedder_runtime import DEFAULT_EMBEDDER_BACKEND, EmbedderBackend
from retrieval.errors import ConfigError

SYSTEM_ENV: dict[str, str] = {
    "SLEUTH_LLM": "llm",
    "SLEUTH_LLM_OPTIONS": "llm_options",
    "SLEUTH_MODEL_CACHE": "model_cache",
    "SLEUTH_MAX_QUESTION_CHARS": "max_question_chars",
    "SLEUTH_SEED": "seed",
    "SLEUTH_CRITIC_DIR": "critic_dir",
    "SLEUTH_ALLOCATION": "allocation",
    "SLEUTH_DEVICE": "device",
    "SLEUTH_EMBEDDER_BACKEND": "embedder_backend",
}


class SystemSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    llm: str = Field(default=DEFAULT_BACKEND, min_length=1)  # a backend spec, see reasoning.llm.factory
    llm_options: dict[str, Any] = Field(default_factory=dict)  # backend constructor options (n_ctx, ...)
    model_cache: Path | None = None  # where joined model files live (default ~/.cache/sleuth/models)
    max_question_chars: int = Field(default=1000, ge=1)
    seed: int = 0
    # the trained critic of budgets whose critic is "trained" and that name no directory (default: the one
    # shipped in reasoning/critics/default)
    critic_dir: Path | None = None
    # the allocation model `budget_tokens` chooses with (`sleuth allocation fit`); None: the presets' caps
    allocation: Path | None = None
    device: str | None = None  # the embedder's device (default: cuda when present, else cpu)
    # the runtime of embedders this system builds indexes with (auto: ONNX Runtime int8 on the CPU where it
    # runs, else torch); an opened index's queries are always embedded on the runtime it records
    embedder_backend: EmbedderBackend = DEFAULT_EMBEDDER_BACKEND

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> SystemSettings:
        """The settings from the SLEUTH_* variables, with `overrides` (e.g. command-line flags; None: unset)."""
        values = env_values(SYSTEM_ENV, os.environ if env is None else env)
        if "llm_options" in values:
            values["llm_options"] = json_object(values["llm_options"], "SLEUTH_LLM_OPTIONS")
        values |= {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(f"bad system settings: {first_error(exc)}") from exc


def env_values(names: Mapping[str, str], env: Mapping[str, str]) -> dict[str, Any]:
    """The set, non-empty variables among `names` (variable -> field), by field."""
    return {field: env[name] for name, field in names.items() if env.get(name, "") != ""}


def json_object(text: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object")
    return value


def first_error(exc: ValidationError) -> str:
    """The first validation error as `where: what`."""
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"{where}: {error['msg']}" if where else str(error["msg"])
