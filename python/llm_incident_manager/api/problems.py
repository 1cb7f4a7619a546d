"""Errors as problem details (RFC 9457), naming the offending field where there is one."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from llm_incident_manager.errors import FieldError, LimError, Unavailable, msgspec_field

__all__ = [
    "DEPENDENCY_ERRORS",
    "PROBLEM_JSON",
    "Problem",
    "exception_handlers",
    "problem_response",
    "problem_specs",
]

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class Problem(msgspec.Struct, omit_defaults=True, kw_only=True):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = []


def problem_specs(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem-details answers an operation can give."""
    meaning = {
        400: "Bad input; `errors[].field` names each bad field. Nothing was changed.",
        401: "No API key, or an unknown or revoked one.",
        403: "The key's role may not do this.",
        404: "No such incident.",
        409: "The incident's state does not allow this.",
        413: "The body or the batch is larger than the service accepts. Nothing was changed.",
        503: "A dependency (the store) failed; nothing was changed. Retry after `Retry-After` seconds.",
    }
    return {
        code: ResponseSpec(
            data_container=Problem, description=meaning[code], media_type=PROBLEM_JSON, generate_examples=False
        )
        for code in codes
    }


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


def _body_field(item: dict[str, Any]) -> FieldError:
    """Litestar names a bad body ``data`` (the handler's parameter); name the field inside it instead."""
    key, message = str(item.get("key", "")), str(item.get("message", ""))
    if item.get("source") == "body" and key == "data":
        key, message = msgspec_field(message)
        key = key or "body"
    return FieldError(key, message)


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    errors: list[FieldError] = []
    if isinstance(exc.extra, list):
        for item in exc.extra:
            if isinstance(item, dict):
                errors.append(_body_field(item))
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or exc.detail
    return problem_response(request, 400, "Bad Request", detail, errors)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    title = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
             413: "Payload Too Large"}.get(exc.status_code, "Error")  # fmt: skip
    detail = exc.detail
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="llm-incident-manager"')
    if exc.status_code == 413:
        detail = "the request body is larger than the service accepts (LIM_MAX_BODY_BYTES)"
    return problem_response(request, exc.status_code, title, detail, headers=headers or None)


def _dependency_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.warning("dependency failure on %s %s: %r", request.method, request.url.path, exc)
    return problem_response(
        request, 503, "Service Unavailable", f"the store did not answer: {exc}", headers={"Retry-After": "1"}
    )


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(request, 500, "Internal Server Error", "an unexpected error occurred")


#: Exceptions that mean a dependency (the database) failed: answered 503 with Retry-After.
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)

exception_handlers: ExceptionHandlersMap = {
    LimError: _lim_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    **dict.fromkeys(DEPENDENCY_ERRORS, _dependency_error),
    Exception: _internal_error,
}
