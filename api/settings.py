"""The service's one settings object: listen address, API keys, request limits, and the workers' settings.

Read from the environment by `Settings.from_env()` at start-up (never at import). Validators refuse
what would be unsafe: serving without API keys on anything but a loopback address, keys given in
plain text instead of their SHA-256, duplicate keys, limits that make no sense.

Environment: SLEUTH_HOST, SLEUTH_PORT, SLEUTH_AUTH (keys | none), SLEUTH_API_KEYS (a JSON list of
{"id", "sha256", "indexes": {"pattern": "read"|"write"}, "admin"}) or SLEUTH_API_KEYS_FILE (a file with
that list), SLEUTH_MAX_QUESTION_CHARS, SLEUTH_MAX_BUDGET, SLEUTH_MAX_UPLOAD_BYTES, SLEUTH_MAX_REQUEST_BYTES,
SLEUTH_ASK_WAIT_S, and the workers' variables (see workers.config).
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

from retrieval.errors import ConfigError
from workers.config import WorkerConfig, env_values

Access = Literal["read", "write"]
BudgetName = Literal["fast", "balanced", "thorough"]
BUDGET_ORDER: tuple[str, ...] = ("fast", "balanced", "thorough")
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
    short_budgets: tuple[BudgetName, ...] = ("fast",)  # budgets an ask may wait on

    def budget_allowed(self, budget: str) -> bool:
        return budget in BUDGET_ORDER and BUDGET_ORDER.index(budget) <= BUDGET_ORDER.index(self.max_budget)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

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
        if self.limits.max_question_chars > self.worker.max_question_chars:
            raise ValueError("limits.max_question_chars cannot exceed the workers' max_question_chars")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = env_values({"SLEUTH_HOST": "host", "SLEUTH_PORT": "port", "SLEUTH_AUTH": "auth"}, env)
        limits = env_values(
            {
                "SLEUTH_MAX_QUESTION_CHARS": "max_question_chars",
                "SLEUTH_MAX_BUDGET": "max_budget",
                "SLEUTH_MAX_UPLOAD_BYTES": "max_upload_bytes",
                "SLEUTH_MAX_REQUEST_BYTES": "max_request_bytes",
                "SLEUTH_ASK_WAIT_S": "ask_wait_s",
            },
            env,
        )
        keys = _api_keys(env)
        if keys is not None:
            values["api_keys"] = keys
            values.setdefault("auth", "keys")
        try:
            return cls(**values, limits=Limits(**limits), worker=WorkerConfig.from_env(env), **overrides)
        except ValidationError as exc:
            raise ConfigError(f"bad service settings: {_first_error(exc)}") from exc


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


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
