"""Evaluating a trained critic on practice records of questions it was not trained on (`sleuth critic eval`).

Two views, on the same records:
- decisions: for every record (a chain's state after a round), the critic says sufficient or not; its
  decision accuracy against the label and the AUC of its confidence, next to the decisions of the feature
  and prompted critics recorded in the practice file (the prompted one only where it was run);
- stopping, simulated two ways: each chain stops at the first round its critic calls sufficient (else the
  last one), or the whole run stops at the first round where some chain is sufficient (`stop_run`). The F1
  of the answer a chain then holds and the rounds it used; the F1 of the run's answer (the vote among its
  chains' answers, weighted by the critic's confidence) and the LLM calls per question that implies (one
  decomposition, then one batched reasoning call per round while any chain of the run is active; a prompted
  critic adds one per round); all against a fixed number of rounds (every chain runs them all; its run
  answer voted on by evidence support alone, as with no critic, and by the trained critic's confidence).
  The oracle row is a critic that knows the label: sufficient exactly where the answer is right. Its stops
  are the most any critic judging correctness can save, at a run F1 no critic can beat.

The trained decisions come from a saved critic on its held-out questions, or (`--folds K`) from the
training (logistic, or the cross-encoder's) cross-validated over all the practice questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.critic_stopping import Decide, simulate_stopping
from evaluation.critic_training import cross_validated_decisions, decision_metrics, labels
from evaluation.practice_file import SUFFICIENT, load_practice, question_key, recorded_decision
from reasoning.trained_critic import TrainedCritic, load_critic
from retrieval.checksums import sha256_file


def held_out(records: Sequence[dict[str, Any]], critic: TrainedCritic, data: Path) -> tuple[list[dict[str, Any]], str]:
    """The records of questions the critic never saw in training, and how they were chosen."""
    split = critic.manifest.get("split") or {}
    if (critic.manifest.get("data") or {}).get("sha256") == sha256_file(data):
        chosen = set(split.get("val_questions") or [])
        return [r for r in records if question_key(r) in chosen], "the validation questions of the training split"
    trained_on = set(split.get("train_questions") or [])
    kept = [r for r in records if question_key(r) not in trained_on]
    return kept, f"questions not among the critic's {len(trained_on)} training questions"


def trained_decide(critic: TrainedCritic, records: Sequence[dict[str, Any]]) -> dict[int, tuple[bool, float]]:
    """The trained critic's decision on every record (by position), in one batch."""
    rows = [{k: float(v) for k, v in r["features"].items()} for r in records]
    pairs: list[tuple[str, str]] = []
    if critic.kind == "cross-encoder":
        from evaluation.cross_encoder_critic import record_pair

        pairs = [record_pair(r) for r in records]
    probabilities = critic.probabilities(rows, pairs)
    return {i: critic.decide(row, p) for i, (row, p) in enumerate(zip(rows, probabilities, strict=True))}


def recorded(name: str) -> Decide:
    def decide(record: dict[str, Any]) -> tuple[bool, float] | None:
        return recorded_decision(record, name)

    return decide


def evaluate_critic(data: Path, critic_dir: Path, *, all_records: bool = False) -> dict[str, Any]:
    """The trained critic in `critic_dir` on the practice records of `data` it was not trained on."""
    critic = load_critic(critic_dir)
    records = load_practice(data)
    chosen, how = (records, "all records") if all_records else held_out(records, critic, data)
    if not chosen:
        return {"records": 0, "selection": how, "critics": {}}
    trained = {id(chosen[i]): d for i, d in trained_decide(critic, chosen).items()}
    info = {"dir": str(critic_dir), "kind": critic.kind, "threshold": critic.threshold}
    return compare_critics(chosen, how, trained, info)


def evaluate_cross_validated(
    data: Path,
    folds: int,
    features: Sequence[str],
    seed: int = 0,
    threshold: float | None = None,
    cross_encoder_epochs: int | None = None,
) -> dict[str, Any]:
    """The critic's training (threshold choice included; the logistic model, or with `cross_encoder_epochs`
    the cross-encoder) cross-validated over the questions of `data`: every record is judged by a model that
    never saw its question. With few practice questions this measures the training method on all of them,
    where a single held-out share would be a handful."""
    records = load_practice(data)
    trained = cross_validated_decisions(records, features, folds, seed, threshold, cross_encoder_epochs)
    how = f"every question, each judged by the model of the {folds} folds that did not train on it"
    info: dict[str, Any] = {"folds": folds, "threshold": threshold or "chosen"}
    if cross_encoder_epochs is None:
        info |= {"kind": "logistic", "features": list(features)}
    else:
        info |= {"kind": "cross-encoder", "epochs": cross_encoder_epochs}
    return compare_critics(records, how, trained, info)


def compare_critics(
    chosen: Sequence[dict[str, Any]], how: str, trained: dict[int, tuple[bool, float]], info: dict[str, Any]
) -> dict[str, Any]:
    """The trained decisions (by record id) next to the critics recorded in practice and fixed rounds."""
    deciders: dict[str, Decide] = {"trained": lambda r: trained[id(r)]}
    for name in sorted({n for r in chosen for n in (r.get("decisions") or {})}):
        deciders[name] = recorded(name)
    deciders["oracle"] = oracle_decide  # the ceiling of stopping on correctness
    report: dict[str, Any] = {
        "records": len(chosen),
        "questions": len({question_key(r) for r in chosen}),
        "selection": how,
        "critic": info,
        "critics": {},
    }
    for name, decide in deciders.items():
        run_stop = simulate_stopping(chosen, decide, name, stop_run=True)
        report["critics"][name] = (
            decisions_report(chosen, decide)
            | simulate_stopping(chosen, decide, name)
            | {"run_stop": {k: run_stop.get(k) for k in ("run_f1", "llm_calls_per_question")}}
        )
    report["fixed_rounds"] = simulate_stopping(chosen, lambda r: (False, 0.0), "fixed")
    # every round run, the chains' answers voted on with the trained critic's confidence: what its stops cost
    report["fixed_rounds_trained_vote"] = simulate_stopping(chosen, lambda r: (False, trained[id(r)][1]), "fixed")
    return report


def oracle_decide(record: dict[str, Any]) -> tuple[bool, float]:
    """The label itself: sufficient, with confidence 1, exactly where the chain's answer is right."""
    right = record.get("label") == SUFFICIENT
    return right, float(right)


def decisions_report(records: Sequence[dict[str, Any]], decide: Decide) -> dict[str, Any]:
    judged = [(r, d) for r in records if (d := decide(r)) is not None]
    if not judged:
        return {"records": 0}
    y = labels([r for r, _ in judged])
    p = np.array([d[1] for _, d in judged])
    decisions = np.array([int(d[0]) for _, d in judged])
    stops = decisions == 1
    out = decision_metrics(y, p, decisions)
    out["stop_precision"] = round(float(np.mean(y[stops])), 4) if stops.any() else None
    return out


def render_report(report: dict[str, Any]) -> str:
    lines = [
        f"{report['records']} records of {report.get('questions', 0)} questions ({report['selection']})",
        "",
        "| critic | records | accuracy | AUC | stop precision | chain F1 at stop | rounds/chain | run F1 "
        "| LLM calls/q | run F1, run stops | LLM calls/q, run stops |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [
        *report["critics"].items(),
        ("fixed rounds", report.get("fixed_rounds", {})),
        ("fixed rounds, trained vote", report.get("fixed_rounds_trained_vote", {})),
    ]
    for name, m in rows:
        run_stop = m.get("run_stop") or {}
        lines.append(
            f"| {name} | {m.get('records', '-')} | {_cell(m.get('accuracy'))} | {_cell(m.get('auc'))} | "
            f"{_cell(m.get('stop_precision'))} | {_cell(m.get('f1_at_stop'))} | {_cell(m.get('rounds_per_chain'))} | "
            f"{_cell(m.get('run_f1'))} | {_cell(m.get('llm_calls_per_question'))} | {_cell(run_stop.get('run_f1'))} | "
            f"{_cell(run_stop.get('llm_calls_per_question'))} |"
        )
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
