"""One exception tree for the service. The API turns each into a problem details answer (RFC 9457)."""

from __future__ import annotations

import msgspec

__all__ = [
    "AuthError",
    "Conflict",
    "FieldError",
    "InvalidInput",
    "LimError",
    "NotFound",
    "PayloadTooLarge",
    "Unavailable",
    "field_error_from_msgspec",
]


class FieldError(msgspec.Struct, omit_defaults=True):
    """One bad field: ``field`` is its path in the request body (``[3].labels.env``, ``payload.summary``)."""

    field: str
    message: str


class LimError(Exception):
    status: int = 500
    title: str = "Internal Server Error"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class InvalidInput(LimError):
    status = 400
    title = "Bad Request"

    @classmethod
    def field(cls, field: str, message: str) -> InvalidInput:
        return cls(f"{field}: {message}" if field else message, [FieldError(field, message)])


class PayloadTooLarge(LimError):
    status = 413
    title = "Payload Too Large"


class AuthError(LimError):
    status = 401
    title = "Unauthorized"


class NotFound(LimError):
    status = 404
    title = "Not Found"


class Conflict(LimError):
    status = 409
    title = "Conflict"


class Unavailable(LimError):
    """A dependency failed; the client should retry after ``retry_after`` seconds. Nothing was accepted."""

    status = 503
    title = "Service Unavailable"

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


def _path(raw: str) -> str:
    path = raw.removeprefix("$")
    return path.removeprefix(".")


def field_error_from_msgspec(exc: msgspec.ValidationError | msgspec.DecodeError, prefix: str = "") -> InvalidInput:
    """An InvalidInput naming the field msgspec complained about (its message ends in ``- at `$.path```)."""
    text = str(exc)
    if isinstance(exc, msgspec.ValidationError) and " - at `" in text:
        message, _, rest = text.rpartition(" - at `")
        field = _path(rest.rstrip("`"))
        if prefix:
            field = f"{prefix}.{field}" if field and not field.startswith("[") else f"{prefix}{field}"
        return InvalidInput.field(field, message)
    if isinstance(exc, msgspec.ValidationError):
        return InvalidInput.field(prefix, text)
    return InvalidInput.field(prefix or "body", f"malformed JSON: {text}")
