"""Local HTTP fakes of the providers our notification code calls, for pointing the REAL client libraries at.

Every fake is an ``aiohttp.web`` server on ``127.0.0.1`` (a free port), started and stopped in the test's own event
loop by ``async with``::

    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.token, base_url=slack.api_url, retry_handlers=[])
        await client.chat_postMessage(channel="C1", text="hi")
        assert slack.messages("C1")[0].text == "hi"

* :class:`FakeSlack` -- the Slack Web API under ``{url}/api/`` (``chat.postMessage``, ``chat.update``,
  ``conversations.history``, ``conversations.replies``, ``auth.test``) and incoming webhooks under
  ``{url}/services/...``.
* :class:`FakeTwilio` -- Twilio's REST API 2010-04-01 (``Messages.json``, ``Calls.json``); :func:`twilio_client`
  builds a real ``twilio.rest.Client`` that talks to it.
* :class:`FakeWebhookReceiver` -- any POST, checked against a Standard Webhooks secret with the independent
  ``standardwebhooks`` library.
* :class:`FakePagerDuty` -- the Events API v2 (``POST /v2/enqueue``).

Shared by all (:class:`FakeServer`):

* ``server.requests`` -- every request, as :class:`Recorded`, in arrival order (failed ones too);
* ``await server.wait_for(predicate, timeout=10)`` -- wakes on every request (an ``asyncio.Condition``), returns
  ``server.requests`` once ``predicate(server.requests)`` holds, else raises ``TimeoutError`` listing what came;
* faults: ``fail_next(n, status=500, retry_after=None, delay=0.0, body=None)`` queues ``n`` programmed answers,
  consumed one per request in order; ``fail_always(status)``; ``set_delay(seconds)`` for every answer;
  ``heal()`` drops all three. A programmed answer with a non-2xx status is NOT processed (no message is stored, no
  event recorded as accepted): it is answered with that status after ``delay``. A programmed 2xx IS processed, then
  answered after ``delay`` (plus ``set_delay``) -- "the provider did it but answered too slowly", to drive client
  timeouts; its ``body``, if given, replaces the normal answer;
* ``server.on_request`` -- ``Callable[[Recorded], Awaitable[None] | None]``, called after the request is recorded
  and processed (provider state already reflects it) and before the answer is sent (and before any delay).

Delays end early when the server stops, so a test that times a client out does not wait on shutdown.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import CIMultiDict
from standardwebhooks.webhooks import Webhook

if TYPE_CHECKING:
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client as TwilioClient

__all__ = [
    "FakePagerDuty",
    "FakeServer",
    "FakeSlack",
    "FakeTwilio",
    "FakeWebhookReceiver",
    "Fault",
    "Recorded",
    "SlackMessage",
    "basic_auth_header",
    "header_auth_twilio_http_client",
    "sms_segments",
    "twilio_client",
]

JsonBody = bytes | str | dict[str, Any] | list[Any]


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    #: case-insensitive (``multidict.CIMultiDict``): ``rec.headers["webhook-id"]`` works whatever the spelling sent
    headers: CIMultiDict[str]
    body: bytes
    #: the parsed ``application/x-www-form-urlencoded`` body (last value of a repeated name), else None
    form: dict[str, str] | None
    #: the parsed JSON body (``application/json``, or any body that parses), else None
    json: Any
    #: ``time.monotonic()`` at receipt
    at: float
    #: the status the fake answered (set once decided, before ``on_request`` runs)
    response_status: int | None = None
    #: FakeWebhookReceiver only: whether the Standard Webhooks signature verified, and why not
    verified: bool | None = None
    verify_error: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        """Query, form and JSON-object fields merged (later wins), as Slack reads its arguments."""
        merged: dict[str, Any] = dict(self.query)
        if self.form:
            merged.update(self.form)
        if isinstance(self.json, dict):
            merged.update(self.json)
        return merged

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def summary(self) -> str:
        body = self.text if len(self.body) <= 200 else self.text[:200] + "..."
        return f"{self.method} {self.path} -> {self.response_status}: {body}"


@dataclass(frozen=True)
class Fault:
    """A programmed answer: ``status`` after ``delay`` seconds, with ``Retry-After`` and ``body`` if given."""

    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    body: JsonBody | None = None


Predicate = Callable[[list[Recorded]], object]
OnRequest = Callable[[Recorded], Awaitable[None] | None]


def _format_retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _body_response(status: int, body: JsonBody, headers: Mapping[str, str] | None = None) -> web.Response:
    if isinstance(body, bytes):
        return web.Response(status=status, body=body, headers=headers)
    if isinstance(body, str):
        return web.Response(status=status, text=body, headers=headers)
    return web.json_response(body, status=status, headers=headers)


def _parse_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class FakeServer:
    """The shared machinery: a loopback aiohttp server, request recording, waiting and fault injection.

    Subclasses implement :meth:`handle` (the normal answer, with side effects) and may refine
    :meth:`error_response` (the body a programmed failure carries)."""

    name = "fake"

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.on_request: OnRequest | None = None
        self._faults: deque[Fault] = deque()
        self._always: Fault | None = None
        self._delay = 0.0
        self._url: str | None = None
        self._runner: web.AppRunner | None = None
        self._cond = asyncio.Condition()
        self._closing = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, no trailing slash."""
        if self._url is None:
            msg = f"{type(self).__name__} is not running; use `async with {type(self).__name__}() as fake:`"
            raise RuntimeError(msg)
        return self._url

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"
        self._closing.clear()
        return self

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._url = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- faults ----------------------------------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        retry_after: float | None = None,
        delay: float = 0.0,
        body: JsonBody | None = None,
    ) -> None:
        """Queue ``n`` programmed answers (see the module docstring); they are consumed in order, one a request."""
        self._faults.extend(Fault(status, retry_after, delay, body) for _ in range(n))

    def fail_always(self, status: int = 500, retry_after: float | None = None, body: JsonBody | None = None) -> None:
        """Answer every request with ``status`` (after any queued ``fail_next`` answers) until :meth:`heal`."""
        self._always = Fault(status, retry_after, 0.0, body)

    def set_delay(self, seconds: float) -> None:
        """Hold every answer ``seconds`` (on top of a programmed ``delay``)."""
        self._delay = seconds

    def heal(self) -> None:
        """Back to healthy: no queued or permanent failures, no delay."""
        self._faults.clear()
        self._always = None
        self._delay = 0.0

    # -- waiting ---------------------------------------------------------------------------------------------

    async def wait_for(self, predicate: Predicate, timeout: float = 10) -> list[Recorded]:  # noqa: ASYNC109
        """Return ``self.requests`` once ``predicate(self.requests)`` is true, re-checked on every request."""
        async with self._cond:
            try:
                async with asyncio.timeout(timeout):
                    await self._cond.wait_for(lambda: predicate(self.requests))
            except TimeoutError:
                got = "\n  ".join(r.summary() for r in self.requests) or "(nothing)"
                msg = f"{type(self).__name__}: condition not met within {timeout}s; received:\n  {got}"
                raise TimeoutError(msg) from None
        return self.requests

    async def wait_for_requests(self, n: int, timeout: float = 10) -> list[Recorded]:  # noqa: ASYNC109
        return await self.wait_for(lambda reqs: len(reqs) >= n, timeout)

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    # -- the request path ------------------------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _next_fault(self) -> Fault | None:
        if self._faults:
            return self._faults.popleft()
        return self._always

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        content_type = request.content_type
        form: dict[str, str] | None = None
        parsed_json: Any = None
        text = body.decode("utf-8", errors="replace")
        if content_type == "application/x-www-form-urlencoded":
            form = dict(parse_qsl(text, keep_blank_values=True))
        elif body:
            try:
                parsed_json = json.loads(text)
            except ValueError:
                parsed_json = None
        rec = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=CIMultiDict(request.headers),
            body=body,
            form=form,
            json=parsed_json,
            at=time.monotonic(),
        )
        self.requests.append(rec)
        self.before_handle(rec)
        await self._notify()

        fault = self._next_fault()
        if fault is not None and not 200 <= fault.status < 300:
            response = self.error_response(rec, fault)
        else:
            response = await self.handle(rec)
            if fault is not None and fault.body is not None:
                response = _body_response(fault.status, fault.body)
        if fault is not None and fault.retry_after is not None:
            response.headers["Retry-After"] = _format_retry_after(fault.retry_after)
        rec.response_status = response.status

        if self.on_request is not None:
            result = self.on_request(rec)
            if inspect.isawaitable(result):
                await result
        await self._sleep(self._delay + (fault.delay if fault is not None else 0.0))
        await self._notify()
        return response

    def before_handle(self, rec: Recorded) -> None:
        """Annotate ``rec`` before anyone sees it (FakeWebhookReceiver verifies signatures here)."""

    async def handle(self, rec: Recorded) -> web.Response:
        """The normal answer to ``rec``, with its side effects."""
        raise NotImplementedError

    def error_response(self, rec: Recorded, fault: Fault) -> web.Response:
        """The answer to a programmed failure."""
        if fault.body is not None:
            return _body_response(fault.status, fault.body)
        return web.json_response({"error": f"programmed failure {fault.status}"}, status=fault.status)


# ---------------------------------------------------------------------------------------------------------------
# Slack


@dataclass
class SlackMessage:
    """A message as the fake Slack holds it (current state: ``chat.update`` rewrites text/blocks/metadata)."""

    channel: str
    ts: str
    text: str | None
    blocks: list[Any] | None = None
    attachments: list[Any] | None = None
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    reply_broadcast: bool = False
    #: the prior states, one dict (text, blocks, metadata) per chat.update
    edits: list[dict[str, Any]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)

    def to_api(self, bot_id: str, user_id: str, *, with_metadata: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "user": user_id, "bot_id": bot_id, "text": self.text or ""}
        out["ts"] = self.ts
        if self.blocks is not None:
            out["blocks"] = self.blocks
        if self.attachments is not None:
            out["attachments"] = self.attachments
        if self.thread_ts is not None:
            out["thread_ts"] = self.thread_ts
        if self.replies:
            out["thread_ts"] = self.ts
            out["reply_count"] = len(self.replies)
            out["latest_reply"] = self.replies[-1]
        if self.edits:
            out["edited"] = {"user": user_id, "ts": self.edits[-1]["edited_ts"]}
        if with_metadata and self.metadata is not None:
            out["metadata"] = self.metadata
        return out


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


def _json_field(value: object) -> Any:
    """A structured argument (blocks, metadata, ...): JSON bodies carry it as is, forms as a JSON string."""
    if isinstance(value, str):
        return _parse_json(value)
    return value


class FakeSlack(FakeServer):
    """The Slack Web API at ``{url}/api/`` and incoming webhooks at ``{url}/services/T.../B.../...``.

    Point slack-sdk at it with ``AsyncWebClient(token=slack.token, base_url=slack.api_url, retry_handlers=[])``
    (``base_url`` must end in ``/``; leave out ``retry_handlers=[]`` to exercise the SDK's own retries) and
    ``AsyncWebhookClient(slack.webhook_url, retry_handlers=[])``.

    As Slack does, API errors are HTTP 200 with ``{"ok": false, "error": ...}``: ``not_authed`` (no token),
    ``invalid_auth`` (another token), ``channel_not_found``, ``no_text``, ``message_not_found``, ``unknown_method``.
    A programmed 429 carries ``Retry-After`` (1 s unless given) and ``{"ok": false, "error": "ratelimited"}``.
    ``ts`` values are unique and increasing across the server: ``1700000000.000100``, ``1700000000.000200``, ...

    ``channels``: if given, only these channel names/ids exist. ``metadata_requires_flag``: if true, message metadata
    is returned by ``conversations.history``/``replies`` only with ``include_all_metadata`` (stricter than Slack,
    which returns the calling app's own metadata without it); by default it is always returned.
    """

    name = "slack"
    WEBHOOK_PATH = "/services/T000/B000/XXXX"

    def __init__(
        self,
        token: str = "xoxb-fake-token",  # noqa: S107 (a test credential)
        *,
        channels: Iterable[str] | None = None,
        metadata_requires_flag: bool = False,
        bot_id: str = "B0FAKEBOT",
        user_id: str = "U0FAKEBOT",
        team_id: str = "T000",
    ) -> None:
        super().__init__()
        self.token = token
        self.channels = set(channels) if channels is not None else None
        self.metadata_requires_flag = metadata_requires_flag
        self.bot_id, self.user_id, self.team_id = bot_id, user_id, team_id
        self._messages: dict[str, dict[str, SlackMessage]] = {}  # channel -> ts -> message, in post order
        self._ts_micros = 1_700_000_000_000_000
        #: accepted incoming-webhook posts: {"path": ..., "text": ..., "blocks": ..., ...the JSON sent}
        self.webhook_posts: list[dict[str, Any]] = []

    @property
    def api_url(self) -> str:
        """The ``base_url`` for slack-sdk's web clients (with its trailing slash)."""
        return f"{self.url}/api/"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{self.WEBHOOK_PATH}"

    # -- accessors -------------------------------------------------------------------------------------------

    def messages(self, channel: str) -> list[SlackMessage]:
        """Top-level messages of ``channel`` (thread replies left out, broadcast ones kept), oldest first."""
        return [m for m in self._messages.get(channel, {}).values() if m.thread_ts is None or m.reply_broadcast]

    def thread(self, channel: str, ts: str) -> list[SlackMessage]:
        """The replies in the thread of ``ts``, oldest first (the parent not included)."""
        return [m for m in self._messages.get(channel, {}).values() if m.thread_ts == ts and m.ts != ts]

    def message(self, channel: str, ts: str) -> SlackMessage | None:
        return self._messages.get(channel, {}).get(ts)

    def calls(self, method: str | None = None) -> list[Recorded]:
        """The Web API requests for ``method`` (e.g. ``"chat.postMessage"``), or all of them."""
        if method is None:
            return [r for r in self.requests if r.path.startswith("/api/")]
        return [r for r in self.requests if r.path == f"/api/{method}"]

    def webhook_calls(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/services/")]

    # -- protocol --------------------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        self._ts_micros += 100
        seconds, micros = divmod(self._ts_micros, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def error_response(self, rec: Recorded, fault: Fault) -> web.Response:
        headers = {"Retry-After": "1"} if fault.status == 429 and fault.retry_after is None else {}
        if fault.body is not None:
            return _body_response(fault.status, fault.body, headers)
        if rec.path.startswith("/services/"):  # incoming webhooks answer plain text
            return web.Response(
                status=fault.status, text="rate_limited" if fault.status == 429 else "internal_error", headers=headers
            )
        error = "ratelimited" if fault.status == 429 else "internal_error"
        return web.json_response({"ok": False, "error": error}, status=fault.status, headers=headers)

    async def handle(self, rec: Recorded) -> web.Response:
        if rec.path.startswith("/services/"):
            return self._webhook(rec)
        if not rec.path.startswith("/api/"):
            return web.Response(status=404, text="not found")
        method = rec.path.removeprefix("/api/")
        params = rec.params
        auth = rec.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else params.get("token")
        if not token:
            return self._err("not_authed")
        if token != self.token:
            return self._err("invalid_auth")
        handlers: dict[str, Callable[[dict[str, Any]], web.Response]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
        }
        handler = handlers.get(method)
        if handler is None:
            return self._err("unknown_method")
        return handler(params)

    @staticmethod
    def _err(error: str) -> web.Response:
        return web.json_response({"ok": False, "error": error})

    def _known(self, channel: object) -> bool:
        return isinstance(channel, str) and bool(channel) and (self.channels is None or channel in self.channels)

    def _auth_test(self, params: dict[str, Any]) -> web.Response:
        return web.json_response(
            {
                "ok": True,
                "url": "https://fake-workspace.slack.com/",
                "team": "Fake Workspace",
                "user": "fakebot",
                "team_id": self.team_id,
                "user_id": self.user_id,
                "bot_id": self.bot_id,
                "is_enterprise_install": False,
            }
        )

    def _post_message(self, params: dict[str, Any]) -> web.Response:
        channel = params.get("channel")
        if not self._known(channel):
            return self._err("channel_not_found")
        assert isinstance(channel, str)
        text = params.get("text")
        blocks = _json_field(params.get("blocks"))
        attachments = _json_field(params.get("attachments"))
        if not text and not blocks and not attachments:
            return self._err("no_text")
        thread_ts = params.get("thread_ts") or None
        msg = SlackMessage(
            channel=channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=str(thread_ts) if thread_ts is not None else None,
            metadata=_json_field(params.get("metadata")),
            reply_broadcast=_truthy(params.get("reply_broadcast", False)),
        )
        store = self._messages.setdefault(channel, {})
        store[msg.ts] = msg
        if msg.thread_ts is not None and msg.thread_ts in store:
            store[msg.thread_ts].replies.append(msg.ts)
        return web.json_response(
            {"ok": True, "channel": channel, "ts": msg.ts, "message": msg.to_api(self.bot_id, self.user_id)}
        )

    def _update(self, params: dict[str, Any]) -> web.Response:
        channel, ts = params.get("channel"), params.get("ts")
        if not self._known(channel):
            return self._err("channel_not_found")
        assert isinstance(channel, str)
        msg = self._messages.get(channel, {}).get(str(ts))
        if msg is None:
            return self._err("message_not_found")
        text = params.get("text")
        blocks = _json_field(params.get("blocks"))
        attachments = _json_field(params.get("attachments"))
        if text is None and blocks is None and attachments is None:
            return self._err("no_text")
        self._ts_micros += 1  # the edit's own timestamp, never a message ts
        seconds, micros = divmod(self._ts_micros, 1_000_000)
        msg.edits.append(
            {
                "text": msg.text,
                "blocks": msg.blocks,
                "attachments": msg.attachments,
                "metadata": msg.metadata,
                "edited_ts": f"{seconds}.{micros:06d}",
            }
        )
        if text is not None:
            msg.text = text
        if blocks is not None:
            msg.blocks = blocks
        if attachments is not None:
            msg.attachments = attachments
        if "metadata" in params:
            msg.metadata = _json_field(params["metadata"])
        return web.json_response(
            {
                "ok": True,
                "channel": channel,
                "ts": msg.ts,
                "text": msg.text or "",
                "message": msg.to_api(self.bot_id, self.user_id),
            }
        )

    def _window(self, params: dict[str, Any], messages: list[SlackMessage]) -> list[SlackMessage]:
        inclusive = _truthy(params.get("inclusive", False))
        oldest, latest = params.get("oldest"), params.get("latest")
        out = []
        for m in messages:
            t = float(m.ts)
            if oldest not in (None, "") and (t < float(oldest) or (t == float(oldest) and not inclusive)):
                continue
            if latest not in (None, "") and (t > float(latest) or (t == float(latest) and not inclusive)):
                continue
            out.append(m)
        return out

    def _with_metadata(self, params: dict[str, Any]) -> bool:
        return not self.metadata_requires_flag or _truthy(params.get("include_all_metadata", False))

    def _history(self, params: dict[str, Any]) -> web.Response:
        channel = params.get("channel")
        if not self._known(channel):
            return self._err("channel_not_found")
        assert isinstance(channel, str)
        limit = int(params.get("limit") or 100)
        newest_first = sorted(self._window(params, self.messages(channel)), key=lambda m: float(m.ts), reverse=True)
        page = newest_first[:limit]
        with_metadata = self._with_metadata(params)
        return web.json_response(
            {
                "ok": True,
                "messages": [m.to_api(self.bot_id, self.user_id, with_metadata=with_metadata) for m in page],
                "has_more": len(newest_first) > limit,
                "pin_count": 0,
                "response_metadata": {"next_cursor": ""},
            }
        )

    def _replies(self, params: dict[str, Any]) -> web.Response:
        channel, ts = params.get("channel"), params.get("ts")
        if not self._known(channel):
            return self._err("channel_not_found")
        assert isinstance(channel, str)
        parent = self._messages.get(channel, {}).get(str(ts))
        if parent is None:
            return self._err("thread_not_found")
        thread = [parent, *self.thread(channel, parent.ts)]
        limit = int(params.get("limit") or 1000)
        page = self._window(params, thread)[:limit]
        with_metadata = self._with_metadata(params)
        return web.json_response(
            {
                "ok": True,
                "messages": [m.to_api(self.bot_id, self.user_id, with_metadata=with_metadata) for m in page],
                "has_more": False,
                "response_metadata": {"next_cursor": ""},
            }
        )

    def _webhook(self, rec: Recorded) -> web.Response:
        if rec.method != "POST" or not re.fullmatch(r"/services/[^/]+/[^/]+/[^/]+", rec.path):
            return web.Response(status=404, text="no_service")
        payload = rec.json
        if payload is None and rec.form is not None and "payload" in rec.form:
            payload = _parse_json(rec.form["payload"])
        if not isinstance(payload, dict):
            return web.Response(status=400, text="invalid_payload")
        if not payload.get("text") and not payload.get("blocks") and not payload.get("attachments"):
            return web.Response(status=400, text="no_text")
        self.webhook_posts.append({"path": rec.path, **payload})
        return web.Response(text="ok")


# ---------------------------------------------------------------------------------------------------------------
# Twilio

_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = set("^{}\\[~]|€\f")


def sms_segments(body: str) -> int:
    """How many SMS segments ``body`` takes: GSM-7 160/153 septets, else UCS-2 70/67 characters."""
    if all(c in _GSM7 or c in _GSM7_EXT for c in body):
        units, single, multi = sum(2 if c in _GSM7_EXT else 1 for c in body), 160, 153
    else:
        units, single, multi = sum(2 if ord(c) > 0xFFFF else 1 for c in body), 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


_TWILIO_PATH = re.compile(r"/2010-04-01/Accounts/(?P<sid>[^/]+)/(?P<resource>Messages|Calls)\.json")


def _twilio_error(status: int, code: int, message: str, **extra: Any) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
        **extra,
    }
    return web.json_response(body, status=status)


class FakeTwilio(FakeServer):
    """Twilio's REST API 2010-04-01: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` and ``.../Calls.json``.

    HOW TO POINT THE twilio LIBRARY (9.x) AT IT -- use :func:`twilio_client`, which does exactly this::

        client = Client(sid, token, http_client=AsyncTwilioHttpClient(), environment={"TWILIO_FAKE": "1"})
        client.api.base_url = fake.url          # the "api" Domain; no trailing slash needed
        msg = await client.messages.create_async(to=..., from_=..., body=...)
        ...
        await client.http_client.close()        # AsyncTwilioHttpClient owns an aiohttp session

    Why: every 2010-04-01 resource URL is built by ``twilio.base.domain.Domain.absolute_url`` from the instance
    attribute ``base_url`` of ``client.api`` (``ApiBase`` sets it to ``"https://api.twilio.com"`` in its
    ``__init__``; ``client.api`` is created once and cached), so overriding it on that instance redirects
    ``client.messages``/``client.calls``/``client.api.account.*``. ``edge``/``region`` cannot: ``get_hostname``
    only rewrites the dotted host name (``api.{edge}.{region}.twilio.com``) -- and would mangle ``127.0.0.1:port``,
    so the client must have neither: a non-empty ``environment`` keeps ``TWILIO_EDGE``/``TWILIO_REGION`` of
    ``os.environ`` out (an empty dict falls back to ``os.environ``). Patching the class attribute
    ``Domain.base_url`` does not work (it is set per instance). Other domains (``messaging``, ``verify``...)
    are not redirected. Create the ``AsyncTwilioHttpClient`` inside a running loop (its ``aiohttp`` session
    binds to it) and close it, or the unclosed-session ``ResourceWarning`` fails the test. On aiohttp 3.14 the
    stock ``AsyncTwilioHttpClient`` builds an ``aiohttp.BasicAuth`` and passes ``auth=`` on every request: two
    ``DeprecationWarning``s ("BasicAuth is deprecated", "The 'auth' parameter is deprecated"), errors here.
    :func:`twilio_client` therefore uses :func:`header_auth_twilio_http_client` (same bytes on the wire); to use
    the stock client, filter both warnings.

    Auth is HTTP basic ``account_sid:auth_token`` (401, code 20003, otherwise); the sid in the path must be the
    authenticated one (404, code 20404). Validation as Twilio: a message needs ``To`` (400, 21604), ``From`` or
    ``MessagingServiceSid`` (400, 21603), and ``Body``/``MediaUrl``/``ContentSid`` (400, 21602); a call needs
    ``To`` (21201), ``From`` (21213) and ``Url``/``Twiml``/``ApplicationSid`` (21205). Success is 201 with the
    resource (``SM``/``CA`` + 32 hex, status ``queued``). ``StatusCallback`` is recorded, never called.
    """

    name = "twilio"

    def __init__(
        self,
        account_sid: str = "AC" + "0" * 31 + "1",
        auth_token: str = "fake-twilio-auth-token",  # noqa: S107 (a test credential)
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        #: accepted requests' forms, and the resources answered for them (same order)
        self._messages: list[dict[str, str]] = []
        self._calls: list[dict[str, str]] = []
        self.message_resources: list[dict[str, Any]] = []
        self.call_resources: list[dict[str, Any]] = []

    def messages(self) -> list[dict[str, str]]:
        """The forms of the accepted ``Messages.json`` requests (``To``, ``From``, ``Body``, ...), in order."""
        return list(self._messages)

    def calls(self) -> list[dict[str, str]]:
        """The forms of the accepted ``Calls.json`` requests (``To``, ``From``, ``Twiml``/``Url``, ...), in order."""
        return list(self._calls)

    def error_response(self, rec: Recorded, fault: Fault) -> web.Response:
        if fault.body is not None:
            return _body_response(fault.status, fault.body)
        code = 20003 if fault.status == 401 else 20000 + fault.status
        try:
            phrase = HTTPStatus(fault.status).phrase
        except ValueError:
            phrase = "Error"
        return _twilio_error(fault.status, code, phrase)

    def _authenticated(self, rec: Recorded) -> bool:
        scheme, _, encoded = rec.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            login, _, password = base64.b64decode(encoded, validate=True).decode("latin-1").partition(":")
        except ValueError:
            return False
        return login == self.account_sid and password == self.auth_token

    async def handle(self, rec: Recorded) -> web.Response:
        match = _TWILIO_PATH.fullmatch(rec.path)
        if match is None or rec.method != "POST":
            return _twilio_error(404, 20404, f"The requested resource {rec.path} was not found")
        if not self._authenticated(rec):
            response = _twilio_error(401, 20003, "Authenticate", detail="Your AccountSid or AuthToken was incorrect.")
            response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return response
        if match["sid"] != self.account_sid:
            return _twilio_error(404, 20404, f"The requested resource {rec.path} was not found")
        form = rec.form or {}
        if match["resource"] == "Messages":
            return self._create_message(form)
        return self._create_call(form)

    def _base(self, prefix: str, resource: str) -> tuple[str, dict[str, Any]]:
        sid = prefix + uuid.uuid4().hex
        now = format_datetime(datetime.now(UTC), usegmt=False).replace("-0000", "+0000")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/{resource}/{sid}.json"
        return sid, {
            "sid": sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "date_created": now,
            "date_updated": now,
            "uri": uri,
        }

    def _create_message(self, form: dict[str, str]) -> web.Response:
        if not form.get("To"):
            return _twilio_error(400, 21604, "A 'To' phone number is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _twilio_error(400, 21603, "A 'From' phone number is required.")
        body = form.get("Body", "")
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            return _twilio_error(400, 21602, "Message body is required.")
        sid, resource = self._base("SM", "Messages")
        resource.update(
            {
                "to": form["To"],
                "from": form.get("From"),
                "body": body,
                "status": "queued",
                "direction": "outbound-api",
                "num_segments": str(sms_segments(body)),
                "num_media": "1" if form.get("MediaUrl") else "0",
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "date_sent": None,
                "error_code": None,
                "error_message": None,
                "price": None,
                "price_unit": "USD",
                "subresource_uris": {
                    "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json",
                    "feedback": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Feedback.json",
                },
            }
        )
        self._messages.append(dict(form))
        self.message_resources.append(resource)
        return web.json_response(resource, status=201)

    def _create_call(self, form: dict[str, str]) -> web.Response:
        if not form.get("To"):
            return _twilio_error(400, 21201, "No 'To' number is specified")
        if not form.get("From"):
            return _twilio_error(400, 21213, "No 'From' number is specified")
        if not form.get("Url") and not form.get("Twiml") and not form.get("ApplicationSid"):
            return _twilio_error(400, 21205, "Url parameter is required.")
        sid, resource = self._base("CA", "Calls")
        resource.update(
            {
                "to": form["To"],
                "to_formatted": form["To"],
                "from": form["From"],
                "from_formatted": form["From"],
                "status": "queued",
                "direction": "outbound-api",
                "parent_call_sid": None,
                "phone_number_sid": None,
                "start_time": None,
                "end_time": None,
                "duration": None,
                "price": None,
                "price_unit": "USD",
                "answered_by": None,
                "annotation": None,
                "forwarded_from": None,
                "group_sid": None,
                "caller_name": None,
                "queue_time": "0",
                "trunk_sid": None,
                "subresource_uris": {
                    "notifications": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}/Notifications.json",
                    "recordings": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}/Recordings.json",
                },
            }
        )
        self._calls.append(dict(form))
        self.call_resources.append(resource)
        return web.json_response(resource, status=201)


def twilio_client(
    fake: FakeTwilio,
    *,
    account_sid: str | None = None,
    auth_token: str | None = None,
    timeout: float | None = None,
) -> TwilioClient:
    """A real ``twilio.rest.Client`` with an async HTTP client, talking to ``fake`` (see FakeTwilio).

    Call it inside the running loop, and ``await client.http_client.close()`` when done. The HTTP client is
    twilio's ``AsyncTwilioHttpClient`` but for one thing: it sends the basic-auth credentials as a ready-made
    ``Authorization`` header (the same bytes), because the stock one builds an ``aiohttp.BasicAuth``, which
    aiohttp 3.14 deprecates (as its ``auth=`` argument) with a ``DeprecationWarning`` on every request -- an error
    under ``filterwarnings = error``."""
    asyncio.get_running_loop()  # the aiohttp session of AsyncTwilioHttpClient must be made inside the loop
    from twilio.rest import Client

    client = Client(
        account_sid or fake.account_sid,
        auth_token or fake.auth_token,
        http_client=header_auth_twilio_http_client(timeout=timeout),
        environment={"TWILIO_FAKE": "1"},  # non-empty: keeps TWILIO_EDGE/TWILIO_REGION of os.environ out
    )
    client.api.base_url = fake.url
    return client


def header_auth_twilio_http_client(timeout: float | None = None) -> AsyncTwilioHttpClient:
    """twilio's ``AsyncTwilioHttpClient``, sending basic auth as a header instead of an ``aiohttp.BasicAuth``."""
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.http.response import Response

    class HeaderAuthAsyncTwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
        async def request(
            self,
            method: str,
            url: str,
            params: dict[str, object] | None = None,
            data: dict[str, object] | None = None,
            headers: dict[str, str] | None = None,
            auth: tuple[str, str] | None = None,
            timeout: float | None = None,  # noqa: ASYNC109 (the overridden signature)
            allow_redirects: bool = False,
        ) -> Response:
            if auth is not None:
                headers = {**(headers or {}), "Authorization": basic_auth_header(*auth)}
            return await super().request(method, url, params, data, headers, None, timeout, allow_redirects)

    return HeaderAuthAsyncTwilioHttpClient(timeout=timeout)


# ---------------------------------------------------------------------------------------------------------------
# Standard Webhooks receiver


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes | str = b""
    headers: Mapping[str, str] = field(default_factory=dict)


class FakeWebhookReceiver(FakeServer):
    """Accepts a POST on any path, records it and checks its Standard Webhooks signature with the independent
    ``standardwebhooks`` library (``rec.verified``, ``rec.verify_error``).

    ``secret``: ``whsec_<base64>`` (the base64-decoded key, as the spec has it), bytes (the key), or any other string
    (its UTF-8 bytes -- our own convention, see ``notify/signing.py``; the library would base64-decode it). With no
    secret, ``verified`` stays None. The library also enforces its 5-minute timestamp tolerance.

    Answers ``default_status`` (200) unless :meth:`respond` set something else for the path: e.g.
    ``respond("/gone", 410)`` or ``respond("/moved", 301, location="http://elsewhere/")``. Other methods: 405.
    """

    name = "webhook"

    def __init__(self, secret: str | bytes | None = None, *, default_status: int = 200) -> None:
        super().__init__()
        self.secret = secret
        self.default_status = default_status
        self._answers: dict[str, _Answer] = {}
        if secret is None:
            self._webhook: Webhook | None = None
        elif isinstance(secret, bytes) or not secret.startswith("whsec_"):
            self._webhook = Webhook(secret if isinstance(secret, bytes) else secret.encode())
        else:
            self._webhook = Webhook(secret)

    def endpoint(self, path: str = "/hook") -> str:
        """The URL of ``path`` on this receiver."""
        return f"{self.url}/{path.lstrip('/')}"

    def respond(
        self,
        path: str,
        status: int,
        *,
        body: bytes | str = b"",
        headers: Mapping[str, str] | None = None,
        location: str | None = None,
    ) -> None:
        """Answer POSTs to ``path`` with ``status`` (and ``Location`` for a redirect) from now on."""
        all_headers = dict(headers or {})
        if location is not None:
            all_headers["Location"] = location
        self._answers["/" + path.lstrip("/")] = _Answer(status, body, all_headers)

    def reset_responses(self) -> None:
        self._answers.clear()

    def before_handle(self, rec: Recorded) -> None:
        if self._webhook is None or rec.method != "POST":
            return
        try:
            self._webhook.verify(rec.body, dict(rec.headers), json_parse=False)
        except Exception as exc:  # the library raises several types (and ValueError on malformed input)
            rec.verified, rec.verify_error = False, f"{type(exc).__name__}: {exc}"
        else:
            rec.verified = True

    async def handle(self, rec: Recorded) -> web.Response:
        if rec.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        answer = self._answers.get(rec.path)
        if answer is None:
            return web.Response(status=self.default_status)
        return _body_response(answer.status, answer.body, answer.headers)

    def error_response(self, rec: Recorded, fault: Fault) -> web.Response:
        return _body_response(fault.status, fault.body if fault.body is not None else "programmed failure")

    def posts(self, path: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and (path is None or r.path == path)]

    def unique_ids(self) -> set[str]:
        """The distinct ``webhook-id`` headers received."""
        return {r.headers["webhook-id"] for r in self.requests if "webhook-id" in r.headers}

    def verified_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.verified]


# ---------------------------------------------------------------------------------------------------------------
# PagerDuty

_PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
_PD_SEVERITIES = {"critical", "error", "warning", "info"}


class FakePagerDuty(FakeServer):
    """PagerDuty's Events API v2: ``POST {url}/v2/enqueue``.

    Checks: the body is a JSON object; ``routing_key`` is 32 characters (and one of ``routing_keys`` if given);
    ``event_action`` is trigger/acknowledge/resolve; acknowledge/resolve carry ``dedup_key``; a trigger carries
    ``payload.summary``, ``payload.source`` and ``payload.severity`` (critical/error/warning/info). Accepted:
    202 ``{"status": "success", "message": "Event processed", "dedup_key": ...}`` (a new key for a trigger that
    had none). Rejected: 400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``.
    A programmed 429 answers ``{"status": "throttle event", ...}``.
    """

    name = "pagerduty"

    def __init__(self, routing_keys: Iterable[str] | None = None) -> None:
        super().__init__()
        self.routing_keys = set(routing_keys) if routing_keys is not None else None
        #: the accepted events, as sent, with the dedup_key they were filed under
        self.events: list[dict[str, Any]] = []
        #: dedup_key -> the last accepted action ("trigger", "acknowledge", "resolve")
        self.state: dict[str, str] = {}

    @property
    def enqueue_url(self) -> str:
        return f"{self.url}/v2/enqueue"

    def error_response(self, rec: Recorded, fault: Fault) -> web.Response:
        if fault.body is not None:
            return _body_response(fault.status, fault.body)
        if fault.status == 429:
            body = {"status": "throttle event", "message": "Requests for this service are arriving too quickly."}
        else:
            body = {"status": "error", "message": f"programmed failure {fault.status}"}
        return web.json_response(body, status=fault.status)

    @staticmethod
    def _invalid(errors: list[str]) -> web.Response:
        return web.json_response(
            {"status": "invalid event", "message": "Event object is invalid", "errors": errors}, status=400
        )

    async def handle(self, rec: Recorded) -> web.Response:
        if rec.path != "/v2/enqueue":
            return web.json_response({"status": "error", "message": "Not found"}, status=404)
        if rec.method != "POST":
            return web.json_response({"status": "error", "message": "Method not allowed"}, status=405)
        event = rec.json
        if not isinstance(event, dict):
            return self._invalid(["Event object is not valid JSON"])
        errors: list[str] = []
        key = event.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            errors.append("'routing_key' must be 32 characters")
        elif self.routing_keys is not None and key not in self.routing_keys:
            errors.append("Invalid routing key")
        action = event.get("event_action")
        if action not in _PD_ACTIONS:
            errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
        dedup_key = event.get("dedup_key")
        if action in {"acknowledge", "resolve"} and not dedup_key:
            errors.append("'dedup_key' is missing or blank")
        if action == "trigger":
            payload = event.get("payload")
            if not isinstance(payload, dict):
                errors.append("'payload' is missing or not an object")
            else:
                errors.extend(
                    f"'payload.{name}' is missing or blank"
                    for name in ("summary", "source", "severity")
                    if not payload.get(name)
                )
                severity = payload.get("severity")
                if severity and severity not in _PD_SEVERITIES:
                    errors.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
        if errors:
            return self._invalid(errors)
        dedup = str(dedup_key) if dedup_key else uuid.uuid4().hex
        self.events.append({**event, "dedup_key": dedup})
        self.state[dedup] = str(action)
        return web.json_response({"status": "success", "message": "Event processed", "dedup_key": dedup}, status=202)


def basic_auth_header(user: str, password: str) -> str:
    """``Basic <base64(user:password)>`` (what ``aiohttp.BasicAuth`` sends for ASCII credentials)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
