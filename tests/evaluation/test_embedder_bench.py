"""`sleuth bench embedder`'s arithmetic: the targets against torch, and the rendered tables."""

from __future__ import annotations

from typing import Any

import pytest

from evaluation.benchmarks.embedder_runtimes import _targets, render

pytestmark = pytest.mark.unit


def _speed(rate: float, cosine: float) -> dict[str, Any]:
    return {
        "median_passages_per_second": rate,
        "passages_per_second": rate,
        "part_rates": [rate],
        "cosine_to_torch": {"mean": cosine, "min": cosine},
        "speedup": round(rate / 36.0, 2),
    }


def _recall(r5: float) -> dict[str, Any]:
    return {mode: {"R@2": r5 - 0.1, "R@5": r5, "R@10": r5 + 0.1} for mode in ("dense", "hybrid")}


def _build(runtime: str, seconds: float) -> dict[str, Any]:
    return {
        "runtime": runtime,
        "wall_seconds": seconds,
        "passages_per_second": round(38000 / seconds, 1),
        "stages": {"embed": {"seconds": seconds - 20}},
    }


def figures(int8_r5: float, build_seconds: float) -> dict[str, Any]:
    return {
        "machine": {"cpu": "AMD EPYC", "cpus": 2, "int8_config": "avx512_vnni"},
        "runtimes": {"torch": "torch", "onnx": "onnx fp32", "onnx-int8": "onnx int8 (avx512_vnni)"},
        "auto": {"backend": "onnx-int8", "runtime": "onnx int8 (avx512_vnni)"},
        "speed": {
            "passages": 2000,
            "parts": 4,
            "per_runtime": {"torch": _speed(36.0, 1.0), "onnx": _speed(50.0, 1.0), "onnx-int8": _speed(90.0, 0.99)},
        },
        "recall": {
            "ks": [2, 5, 10],
            "modes": ["dense", "hybrid"],
            "datasets": {"musique": {"questions": 182, "torch": _recall(0.544), "auto": _recall(int8_r5)}},
        },
        "build": {
            "dump": "wiki_passages.jsonl.gz",
            "torch": _build("torch", 1000.0),
            "auto": _build("onnx int8", build_seconds),
            "speedup": round(1000.0 / build_seconds, 2),
        },
    }


def test_targets_compare_auto_with_torch() -> None:
    met = _targets(figures(int8_r5=0.536, build_seconds=400.0))
    assert met["speedup"] == {"value": 2.5, "target": 2.0, "met": True}
    assert met["recall_at_5_drop_points"]["value"] == {"musique": 0.8} and met["recall_at_5_drop_points"]["met"]
    assert met["build_speedup"]["met"]
    missed = _targets(figures(int8_r5=0.520, build_seconds=600.0))
    assert missed["recall_at_5_drop_points"]["value"] == {"musique": 2.4}
    assert not missed["recall_at_5_drop_points"]["met"] and not missed["build_speedup"]["met"]


def test_render_shows_every_runtime_and_the_verdicts() -> None:
    table = figures(int8_r5=0.536, build_seconds=400.0)
    table["targets"] = _targets(table)
    text = render(table)
    assert "| onnx int8 (avx512_vnni) | 90.0 | 90.0 | 2.50 | 0.9900 / 0.9900 |" in text
    assert "| musique | 182 | dense | 0.444 / 0.436 | 0.544 / 0.536 | 0.644 / 0.636 |" in text
    assert "build_speedup: 2.5 (target 1.8): met" in text
