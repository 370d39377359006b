"""Early stopping simulated on practice records: every round of every chain was run and labelled, so what a
critic would have done is known without running the system again."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from evaluation.practice_file import question_key
from reasoning.verification import Ballot, group_ballots

Decide = Callable[[dict[str, Any]], tuple[bool, float] | None]  # record -> (sufficient, confidence), None: unknown
Rounds = list[dict[str, Any]]  # one chain's records, by round


def simulate_stopping(
    records: Sequence[dict[str, Any]], decide: Decide, name: str, *, stop_run: bool = False
) -> dict[str, Any]:
    """Per chain: stop at the first round judged sufficient (else the last); F1 there and rounds used. With
    `stop_run` the whole run stops at the first round where any of its chains is judged sufficient. Per run:
    the answer the cross-chain vote picks among the chains' answers where they stopped (weighted by the
    critic's confidence, as the loop's verifier weighs them), its F1, and the LLM calls (one decomposition,
    then one batched reasoning call per round while any chain is active; a prompted critic adds one per
    round). Runs where the critic has no decision for some round are left out."""
    runs: dict[tuple[Any, ...], dict[Any, Rounds]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        runs[(question_key(r), r.get("sample", 0))][r.get("chain", 0)].append(r)
    per_call = 2 if name == "prompted" else 1
    f1s, rounds_used, run_f1s, calls = [], [], [], []
    for chains in runs.values():
        ordered = [sorted(rounds, key=lambda r: int(r["round"])) for _, rounds in sorted(chains.items())]
        decisions = [[d for d in map(decide, rounds) if d is not None] for rounds in ordered]
        if any(len(chain) < len(rounds) for chain, rounds in zip(decisions, ordered, strict=True)):
            continue
        stops = [next((i for i, d in enumerate(chain) if d[0]), len(chain) - 1) for chain in decisions]
        if stop_run:
            first = min((s for s, chain in zip(stops, decisions, strict=True) if chain[s][0]), default=None)
            stops = [min(s, first) if first is not None else s for s in stops]
        held = [(rounds[s], chain[s]) for rounds, chain, s in zip(ordered, decisions, stops, strict=True)]
        f1s += [float(record["f1"]) for record, _ in held]
        rounds_used += [s + 1 for s in stops]
        run_f1s.append(_voted_f1(held))
        calls.append(1 + per_call * (max(stops) + 1))
    if not f1s:
        return {"chains": 0}
    return {
        "chains": len(f1s),
        "f1_at_stop": round(float(np.mean(f1s)), 4),
        "rounds_per_chain": round(float(np.mean(rounds_used)), 3),
        "run_f1": round(float(np.mean(run_f1s)), 4),
        "llm_calls_per_question": round(float(np.mean(calls)), 3),
    }


def _voted_f1(held: Sequence[tuple[dict[str, Any], tuple[bool, float]]]) -> float:
    """The F1 of the answer the loop's vote (`group_ballots`) picks among the chains' held answers."""
    ballots = []
    for i, (record, decision) in enumerate(held):
        features = record.get("features") or {}
        support = 0.5 if features.get("yes_no") else float(features.get("answer_in_evidence", 0.0))
        matches = not features.get("type_mismatch")
        ballots.append(Ballot(i, str(record.get("answer", "")), decision[1], support, matches))
    groups = group_ballots(ballots)
    if not groups:
        return 0.0
    best = max(groups[0].chains, key=lambda i: (ballots[i].confidence, -i))  # as the verifier's `_best_chain`
    return float(held[best][0]["f1"])
