"""`sleuth bench graph`'s own parts: comparing two graph folders, the growth exponent, the report."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from evaluation.benchmarks.graph_build import _exponent, _summary, render
from evaluation.benchmarks.graph_compare import compare_graphs
from tests.kg.sample_graph import ReplayedMentions, build_graph

pytestmark = pytest.mark.unit


def test_compare_graphs_names_what_differs(tmp_path: Path) -> None:
    graph = build_graph(tmp_path / "index", ReplayedMentions.load())
    same = shutil.copytree(graph, tmp_path / "same")
    assert all(compare_graphs(graph, same)["identical_files"].values())
    with np.load(same / "edges.npz") as data:
        edges = {key: data[key].copy() for key in data.files}
    edges["weight"][np.flatnonzero(edges["type"] == 1)[0]] += 1.0  # one co-occurrence weight
    np.savez(same / "edges.npz", **edges)
    report = compare_graphs(graph, same)
    assert not report["identical_files"]["edges.npz"] and report["identical_files"]["entities.json"]
    assert report["edges"]["cooccurrence"]["shared_differing"] == 1
    assert report["edges"]["synonym"] == {
        "first": int((edges["type"] == 2).sum()),
        "second": int((edges["type"] == 2).sum()),
        "only_first": 0,
        "only_second": 0,
        "shared_differing": 0,
    }


def test_exponent_summary_and_report() -> None:
    assert _exponent([1_000, 2_000, 4_000], [10.0, 20.0, 40.0]) == 1.0
    assert _exponent([1_000], [1.0]) is None
    graph = {
        "passages": 100,
        "graph_seconds": 3.0,
        "ratio_graph_to_ner": 1.5,
        "graph_rss_growth_mib": 1.0,
        "kib_per_passage": 10.24,
        "peak_rss_mib": 400.0,
        "counts": {"entities": 9, "cooccurrence_edges": 5, "synonym_edges": 1},
    }
    sizes = [{"passages": 100, "ner_alone": {"seconds": 2.0}, "current": graph}]
    summary = _summary(sizes, "current")
    assert summary["kib_per_passage"] == 10.24 and summary["time_exponent"] is None
    figures = {"dumps": ["a/wiki.jsonl.gz"], "trees": {"current": {}}, "sizes": sizes, "summary": {"current": summary}}
    assert "10.2 KiB a passage" in render(figures)
