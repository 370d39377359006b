"""Screenshots of the web page for the README: the ask page mid-run and a finished answer.

    .venv/bin/python scripts/ui_screenshots.py [--out results/ui] [--delay 0.6]

It starts the test bench of the page's browser tests (tests/api/web_harness.py: the embedded service over
the small test graph's indexes, with the hop-by-hop search's scripted LLM taking `--delay` seconds a call),
opens the page in Debian's headless Chromium, gives it a key, asks the bench's two-hop question, and saves
`ask-running.png` once the first step of the plan is answered, then `answer.png` with the
answer, its evidence graph and its first citation's passage opened. `run.json` records the command, the
commit and the settings. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.api.web_harness import CHROMIUM, QUESTION, browser, web_service  # noqa: E402
from tests.workers.harness import KEYS  # noqa: E402

VIEWPORT = {"width": 1360, "height": 900}
INDEX = "a-docs"
KEY_ID = "tenant-a"


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "api/web"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() + (" (api/web modified)" if dirty.stdout.strip() else "")


def shoot(page: Any, out: Path) -> None:
    page.fill("#key-input", KEYS[KEY_ID])
    page.click("#key-form button[type=submit]")
    page.wait_for_selector(f"#ask-index option[value='{INDEX}']", state="attached")
    page.select_option("#ask-index", INDEX)
    page.fill("#ask-question", QUESTION)
    page.click("#ask-submit")
    page.wait_for_selector("#trace .event[data-stage='beam']")
    page.screenshot(path=str(out / "ask-running.png"), full_page=True)
    page.wait_for_selector("#answer-text", timeout=60_000)
    page.click("#answer .explanation .cite[data-cite='1']")
    page.wait_for_selector("#passage-text mark.support")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(out / "answer.png"), full_page=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "ui")
    parser.add_argument("--delay", type=float, default=0.6, help="seconds a scripted LLM call takes")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"Chromium is not installed at {CHROMIUM}: `make chromium` installs Debian's", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp, web_service(Path(tmp), args.delay) as server, browser() as chromium:
        page = chromium.new_page(viewport=VIEWPORT)
        page.goto(server.url + "/")
        shoot(page, args.out)
        version = chromium.version
    run = {
        "command": " ".join(["python scripts/ui_screenshots.py", *sys.argv[1:]]),
        "commit": commit(),
        "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "files": {"ask-running.png": "the ask page mid-run", "answer.png": "the finished answer, citation [1] open"},
        "settings": {
            "service": "embedded `create_app` on a loopback port (tests/api/web_harness.py), API keys on",
            "index": f"{INDEX}: the test graph's five documents (tests/conftest.py DOCS), hashing embedder, "
            "gazetteer NER",
            "llm": f"the hop-by-hop search's scripted LLM (tests/api/web_harness.py RULES), {args.delay} s a call",
            "question": QUESTION,
            "method": "sleuth",
            "budget": "balanced",
            "key": KEY_ID,
            "viewport": VIEWPORT,
            "browser": f"Chromium {version} ({CHROMIUM}), headless, driven by Playwright",
            "python": platform.python_version(),
        },
    }
    (args.out / "run.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'ask-running.png'}, {args.out / 'answer.png'} and run.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
