"""schemathesis over the live OpenAPI document: generated requests never get a 5xx."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workers.harness import KEYS, LiveServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _st() -> str:
    found = shutil.which("st") or str(Path(sys.executable).with_name("st"))
    if not Path(found).exists():
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    return found


@pytest.mark.parametrize("key", ["tenant-a", None])
def test_no_server_errors(live: LiveServer, tmp_path: Path, key: str | None) -> None:
    command = [
        _st(),
        "run",
        f"{live.url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "12",
        "--seed",
        "7",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
    ]
    if key is not None:
        command += ["--header", f"Authorization: Bearer {KEYS[key]}"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
