"""Request and response models of POST /v1/ask."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reasoning.budget import DEFAULT_BUDGET, BudgetName
from reasoning.budget import CriticKind as CriticName
from reasoning.methods import MethodName
from workers.payloads import IndexName

__all__ = ["AskRequest", "AskResponse", "BudgetName", "BudgetOverrides", "CriticName", "MethodName"]


class BudgetOverrides(BaseModel):
    """Knobs on top of the budget preset; each is capped by the service's limits."""

    model_config = ConfigDict(extra="forbid", strict=True)

    beam_width: int | None = Field(default=None, ge=1, le=8, description="sleuth: paths kept after each step")
    hop_reads: int | None = Field(default=None, ge=1, le=8, description="sleuth: passage groups read per step and path")
    hop_passages: int | None = Field(default=None, ge=1, le=8, description="sleuth: passages per group")
    hop_sentences: int | None = Field(default=None, ge=1, le=8, description="sleuth: sentences per passage")
    rewrites: int | None = Field(default=None, ge=0, le=4, description="sleuth: re-searches of an unknown step")
    chains: int | None = Field(default=None, ge=1, le=8)
    max_rounds: int | None = Field(default=None, ge=1, le=8)
    passages_per_round: int | None = Field(default=None, ge=1, le=50)
    rerank_depth: int | None = Field(default=None, ge=1, le=200)
    max_llm_calls: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    critic: CriticName | None = Field(
        default=None,
        description="who decides after each round whether the evidence is enough: feature (no LLM call), "
        "prompted (the LLM), trained (the service's critic learnt from self-practice) or none (a fixed "
        "number of rounds); the preset's own by default",
    )
    stop_run: bool | None = Field(
        default=None, description="answer as soon as one chain is judged sufficient (default: the preset's own)"
    )
    trust_critic: bool | None = Field(
        default=None,
        description="with verification, do not re-check an answer the critic judged sufficient and no other chain "
        "contradicts (default: the preset's own)",
    )


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # no "5" for 5 nor true for 1

    question: str = Field(min_length=1, max_length=100_000, description="the question (the service limits its length)")
    index: IndexName
    method: MethodName = "sleuth"
    budget: BudgetName = DEFAULT_BUDGET
    budget_tokens: int | None = Field(
        default=None,
        ge=1,
        description="tokens per question: run the configuration predicted best within them (replaces budget)",
    )
    overrides: BudgetOverrides | None = None
    trace: bool = Field(default=False, description="include the full trace in the result")
    wait: bool = Field(default=True, description="wait for the answer when the budget is short (else 202)")


class Citation(BaseModel):
    n: int
    passage_id: str
    doc_id: str
    title: str


class AskCost(BaseModel):
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    failed_llm_calls: int = 0


class Answer(BaseModel):
    answer: str
    explanation: str
    confidence: float
    abstained: bool
    citations: list[Citation]
    graph_paths: list[str]
    method: str
    budget: str
    cost: AskCost
    evidence: list[dict[str, Any]]
    trace: dict[str, Any] | None = None
    notes: list[str] = Field(
        default_factory=list, description="what the service chose for the request, e.g. the budget budget_tokens picked"
    )


class AskResponse(BaseModel):
    """200: the answer, when the question was answered while the request waited."""

    job_id: str
    state: Literal["succeeded"] = "succeeded"
    result: Answer
