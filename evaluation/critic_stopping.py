"""Early stopping simulated on practice records: every round of every chain was run and labelled, so what a
critic would have done is known without running the system again; and the stop rule a trained critic
keeps, chosen by that simulation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.practice_file import question_key
from reasoning.verification import Ballot, group_ballots

Decide = Callable[[dict[str, Any]], tuple[bool, float] | None]  # record -> (sufficient, confidence), None: unknown
Rounds = list[dict[str, Any]]  # one chain's records, by round
THRESHOLD_GRID = tuple(round(0.1 + 0.05 * i, 2) for i in range(15))  # 0.1 .. 0.8
CURVE_KEYS = ("run_f1", "llm_calls_per_question", "f1_at_stop", "rounds_per_chain")  # of each simulated rule
F1_TOLERANCE = 0.005  # F1 this close to fixed rounds' counts as equal: the cheapest stop rule there wins


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


@dataclass(frozen=True)
class StopRule:
    threshold: float  # a chain with an answer is sufficient at p >= threshold
    stop_run: bool  # the whole run answers at the first sufficient chain (else each chain stops on its own)


def choose_stop_rule(
    records: Sequence[dict[str, Any]], p: np.ndarray, stop_run: bool | None = None
) -> tuple[StopRule, list[dict[str, Any]]]:
    """The stop rule for probabilities `p` of `records` (training questions, out-of-fold): every threshold of
    the grid, with each chain stopping on its own and with the whole run stopping at its first sufficient
    chain (or only the way `stop_run` says), is simulated; the rule with the fewest LLM calls among those
    whose run F1 is within F1_TOLERANCE of running every round (the fixed-rounds baseline a critic must
    match, its vote weighted by the same probabilities) is kept, else the one with the best run F1. A
    calibrated 0.5 would stop only where the answer is more likely right than not; but where later rounds
    do no better than a less sure answer now, stopping now costs nothing, and this measures where the
    balance lies."""
    has = [bool(r["features"].get("has_answer")) for r in records]
    by_record = {id(r): (h, float(q)) for r, h, q in zip(records, has, p, strict=True)}
    curve = []
    for run in (False, True) if stop_run is None else (stop_run,):
        for t in THRESHOLD_GRID:

            def decide(record: dict[str, Any], t: float = t) -> tuple[bool, float]:
                has_answer, probability = by_record[id(record)]
                return has_answer and probability >= t, probability

            sim = simulate_stopping(records, decide, "trained", stop_run=run)
            curve.append({"threshold": t, "stop_run": run} | {k: sim[k] for k in CURVE_KEYS})
    fixed = simulate_stopping(records, lambda r: (False, by_record[id(r)][1]), "fixed")["run_f1"]
    near = [c for c in curve if c["run_f1"] >= fixed - F1_TOLERANCE]
    if not near:
        best = max(c["run_f1"] for c in curve)
        near = [c for c in curve if c["run_f1"] == best]
    chosen = min(
        near,
        key=lambda c: (c["llm_calls_per_question"], c["rounds_per_chain"], -c["run_f1"], c["stop_run"], c["threshold"]),
    )
    return StopRule(float(chosen["threshold"]), bool(chosen["stop_run"])), curve
