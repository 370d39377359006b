"""How many wrong answers name a bridge entity instead of the answer, per run, method, budget and set.

A wrong answer (F1 below 0.5) is a *bridge answer* when it is the title of one of the question's gold
supporting passages that the question itself does not name: an entity the reasoning passes through (the
director, not the film; the performer, not the birthplace). The rule reads only the run's scores and the
questions, so it counts runs of every method alike, committed ones without traces included. For runs whose
predictions file keeps the traces of the hop-by-hop search, it also counts wrong final answers that are the
answer of a step the final operation does not read (an intermediate hop returned as the answer).

    python -m evaluation.bridge_answers --data ../shared/data results/eval/dev results/eval/hop-dev
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from evaluation.run_file import RunFile, ScoredRecord
from reasoning.text import normalize_answer

WRONG_F1 = 0.5
_PARENTHETICAL = re.compile(r"\s*\([^)]*\)\s*$")


def title_key(title: str) -> str:
    return normalize_answer(_PARENTHETICAL.sub("", title))


def is_bridge_answer(prediction: str, question: str, supporting_titles: Iterable[str]) -> bool:
    """The prediction names a gold supporting passage's subject that the question does not name."""
    answer = normalize_answer(prediction)
    asked = f" {normalize_answer(question)} "
    return bool(answer) and any(answer == title_key(t) and f" {title_key(t)} " not in asked for t in supporting_titles)


def load_questions(data: Path, datasets: Iterable[str]) -> dict[str, str]:
    """Question id -> question text, from each set's dev.jsonl under `data`."""
    texts = {}
    for dataset in datasets:
        path = data / dataset / "dev.jsonl"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                item = json.loads(line)
                texts[str(item["id"])] = str(item["question"])
    return texts


def step_answer_returned(trace: dict[str, object], prediction: str) -> bool:
    """The final answer is the answer of a hop the final operation does not read (hop-by-hop traces)."""
    events = trace.get("events") if isinstance(trace, dict) else None
    if not isinstance(events, list):
        return False
    plan = next((e for e in events if e.get("stage") == "plan"), None)
    final = [e for e in events if e.get("stage") == "final"]
    if plan is None or not final:
        return False
    over = set(plan.get("over") or [])
    answer = normalize_answer(prediction)
    for event in final:  # the paths that gave the final answer
        if normalize_answer(str(event.get("answer", ""))) != answer:
            continue
        answers = (event.get("path") or {}).get("answers") or []
        if any(normalize_answer(a) == answer for step, a in enumerate(answers, 1) if step not in over):
            return True
    return False


def count(run: Path, questions: dict[str, str]) -> dict[tuple[str, str, str], dict[str, int]]:
    records: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    scored = RunFile(run / "scores.jsonl").records(light=False) if (run / "scores.jsonl").is_file() else {}
    traces = _traces(run / "predictions.jsonl")
    for record in scored.values():
        row = records[(record.dataset, record.method, record.budget)]
        row["questions"] += 1
        if record.failed or record.f1 >= WRONG_F1:
            continue
        row["wrong"] += 1
        if is_bridge_answer(record.prediction, questions.get(record.id, ""), _titles(record)):
            row["bridge"] += 1
        trace = traces.get(record.key)
        if trace is not None:
            row["traced"] += 1
            row["step_answer"] += step_answer_returned(trace, record.prediction)
    return records


def _titles(record: ScoredRecord) -> list[str]:
    return [str(t) for t in record.extra.get("supporting_titles") or []]


def _traces(path: Path) -> dict[tuple[str, str, str, str], dict[str, object]]:
    if not path.is_file():
        return {}
    found = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            trace = item.get("trace") or (item.get("result") or {}).get("trace")
            if trace:
                found[(item.get("dataset"), item.get("method"), item.get("budget"), item.get("id"))] = trace
    return found


def render(rows: dict[str, dict[tuple[str, str, str], dict[str, int]]]) -> str:
    out = [
        "| run | dataset | method | budget | N | wrong | bridge answers | share of wrong | step answer returned |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for run, table in rows.items():
        for (dataset, method, budget), row in sorted(table.items()):
            share = row["bridge"] / row["wrong"] if row["wrong"] else 0.0
            step = f"{row['step_answer']} of {row['traced']}" if row["traced"] else "-"
            out.append(
                f"| {run} | {dataset} | {method} | {budget} | {row['questions']} | {row['wrong']} | "
                f"{row['bridge']} | {share:.3f} | {step} |"
            )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="`sleuth eval` run folders")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="the benchmark questions")
    args = parser.parse_args(argv)
    questions = load_questions(args.data, ("hotpotqa", "2wikimultihopqa", "musique"))
    rows = {str(run): count(run, questions) for run in args.runs}
    sys.stdout.write(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
