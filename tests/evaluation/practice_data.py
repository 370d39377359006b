"""Synthetic practice records (the shape `sleuth practice` writes), for training and evaluation tests."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from reasoning.trained_critic import feature_names


def synthetic_records(questions: int = 60, rounds: int = 3, seed: int = 0) -> list[dict[str, Any]]:
    """One chain per question for `rounds` rounds; a round is sufficient exactly when its answer is found in
    the evidence with a strong top score (a separable rule), which happens from some round on."""
    rng = random.Random(seed)
    records = []
    for q in range(questions):
        found_from = rng.randint(1, rounds + 1)  # rounds + 1: never found
        for r in range(1, rounds + 1):
            found = r >= found_from
            features = dict.fromkeys(feature_names(), 0.0)
            features |= {
                "has_answer": 1.0 if found or rng.random() < 0.5 else 0.0,
                "answer_in_evidence": 1.0 if found else 0.0,
                "top_score": rng.uniform(0.6, 1.0) if found else rng.uniform(0.0, 0.5),
                "round_frac": r / rounds,
                "chains_agree": 1.0,
            }
            answer = f"answer {q}" if features["has_answer"] else ""
            records.append(
                {
                    "dataset": "hotpotqa",
                    "question_id": f"q{q}",
                    "question": f"Question number {q}?",
                    "sample": 0,
                    "chain": 0,
                    "round": r,
                    "answer": answer,
                    "facts": [f"fact {q}.{r}"],
                    "evidence": [{"title": f"T{q}", "sentences": [f"answer {q} is here" if found else "nothing"]}],
                    "f1": 1.0 if found else 0.0,
                    "label": "sufficient" if found else "insufficient",
                    "features": features,
                    "decisions": {"feature": {"sufficient": bool(features["has_answer"]), "confidence": 0.6}},
                    "provenance": {"llm": "scripted", "index_manifest_sha256": "abc"},
                }
            )
    return records


def write_records(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
