"""`sleuth serve`: how it starts uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.cli import main
from api.cli_service import KEEP_ALIVE_S


def test_serve_keeps_idle_connections_open_longer_than_clients_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options, app=app))
    monkeypatch.setenv("SLEUTH_INDEX_ROOT", str(tmp_path))
    assert main(["serve", "--port", "8123", "--no-warm-up"]) == 0
    assert started["port"] == 8123 and started["host"] == "127.0.0.1"
    assert started["timeout_keep_alive"] == KEEP_ALIVE_S > 5  # httpx drops its idle connections after 5 s
    assert "http://127.0.0.1:8123" in capsys.readouterr().out
