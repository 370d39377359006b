"""The service's one settings object: listen address, API keys, request limits, and the workers' settings.

Read from the environment by `Settings.from_env()` at start-up (never at import). Validators refuse
what would be unsafe: serving without API keys on anything but a loopback address, keys given in
plain text instead of their SHA-256, duplicate keys, limits that make no sense.

Environment: SLEUTH_HOST, SLEUTH_PORT, SLEUTH_AUTH (keys | none), SLEUTH_API_KEYS (a JSON list of
{"id", "sha256", "indexes": {"pattern": "read"|"write"}, "admin"}) or SLEUTH_API_KEYS_FILE (a file with
that list), SLEUTH_MAX_QUESTION_CHARS, SLEUTH_MAX_BUDGET, SLEUTH_MAX_UPLOAD_BYTES, SLEUTH_MAX_REQUEST_BYTES,
SLEUTH_ASK_WAIT_S, and the workers' variables (see workers.config; the reasoning system's, such as SLEUTH_LLM,
SLEUTH_SEED and SLEUTH_CRITIC_DIR, in reasoning.settings). SLEUTH_MAX_QUESTION_CHARS sets both the API's
limit and the system's. Every field can also be set by its nested name, `__` between the levels:
SLEUTH_LIMITS__MAX_K, SLEUTH_WORKER__SHARD_SIZE, SLEUTH_WORKER__SYSTEM__SEED (a nested name wins over
the short one).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from reasoning.budget import BUDGET_NAMES, DEFAULT_BUDGET, BudgetName
from reasoning.settings import env_values, first_error
from retrieval.errors import ConfigError
from workers.config import WorkerConfig, nested_env_values

Access = Literal["read", "write"]
ENV_PREFIX = "SLEUTH_"
LIMITS_ENV: dict[str, str] = {
    "SLEUTH_MAX_QUESTION_CHARS": "max_question_chars",
    "SLEUTH_MAX_BUDGET": "max_budget",
    "SLEUTH_MAX_UPLOAD_BYTES": "max_upload_bytes",
    "SLEUTH_MAX_REQUEST_BYTES": "max_request_bytes",
    "SLEUTH_ASK_WAIT_S": "ask_wait_s",
}
KEY_ENV = ("SLEUTH_API_KEYS", "SLEUTH_API_KEYS_FILE")  # read by `_api_keys`, with its own messages
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_PATTERN = re.compile(r"^[a-z0-9_*?-]{1,64}$")


class ApiKeyConfig(BaseModel):
    """One API key, stored as the SHA-256 of the key, with the indexes it may read or write."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    sha256: str
    indexes: dict[str, Access] = Field(default_factory=dict)  # index name or glob pattern -> access
    admin: bool = False  # may build and delete the indexes it may write

    @field_validator("sha256")
    @classmethod
    def _hashed(cls, value: str) -> str:
        if not _SHA256.match(value):
            raise ValueError("sha256 must be the 64 lower-case hex digits of the key's SHA-256 (never the key itself)")
        return value

    @field_validator("indexes")
    @classmethod
    def _patterns(cls, value: dict[str, Access]) -> dict[str, Access]:
        for pattern in value:
            if not _PATTERN.match(pattern):
                raise ValueError(f"bad index pattern {pattern!r}: index-name characters and the globs * and ?")
        return value


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_question_chars: int = Field(default=1000, ge=1, le=100_000)
    max_budget: BudgetName = "thorough"  # the most expensive budget a client may ask for
    max_llm_calls: int = Field(default=48, ge=1)  # caps on per-question budget overrides
    max_tokens: int = Field(default=80_000, ge=1)
    max_upload_bytes: int = Field(default=200 * 2**20, ge=1)
    max_request_bytes: int = Field(default=8 * 2**20, ge=1024)  # JSON bodies (documents included)
    max_documents: int = Field(default=1000, ge=1)  # documents per add request
    max_k: int = Field(default=100, ge=1, le=10_000)
    ask_wait_s: float = Field(default=60.0, gt=0, le=600)  # how long a waiting ask waits before a 202
    # budgets an ask may wait on (the default budget among them: a plain ask waits up to ask_wait_s)
    short_budgets: tuple[BudgetName, ...] = tuple(dict.fromkeys(("fast", DEFAULT_BUDGET)))

    def budget_allowed(self, budget: str) -> bool:
        return budget in BUDGET_NAMES and BUDGET_NAMES.index(budget) <= BUDGET_NAMES.index(self.max_budget)


class Settings(BaseSettings):
    """The service's settings. Constructed directly, it takes only the values given; `from_env` reads the
    environment (see the module docstring)."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_prefix=ENV_PREFIX, env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    auth: Literal["keys", "none"] = "none"  # none: no key needed (only on a loopback address)
    api_keys: tuple[ApiKeyConfig, ...] = ()
    limits: Limits = Field(default_factory=Limits)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    warm_up: bool = True  # load the models at start-up (embedded mode), so /readyz means it

    @model_validator(mode="after")
    def _safe(self) -> Settings:
        if self.auth == "none" and not is_loopback(self.host):
            raise ValueError(
                f"refusing to serve on {self.host} without API keys: set SLEUTH_AUTH=keys and SLEUTH_API_KEYS, "
                "or listen on 127.0.0.1"
            )
        if self.auth == "keys" and not self.api_keys:
            raise ValueError(
                "SLEUTH_AUTH=keys but no API keys are configured (SLEUTH_API_KEYS or SLEUTH_API_KEYS_FILE)"
            )
        ids = [k.id for k in self.api_keys]
        hashes = [k.sha256 for k in self.api_keys]
        if len(set(ids)) != len(ids) or len(set(hashes)) != len(hashes):
            raise ValueError("API key ids and keys must be unique")
        if self.limits.max_question_chars > self.worker.system.max_question_chars:
            raise ValueError("limits.max_question_chars cannot exceed the system's max_question_chars")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: the environment is read by `from_env`, and only there."""
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings from the SLEUTH_* variables (see the module docstring), with `overrides` on top."""
        env = os.environ if env is None else env
        values = nested_env_values(cls, {k: v for k, v in env.items() if k.upper() not in KEY_ENV}, ENV_PREFIX)
        values["limits"] = env_values(LIMITS_ENV, env) | values.get("limits", {})
        values["worker"] = WorkerConfig.from_env(env)  # the workers read theirs the same way
        keys = _api_keys(env)
        if keys is not None:
            values["api_keys"] = keys
            values.setdefault("auth", "keys")
        try:
            return cls(**{**values, **overrides})
        except ValidationError as exc:
            raise ConfigError(f"bad service settings: {first_error(exc)}") from exc


def _api_keys(env: Mapping[str, str]) -> list[Any] | None:
    text = env.get("SLEUTH_API_KEYS", "")
    if not text and env.get("SLEUTH_API_KEYS_FILE"):
        text = Path(env["SLEUTH_API_KEYS_FILE"]).read_text(encoding="utf-8")
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"SLEUTH_API_KEYS is not JSON: {exc}") from exc
    if not isinstance(value, list):
        raise ConfigError("SLEUTH_API_KEYS must be a JSON list of keys")
    return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
