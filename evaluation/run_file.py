"""The run file: one JSON line per question x method x budget, appended as each question finishes.

It is the link between the runner and the reports, and what makes a run resumable: a question whose key
(dataset, method, budget, question id) is already in the file is not asked again. When a key occurs more
than once (a failed question asked again), the last line wins. A line cut off by a killed run (the last
one) is ignored with a warning; a bad line elsewhere stops the reading with its line number.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.errors import InputDataError

log = logging.getLogger(__name__)

KS = (2, 5, 10)
RunKey = tuple[str, str, str, str]  # dataset, method, budget, question id


@dataclass(frozen=True)
class ScoredRecord:
    """What the reports need of one line of the run file (the trace stays on disk)."""

    dataset: str
    method: str
    budget: str
    id: str
    type: str
    prediction: str
    em: float
    f1: float
    recall: dict[int, float]  # k -> gold-passage recall at k
    all_found: dict[int, bool]  # k -> every gold passage within the first k documents
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    failed_llm_calls: int = 0
    abstained: bool = False
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> RunKey:
        return (self.dataset, self.method, self.budget, self.id)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "method": self.method,
            "budget": self.budget,
            "id": self.id,
            "type": self.type,
            "prediction": self.prediction,
            "abstained": self.abstained,
            "em": self.em,
            "f1": round(self.f1, 6),
        }
        out |= {f"recall@{k}": round(v, 6) for k, v in sorted(self.recall.items())}
        out |= {f"all_found@{k}": v for k, v in sorted(self.all_found.items())}
        out["cost"] = {
            "llm_calls": self.llm_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 4),
            "failed_llm_calls": self.failed_llm_calls,
        }
        out["error"] = self.error
        return out | self.extra

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScoredRecord:
        cost = data.get("cost") or {}
        known = {"dataset", "method", "budget", "id", "type", "prediction", "abstained", "em", "f1", "cost", "error"}
        return cls(
            dataset=str(data["dataset"]),
            method=str(data["method"]),
            budget=str(data["budget"]),
            id=str(data["id"]),
            type=str(data.get("type") or ""),
            prediction=str(data.get("prediction") or ""),
            em=float(data["em"]),
            f1=float(data["f1"]),
            recall=_by_k(data, "recall@", float),
            all_found=_by_k(data, "all_found@", bool),
            llm_calls=int(cost.get("llm_calls", 0)),
            prompt_tokens=int(cost.get("prompt_tokens", 0)),
            completion_tokens=int(cost.get("completion_tokens", 0)),
            seconds=float(cost.get("seconds", 0.0)),
            failed_llm_calls=int(cost.get("failed_llm_calls", 0)),
            abstained=bool(data.get("abstained", False)),
            error=data.get("error"),
            extra={k: v for k, v in data.items() if k not in known and "@" not in k},
        )


class RunFile:
    """An append-only JSONL run file, safe to append to from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, line: dict[str, Any]) -> None:
        text = json.dumps(line, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()

    def repair(self) -> None:
        """Cut off a last line that a killed run left half-written, so that new lines start clean."""
        if not self.path.exists():
            return
        with self._lock, open(self.path, "rb+") as handle:
            data = handle.read()
            if data and not data.endswith(b"\n"):
                keep = data.rfind(b"\n") + 1
                log.warning("%s: dropping a cut-off last line (an interrupted run)", self.path)
                handle.truncate(keep)

    def records(self, *, light: bool = True) -> dict[RunKey, ScoredRecord]:
        """The latest record of each key; `light` drops the bulky fields (trace, result, question)."""
        latest: dict[RunKey, ScoredRecord] = {}
        for data in self._lines():
            if light:
                data = {k: v for k, v in data.items() if k not in ("trace", "result", "question", "answers")}
            record = ScoredRecord.from_json(data)
            latest[record.key] = record
        return latest

    def _lines(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            lines = handle.readlines()
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                ScoredRecord.from_json(data)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                if line_no == len(lines) and not line.endswith("\n"):
                    log.warning("%s:%d: ignoring a cut-off last line (an interrupted run)", self.path, line_no)
                    return
                raise InputDataError(f"bad run record: {exc}", source=str(self.path), line=line_no) from exc
            yield data


def _by_k(data: dict[str, Any], prefix: str, cast: Any) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for key, value in data.items():
        if key.startswith(prefix) and key[len(prefix) :].isdigit():
            out[int(key[len(prefix) :])] = cast(value)
    return out
