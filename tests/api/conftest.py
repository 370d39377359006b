from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from reasoning.settings import SystemSettings
from reasoning.system import SleuthSystem
from tests.conftest import DOCS, write_jsonl
from tests.workers.harness import LiveServer, build_test_index, fake_runtime, settings


@pytest.fixture
def scripted_system(monkeypatch: pytest.MonkeyPatch) -> list[SystemSettings]:
    """`build_system(settings)` in the CLI builds the scripted system over the small test graph, with those
    settings but the LLM (tests.reasoning.scripts); the settings are kept."""
    import reasoning.system
    from tests.reasoning.scripts import make_system, scripted

    seen: list[SystemSettings] = []

    def factory(settings: SystemSettings, **_: Any) -> SleuthSystem:
        seen.append(settings)
        return make_system(scripted(), **settings.model_dump(exclude={"llm", "llm_options"}))

    monkeypatch.setattr(reasoning.system, "build_system", factory)
    return seen


@pytest.fixture
def service_root(tmp_path: Path) -> Path:
    """Two tenants' indexes and a data root with one dump."""
    build_test_index(tmp_path / "indexes", "a-docs")
    build_test_index(tmp_path / "indexes", "b-docs")
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "docs.jsonl", DOCS)
    return tmp_path


@pytest.fixture
def live(service_root: Path) -> Iterator[LiveServer]:
    """The embedded service (no broker) on a loopback port."""
    app = create_app(settings(service_root), runtime_factory=fake_runtime)
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        yield http
