"""The FastAPI application: `create_app(settings)` wires the service context, routers, errors, metrics and the
web page at `/`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.context import RuntimeFactory, ServiceContext
from api.errors import install_error_handlers
from api.metrics import Metrics, RequestMiddleware
from api.routers import ask, health, indexes, jobs, search, uploads, web
from api.settings import Settings
from workers.runtime import WorkerRuntime

DESCRIPTION = """Multi-hop question answering over your own documents.

Long work (answers on larger budgets, index builds, document updates) runs as jobs: the request returns
202 with a job id; poll `GET /v1/jobs/{id}` or stream its trace from `GET /v1/jobs/{id}/events`.
Authenticate with `Authorization: Bearer <API key>` (or `X-API-Key`). Every error has the shape
`{"error": {"code", "message", "details"?}}`. A web page for asking and checking answers is served at `/`."""


def create_app(
    settings: Settings,
    *,
    context: ServiceContext | None = None,
    runtime_factory: RuntimeFactory = WorkerRuntime,
) -> FastAPI:
    context = context or ServiceContext.from_settings(settings, runtime_factory)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        context.start()
        try:
            yield
        finally:
            context.close()

    app = FastAPI(title="Sleuth", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.context = context
    app.state.metrics = Metrics(lambda: context.store)
    install_error_handlers(app)
    for module in (ask, jobs, search, indexes, uploads, health, web):
        app.include_router(module.router)
    limits = settings.limits
    app.add_middleware(
        RequestMiddleware,
        metrics=app.state.metrics,
        max_body=limits.max_request_bytes,
        max_upload=limits.max_upload_bytes,
    )
    return app
