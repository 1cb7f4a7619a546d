"""Slack: the Web API with a bot token (one message per incident, updated in place, events replied in its thread,
Acknowledge/Resolve buttons), or an incoming webhook (one message per event, no buttons, no updates).

Both use slack-sdk's asynchronous clients with ``retry_handlers=[]``: retries are the outbox's (its backoff, its
attempts, its breaker), never the library's.

Zero duplicates across a worker's death: every message we post carries Slack message metadata (``event_type``
``lim_page``, the send's idempotency key); a retry (attempt > 1) looks for a message with that key in the channel's
history (or the thread's replies) and reuses it instead of posting again. ``conversations.history`` and
``chat.update`` take a channel id, not a name: the id is learnt from the first post's answer, so configure a
channel id (``C0123...``) for the lookup to work after a restart too.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from llm_incident_manager.notify import templates
from llm_incident_manager.notify.channels.webhook import endpoint_of
from llm_incident_manager.notify.config import Channel
from llm_incident_manager.notify.model import Delivery, DeliveryError, Sent, parse_retry_after

__all__ = ["METADATA_EVENT_TYPE", "SlackWebApiNotifier", "SlackWebhookNotifier", "api_base_url", "is_web_api_url"]

METADATA_EVENT_TYPE = "lim_page"
#: ``ok: false`` errors (HTTP 200) that are worth another try; every other one (invalid_auth, channel_not_found,
#: not_in_channel, ...) is final
_RETRYABLE_ERRORS = frozenset(
    ("ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout")
)
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_HISTORY_LIMIT = 100


def is_web_api_url(url: str) -> bool:
    return url.rstrip("/").endswith("/chat.postMessage")


def api_base_url(url: str) -> str:
    """The Web API base of a URL: up to and including ``/api/`` (``https://slack.com/api/chat.postMessage`` →
    ``https://slack.com/api/``); a base without ``/api/`` loses its ``chat.postMessage`` only."""
    index = url.find("/api/")
    if index >= 0:
        return url[: index + len("/api/")]
    base = url.rstrip("/").removesuffix("chat.postMessage")
    return base if base.endswith("/") else base + "/"


def _api_error(exc: SlackApiError) -> DeliveryError:
    response = exc.response
    what = str(getattr(response, "api_url", "") or "").rstrip("/").rpartition("/")[2] or "api"
    status = int(getattr(response, "status_code", 0) or 0)
    error = _error_of(exc) or ""
    headers = getattr(response, "headers", None) or {}
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    reason = f"slack {what}: HTTP {status}" + (f" {error}" if error else "")
    if status in {0, 200}:
        retryable = error in _RETRYABLE_ERRORS
        return DeliveryError(reason, retryable=retryable, status=status or None, retry_after=retry_after)
    return DeliveryError.from_status(status, reason, retry_after)


def _error_of(exc: SlackApiError) -> str | None:
    data = getattr(exc.response, "data", None)
    return str(data.get("error")) if isinstance(data, dict) and data.get("error") else None


def _header(headers: Any, name: str) -> str | None:
    try:
        value = headers.get(name)
        if value is None:
            value = next((v for k, v in headers.items() if str(k).lower() == name.lower()), None)
    except AttributeError:
        return None
    return str(value) if value is not None else None


def _transport_error(exc: BaseException, what: str) -> DeliveryError:
    return DeliveryError(f"slack {what}: {type(exc).__name__}: {templates.scrub(str(exc))}", retryable=True)


class SlackWebApiNotifier:
    """A Slack channel through the Web API (``chat.postMessage``, ``chat.update``)."""

    def __init__(
        self,
        *,
        token: str,
        base_url: str,
        slack_channel: str,
        timeout: float,
        username: str | None = None,
        icon_emoji: str | None = None,
        icon_url: str | None = None,
    ) -> None:
        self.channel = Channel.SLACK
        self.recipient = slack_channel
        self.endpoint = base_url
        self.base_url = base_url
        self.timeout = timeout
        self._token = token
        self.username = username if username and "{{" not in username else None
        self.icon_emoji = icon_emoji if icon_emoji and "{{" not in icon_emoji else None
        self.icon_url = icon_url if icon_url and "{{" not in icon_url else None
        #: the channel's id (what chat.update and conversations.history need), once known
        self.channel_id: str | None = slack_channel if _CHANNEL_ID.match(slack_channel) else None
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None

    def client(self) -> AsyncWebClient:
        if self._client is None or self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            self._client = AsyncWebClient(
                token=self._token,
                base_url=self.base_url,
                session=self._session,
                timeout=math.ceil(self.timeout),
                retry_handlers=[],
            )
        return self._client

    @property
    def _where(self) -> str:
        return self.channel_id or self.recipient

    async def send(self, delivery: Delivery) -> Sent:
        if not delivery.events:
            raise DeliveryError("slack: nothing to send", retryable=False)
        try:
            incidents = {e.incident.id for e in delivery.events}
            if delivery.digest or len(incidents) > 1:
                return await self._summary(delivery)
            if delivery.thread_ref is None:
                return await self._root(delivery)
            return await self._thread(delivery, delivery.thread_ref)
        except SlackApiError as exc:
            raise _api_error(exc) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _transport_error(exc, "api") from exc
        except SlackClientError as exc:  # a request the library refused to make
            raise DeliveryError(f"slack: {exc}", retryable=False) from exc

    # -- the three shapes of a send ------------------------------------------------------------------------------
    async def _root(self, delivery: Delivery) -> Sent:
        key = templates.delivery_key(delivery)
        if _retry(delivery):
            found = await self._find(key, thread_ts=None)
            if found is not None:
                return Sent(ref=found, thread_ref=found)
        message = templates.slack_message(delivery)
        ts = await self._post(message.text, message.blocks, key, delivery.events[-1].incident.id)
        return Sent(ref=ts, thread_ref=ts)

    async def _thread(self, delivery: Delivery, root: str) -> Sent:
        message = templates.slack_message(delivery)
        try:
            updated = await self._update(root, message)
        except SlackApiError as exc:
            if _error_of(exc) == "message_not_found":
                # the root was deleted: start over with a new one, which is the thread from now on
                return await self._root(Delivery(**{**_fields(delivery), "thread_ref": None}))
            raise
        key = templates.delivery_key(delivery)
        found = await self._find(key, thread_ts=root) if _retry(delivery) else None
        ts = found or await self._post(
            templates.slack_follow_up(delivery), None, key, delivery.events[-1].incident.id, thread_ts=root
        )
        if not updated and self.channel_id is not None:
            await self._update(root, message)  # the reply taught us the channel's id
        return Sent(ref=ts, thread_ref=root)

    async def _update(self, root: str, message: templates.SlackMessage) -> bool:
        """Rewrites the root message; False when it must wait for the channel's id (chat.update takes no channel
        name, and a restart forgot the id the first post taught us: the reply, posted by name, teaches it again)."""
        try:
            await self.client().chat_update(channel=self._where, ts=root, text=message.text, blocks=message.blocks)
        except SlackApiError as exc:
            if _error_of(exc) == "channel_not_found" and self.channel_id is None:
                return False
            raise
        return True

    async def _summary(self, delivery: Delivery) -> Sent:
        key = templates.delivery_key(delivery)
        if _retry(delivery):
            found = await self._find(key, thread_ts=None)
            if found is not None:
                return Sent(ref=found, thread_ref=delivery.thread_ref)
        message = templates.slack_summary(delivery)
        ts = await self._post(message.text, message.blocks, key, None)
        return Sent(ref=ts, thread_ref=delivery.thread_ref)

    # -- Web API calls -------------------------------------------------------------------------------------------
    async def _post(
        self,
        text: str,
        blocks: list[dict[str, Any]] | None,
        key: str,
        incident_id: str | None,
        *,
        thread_ts: str | None = None,
    ) -> str:
        payload: dict[str, Any] = {"idempotency_key": key}
        if incident_id is not None:
            payload["incident_id"] = incident_id
        response = await self.client().chat_postMessage(
            channel=self._where,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            metadata={"event_type": METADATA_EVENT_TYPE, "event_payload": payload},
            unfurl_links=False,
            unfurl_media=False,
            username=self.username,
            icon_emoji=self.icon_emoji,
            icon_url=self.icon_url,
        )
        channel_id = response.get("channel")
        if isinstance(channel_id, str) and channel_id:
            self.channel_id = channel_id
        ts = response.get("ts")
        if not isinstance(ts, str):
            msg = "slack chat.postMessage: the answer holds no ts"
            raise DeliveryError(msg, retryable=False, status=response.status_code)
        return ts

    async def _find(self, key: str, *, thread_ts: str | None) -> str | None:
        """The ts of a message of ours carrying ``key`` (posted by an attempt that died before recording it)."""
        try:
            if thread_ts is None:
                response = await self.client().conversations_history(
                    channel=self._where, include_all_metadata=True, limit=_HISTORY_LIMIT
                )
            else:
                response = await self.client().conversations_replies(
                    channel=self._where, ts=thread_ts, include_all_metadata=True, limit=_HISTORY_LIMIT
                )
        except SlackApiError as exc:
            error = _api_error(exc)
            if error.retryable:
                raise error from exc
            return None  # no history scope, a channel name rather than an id: post, as a first attempt would
        messages = response.get("messages") or []
        for message in messages:
            if not isinstance(message, dict):
                continue
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == METADATA_EVENT_TYPE and payload.get("idempotency_key") == key:
                ts = message.get("ts")
                if isinstance(ts, str):
                    return ts
        return None

    async def close(self) -> None:
        session, self._session, self._client = self._session, None, None
        if session is not None:
            await session.close()


def _retry(delivery: Delivery) -> bool:
    return max(e.attempt for e in delivery.events) > 1


def _fields(delivery: Delivery) -> dict[str, Any]:
    return {name: getattr(delivery, name) for name in delivery.__struct_fields__}


class SlackWebhookNotifier:
    """A Slack incoming webhook: one message per send, no buttons (a webhook cannot update what it posted)."""

    def __init__(self, *, url: str, timeout: float, slack_channel: str | None = None) -> None:
        self.channel = Channel.SLACK
        # the webhook URL is a secret: name the channel, or a hash of the URL
        self.recipient = slack_channel or f"webhook:{hashlib.sha256(url.encode()).hexdigest()[:12]}"
        self.endpoint = endpoint_of(url)
        self.url = url
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebhookClient | None = None

    def client(self) -> AsyncWebhookClient:
        if self._client is None or self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            self._client = AsyncWebhookClient(
                self.url, timeout=math.ceil(self.timeout), session=self._session, retry_handlers=[]
            )
        return self._client

    async def send(self, delivery: Delivery) -> Sent:
        if not delivery.events:
            raise DeliveryError("slack: nothing to send", retryable=False)
        if delivery.digest or len({e.incident.id for e in delivery.events}) > 1:
            message = templates.slack_summary(delivery)
        else:
            message = templates.slack_message(delivery, buttons=False)
        try:
            response = await self.client().send(text=message.text, blocks=message.blocks)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _transport_error(exc, "webhook") from exc
        except SlackClientError as exc:
            raise DeliveryError(f"slack webhook: {exc}", retryable=False) from exc
        status = response.status_code
        if 200 <= status < 300:
            return Sent(status=status)
        body = templates.scrub(" ".join(str(response.body or "").split()))[:200]
        retry_after = parse_retry_after(_header(response.headers, "Retry-After"))
        raise DeliveryError.from_status(status, f"slack webhook: HTTP {status} {body}".strip(), retry_after)

    async def close(self) -> None:
        session, self._session, self._client = self._session, None, None
        if session is not None:
            await session.close()
