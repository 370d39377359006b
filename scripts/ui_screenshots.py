"""Screenshots of the web page for the README: the ask page mid-run and a finished answer.

    .venv/bin/python scripts/ui_screenshots.py --real [--out results/ui] [--root .sleuth/ui-screenshots]
    .venv/bin/python scripts/ui_screenshots.py [--out DIR] [--delay 0.6]        # the test bench, in seconds

`--real` (how the README's pictures are made) shows the product itself: it builds the bundled sample
corpus's index once (`sleuth index build`, the real embedder and spaCy, into `--root`/indexes, kept for
the next run), starts `sleuth serve` as a subprocess on a loopback port with the embedded defaults (no
broker, the CPU LLM, the real embedder) and a fresh API key that may read that index, waits for /readyz,
and asks the two-hop question REAL_QUESTION at the `fast` budget. A real question takes one to three
minutes of CPU.

Without `--real` it uses the test bench of the page's browser tests (tests/api/web_harness.py: the embedded
service over the small test graph's indexes, with the hop-by-hop search's scripted LLM taking `--delay`
seconds a call) and asks the bench's question: quick, for checking the page's look while working on it.

Either way it opens the page in Debian's headless Chromium (Playwright), gives it the key, asks, and saves
`ask-running.png` once the plan's first step is answered, then `answer.png` with the answer, its evidence
graph and its first citation's passage opened. `run.json` records what made them: the command, the commit,
the models, the index, the question, the budget and the seconds. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.security import hash_key, new_key  # noqa: E402
from api.settings import Settings  # noqa: E402
from reasoning.llm.model_files import MODELS  # noqa: E402
from tests.api.web_harness import CHROMIUM, QUESTION, browser, web_service  # noqa: E402
from tests.workers.harness import KEYS, free_port  # noqa: E402

log = logging.getLogger("ui_screenshots")
VIEWPORT = {"width": 1360, "height": 900}
BENCH_INDEX = "a-docs"
BENCH_KEY_ID = "tenant-a"

SAMPLE = REPO / "retrieval" / "samples" / "hotpotqa_sample.jsonl"  # what `make demo` indexes
REAL_INDEX = "hotpotqa-sample"
REAL_KEY_ID = "readme-screenshots"
# Sinister (film) names its director; Scott Derrickson's paragraph gives his date of birth (not his place of
# birth: asked for that, the reader took where he lives for where he was born).
REAL_QUESTION = "When was the director of the film Sinister born?"
REAL_BUDGET = "fast"
READY_S = 900  # the first start joins and verifies the CPU model's GGUF file before loading it


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    paths = ["api/web", "scripts/ui_screenshots.py"]
    dirty = subprocess.run(["git", "status", "--porcelain", *paths], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() + (" (the page or this script modified)" if dirty.stdout.strip() else "")


def shoot(
    page: Any,
    out: Path,
    *,
    key: str,
    index: str,
    question: str,
    budget: str | None = None,
    step_timeout_s: float = 30,
    answer_timeout_s: float = 60,
) -> tuple[str, float]:
    """Ask `question` on the page; save ask-running.png after the plan's first step, answer.png at the end.
    Returns the question's job id and the seconds from Ask to the answer on the page."""
    page.fill("#key-input", key)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector(f"#ask-index option[value='{index}']", state="attached")
    page.select_option("#ask-index", index)
    page.select_option("#ask-method", "sleuth")
    if budget is not None:
        page.select_option("#ask-budget", budget)
    page.fill("#ask-question", question)
    with page.expect_response(lambda r: r.url.endswith("/v1/ask") and r.request.method == "POST") as asked:
        page.click("#ask-submit")
    started = time.monotonic()
    job_id = str(asked.value.json()["job_id"])
    # the first step answered, or the answer itself where the search ended before one (a fallback)
    page.wait_for_selector(
        "#trace .event[data-stage='beam'], #answer-text", timeout=step_timeout_s * 1000, state="attached"
    )
    if page.query_selector("#answer-text") is not None:
        log.warning("warning: the answer came before a step was answered; ask-running.png shows it")
    page.screenshot(path=str(out / "ask-running.png"), full_page=True)
    page.wait_for_selector("#answer-text", timeout=answer_timeout_s * 1000)
    seconds = time.monotonic() - started
    cites = page.locator("#answer .cite[data-cite='1']")
    if cites.count():
        cites.first.click()
        page.wait_for_selector("#passage-text")
        with contextlib.suppress(Exception):  # a passage whose supporting sentence was not found has no mark
            page.wait_for_selector("#passage-text mark.support", timeout=5_000)
    else:
        log.warning("warning: the answer has no citation [1] to open")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(out / "answer.png"), full_page=True)
    return job_id, seconds


# --- the test bench ---------------------------------------------------------------------------------------


def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, web_service(Path(tmp), args.delay) as server, browser() as chromium:
        page = chromium.new_page(viewport=VIEWPORT)
        page.goto(server.url + "/")
        _, seconds = shoot(page, args.out, key=KEYS[BENCH_KEY_ID], index=BENCH_INDEX, question=QUESTION)
        version = chromium.version
    return {
        "question_seconds": round(seconds, 1),
        "settings": {
            "service": "embedded `create_app` on a loopback port (tests/api/web_harness.py), API keys on",
            "index": f"{BENCH_INDEX}: the test graph's five documents (tests/conftest.py DOCS), hashing embedder, "
            "gazetteer NER",
            "llm": f"the hop-by-hop search's scripted LLM (tests/api/web_harness.py RULES), {args.delay} s a call",
            "question": QUESTION,
            "method": "sleuth",
            "budget": "balanced",
            "key": BENCH_KEY_ID,
            "viewport": VIEWPORT,
            "browser": browser_line(version),
            "python": platform.python_version(),
        },
    }


# --- the real service -------------------------------------------------------------------------------------


def sample_index(index_root: Path) -> tuple[Path, float | None]:
    """The bundled sample's index under index_root (built by `sleuth index build` unless a complete one is
    there) and the seconds the build took (None when it was already there)."""
    directory = index_root / REAL_INDEX
    manifest = directory / "manifest.json"
    if manifest.exists() and json.loads(manifest.read_text(encoding="utf-8")).get("graph", {}).get("built"):
        return directory, None
    index_root.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "api.cli", "index", "build", "--input", str(SAMPLE), "--out", str(directory)]
    log.info(f"building the sample index into {directory} ...")
    started = time.monotonic()
    subprocess.run([*command, "--overwrite"], cwd=REPO, check=True)
    return directory, time.monotonic() - started


@contextlib.contextmanager
def real_service(root: Path, key: str, log_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`sleuth serve` in a subprocess with the embedded defaults over root/indexes, API keys on (one key
    that may read REAL_INDEX); yields its URL, once /readyz says the models are loaded, and its environment."""
    port = free_port()
    keys = [{"id": REAL_KEY_ID, "sha256": hash_key(key), "indexes": {REAL_INDEX: "read"}}]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLEUTH_")}  # the defaults, no broker
    env |= {
        "SLEUTH_INDEX_ROOT": str(root / "indexes"),
        "SLEUTH_DATA_ROOT": str(root / "data"),
        "SLEUTH_AUTH": "keys",
        "SLEUTH_API_KEYS": json.dumps(keys),
    }
    (root / "data").mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("w", encoding="utf-8") as log:
        server = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(url, server, log_path)
            yield url, env
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def wait_ready(url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    log.info(f"starting sleuth serve on {url} (loading the models) ...")
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"sleuth serve exited ({server.returncode}): see {log_path}")
        with contextlib.suppress(httpx.HTTPError):
            ready = httpx.get(url + "/readyz", timeout=5)
            if ready.status_code == 200:
                return
            if ready.json().get("details", {}).get("error"):
                raise RuntimeError(f"sleuth serve could not load its models: {ready.json()['details']['error']}")
        time.sleep(2)
    raise RuntimeError(f"sleuth serve was not ready after {READY_S} s: see {log_path}")


def llm_of(env: dict[str, str]) -> dict[str, Any]:
    """The LLM the service runs (its settings from the same environment) and, for a bundled CPU model, its
    GGUF file."""
    spec = Settings.from_env(env).worker.system.llm
    described: dict[str, Any] = {"spec": spec}
    kind, _, target = spec.partition(":")
    if kind == "llama-cpp" and target in MODELS:
        model = MODELS[target]
        described |= {"file": model.file_name, "sha256": model.sha256}
    with contextlib.suppress(metadata.PackageNotFoundError):
        described["llama_cpp_python"] = metadata.version("llama_cpp_python")
    return described


def real(args: argparse.Namespace) -> dict[str, Any]:
    root: Path = args.root.resolve()
    directory, build_s = sample_index(root / "indexes")
    key = new_key()
    with (
        real_service(root, key, root / "serve.log") as (url, env),
        browser() as chromium,
    ):
        headers = {"X-API-Key": key}
        index = httpx.get(f"{url}/v1/indexes/{REAL_INDEX}", headers=headers, timeout=30).json()
        page = chromium.new_page(viewport=VIEWPORT)
        page.goto(url + "/")
        log.info(f"asking {REAL_QUESTION!r} at {REAL_BUDGET} (one to three minutes of CPU) ...")
        job_id, seconds = shoot(
            page,
            args.out,
            key=key,
            index=REAL_INDEX,
            question=REAL_QUESTION,
            budget=REAL_BUDGET,
            step_timeout_s=args.answer_timeout,
            answer_timeout_s=args.answer_timeout,
        )
        job = httpx.get(f"{url}/v1/jobs/{job_id}", headers=headers, timeout=30).json()
        version = chromium.version
    manifest = index["manifest"]
    result = job.get("result") or {}
    log.info(f"answer: {result.get('answer')!r} in {seconds:.1f} s ({result.get('cost')})")
    return {
        "question_seconds": round(seconds, 1),
        "settings": {
            "service": "`sleuth serve --host 127.0.0.1 --port PORT` in a subprocess: the embedded defaults (no "
            "broker), SLEUTH_INDEX_ROOT and SLEUTH_DATA_ROOT under the root, SLEUTH_AUTH=keys with one fresh key "
            "that may read the index",
            "root": relative(root),
            "index": {
                "name": REAL_INDEX,
                "built_by": f"sleuth index build --input {SAMPLE.relative_to(REPO)} --out {relative(directory)}",
                "build_seconds": None if build_s is None else round(build_s, 1),
                "counts": manifest.get("counts"),
                "embedder": manifest.get("embedder"),
                "graph": {"built": manifest["graph"].get("built"), "counts": manifest["graph"].get("counts")},
                "ner": {k: manifest["graph"].get("ner", {}).get(k) for k in ("extractor", "model", "model_version")},
            },
            "llm": llm_of(env),
            "question": REAL_QUESTION,
            "method": "sleuth",
            "budget": REAL_BUDGET,
            "key": REAL_KEY_ID,
            "viewport": VIEWPORT,
            "browser": browser_line(version),
            "python": platform.python_version(),
        },
        "result": {
            "job_id": job_id,
            "state": job.get("state"),
            "answer": result.get("answer"),
            "confidence": result.get("confidence"),
            "abstained": result.get("abstained"),
            "citations": [c.get("title") for c in result.get("citations", [])],
            "cost": result.get("cost"),
        },
    }


def relative(path: Path) -> str:
    return os.path.relpath(path, REPO)


def browser_line(version: str) -> str:
    return f"Chromium {version} ({CHROMIUM}), headless, driven by Playwright"


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", action="store_true", help="the real service, models and sample index (README)")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "ui")
    parser.add_argument("--delay", type=float, default=0.6, help="seconds a scripted LLM call takes (bench)")
    parser.add_argument(
        "--root", type=Path, default=REPO / ".sleuth" / "ui-screenshots", help="the real service's indexes and data"
    )
    parser.add_argument("--answer-timeout", type=float, default=900, help="seconds the real answer may take")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        log.warning(f"Chromium is not installed at {CHROMIUM}: `make chromium` installs Debian's")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    made = real(args) if args.real else bench(args)
    run = {
        "command": " ".join(["python scripts/ui_screenshots.py", *sys.argv[1:]]),
        "commit": commit(),
        "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "files": {"ask-running.png": "the ask page mid-run", "answer.png": "the finished answer, citation [1] open"},
        **made,
    }
    (args.out / "run.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    log.info(f"wrote {args.out / 'ask-running.png'}, {args.out / 'answer.png'} and run.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
