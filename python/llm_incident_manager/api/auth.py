"""Authentication (``Authorization: Bearer <key>`` or ``X-API-Key``) and the roles a route allows.

A route (or its controller) names the roles it allows in its ``opt`` (``opt=can_read``: ``{"lim_roles": ...}``)
and the authentication middleware checks them right after resolving the key: 401 without a known key, 403 with
a key of another role. Not Litestar guards: Litestar calls each guard with a shallow copy of the route handler,
made per request, which was about 5 % of the event loop's time for single-alert requests (py-spy,
docs/performance.md)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from llm_incident_manager.auth.keys import KeyCache, Role

__all__ = ["ROLES", "AuthMiddleware", "can_act", "can_admin", "can_ingest", "can_read", "key_from_headers"]

#: the ``opt`` key of a route's allowed roles
ROLES = "lim_roles"


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
    header: str | None = None
    api_key: str | None = None
    raw: bytes
    for name, raw in connection.scope["headers"]:  # the raw headers (ASGI lower-cases names): no Headers object
        if name == b"authorization" and header is None:
            header = raw.decode("latin-1")
        elif name == b"x-api-key" and api_key is None:
            api_key = raw.decode("latin-1")
    if header:
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme in ("bearer", "token") and value.strip():
            return value.strip()
        if scheme == "basic" and value.strip():
            return _basic_password(value.strip())
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
        allowed: Allowed | None = connection.route_handler.opt.get(ROLES)
        if allowed is not None and principal.role not in allowed.roles:
            raise PermissionDeniedException(
                f"this needs one of the roles {allowed.names}; the key's role is {principal.role.value}"
            )
        return AuthenticationResult(user=principal, auth=key)


class Allowed:
    __slots__ = ("names", "roles")

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)
        self.names = ", ".join(sorted(r.value for r in roles))


def _allow(*roles: Role) -> dict[str, Any]:
    """A route's ``opt`` allowing these roles."""
    return {ROLES: Allowed(*roles)}


can_ingest = _allow(Role.INGEST, Role.ADMIN)
can_read = _allow(Role.VIEWER, Role.RESPONDER, Role.ADMIN)
can_act = _allow(Role.RESPONDER, Role.ADMIN)
can_admin = _allow(Role.ADMIN)
