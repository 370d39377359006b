from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reasoning.llm.stubs import StubServer, fake_llama_cpp_modules


@pytest.fixture
def fake_llama_cpp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> types.ModuleType:
    """A stand-in `llama_cpp` module in sys.modules (its Llama is tests.reasoning.llm.stubs.FakeLlama), in a
    package folder of its own whose build has its CPU code linked in (so no CPU build is loaded for it)."""
    modules = fake_llama_cpp_modules(tmp_path / "llama_cpp")
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return modules["llama_cpp"]


@pytest.fixture
def stub_server() -> Iterator[StubServer]:
    """An OpenAI-compatible HTTP server on 127.0.0.1 and a free port."""
    server = StubServer().start()
    yield server
    server.stop()
