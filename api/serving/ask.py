"""POST /v1/ask: check the request against the key and the limits, start a job, and wait for it when the
budget is short enough; a job that outlives the wait keeps running and the client gets a 202."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from api.context import ServiceContext
from api.errors import ApiError, not_found
from api.protocol.ask import AskRequest, AskResponse
from api.protocol.jobs import JobAccepted
from api.security import Principal
from retrieval.errors import ConfigError
from workers.jobs import JobRecord, new_job_id
from workers.payloads import AskPayload

_POLL_S = 0.05


def check_ask(context: ServiceContext, principal: Principal, request: AskRequest) -> AskPayload:
    if not principal.can_read(request.index) or not context.runtime.registry.exists(request.index):
        raise not_found(f"index {request.index!r}")
    limits = context.settings.limits
    question = " ".join(request.question.split())
    if not question:
        raise ApiError(400, "invalid_request", "the question is empty")
    if len(question) > limits.max_question_chars:
        raise ApiError(
            400,
            "too_long",
            f"the question is {len(question)} characters long; the limit is {limits.max_question_chars}",
        )
    budget: str = request.budget
    overrides: dict[str, Any] = {}
    if request.budget_tokens is not None:
        budget, overrides = allocated_budget(request.budget_tokens)
    if not limits.budget_allowed(budget):
        raise ApiError(400, "budget_not_allowed", f"budget {budget!r} is above this service's {limits.max_budget!r}")
    overrides |= request.overrides.model_dump(exclude_none=True) if request.overrides else {}
    for knob, cap in (("max_llm_calls", limits.max_llm_calls), ("max_tokens", limits.max_tokens)):
        if overrides.get(knob, 0) > cap:
            raise ApiError(400, "budget_not_allowed", f"{knob} {overrides[knob]} is above this service's limit {cap}")
    if overrides.get("critic") == "trained" and not has_trained_critic():
        raise ApiError(400, "invalid_request", "this service has no trained critic (`sleuth critic train`)")
    return AskPayload(
        question=question,
        index=request.index,
        method=request.method,
        budget=budget,
        overrides=overrides,
        trace=request.trace,
    )


def has_trained_critic() -> bool:
    """Whether the critic the service's `trained` stands for (the shipped one) is there."""
    from reasoning.trained_critic import MANIFEST, default_critic_dir

    return (default_critic_dir() / MANIFEST).is_file()


def allocated_budget(tokens: int) -> tuple[str, dict[str, Any]]:
    """The preset and knobs that `budget_tokens` picks (with the shipped allocation model, if any)."""
    from reasoning.allocation import choose_budget, load_allocation
    from reasoning.budget import BUDGET_NAMES, KNOBS

    try:
        chosen = choose_budget(tokens, load_allocation(None)).budget
    except ConfigError as exc:
        raise ApiError(400, "budget_not_allowed", str(exc)) from exc
    name = chosen.name if chosen.name in BUDGET_NAMES else BUDGET_NAMES[0]
    return name, {knob: getattr(chosen, knob) for knob in KNOBS if getattr(chosen, knob) is not None}


def submit(context: ServiceContext, principal: Principal, kind: str, index: str, payload: dict[str, Any]) -> JobRecord:
    record = JobRecord(id=new_job_id(), kind=kind, owner=principal.id, index=index)
    context.store.create(record)
    context.dispatcher.submit(kind, record.id, payload)
    return record


async def ask(context: ServiceContext, principal: Principal, request: AskRequest) -> AskResponse | JobAccepted:
    payload = check_ask(context, principal, request)
    record = submit(context, principal, "ask", request.index, payload.model_dump())
    if not request.wait or payload.budget not in context.settings.limits.short_budgets:
        return JobAccepted.of(record)
    finished = await wait_for(context, record.id, context.settings.limits.ask_wait_s)
    if finished is None:
        return JobAccepted.of(context.store.get(record.id) or record)
    if finished.state == "succeeded" and finished.result is not None:
        return AskResponse.model_validate({"job_id": finished.id, "result": finished.result})
    error = finished.error or {"code": finished.state, "message": f"the job {finished.state}"}
    status = (
        400 if error["code"] in ("invalid_request", "invalid_input") else 409 if finished.state == "cancelled" else 500
    )
    if error["code"] == "index_unavailable":
        status = 409
    raise ApiError(status, error["code"], error["message"])


async def wait_for(context: ServiceContext, job_id: str, timeout_s: float) -> JobRecord | None:
    """The job once it is finished, or None when `timeout_s` passed first."""
    deadline = time.monotonic() + timeout_s
    while True:
        record = await asyncio.to_thread(context.store.get, job_id)
        if record is not None and record.finished:
            return record
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(_POLL_S)
