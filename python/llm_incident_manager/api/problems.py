"""Errors as problem details (RFC 9457), naming the offending field where there is one."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from llm_incident_manager.errors import FieldError, LimError, Unavailable

__all__ = ["PROBLEM_JSON", "Problem", "exception_handlers", "problem_response"]

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class Problem(msgspec.Struct, omit_defaults=True, kw_only=True):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = []


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    title: str,
    detail: str | None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    body = Problem(title=title, status=status, detail=detail, instance=request.url.path, errors=errors or [])
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _lim_error(request: Request[Any, Any, Any], exc: LimError) -> Response[Problem]:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else None
    return problem_response(request, exc.status, exc.title, exc.detail, exc.errors, headers)


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    errors: list[FieldError] = []
    if isinstance(exc.extra, list):
        for item in exc.extra:
            if isinstance(item, dict):
                errors.append(FieldError(str(item.get("key", "")), str(item.get("message", ""))))
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or exc.detail
    return problem_response(request, 400, "Bad Request", detail, errors)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    title = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
             413: "Payload Too Large"}.get(exc.status_code, "Error")  # fmt: skip
    detail = exc.detail
    if exc.status_code == 413:
        detail = "the request body is larger than the service accepts (LIM_MAX_BODY_BYTES)"
    return problem_response(request, exc.status_code, title, detail, headers=exc.headers)


def _dependency_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.warning("dependency failure on %s %s: %r", request.method, request.url.path, exc)
    return problem_response(
        request, 503, "Service Unavailable", f"the store did not answer: {exc}", headers={"Retry-After": "1"}
    )


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(request, 500, "Internal Server Error", "an unexpected error occurred")


exception_handlers: ExceptionHandlersMap = {
    LimError: _lim_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    OSError: _dependency_error,
    TimeoutError: _dependency_error,
    sqlite3.Error: _dependency_error,
    asyncpg.PostgresError: _dependency_error,
    asyncpg.InterfaceError: _dependency_error,
    Exception: _internal_error,
}
