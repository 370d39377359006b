"""Settings refuse unsafe values; keys are made and checked by their hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from api.security import ANONYMOUS, KeyRing, Principal, hash_key
from api.settings import Settings
from reasoning.settings import SystemSettings
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


def test_one_settings_object_nests_the_workers_and_the_systems(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        SLEUTH_LLM="openai:http://gpu:8000/v1#qwen",
        SLEUTH_LLM_OPTIONS='{"max_concurrency": 8}',
        SLEUTH_SEED="7",
        SLEUTH_CRITIC_DIR=str(tmp_path / "critic"),
        SLEUTH_ALLOCATION=str(tmp_path / "allocation.json"),
        SLEUTH_DEVICE="cpu",
        SLEUTH_MAX_QUESTION_CHARS="500",
        SLEUTH_SHARD_SIZE="5",
        SLEUTH_MAX_BUDGET="balanced",
    )
    settings = Settings.from_env(env)
    system = settings.worker.system
    assert system == SystemSettings(
        llm="openai:http://gpu:8000/v1#qwen",
        llm_options={"max_concurrency": 8},
        seed=7,
        critic_dir=tmp_path / "critic",
        allocation=tmp_path / "allocation.json",
        device="cpu",
        max_question_chars=500,
    )
    assert settings.limits.max_question_chars == 500 and settings.limits.max_budget == "balanced"
    assert settings.worker.shard_size == 5
    assert WorkerConfig.from_env(env) == settings.worker  # a Celery worker reads the same


def test_nested_names_set_any_field_and_win_over_the_short_ones(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        SLEUTH_SHARD_SIZE="5",
        SLEUTH_WORKER__SHARD_SIZE="9",
        SLEUTH_WORKER__SYSTEM__SEED="3",
        SLEUTH_LIMITS__MAX_K="7",
        SLEUTH_PORT="9001",
        SLEUTH_WARM_UP="false",
    )
    settings = Settings.from_env(env)
    assert (settings.worker.shard_size, settings.worker.system.seed, settings.limits.max_k) == (9, 3, 7)
    assert (settings.port, settings.warm_up) == (9001, False)
    assert WorkerConfig.from_env(env).system.seed == 3
    with pytest.raises(ConfigError, match="seed"):
        Settings.from_env(_env(tmp_path, SLEUTH_WORKER__SYSTEM__SEED="seven"))
    with pytest.raises(ConfigError, match="limits"):
        Settings.from_env(_env(tmp_path, SLEUTH_LIMITS="{not json"))


def test_only_from_env_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLEUTH_PORT", "9002")
    monkeypatch.setenv("SLEUTH_LLM", "openai:http://gpu:8000/v1#qwen")
    assert Settings().port == 8000 and Settings().worker.system.llm == SystemSettings().llm
    assert Settings.from_env(_env(tmp_path)).port == 8000  # the mapping given, not os.environ
    assert Settings.from_env().port == 9002


def test_the_api_limit_cannot_exceed_the_systems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot exceed the system's max_question_chars"):
        Settings.from_env(_env(tmp_path, SLEUTH_LIMITS__MAX_QUESTION_CHARS="2000"))


def test_embedder_backend_from_env() -> None:
    assert SystemSettings.from_env({}).embedder_backend == "auto"
    assert SystemSettings.from_env({"SLEUTH_EMBEDDER_BACKEND": "torch"}).embedder_backend == "torch"
    with pytest.raises(ConfigError, match="bad system settings"):
        SystemSettings.from_env({"SLEUTH_EMBEDDER_BACKEND": "openvino"})
