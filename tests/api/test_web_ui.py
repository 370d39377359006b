"""The web page in a real browser (Debian's headless Chromium, driven by Playwright) against a live service
with API keys, the small test graph's indexes and the hop-by-hop search's scripted LLM
(tests/api/web_harness.py): asking and watching the events, the answer and its citations, keys and scopes,
errors next to their fields, cancelling, and the indexes view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.web_harness import KEYS, QUESTION, SLOW_WORD, LiveServer, browser, web_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with web_service(tmp_path_factory.mktemp("web")) as server:
        yield server


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as launched:
        yield launched


@pytest.fixture
def page(chromium: Any, service: LiveServer) -> Iterator[Any]:
    """The page in a fresh browser context (its own session storage: no key yet)."""
    context = chromium.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(service.url + "/")
    opened.wait_for_selector("body[data-ready]", state="attached")
    yield opened
    context.close()
    assert errors == [], f"the page's scripts failed: {errors}"


def use_key(page: Any, key_id: str | None, key: str | None = None) -> None:
    if page.is_hidden("#key-panel"):
        page.click("#key-change")
    page.fill("#key-input", key if key is not None else KEYS[str(key_id)])
    page.click("#key-form button[type=submit]")


def options(page: Any, select: str) -> list[str]:
    values: list[str] = page.eval_on_selector_all(f"{select} option", "els => els.map(e => e.value)")
    return values


def ask(page: Any, question: str, index: str = "a-docs") -> None:
    page.wait_for_selector(f"#ask-index option[value='{index}']", state="attached")
    page.select_option("#ask-index", index)
    page.fill("#ask-question", question)
    page.click("#ask-submit")


def error_for(page: Any, field: str, form: str = "#ask-form") -> str:
    text: str = page.inner_text(f"{form} [data-error-for='{field}']")
    return text


def test_a_questions_events_appear_in_order_then_the_answer_and_its_citations(page: Any) -> None:
    use_key(page, "tenant-a")
    ask(page, f"{SLOW_WORD}: {QUESTION}")  # its plan takes SLOW_S seconds
    page.wait_for_selector("#trace .event[data-stage='start']")
    assert page.is_visible("#ask-cancel"), "the first event shows while the question runs"
    assert page.query_selector("#trace .event[data-stage='plan']") is None
    assert page.query_selector("#answer-text") is None
    page.wait_for_selector("#trace .event[data-stage='plan']")
    assert page.inner_text("#trace .event[data-stage='plan'] ol.plan").splitlines() == [
        "Which company did Alice Smith, born in Paris, found?",
        "Where is #1 based?",
    ]
    page.wait_for_selector("#answer-text")
    assert page.inner_text("#answer-text") == "Berlin"
    rows = page.eval_on_selector_all("#trace .event", "els => els.map(e => [Number(e.dataset.seq), e.dataset.stage])")
    seqs = [seq for seq, _ in rows]
    assert seqs == list(range(len(seqs))), "every event once, in order"
    stages = [stage for _, stage in rows]
    for earlier, later in [("plan", "retrieve"), ("retrieve", "hop_read"), ("hop_read", "beam"), ("beam", "final")]:
        assert stages.index(earlier) < stages.index(later)
    assert stages[-1] == "answer"
    hop = page.inner_text("#trace .event[data-stage='hop_read']")
    assert "Read step 1: Which company did Alice Smith, born in Paris, found?" in hop and "Acme Corporation" in hop
    assert "LLM calls" in page.inner_text("#trace-cost")
    assert page.is_hidden("#ask-cancel")
    assert page.inner_text("#answer .confidence-value").endswith("%")
    marks = page.eval_on_selector_all("#answer .explanation .cite", "els => els.map(e => e.textContent)")
    assert marks == ["[1]", "[2]"]
    assert "Alice Smith" in page.inner_text("#answer .citations")


def test_a_citation_opens_its_passage_with_the_supporting_sentence_highlighted(page: Any) -> None:
    use_key(page, "tenant-a")
    ask(page, QUESTION)
    page.wait_for_selector("#answer-text")
    page.click("#answer .explanation .cite[data-cite='2']")
    page.wait_for_selector("#passage-text")
    assert page.inner_text("#passage-text") == "Acme Corporation is based in Berlin. It grew fast in 1990."
    assert page.inner_text("#passage-text mark.support") == "Acme Corporation is based in Berlin."
    assert "Where is Acme Corporation based? Berlin" in page.inner_text("#passage")
    # the evidence graph: the hop path's passage nodes, the answer, and an entity of a graph path
    labels = page.eval_on_selector_all("#graph .node", "els => els.map(e => [e.dataset.kind, e.dataset.label])")
    assert ["passage", "[1] Alice Smith"] in labels and ["entity", "Berlin"] in labels
    assert page.get_attribute("#graph .node.is-answer", "data-label") == "Berlin"
    page.click("#graph .node[data-label='[1] Alice Smith']")
    page.wait_for_selector("#passage-text mark.support >> text=Alice Smith founded Acme Corp in 1990.")
    page.click("#graph .node[data-label='Paris']")
    page.wait_for_selector("#passage-text >> text=Paris is a city.")


def test_a_wrong_key_shows_the_error(page: Any) -> None:
    assert page.is_visible("#key-panel"), "a server with keys asks for one"
    assert "needs an API key (401)" in page.inner_text("#key-error")
    use_key(page, None, key="sk-not-a-key")
    page.wait_for_selector("#key-error >> text=The API key was refused (401)")
    assert "a valid API key is required" in page.inner_text("#key-error")
    assert page.inner_text("#key-state") == "No API key", "a refused key is not kept"
    assert options(page, "#ask-index") == []
    use_key(page, "reader-a")
    page.wait_for_selector("#key-panel", state="hidden")
    assert options(page, "#ask-index") == ["a-docs", "a-notes"]


def test_a_key_scoped_to_index_a_never_sees_index_b(page: Any) -> None:
    use_key(page, "reader-a")
    page.wait_for_selector("#ask-index option[value='a-docs']", state="attached")
    page.click(".tab[data-view='indexes']")
    page.wait_for_selector("#indexes-table tbody tr")
    assert options(page, "#ask-index") == ["a-docs", "a-notes"]
    assert page.eval_on_selector_all("#indexes-table tbody tr", "els => els.map(e => e.dataset.index)") == [
        "a-docs",
        "a-notes",
    ]
    assert "b-docs" not in page.content()
    use_key(page, "tenant-b")
    page.wait_for_selector("#ask-index option[value='b-docs']", state="attached")
    assert options(page, "#ask-index") == ["b-docs"]
    assert "a-docs" not in page.inner_text("body")


def test_bad_input_shows_the_apis_message_next_to_the_field(page: Any) -> None:
    use_key(page, "tenant-a")
    ask(page, "")
    page.wait_for_selector("#ask-form [data-error-for='question']:not(:empty)")
    assert error_for(page, "question") == "question: String should have at least 1 character"
    assert page.get_attribute("#ask-question", "aria-invalid") == "true"
    ask(page, "   ")
    page.wait_for_selector("#ask-form [data-error-for='question'] >> text=the question is empty")
    ask(page, "why " * 300)
    page.wait_for_selector("#ask-form [data-error-for='question'] >> text=characters long; the limit is 1000")
    # an index the list offered that is gone by the time the question is asked
    page.eval_on_selector("#ask-index", "select => select.add(new Option('a-gone', 'a-gone'))")
    ask(page, QUESTION, index="a-gone")
    page.wait_for_selector("#ask-form [data-error-for='index']:not(:empty)")
    assert error_for(page, "index") == "index 'a-gone' not found"
    assert error_for(page, "question") == ""
    assert "No answer" in page.inner_text("#answer")


def test_cancel_stops_a_running_question(page: Any) -> None:
    use_key(page, "tenant-a")
    ask(page, f"{SLOW_WORD}: {QUESTION}")
    page.wait_for_selector("#trace .event[data-stage='start']")
    page.click("#ask-cancel")
    page.wait_for_selector("#ask-status >> text=Cancelled.")
    assert "cancelled" in page.inner_text("#answer")
    assert page.query_selector("#answer-text") is None


def test_the_indexes_view_builds_from_an_upload_and_adds_a_document(page: Any, tmp_path: Path) -> None:
    dump = tmp_path / "more.jsonl"
    dump.write_text(json.dumps({"id": "carol", "title": "Carol White", "text": "Carol White lives in Lisbon."}) + "\n")
    use_key(page, "reader-a")
    page.click(".tab[data-view='indexes']")
    page.fill("#build-form input[name='name']", "a-built")
    page.set_input_files("#build-form input[type='file']", str(dump))
    page.click("#build-form button[type='submit']")
    page.wait_for_selector("#build-form [data-error-for='name']:not(:empty)")
    assert "this key may not build index 'a-built'" in error_for(page, "name", "#build-form")
    use_key(page, "tenant-a")
    page.click("#build-form button[type='submit']")
    page.wait_for_selector("#indexes-table tbody tr[data-index='a-built']")
    assert page.inner_text("#build-form .progress-label") == "succeeded: a-built holds 1 document, 1 passage"
    assert page.inner_text("#indexes-table tr[data-index='a-built'] td:nth-child(2)") == "1"
    page.select_option("#add-form select[name='index']", "a-built")
    page.check("#add-form input[name='source'][value='document']")
    page.fill("#add-form input[name='doc_id']", "dan")
    page.fill("#add-form input[name='doc_title']", "Dan Brown")
    page.fill("#add-form textarea[name='doc_text']", "Dan Brown lives in Porto.")
    page.click("#add-form button[type='submit']")
    page.wait_for_selector("#indexes-table tr[data-index='a-built'] td:nth-child(2) >> text=2")
    assert "added 1 document; a-built holds 2 documents" in page.inner_text("#add-form .progress-label")
    page.click("#indexes-table tr[data-index='a-built']")
    page.wait_for_selector("#index-detail dl.facts")
    details = page.inner_text("#index-detail")
    assert "Index a-built" in details and "more.jsonl" in details and "2 (2 passages)" in details
