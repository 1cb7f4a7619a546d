"""One exception tree for the service. The API turns each into a problem details answer (RFC 9457)."""

from __future__ import annotations

import re
from typing import Any, TypeVar

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
    "config_field",
    "convert_section",
    "field_error_from_msgspec",
    "msgspec_field",
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


_PATH_PART = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\[\.\.\.\]")
_MISSING = re.compile(r"^Object missing required field `([^`]+)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `([^`]+)`$")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _name_the_key(path: str, body: bytes | None) -> str:
    """msgspec writes ``[...]`` for "some value of this object"; find the key whose value is not a string
    (every map in our wire formats is ``dict[str, str]``) by walking the body along the path."""
    if body is None or "[...]" not in path:
        return path
    try:
        node: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return path
    out = ""
    for match in _PATH_PART.finditer(path):
        name, index = match.group(1), match.group(2)
        if name is not None and isinstance(node, dict):
            node, out = node.get(name), _join(out, name)
        elif index is not None and isinstance(node, list) and int(index) < len(node):
            node, out = node[int(index)], f"{out}[{index}]"
        elif match.group(0) == "[...]" and isinstance(node, dict):
            bad = next((k for k, v in node.items() if not isinstance(v, str)), None)
            if bad is None:
                return path
            node, out = node[bad], _join(out, str(bad))
        else:
            return path
    return out


def field_error_from_msgspec(
    exc: msgspec.ValidationError | msgspec.DecodeError, body: bytes | None = None
) -> InvalidInput:
    """An InvalidInput naming the field msgspec complained about (its message ends in ``- at `$.path```)."""
    text = str(exc)
    if not isinstance(exc, msgspec.ValidationError):
        return InvalidInput.field("body", f"malformed JSON: {text}")
    path, message = msgspec_field(text, body)
    return InvalidInput.field(path, message)


def msgspec_field(text: str, body: bytes | None = None) -> tuple[str, str]:
    """(field path, message) of a msgspec validation message (``... - at `$.path```): a missing or unknown
    field is named in the path itself (``alerts[0].labels``, ``correlation.foo``)."""
    message, path = text, ""
    if " - at `" in text:
        message, _, rest = text.rpartition(" - at `")
        path = rest.rstrip("`").removeprefix("$").removeprefix(".")
        path = _name_the_key(path, body)
    missing = _MISSING.match(message)
    if missing is not None:
        return _join(path, missing.group(1)), "is required"
    unknown = _UNKNOWN.match(message)
    if unknown is not None:
        return _join(path, unknown.group(1)), "unknown key"
    return path, message


#: a ``__post_init__`` check names its field at the start of its message: ``threshold: must be in (0, 1]``
_POST_INIT_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.*)$", re.DOTALL)

T = TypeVar("T")


def config_field(exc: msgspec.ValidationError) -> tuple[str, str]:
    """(key path, message) of a configuration value msgspec refused: its path, with the field a
    ``__post_init__`` check named joined on (msgspec gives the path of the struct only)."""
    path, message = msgspec_field(str(exc))
    field = _POST_INIT_FIELD.match(message)
    if field is not None:
        path = f"{path}.{field.group(1)}" if path else field.group(1)
        message = field.group(2)
    return path, message


def convert_section(raw: Any, type_: type[T], path: str) -> T:
    """``raw`` (a section of the YAML, as data) as ``type_``; ValueError ``path.key: message`` when it is not one."""
    try:
        return msgspec.convert(raw, type_)
    except msgspec.ValidationError as exc:
        where, message = config_field(exc)
        msg = f"{path}.{where}: {message}" if where else f"{path}: {message}"
        raise ValueError(msg) from None
