"""The workers' settings: where indexes and data live, the broker, the embedder for builds, and the
reasoning system's settings (`system`: the LLM, the seed, the trained critic, ...). Read from the environment
only when `from_env` is called (at start-up), never at import time.

Environment: SLEUTH_INDEX_ROOT, SLEUTH_DATA_ROOT, SLEUTH_BROKER_URL, SLEUTH_EMBEDDER, SLEUTH_SHARD_SIZE,
SLEUTH_VISIBILITY_TIMEOUT_S, SLEUTH_JOB_LEASE_S, SLEUTH_JOB_TTL_S, SLEUTH_LOCAL_WORKERS, the system's variables
(reasoning.settings: SLEUTH_LLM, SLEUTH_SEED, SLEUTH_CRITIC_DIR, ...), and any field by its nested name,
SLEUTH_WORKER__FIELD or SLEUTH_WORKER__SYSTEM__FIELD (which wins over the short name).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import EnvSettingsSource, SettingsError

from reasoning.settings import SystemSettings, env_values, first_error
from retrieval.embedders import DEFAULT_EMBEDDER
from retrieval.errors import ConfigError

QUEUES = ("gpu", "cpu")
NESTED_PREFIX = "SLEUTH_WORKER__"

WORKER_ENV: dict[str, str] = {
    "SLEUTH_INDEX_ROOT": "index_root",
    "SLEUTH_DATA_ROOT": "data_root",
    "SLEUTH_BROKER_URL": "broker_url",
    "SLEUTH_EMBEDDER": "embedder",
    "SLEUTH_SHARD_SIZE": "shard_size",
    "SLEUTH_VISIBILITY_TIMEOUT_S": "visibility_timeout_s",
    "SLEUTH_JOB_LEASE_S": "job_lease_s",
    "SLEUTH_JOB_TTL_S": "job_ttl_s",
    "SLEUTH_LOCAL_WORKERS": "local_workers",
}


class WorkerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    index_root: Path = Path(".sleuth/indexes")  # one directory per index, named after it
    data_root: Path = Path(".sleuth/data")  # server-side sources and uploads; nothing outside is read
    broker_url: str | None = None  # redis://host:6379/0; None: the embedded mode (jobs run in-process)
    embedder: str = DEFAULT_EMBEDDER  # the embedder of new index builds
    shard_size: int = Field(default=20_000, ge=1)  # passages per shard of a build on workers
    visibility_timeout_s: int = Field(default=3600, ge=1)  # a task unacknowledged this long is redelivered
    # a running job nobody holds for visibility_timeout_s + job_lease_s is failed as `worker_lost`; the extra
    # covers kombu's sweep that redelivers a dead worker's messages (about 100 s apart) and a slow restart
    job_lease_s: int = Field(default=300, ge=1)
    job_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)  # how long finished jobs are kept in Redis
    local_workers: int = Field(default=2, ge=1, le=64)  # threads that run jobs in the embedded mode
    system: SystemSettings = Field(default_factory=SystemSettings)  # what `build_system` builds from

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

    @property
    def lease_ttl_s(self) -> int:
        """How long a job's lease outlives its last renewal: the time its task has to be redelivered."""
        return self.visibility_timeout_s + self.job_lease_s

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> WorkerConfig:
        """The settings from the SLEUTH_* variables (see the module docstring), with `overrides` on top."""
        env = os.environ if env is None else env
        values = env_values(WORKER_ENV, env) | nested_env_values(cls, env, NESTED_PREFIX)
        values["system"] = SystemSettings.from_env(env, **values.get("system", {}))
        try:
            return cls(**{**values, **overrides})
        except ValidationError as exc:
            raise ConfigError(f"bad worker settings: {first_error(exc)}") from exc


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, over a given mapping instead of os.environ."""

    def __init__(self, model: type[BaseModel], env: Mapping[str, str], prefix: str) -> None:
        self._env = {name.lower(): value for name, value in env.items() if value != ""}
        super().__init__(
            model,  # type: ignore[arg-type]  # any pydantic model: only its fields and config are read
            case_sensitive=False,
            env_prefix=prefix,
            env_nested_delimiter="__",
            env_ignore_empty=True,
        )
        self.env_vars = self._env

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._env


def nested_env_values(model: type[BaseModel], env: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """The fields of `model` set in `env` as PREFIX + FIELD, a nested model's fields as PREFIX + FIELD__FIELD
    (pydantic-settings' rules: a JSON value for a list, dict or model), as a nested dict of raw values."""
    try:
        return dict(_MappingEnvSource(model, env, prefix)())
    except SettingsError as exc:
        raise ConfigError(f"bad {prefix}* setting: {exc}") from exc
