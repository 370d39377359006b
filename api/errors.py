"""One error response shape for every failure: `{"error": {"code": ..., "message": ..., "details": ...}}`.

Sleuth's own errors map to statuses by type (a bad value is 400, a missing index 404, a running build
409, a path outside the data root 403), with server paths in their messages shown relative to the data
and index roots. A broker (Redis) that cannot be reached, or refuses the service's password, is a 503
`broker_unavailable` with a `Retry-After`. Anything unexpected is a 500 whose message gives nothing away
(the exception is logged). A 405 lists every method the path takes in its `Allow` header.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import kombu.exceptions
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.public_paths import public_paths
from retrieval.errors import (
    ConfigError,
    DependencyError,
    IndexLoadError,
    InputDataError,
    InputNotFoundError,
    OutputExistsError,
    PathOutsideRootError,
    SleuthError,
)
from workers.paths import ForbiddenPathError

log = logging.getLogger(__name__)

# The broker and the job store cannot be reached, time out, or refuse the password (redis-py's
# AuthenticationError is a ConnectionError); kombu raises OperationalError when Celery cannot publish.
BROKER_ERRORS: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)
BROKER_RETRY_AFTER_S = 5
BROKER_UNAVAILABLE = "broker_unavailable"


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorInfo


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}
_SLEUTH_ERRORS: tuple[tuple[type[SleuthError], int, str], ...] = (
    (ForbiddenPathError, 403, "forbidden_path"),
    (PathOutsideRootError, 403, "forbidden_path"),
    (InputNotFoundError, 400, "source_not_found"),
    (InputDataError, 400, "invalid_input"),
    (OutputExistsError, 409, "conflict"),
    (IndexLoadError, 409, "index_unavailable"),
    (ConfigError, 400, "invalid_request"),
    (DependencyError, 503, "unavailable"),
)
# Shown in the OpenAPI document for every route.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": code.replace("_", " ")}
    for status, code in _STATUS_CODES.items()
    if status in (400, 401, 403, 404, 409, 413, 422)
}
ERROR_RESPONSES[503] = {"model": ErrorResponse, "description": "broker unavailable (with Retry-After) or unavailable"}


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return ErrorResponse(error=ErrorInfo(code=code, message=message, details=details)).model_dump(exclude_none=True)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def sleuth_error_status(exc: SleuthError) -> tuple[int, str]:
    for kind, status, code in _SLEUTH_ERRORS:
        if isinstance(exc, kind):
            return status, code
    return 500, "internal_error"


def broker_unavailable() -> ApiError:
    return ApiError(
        503,
        BROKER_UNAVAILABLE,
        "the job broker (Redis) cannot be reached or refused the service's credentials; try again later",
        headers={"Retry-After": str(BROKER_RETRY_AFTER_S)},
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route of the app takes at this request's path, for a 405's Allow header (Starlette
    names only the first route that matched the path; here each method is tried on every route)."""
    routes = request.app.router.routes
    return ", ".join(method for method in _METHODS if _routed(routes, request.scope, method))


def _routed(routes: list[Any], scope: MutableMapping[str, Any], method: str) -> bool:
    probe = {"type": "http", "path": scope["path"], "root_path": scope.get("root_path", ""), "method": method}
    return any(route.matches(probe)[0] == Match.FULL for route in routes)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(SleuthError)
    async def _sleuth_error(request: Request, exc: SleuthError) -> JSONResponse:
        status, code = sleuth_error_status(exc)
        return error_response(status, code, public_paths(request.app.state.context.settings).text(str(exc)))

    async def _broker_error(request: Request, exc: Exception) -> JSONResponse:
        kind = type(exc).__name__
        log.warning("%s %s: the broker is unavailable: %s: %s", request.method, request.url.path, kind, exc)
        refused = broker_unavailable()
        return error_response(refused.status, refused.code, refused.message, refused.headers)

    for kind in BROKER_ERRORS:  # handled where the route runs, so the connection stays open
        app.add_exception_handler(kind, _broker_error)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
        return error_response(exc.status_code, code, str(exc.detail), headers or None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return JSONResponse(error_body("invalid_request", "the request is invalid", details), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal error")
