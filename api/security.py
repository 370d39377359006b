"""API keys: hashed at rest, each scoped to the indexes it may read or write, with an admin scope.

A key is a random token; settings hold only its SHA-256 (a key is high-entropy, so a fast hash is the
right one: nothing to brute-force). A request names its key as `Authorization: Bearer <key>` or
`X-API-Key: <key>`. Access to an index a key may not read reads as "not found", so one tenant cannot
even learn the names of another's indexes or jobs.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from api.settings import ApiKeyConfig, Settings

KEY_PREFIX = "sk-sleuth-"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's id and what it may do."""

    id: str
    indexes: tuple[tuple[str, str], ...]  # (pattern, "read" | "write")
    admin: bool = False

    def _access(self, name: str) -> str | None:
        best: str | None = None
        for pattern, access in self.indexes:
            if fnmatch.fnmatchcase(name, pattern):
                if access == "write":
                    return "write"
                best = access
        return best

    def can_read(self, name: str) -> bool:
        return self._access(name) is not None

    def can_write(self, name: str) -> bool:
        return self._access(name) == "write"

    def can_manage(self, name: str) -> bool:
        """Build or delete the index: the admin scope and write access to it."""
        return self.admin and self.can_write(name)


ANONYMOUS = Principal("anonymous", (("*", "write"),), admin=True)


class KeyRing:
    def __init__(self, settings: Settings) -> None:
        self.required = settings.auth == "keys"
        self._by_hash: dict[str, ApiKeyConfig] = {k.sha256: k for k in settings.api_keys}

    def authenticate(self, token: str | None) -> Principal | None:
        """The principal of a key; None for a missing or unknown key (ANONYMOUS when keys are off)."""
        if not self.required:
            return ANONYMOUS
        if not token:
            return None
        digest = hash_key(token)
        for stored, config in self._by_hash.items():
            if hmac.compare_digest(stored, digest):
                return Principal(config.id, tuple(config.indexes.items()), config.admin)
        return None
