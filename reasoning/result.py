"""What answering a question returns: the answer, its citations, its cost and its trace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reasoning.trace import JSON, Trace, round_s

ABSTAIN = "insufficient evidence"


@dataclass(frozen=True)
class Citation:
    """A passage the answer's explanation cites as [n] (n = `number`)."""

    number: int
    passage_id: str
    doc_id: str
    title: str

    def to_json(self) -> JSON:
        return {"n": self.number, "passage_id": self.passage_id, "doc_id": self.doc_id, "title": self.title}


@dataclass(frozen=True)
class Cost:
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    failed_llm_calls: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> JSON:
        return {
            "llm_calls": self.llm_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round_s(self.seconds),
            "failed_llm_calls": self.failed_llm_calls,
        }


@dataclass(frozen=True)
class EvidenceRef:
    """A passage the method read or ranked, in the order of its final ranking (best first)."""

    passage_id: str
    doc_id: str
    title: str
    score: float

    def to_json(self) -> JSON:
        return {"passage_id": self.passage_id, "doc_id": self.doc_id, "title": self.title, "score": self.score}


@dataclass(frozen=True)
class AskResult:
    answer: str
    explanation: str
    citations: list[Citation]
    method: str
    budget: str
    cost: Cost
    trace: Trace
    confidence: float = 0.0
    abstained: bool = False
    evidence: list[EvidenceRef] = field(default_factory=list)  # ranked; the basis of retrieval recall
    graph_paths: list[str] = field(default_factory=list)  # human-readable paths the explanation used

    @property
    def retrieved_doc_ids(self) -> list[str]:
        return [e.doc_id for e in self.evidence]

    def to_json(self, *, include_trace: bool = True) -> JSON:
        out: dict[str, Any] = {
            "answer": self.answer,
            "explanation": self.explanation,
            "confidence": round(self.confidence, 4),
            "abstained": self.abstained,
            "citations": [c.to_json() for c in self.citations],
            "graph_paths": list(self.graph_paths),
            "method": self.method,
            "budget": self.budget,
            "cost": self.cost.to_json(),
            "evidence": [e.to_json() for e in self.evidence],
        }
        if include_trace:
            out["trace"] = self.trace.to_json()
        return out
