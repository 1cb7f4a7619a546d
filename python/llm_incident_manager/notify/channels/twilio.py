"""SMS and voice calls through Twilio's REST API, with the ``twilio`` library's asynchronous client.

One notifier per phone number. The REST base URL (``api_url`` of a Twilio config, or ``notifications.twilio``)
replaces the ``https://api.twilio.com`` of the library's ``Api`` domain (``client.api.base_url``): every
``Messages``/``Calls`` URL the library builds starts from it, so an edge location or a local fake works without
patching the library. The environment's ``TWILIO_EDGE``/``TWILIO_REGION`` are not read (they would rewrite that
host).

The library's ``AsyncTwilioHttpClient`` is used with one change (:class:`_HttpClient`): the basic-auth credentials
go as a ready-made ``Authorization`` header (the same bytes on the wire) rather than an ``aiohttp.BasicAuth`` passed
as ``auth=``, which aiohttp 3.14 deprecates with a warning on every request; and the ``Retry-After`` of an answer is
kept (per task) for the DeliveryError, which TwilioRestException does not carry.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
from typing import Any
from urllib.parse import quote

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from llm_incident_manager.notify import templates
from llm_incident_manager.notify.channels.webhook import endpoint_of
from llm_incident_manager.notify.config import Channel
from llm_incident_manager.notify.model import Delivery, DeliveryError, Sent, parse_retry_after

__all__ = [
    "DEFAULT_API_URL",
    "GATHER_PATH",
    "STATUS_PATH",
    "TwilioSmsNotifier",
    "TwilioVoiceNotifier",
    "voice_twiml",
]

DEFAULT_API_URL = "https://api.twilio.com"
#: where Twilio posts the digit pressed during a call, and a call's status changes (our API)
GATHER_PATH = "/api/v1/integrations/twilio/voice"
STATUS_PATH = "/api/v1/integrations/twilio/status"
_INCIDENTS_PATH = "/api/v1/incidents/"


#: the Retry-After of the last answer the HTTP client got in this task
_RETRY_AFTER: contextvars.ContextVar[str | None] = contextvars.ContextVar("twilio_retry_after", default=None)


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """``AsyncTwilioHttpClient`` sending basic auth as a header, and noting ``Retry-After``."""

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the library's signature
        allow_redirects: bool = False,
    ) -> Any:
        if auth is not None:
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers = {**(headers or {}), "Authorization": f"Basic {credentials}"}
        _RETRY_AFTER.set(None)
        response = await super().request(method, url, params, data, headers, None, timeout, allow_redirects)
        found = getattr(response, "headers", None) or {}
        _RETRY_AFTER.set(found.get("Retry-After") if hasattr(found, "get") else None)
        return response


def _public_url(delivery: Delivery) -> str:
    if delivery.public_url:
        return delivery.public_url.rstrip("/")
    return delivery.incident_url.removesuffix("/").removesuffix(_INCIDENTS_PATH.rstrip("/"))


def _page_query(delivery: Delivery) -> str:
    """``page=<id>`` for each page the call tells of (one, unless coalesced)."""
    return "&".join(f"page={quote(e.id, safe='')}" for e in delivery.events)


def voice_twiml(delivery: Delivery) -> str:
    """The call's TwiML: the speech inside a one-digit Gather that posts to our voice endpoint, then a goodbye."""
    response = VoiceResponse()
    gather = response.gather(
        num_digits=1,
        action=f"{_public_url(delivery)}{GATHER_PATH}?{_page_query(delivery)}",
        method="POST",
        timeout=10,
    )
    gather.say(templates.voice_speech(delivery))
    response.say("No input received. Goodbye.")
    return str(response.to_xml(xml_declaration=False))


class _TwilioNotifier:
    channel: Channel

    def __init__(
        self,
        *,
        to: str,
        from_: str,
        account_sid: str,
        auth_token: str,
        timeout: float,
        api_url: str = DEFAULT_API_URL,
    ) -> None:
        self.recipient = to
        self.endpoint = endpoint_of(api_url)
        self.to = to
        self.from_ = from_
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._http: Any = None
        self._client: Any = None

    def client(self) -> Any:
        """The twilio ``Client`` (made at first use: its aiohttp session must be made in the running loop)."""
        if self._client is None:
            self._http = _HttpClient(timeout=self.timeout)
            self._client = Client(
                username=self._account_sid,
                password=self._auth_token,
                account_sid=self._account_sid,
                http_client=self._http,
                # a non-empty mapping, so that os.environ (TWILIO_EDGE, TWILIO_REGION...) is not read instead
                environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""},
            )
            self._client.api.base_url = self.api_url
        return self._client

    async def _call(self, coro_factory: Any) -> Any:
        try:
            async with asyncio.timeout(self.timeout):
                return await coro_factory(self.client())
        except TwilioRestException as exc:
            code = f" (code {exc.code})" if exc.code else ""
            reason = f"twilio: HTTP {exc.status}{code}: {templates.scrub(str(exc.msg))}"
            retry_after = parse_retry_after(_RETRY_AFTER.get())
            raise DeliveryError.from_status(int(exc.status), reason, retry_after) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"twilio: {type(exc).__name__}: {templates.scrub(str(exc))}", retryable=True) from exc

    async def close(self) -> None:
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()


class TwilioSmsNotifier(_TwilioNotifier):
    """An SMS to one number: ``templates.sms_text``, at most two segments."""

    channel = Channel.SMS

    async def send(self, delivery: Delivery) -> Sent:
        if not delivery.events:
            raise DeliveryError("sms: nothing to send", retryable=False)
        body = templates.sms_text(delivery)
        callback = f"{_public_url(delivery)}{STATUS_PATH}?{_page_query(delivery)}"
        message = await self._call(
            lambda c: c.messages.create_async(to=self.to, from_=self.from_, body=body, status_callback=callback)
        )
        return Sent(ref=str(message.sid), status=201)


class TwilioVoiceNotifier(_TwilioNotifier):
    """A call to one number: the page spoken, "Press 1 to acknowledge" gathered and posted to our API."""

    channel = Channel.VOICE

    async def send(self, delivery: Delivery) -> Sent:
        if not delivery.events:
            raise DeliveryError("voice: nothing to send", retryable=False)
        twiml = voice_twiml(delivery)
        callback = f"{_public_url(delivery)}{STATUS_PATH}?{_page_query(delivery)}"
        call = await self._call(
            lambda c: c.calls.create_async(
                to=self.to, from_=self.from_, twiml=twiml, status_callback=callback, status_callback_method="POST"
            )
        )
        return Sent(ref=str(call.sid), status=201)
