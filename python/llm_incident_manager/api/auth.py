"""Authentication (``Authorization: Bearer <key>`` or ``X-API-Key``) and role guards."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from llm_incident_manager.auth.keys import KeyCache, Principal, Role

__all__ = ["AuthMiddleware", "Guard", "can_act", "can_admin", "can_ingest", "can_read", "key_from_headers"]

Guard = Any


def _basic_password(value: str) -> str | None:
    """The key from HTTP Basic credentials: the password, or the user name when the password is empty (so
    Alertmanager's ``basic_auth: {password: KEY}`` and ``curl -u KEY:`` both work)."""
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password or user or None


def key_from_headers(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The API key of a request: ``Authorization: Bearer KEY`` (or ``Token KEY``), HTTP Basic with the key as
    password, or ``X-API-Key: KEY``."""
    header = connection.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme in ("bearer", "token") and value.strip():
            return value.strip()
        if scheme == "basic" and value.strip():
            return _basic_password(value.strip())
    api_key = connection.headers.get("x-api-key")
    return api_key.strip() if api_key else None


class AuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        key = key_from_headers(connection)
        if key is None:
            raise NotAuthorizedException("send an API key as 'Authorization: Bearer <key>' or 'X-API-Key'")
        cache: KeyCache = connection.app.state.services.keys
        principal = await cache.resolve(key)
        if principal is None:
            raise NotAuthorizedException("the API key is unknown or revoked")
        return AuthenticationResult(user=principal, auth=key)


def _allow(*roles: Role) -> Guard:
    allowed = frozenset(roles)
    names = ", ".join(sorted(r.value for r in roles))

    # async on purpose: Litestar runs a sync guard in a worker thread, one thread hop per request
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if not isinstance(user, Principal) or user.role not in allowed:
            role = user.role.value if isinstance(user, Principal) else "none"
            raise PermissionDeniedException(f"this needs one of the roles {names}; the key's role is {role}")

    return guard


can_ingest = _allow(Role.INGEST, Role.ADMIN)
can_read = _allow(Role.VIEWER, Role.RESPONDER, Role.ADMIN)
can_act = _allow(Role.RESPONDER, Role.ADMIN)
can_admin = _allow(Role.ADMIN)
