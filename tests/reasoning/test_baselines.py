"""The baselines on the same backend and index: direct, rag, ppr and iterative."""

from __future__ import annotations

from pathlib import Path

import pytest

from reasoning.methods import BUDGET_AWARE, METHODS
from tests.reasoning.scripts import (
    QUESTION,
    READ,
    STEP,
    index_without_graph,
    make_system,
    purposes,
    reply,
    scripted,
    step,
)

pytestmark = pytest.mark.unit


def test_every_method_is_registered() -> None:
    assert METHODS == ("direct", "rag", "iterative", "ppr", "chains", "sleuth")
    assert {"iterative", "chains", "sleuth"} == BUDGET_AWARE


@pytest.mark.parametrize("method", ["direct", "rag", "ppr"])
def test_single_pass_baselines_read_once(graph_index_dir: Path, method: str) -> None:
    llm = scripted()
    result = make_system(llm).ask(QUESTION, graph_index_dir, method=method, budget="fast")
    assert purposes(result.trace.to_json()) == ["read"] and result.answer == "Berlin"
    prompt = llm.prompts[0][-1]["content"]  # type: ignore[index]
    if method == "direct":
        assert "There is no evidence" in prompt and result.evidence == []
    else:
        assert "Evidence:\n[1]" in prompt and len(result.evidence) == 5  # passages_per_round + 1 at fast
        retrieve = next(e for e in result.trace.to_json()["events"] if e["stage"] == "retrieve")
        assert retrieve["mode"] == ("hybrid" if method == "rag" else "graph")


def test_ppr_falls_back_to_hybrid_without_a_graph(tmp_path: Path) -> None:
    result = make_system(scripted()).ask(QUESTION, index_without_graph(tmp_path), method="ppr", budget="fast")
    notes = [e["text"] for e in result.trace.to_json()["events"] if e["stage"] == "note"]
    assert notes and "no knowledge graph" in notes[0]


def test_iterative_is_one_chain_without_decomposition_graph_or_critic_llm(graph_index_dir: Path) -> None:
    replies = iter([step("unknown", next_query="Acme Corporation city"), step("Berlin", "in Berlin [2]")])
    llm = scripted([(STEP, lambda _: next(replies))])
    result = make_system(llm).ask(QUESTION, graph_index_dir, method="iterative", budget="balanced")
    trace = result.trace.to_json()
    assert purposes(trace) == ["reason", "reason"]
    retrieves = [e for e in trace["events"] if e["stage"] == "retrieve"]
    assert all(set(e["sizes"]) == {"hybrid"} for e in retrieves)
    assert retrieves[0]["query"] == QUESTION and retrieves[1]["query"] == "Acme Corporation city"
    assert result.answer == "Berlin"


def test_unknown_reading_abstains(graph_index_dir: Path) -> None:
    llm = scripted([(READ, reply(facts="", answer="unknown"))])
    result = make_system(llm).ask(QUESTION, graph_index_dir, method="rag")
    assert result.abstained and result.answer == "insufficient evidence" and result.citations == []
