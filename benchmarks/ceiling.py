"""Ceiling apps: what one granian worker can ingest when the handler does nothing but decode the body.

Each app takes Alertmanager API v2 ``POST /api/v2/alerts`` bodies (the peer load generator's ``--format am-v2``
stream), reads the whole body, decodes it with one reused ``msgspec.json.Decoder`` of the postable-alert array
and answers ``202`` with an empty body (``400`` if the body does not decode). No auth, no storage, no dedup: the
distance between one of these and ``lim serve`` on the same stream is what our pipeline costs.

* ``raw``: a bare ASGI callable (any path; a non-POST request gets an empty ``200``);
* ``litestar-asgi``: a Litestar app whose one ``@asgi`` route handler does the same on the raw ASGI messages;
* ``litestar``: a Litestar app with a plain ``@post`` handler reading ``await request.body()``.

Both Litestar apps also answer ``GET /health/live`` (what the benchmark script waits on). Every app is served by
granian exactly as ``lim serve`` serves (``_serve`` in ``python/llm_incident_manager/cli.py``): ASGI interface,
1 worker, an app factory, logging on, backlog 2048. Run it from the repository root:

    .venv/bin/python -m benchmarks.ceiling --app raw --port 18091

``benchmarks/vs_alertmanager.sh`` starts the three of them beside Alertmanager and our service.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, asgi, get, post
from litestar.exceptions import ClientException

from llm_incident_manager.api.alertmanager_v2 import PostableAlert
from llm_incident_manager.cli import granian_serve

__all__ = ["APPS", "PostableAlert", "litestar_app", "litestar_asgi_app", "main", "raw_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 1024 * 1024  # LIM_MAX_BODY_BYTES' default, so the Litestar apps check the same limit as ours


#: Built once and reused by every request, as a service would.
DECODER = msgspec.json.Decoder(list[PostableAlert])

_EMPTY_HEADERS = [(b"content-length", b"0")]


def decode(body: bytes) -> int:
    """The work every ceiling does per request: decode the whole array. Returns the number of alerts."""
    return len(DECODER.decode(body))


async def _read_body(receive: Receive) -> bytes:
    first = await receive()
    body: bytes = first.get("body", b"")
    if not first.get("more_body", False):
        return body
    chunks = [body]
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _empty(send: Send, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _EMPTY_HEADERS})
    await send({"type": "http.response.body", "body": b""})


async def _decode_and_answer(receive: Receive, send: Send) -> None:
    body = await _read_body(receive)
    try:
        decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        await _empty(send, 400)
        return
    await _empty(send, 202)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _raw(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "http":
        if scope["method"] == "POST":
            await _decode_and_answer(receive, send)
        else:
            await _empty(send, 200)
    elif kind == "lifespan":
        await _lifespan(receive, send)


def raw_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """(a) The bare ASGI callable."""
    return _raw


@get("/health/live", sync_to_thread=False)
def _live() -> None:
    return None


@asgi("/api/v2/alerts")
async def _alerts_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] == "POST":
        await _decode_and_answer(receive, send)
    else:
        await _empty(send, 405)


def litestar_asgi_app() -> Litestar:
    """(b) Litestar routing to one ``@asgi`` handler."""
    return Litestar(
        route_handlers=[_alerts_asgi, _live],
        openapi_config=None,
        request_max_body_size=MAX_BODY_BYTES,
        debug=False,
    )


@post("/api/v2/alerts", status_code=202)
async def _alerts_post(request: Request[Any, Any, Any]) -> Response[bytes]:
    body = await request.body()
    try:
        decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ClientException(detail="not an Alertmanager v2 alert array") from exc
    return Response(b"", status_code=202)  # a bare `None` would be serialised as `null`


def litestar_app() -> Litestar:
    """(c) Litestar with a plain ``@post`` handler."""
    return Litestar(
        route_handlers=[_alerts_post, _live],
        openapi_config=None,
        request_max_body_size=MAX_BODY_BYTES,
        debug=False,
    )


#: ``--app`` name -> granian target (``module:factory``); granian's worker imports it, so run from the repository root
APPS = {
    "raw": "benchmarks.ceiling:raw_app",
    "litestar-asgi": "benchmarks.ceiling:litestar_asgi_app",
    "litestar": "benchmarks.ceiling:litestar_app",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve one ceiling app with granian, as `lim serve` serves.")
    parser.add_argument("--app", choices=sorted(APPS), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18091)
    args = parser.parse_args(argv)

    granian_serve(APPS[args.app], args.host, args.port)  # as `lim serve` serves the service
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
