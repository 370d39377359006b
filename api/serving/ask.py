"""POST /v1/ask: check the request against the key and the limits, start a job, and wait for it when the
budget is short enough; a job that outlives the wait keeps running and the client gets a 202."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from api.context import ServiceContext
from api.errors import BROKER_ERRORS, BROKER_UNAVAILABLE, ApiError, not_found
from api.protocol.ask import AskRequest, AskResponse
from api.protocol.jobs import JobAccepted
from api.public_paths import public_paths
from api.security import Principal
from reasoning.budget import BUDGET_NAMES, KNOBS, Budget, resolve_budget
from reasoning.settings import SystemSettings
from retrieval.errors import ConfigError, SleuthError
from workers.jobs import JobRecord, error_info, new_job_id
from workers.payloads import AskPayload

_POLL_S = 0.05
CRITIC_UNAVAILABLE = "critic_unavailable"  # the budget's trained critic is missing or corrupt on this service
_BAD_REQUEST_CODES = ("invalid_request", "invalid_input", CRITIC_UNAVAILABLE)  # a failed ask's 400s


def check_ask(context: ServiceContext, principal: Principal, request: AskRequest) -> AskPayload:
    if not principal.can_read(request.index) or not context.runtime.registry.exists(request.index):
        raise not_found(f"index {request.index!r}")
    limits = context.settings.limits
    system = context.settings.worker.system
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
    notes: list[str] = []
    if request.budget_tokens is not None:
        budget, overrides, note = allocated_budget(request.budget_tokens, system.allocation)
        notes.append(note)
    if not limits.budget_allowed(budget):
        raise ApiError(400, "budget_not_allowed", f"budget {budget!r} is above this service's {limits.max_budget!r}")
    overrides |= request.overrides.model_dump(exclude_none=True) if request.overrides else {}
    for knob, cap in (("max_llm_calls", limits.max_llm_calls), ("max_tokens", limits.max_tokens)):
        if overrides.get(knob, 0) > cap:
            raise ApiError(400, "budget_not_allowed", f"{knob} {overrides[knob]} is above this service's limit {cap}")
    check_critic(resolved_budget(budget, overrides), system)
    return AskPayload(
        question=question,
        index=request.index,
        method=request.method,
        budget=budget,
        overrides=overrides,
        trace=request.trace,
        notes=notes,
    )


def resolved_budget(budget: str, overrides: dict[str, Any]) -> Budget:
    try:
        return resolve_budget(budget, **overrides)
    except ConfigError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from exc


def check_critic(budget: Budget, system: SystemSettings) -> None:
    """A budget that stops on the trained critic (`fast` does) needs it: loaded here as the stop policy loads
    it (`reasoning.stop_policy`), so a missing or corrupt one is a 400 naming it, not a failed job."""
    from reasoning.stop_policy import check_stop_policy
    from reasoning.trained_critic import CriticArtifactError

    try:
        check_stop_policy(budget, critic_dir=system.critic_dir)
    except CriticArtifactError as exc:
        raise ApiError(
            400,
            CRITIC_UNAVAILABLE,
            f"budget {budget.name!r} stops on the trained critic, and this service has none usable: {exc}. "
            'Ask with another critic ("overrides": {"critic": "feature"}) or set SLEUTH_CRITIC_DIR.',
        ) from exc


def allocated_budget(tokens: int, allocation: Path | None) -> tuple[str, dict[str, Any], str]:
    """The preset and knobs that `budget_tokens` picks with the service's allocation model (the system
    settings' `allocation`; without one, the presets' caps), and the choice in words (a trace note)."""
    from reasoning.allocation import choose_budget, load_allocation

    try:
        chosen = choose_budget(tokens, load_allocation(allocation))
    except SleuthError as exc:  # nothing fits, or the service's allocation model is missing or corrupt
        raise ApiError(400, "budget_not_allowed", str(exc)) from exc
    budget = chosen.budget
    name = budget.name if budget.name in BUDGET_NAMES else BUDGET_NAMES[0]
    knobs = {knob: getattr(budget, knob) for knob in KNOBS if getattr(budget, knob) is not None}
    return name, knobs, f"budget_tokens: {chosen.message}"


def submit(context: ServiceContext, principal: Principal, kind: str, index: str, payload: dict[str, Any]) -> JobRecord:
    """Record the job, then queue it; a job the broker would not take is failed at once (then the 503)."""
    record = JobRecord(id=new_job_id(), kind=kind, owner=principal.id, index=index)
    context.store.create(record)
    try:
        context.dispatcher.submit(kind, record.id, payload)
    except BROKER_ERRORS:
        with contextlib.suppress(*BROKER_ERRORS):
            error = error_info(BROKER_UNAVAILABLE, "the job could not be queued: the broker is unavailable")
            context.store.finish(record.id, "failed", error=error)
        raise
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
        result = public_paths(context.settings).json(finished.result)
        return AskResponse.model_validate({"job_id": finished.id, "result": result})
    error = finished.error or {"code": finished.state, "message": f"the job {finished.state}"}
    status = 400 if error["code"] in _BAD_REQUEST_CODES else 409 if finished.state == "cancelled" else 500
    if error["code"] == "index_unavailable":
        status = 409
    raise ApiError(status, error["code"], public_paths(context.settings).text(error["message"]))


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
