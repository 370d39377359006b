"""One error response shape for every failure: `{"error": {"code": ..., "message": ..., "details": ...}}`.

Sleuth's own errors map to statuses by type (a bad value is 400, a missing index 404, a running build
409, a path outside the data root 403); anything unexpected is a 500 whose message gives nothing away
(the exception is logged).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from retrieval.errors import (
    ConfigError,
    DependencyError,
    IndexLoadError,
    InputDataError,
    InputNotFoundError,
    OutputExistsError,
    SleuthError,
)
from workers.paths import ForbiddenPathError

log = logging.getLogger(__name__)


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


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return ErrorResponse(error=ErrorInfo(code=code, message=message, details=details)).model_dump(exclude_none=True)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def sleuth_error_status(exc: SleuthError) -> tuple[int, str]:
    for kind, status, code in _SLEUTH_ERRORS:
        if isinstance(exc, kind):
            return status, code
    return 500, "internal_error"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(SleuthError)
    async def _sleuth_error(_: Request, exc: SleuthError) -> JSONResponse:
        status, code = sleuth_error_status(exc)
        return error_response(status, code, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

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
