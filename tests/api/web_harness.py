"""The web page's test bench: a live service (embedded, the small test graph's indexes, the scripted LLM of
the hop-by-hop search taking a moment a call so that a question's events arrive over a second or two) and
Debian's headless Chromium driven by Playwright. `scripts/ui_screenshots.py` uses it too.

Chromium comes from the system (`make chromium` installs Debian's); Playwright's own browser download is
never used. Where either is missing, `browser()` skips saying which.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.context import RuntimeFactory
from reasoning.llm.protocol import Completion, GenerationParams, Prompt, prompt_text
from reasoning.llm.scripted import ScriptedLLM
from tests.conftest import DOCS, write_jsonl
from tests.fakes import GazetteerExtractor
from tests.reasoning.scripts import COMPOSE, DEFAULT_RULES, HOP, HOP_PLAN, hop_answers, hop_plan, reply
from tests.workers.harness import KEYS, NAMES_PLUS, LiveServer, build_test_index, fake_models, settings
from workers.config import WorkerConfig
from workers.runtime import WorkerRuntime

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
INDEXES = ("a-docs", "a-notes", "b-docs")
DEFAULT_DELAY_S = 0.25
SLOW_WORD, SLOW_S = "Slowly", 3.0  # a question with this word takes this long to plan (to cancel it)
QUESTION = "In which city is the company founded by Alice Smith, who was born in Paris, based?"
FIRST_STEP = "Which company did Alice Smith, born in Paris, found?"
# The hop search's plan for QUESTION and its step answers (the first step names two entities, so the graph
# has a path between them behind the answer).
RULES = [
    (HOP_PLAN, hop_plan(FIRST_STEP, "Where is #1 based?")),
    (COMPOSE, reply(answer="Berlin")),
    (HOP, hop_answers({FIRST_STEP: "Acme Corporation", "Where is Acme Corporation based?": "Berlin"})),
    *DEFAULT_RULES,
]
__all__ = ["CHROMIUM", "INDEXES", "KEYS", "QUESTION", "SLOW_WORD", "LiveServer", "PacedLLM", "browser", "web_service"]


class PacedLLM(ScriptedLLM):
    """The scripted LLM (RULES: the plan Alice Smith -> Acme Corporation -> Berlin), each `generate` call
    taking `delay_s` (a batch counts once, as on a real backend), SLOW_S for a prompt with SLOW_WORD."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(RULES, default='{"answer": "unknown"}')
        self.delay_s = delay_s

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]:
        slow = any(SLOW_WORD in prompt_text(p) for p in prompts)
        time.sleep(SLOW_S if slow else self.delay_s)
        return super().generate(prompts, params)


def paced_runtime(delay_s: float) -> RuntimeFactory:
    """The test runtime (tests.workers.harness.fake_models) with the PacedLLM."""

    def factory(config: WorkerConfig) -> WorkerRuntime:
        models = fake_models() | {"backend": PacedLLM(delay_s)}
        return WorkerRuntime(config, **models, extractor_factory=lambda: GazetteerExtractor(NAMES_PLUS))

    return factory


@contextlib.contextmanager
def web_service(root: Path, delay_s: float = DEFAULT_DELAY_S) -> Iterator[LiveServer]:
    """The embedded service with API keys (tests.workers.harness.KEYS: tenant-a writes a-*, tenant-b b-*,
    reader-a reads a-*) over the indexes INDEXES, on a loopback port."""
    for name in INDEXES:
        build_test_index(root / "indexes", name)
    (root / "data").mkdir(exist_ok=True)
    write_jsonl(root / "data" / "docs.jsonl", DOCS)
    app = create_app(settings(root), runtime_factory=paced_runtime(delay_s))
    with LiveServer(app) as server:
        yield server


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """Headless Chromium (the system's) under Playwright; the test skips where either is missing."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: it comes with the dev extras (make install)"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: `make chromium` installs Debian's (apt-get)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()
