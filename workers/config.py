"""The workers' settings: where indexes and data live, the broker, the models. Read from the environment
only when `from_env` is called (at start-up), never at import time."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from retrieval.embedders import DEFAULT_EMBEDDER
from retrieval.errors import ConfigError

DEFAULT_LLM = "llama-cpp:qwen2.5-coder-1.5b"  # reasoning.llm.factory.DEFAULT_BACKEND, without importing it here
QUEUES = ("gpu", "cpu")

_ENV: dict[str, str] = {
    "SLEUTH_INDEX_ROOT": "index_root",
    "SLEUTH_DATA_ROOT": "data_root",
    "SLEUTH_BROKER_URL": "broker_url",
    "SLEUTH_LLM": "llm",
    "SLEUTH_LLM_OPTIONS": "llm_options",
    "SLEUTH_EMBEDDER": "embedder",
    "SLEUTH_DEVICE": "device",
    "SLEUTH_SHARD_SIZE": "shard_size",
    "SLEUTH_VISIBILITY_TIMEOUT_S": "visibility_timeout_s",
    "SLEUTH_JOB_TTL_S": "job_ttl_s",
    "SLEUTH_LOCAL_WORKERS": "local_workers",
    "SLEUTH_MAX_QUESTION_CHARS": "max_question_chars",
}


class WorkerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    index_root: Path = Path(".sleuth/indexes")  # one directory per index, named after it
    data_root: Path = Path(".sleuth/data")  # server-side sources and uploads; nothing outside is read
    broker_url: str | None = None  # redis://host:6379/0; None: the embedded mode (jobs run in-process)
    llm: str = DEFAULT_LLM
    llm_options: dict[str, Any] = Field(default_factory=dict)
    embedder: str = DEFAULT_EMBEDDER
    device: str | None = None  # embedder device (default: cuda when present)
    shard_size: int = Field(default=20_000, ge=1)  # passages per shard of a build on workers
    visibility_timeout_s: int = Field(default=3600, ge=1)  # a task unacknowledged this long is redelivered
    job_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)  # how long finished jobs are kept in Redis
    local_workers: int = Field(default=2, ge=1, le=64)  # threads that run jobs in the embedded mode
    max_question_chars: int = Field(default=1000, ge=1)

    @field_validator("broker_url")
    @classmethod
    def _redis_only(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"the broker must be Redis (redis://, rediss:// or unix://), got {value!r}")
        return value

    @field_validator("index_root", "data_root")
    @classmethod
    def _not_a_system_root(cls, value: Path) -> Path:
        resolved = value.expanduser().resolve()
        if resolved == Path("/") or resolved == Path.home().resolve() or len(resolved.parts) < 2:
            raise ValueError(f"refusing {value} as a data or index root: give a directory of its own")
        return value

    @property
    def embedded(self) -> bool:
        return self.broker_url is None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> WorkerConfig:
        values = env_values(_ENV, os.environ if env is None else env)
        if "llm_options" in values:
            values["llm_options"] = _json_object(values["llm_options"], "SLEUTH_LLM_OPTIONS")
        try:
            return cls(**{**values, **overrides})
        except ValueError as exc:
            raise ConfigError(f"bad worker settings: {exc}") from exc


def env_values(names: Mapping[str, str], env: Mapping[str, str]) -> dict[str, Any]:
    return {field: env[name] for name, field in names.items() if env.get(name, "") != ""}


def _json_object(text: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object")
    return value
