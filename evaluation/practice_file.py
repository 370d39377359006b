"""The self-practice file: JSON Lines, one record per chain per round of one practice run, labelled.

A practice run is one question asked once (one `sample`, with its own sampling seed) with K chains for R
rounds and no early stop. Its records are written together, each carrying `run_size` (how many records
the run has), so a run cut off by a killed process is recognised and asked again: `PracticeFile.repair`
drops its lines. A run that failed leaves one line with `error` set and no `label`; readers of training
data skip it.

A record (see `evaluation.practice.practice_records`):
`dataset`, `question_id`, `question`, `type`, `answers` (gold), `sample`, `seed`, `temperature`,
`chain`, `round`, `chains`, `rounds`, `run_size`, `focus` (the sub-question looked for this round),
`plan_done`, `next_query`, `evidence` ([{`passage_id`, `title`, `sentences`, `score`, `round`,
`sources`}] held after this round), `facts` (the chain's reasoning so far), `answer` (the candidate),
`previous_answer` (the chain's answer the round before), `others` (the other chains' latest answers),
`answer_logprob`, `answer_min_logprob` (the reader's mean and lowest token log-probability over its
answer; null without an answer or where the backend gave none; absent in files written before),
`em`, `f1` (against gold, the benchmark's official rules), `label` ("sufficient" when f1 > `threshold`,
else "insufficient"), `threshold`, `features` (`critic_features` of the state), `decisions` (by critic name:
`sufficient`, `confidence` of the critics run alongside: feature always, prompted when asked),
`final` (the run's answer, its F1, LLM calls and tokens), `provenance` (LLM spec, index path and the
sha256 of its manifest, budget, seeds, created, Sleuth version).

Features added to `critic_features` after a file was written are computed when it is loaded, from the
state the record holds (`record_input`); the features practice recorded are kept as they are.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from evaluation.datasets import iter_jsonl
from reasoning.critic import CriticInput, critic_features, logprob_or_none
from reasoning.evidence import EvidenceItem
from reasoning.trained_critic import feature_names
from retrieval.documents import Passage
from retrieval.errors import InputDataError, InputNotFoundError
from retrieval.staging import write_text_atomically

log = logging.getLogger(__name__)

SUFFICIENT = "sufficient"
INSUFFICIENT = "insufficient"
RunKey = tuple[str, str, int]  # dataset, question id, sample


def run_key(record: dict[str, Any]) -> RunKey:
    return (str(record["dataset"]), str(record["question_id"]), int(record["sample"]))


def question_key(record: dict[str, Any]) -> str:
    """A question across datasets: `dataset:question_id`."""
    return f"{record['dataset']}:{record['question_id']}"


def recorded_decision(record: dict[str, Any], critic: str) -> tuple[bool, float] | None:
    """The (sufficient, confidence) that practice recorded for `critic` on this record, if any."""
    found = (record.get("decisions") or {}).get(critic)
    return None if found is None else (bool(found["sufficient"]), float(found["confidence"]))


def label_of(f1: float, threshold: float) -> str:
    return SUFFICIENT if f1 > threshold else INSUFFICIENT


class PracticeFile:
    """An append-only practice file, safe to append to from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append_run(self, records: list[dict[str, Any]]) -> None:
        """All records of one run, in one write."""
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()

    def repair(self) -> int:
        """Drop a cut-off last line and the lines of runs that were not written whole; how many lines went."""
        if not self.path.exists():
            return 0
        with self._lock:
            lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
            if lines and not lines[-1].endswith("\n"):
                lines.pop()
            records = [_parse(line, self.path, n) for n, line in enumerate(lines, start=1) if line.strip()]
            sizes = Counter(run_key(r) for r in records)
            keep = [
                line
                for line, record in zip([x for x in lines if x.strip()], records, strict=True)
                if record.get("error") or sizes[run_key(record)] == int(record.get("run_size", 0))
            ]
            dropped = len(lines) - len(keep)
            if dropped:
                log.warning("%s: dropping %d line(s) of runs cut off by an interrupted practice", self.path, dropped)
                write_text_atomically(self.path, "".join(keep))
            return dropped

    def done(self) -> dict[RunKey, bool]:
        """Each run in the file and whether it failed (the last line of a key wins)."""
        out: dict[RunKey, bool] = {}
        for record in self.records(include_failures=True):
            out[run_key(record)] = bool(record.get("error"))
        return out

    def records(self, *, include_failures: bool = False) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        for _, record in iter_jsonl(self.path):
            if record.get("error") and not include_failures:
                continue
            yield record


def load_practice(path: Path) -> list[dict[str, Any]]:
    """The labelled records of a practice file (failed runs left out); a bad record names its line."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"practice file not found: {path} (write one with `sleuth practice`)")
    records = []
    for line_no, record in iter_jsonl(path):
        if record.get("error"):
            continue
        missing = [k for k in ("dataset", "question_id", "label", "features", "answer") if k not in record]
        if missing or record["label"] not in (SUFFICIENT, INSUFFICIENT) or not isinstance(record["features"], dict):
            what = f"missing {', '.join(missing)}" if missing else "bad label or features"
            raise InputDataError(f"not a practice record: {what}", source=str(path), line=line_no)
        records.append(record)
    if not records:
        raise InputDataError("no labelled practice records", source=str(path))
    backfill_features(records)
    return records


def backfill_features(records: Sequence[dict[str, Any]]) -> None:
    """Add to each record's `features` those it lacks (defined after it was written), computed from the
    chain state it holds; the recorded ones stay."""
    names = set(feature_names())
    states = {(run_key(r), int(r.get("chain", 0)), int(r["round"])): r for r in records}
    for record in records:
        if not names <= set(record["features"]):
            computed = critic_features(record_input(record, states))
            record["features"] = {k: round(v, 6) for k, v in computed.items()} | record["features"]  # as recorded


def record_input(record: dict[str, Any], states: dict[tuple[RunKey, int, int], dict[str, Any]]) -> CriticInput:
    """The critic's input as practice saw it, rebuilt from a record. Records written before `previous_answer`
    and `others` were kept take them from the records (`states`, by run, chain and round) of the same chain
    the round before and of the run's other chains that round (practice never stops a chain, so those are
    the latest answers)."""
    key, chain, round_no = run_key(record), int(record.get("chain", 0)), int(record["round"])
    previous = states.get((key, chain, round_no - 1))
    others = record.get("others")
    if others is None:
        chains = range(int(record.get("chains", 1)))
        others = [states[(key, c, round_no)]["answer"] for c in chains if c != chain and (key, c, round_no) in states]
    evidence = [
        EvidenceItem(
            number=i,
            row=-1,
            passage=Passage(str(e.get("passage_id", "")), "", str(e.get("title", "")), " ".join(e["sentences"])),
            sentences=tuple(e["sentences"]),
            score=float(e.get("score", 0.0)),
            round=int(e.get("round", round)),
            sources=tuple(e.get("sources", ())),
        )
        for i, e in enumerate(record.get("evidence") or [], start=1)
    ]
    return CriticInput(
        chain=chain,
        question=str(record.get("question", "")),
        answer=str(record["answer"]),
        evidence=evidence,
        plan_done=bool(record.get("plan_done", False)),
        next_query=str(record.get("next_query", "")),
        round=round_no,
        max_rounds=int(record.get("rounds", round_no)),
        focus=str(record.get("focus", "")),
        facts=tuple(record.get("facts") or ()),
        previous_answer=str(record.get("previous_answer", previous["answer"] if previous else "")),
        others=tuple(str(a) for a in others),
        answer_logprob=logprob_or_none(record.get("answer_logprob")),
        answer_min_logprob=logprob_or_none(record.get("answer_min_logprob")),
    )


def _parse(line: str, path: Path, line_no: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
        run_key(record)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputDataError(f"bad practice record: {exc}", source=str(path), line=line_no) from exc
    if not isinstance(record, dict):
        raise InputDataError("a record must be a JSON object", source=str(path), line=line_no)
    return record
