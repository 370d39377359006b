"""Early stopping simulated on practice records: every round of every chain was run and labelled, so what a
critic would have done is known without running the system again."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from evaluation.practice_file import question_key

Decide = Callable[[dict[str, Any]], tuple[bool, float] | None]  # record -> (sufficient, confidence), None: unknown


def simulate_stopping(records: Sequence[dict[str, Any]], decide: Decide, name: str) -> dict[str, Any]:
    """Per chain: stop at the first round judged sufficient (else the last); F1 there and rounds used. Per run:
    the LLM calls that implies. Runs where the critic has no decision for some round are left out."""
    chains: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        chains[(question_key(r), r.get("sample", 0), r.get("chain", 0))].append(r)
    f1s, rounds_used, runs = [], [], defaultdict(list)
    for key, rounds in chains.items():
        rounds.sort(key=lambda r: int(r["round"]))
        decisions = [decide(r) for r in rounds]
        if any(d is None for d in decisions):
            continue
        stop = next((i for i, d in enumerate(decisions) if d is not None and d[0]), len(rounds) - 1)
        f1s.append(float(rounds[stop]["f1"]))
        rounds_used.append(stop + 1)
        runs[key[:2]].append(stop + 1)
    if not f1s:
        return {"chains": 0}
    per_call = 2 if name == "prompted" else 1
    calls = [1 + per_call * max(used) for used in runs.values()]
    return {
        "chains": len(f1s),
        "f1_at_stop": round(float(np.mean(f1s)), 4),
        "rounds_per_chain": round(float(np.mean(rounds_used)), 3),
        "llm_calls_per_question": round(float(np.mean(calls)), 3),
    }
