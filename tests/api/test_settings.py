"""Settings refuse unsafe values; keys are made and checked by their hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from api.security import ANONYMOUS, KeyRing, Principal, hash_key
from api.settings import Settings
from retrieval.errors import ConfigError
from workers.config import WorkerConfig

pytestmark = pytest.mark.unit


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"SLEUTH_INDEX_ROOT": str(tmp_path / "i"), "SLEUTH_DATA_ROOT": str(tmp_path / "d"), **values}


def test_defaults_are_local_and_embedded(tmp_path: Path) -> None:
    settings = Settings.from_env(_env(tmp_path))
    assert (settings.host, settings.auth, settings.worker.embedded) == ("127.0.0.1", "none", True)
    assert KeyRing(settings).authenticate(None) is ANONYMOUS


def test_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="without API keys"):
        Settings.from_env(_env(tmp_path, SLEUTH_HOST="0.0.0.0"))


def test_refuses_keys_in_plain_text_and_duplicates(tmp_path: Path) -> None:
    plain = json.dumps([{"id": "k", "sha256": "sk-my-secret-key"}])
    with pytest.raises(ConfigError, match="sha256"):
        Settings.from_env(_env(tmp_path, SLEUTH_API_KEYS=plain))
    twice = json.dumps([{"id": "k", "sha256": hash_key("a")}, {"id": "k", "sha256": hash_key("b")}])
    with pytest.raises(ConfigError, match="unique"):
        Settings.from_env(_env(tmp_path, SLEUTH_API_KEYS=twice))
    with pytest.raises(ConfigError, match="no API keys"):
        Settings.from_env(_env(tmp_path, SLEUTH_AUTH="keys"))


def test_refuses_a_system_directory_as_data_root(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data or index root"):
        Settings.from_env(_env(tmp_path, SLEUTH_DATA_ROOT="/"))
    with pytest.raises(ConfigError, match="Redis"):
        WorkerConfig.from_env(_env(tmp_path, SLEUTH_BROKER_URL="amqp://localhost"))


def test_keys_from_env_with_scopes(tmp_path: Path) -> None:
    keys = json.dumps([{"id": "acme", "sha256": hash_key("sk-1"), "indexes": {"acme-*": "write", "shared": "read"}}])
    settings = Settings.from_env(_env(tmp_path, SLEUTH_API_KEYS=keys, SLEUTH_HOST="0.0.0.0"))
    ring = KeyRing(settings)
    assert ring.authenticate(None) is None and ring.authenticate("sk-2") is None
    principal = ring.authenticate("sk-1")
    assert principal == Principal("acme", (("acme-*", "write"), ("shared", "read")), admin=False)
    assert principal.can_write("acme-docs") and principal.can_read("shared") and not principal.can_write("shared")
    assert not principal.can_read("other") and not principal.can_manage("acme-docs")


def test_apikey_new_prints_a_key_and_its_hash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apikey", "new", "--id", "acme", "--index", "acme-*:write", "--admin"]) == 0
    out = capsys.readouterr().out.splitlines()
    key = out[0].split(": ", 1)[1]
    entry = json.loads(out[-1])
    assert entry == {"id": "acme", "sha256": hash_key(key), "indexes": {"acme-*": "write"}, "admin": True}
