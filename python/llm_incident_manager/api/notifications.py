"""Notifications: the outbox through the API (dead letters with ``?state=failed``), the callbacks of Slack's
buttons and Twilio's calls, and the service's metrics in Prometheus' text format."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, QueryParameter
from slack_sdk.webhook.async_client import AsyncWebhookClient
from twilio.twiml.voice_response import VoiceResponse

from llm_incident_manager.api.auth import can_read
from llm_incident_manager.api.incidents import Limit
from llm_incident_manager.api.problems import problem_specs
from llm_incident_manager.domain.notifications import PageRecord, PageState
from llm_incident_manager.errors import AuthError, Conflict, InvalidInput, NotFound, Unavailable
from llm_incident_manager.notify.signing import verify_slack, verify_twilio
from llm_incident_manager.services import Services
from llm_incident_manager.store.protocol import Page

__all__ = ["IntegrationController", "MetricsController", "NotificationController"]

AnyRequest = Request[Any, Any, State]
log = logging.getLogger(__name__)


def _services(request: AnyRequest) -> Services:
    services: Services = request.app.state.services
    return services


class NotificationController(Controller):
    path = "/api/v1/notifications"
    tags = ["notifications"]

    @get(
        "/",
        opt=can_read,
        responses=problem_specs(400, 401, 403, 503),
        operation_id="listNotifications",
        summary="Pages in the outbox, newest first (state=failed lists the dead letters)",
    )
    async def list_pages(
        self,
        request: AnyRequest,
        page_state: Annotated[
            PageState | None,
            QueryParameter(name="state", description="pending, sending, done, failed (dead letters), fallback, ..."),
        ] = None,
        incident_id: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 50,
    ) -> Page[PageRecord]:
        if cursor is not None and len(cursor) != 36:
            raise InvalidInput.field("cursor", "is not a cursor this list returned")
        return await _services(request).store.list_pages(page_state, incident_id, cursor, limit)

    @get(
        "/{page_id:str}",
        opt=can_read,
        responses=problem_specs(401, 403, 404, 503),
        operation_id="getNotification",
        summary="One page",
    )
    async def get_page(self, request: AnyRequest, page_id: FromPath[str]) -> PageRecord:
        page = await _services(request).store.get_page(page_id)
        if page is None:
            raise NotFound(f"no notification {page_id}")
        return page


class _SlackUser(msgspec.Struct):
    id: str


class _SlackAction(msgspec.Struct):
    action_id: str
    value: str = ""


class _SlackPayload(msgspec.Struct):
    type: str
    user: _SlackUser
    actions: list[_SlackAction] = []
    response_url: str | None = None


async def _reply(response_url: str | None, text: str) -> None:
    """An ephemeral answer to the user who clicked: Slack shows block_actions answers sent to the interaction's
    ``response_url``, not the HTTP response's body."""
    if not response_url:
        return
    client = AsyncWebhookClient(response_url, timeout=2, retry_handlers=[])
    try:
        await client.send(text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:  # the action itself is done; a lost hint is only logged
        log.warning("could not answer Slack's interaction: %r", exc)


_slack_payload = msgspec.json.Decoder(_SlackPayload)


def _twiml(text: str) -> Response[str]:
    response = VoiceResponse()
    response.say(text)
    return Response(str(response), media_type="text/xml", status_code=200)


class IntegrationController(Controller):
    """Callbacks from providers: authenticated by the provider's request signature, not by an API key."""

    path = "/api/v1/integrations"
    tags = ["integrations"]
    security = [{}]

    @post(
        "/slack/interactions",
        exclude_from_auth=True,
        status_code=200,
        operation_id="slackInteractions",
        summary="Slack's interactivity callback: the Acknowledge and Resolve buttons",
    )
    async def slack(self, request: AnyRequest) -> Response[dict[str, Any]]:
        services = _services(request)
        body = await request.body()
        secret = services.config.notifications.slack.signing_secret
        if not secret:
            raise Unavailable("notifications.slack.signing_secret is not configured", retry_after=60)
        if not verify_slack(
            secret,
            request.headers.get("x-slack-request-timestamp"),
            body,
            request.headers.get("x-slack-signature"),
            time.time(),
        ):
            raise AuthError("the request does not carry a valid Slack signature")
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            payload = _slack_payload.decode(form.get("payload", ""))
        except msgspec.DecodeError as exc:
            raise InvalidInput.field("payload", f"is not a Slack interaction payload: {exc}") from None
        user = next((u for u in services.config.users if u.slack_user == payload.user.id), None)
        if user is None:
            text = f"Your Slack user {payload.user.id} is not mapped to a responder (users[].slack_user)."
            await _reply(payload.response_url, text)
            return Response({"response_type": "ephemeral", "replace_original": False, "text": text})
        done = []
        for action in payload.actions:
            actor, now = f"user:{user.name}", datetime.now(UTC)
            try:
                if action.action_id == "lim_ack":
                    await services.responder.acknowledge(action.value, actor, now)
                    done.append(f"acknowledged by {user.name}")
                elif action.action_id == "lim_resolve":
                    await services.responder.resolve(action.value, actor, now)
                    done.append(f"resolved by {user.name}")
            except (NotFound, Conflict) as exc:
                done.append(exc.detail)
        text = "; ".join(done) or "nothing to do"
        await _reply(payload.response_url, text)
        return Response({"response_type": "ephemeral", "replace_original": False, "text": text})

    async def _twilio_form(self, request: AnyRequest) -> tuple[Services, dict[str, str]]:
        """The callback's form after its signature checked out against the URL Twilio was given (the public
        URL, so a proxy in between does not change what is signed)."""
        services = _services(request)
        config = services.config
        # the account's token, or that of an integration with its own account
        tokens = {config.notifications.twilio.auth_token} | {
            t.auth_token for r in config.receivers for t in (*r.twilio_sms_configs, *r.twilio_voice_configs)
        }
        tokens.discard(None)
        if not tokens:
            raise Unavailable("notifications.twilio.auth_token is not configured", retry_after=60)
        body = await request.body()
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        public = services.config.notifications.public_url.rstrip("/")
        query = request.scope.get("query_string", b"").decode()
        url = f"{public}{request.url.path}" + (f"?{query}" if query else "")
        signature = request.headers.get("x-twilio-signature")
        if not any(verify_twilio(token, url, form, signature) for token in tokens if token):
            raise AuthError("the request does not carry a valid Twilio signature")
        return services, form

    @post(
        "/twilio/voice",
        exclude_from_auth=True,
        status_code=200,
        operation_id="twilioVoiceGather",
        summary="Twilio's gather callback of a voice page: press 1 to acknowledge",
    )
    async def twilio_voice(self, request: AnyRequest, page: FromQuery[list[str]]) -> Response[str]:
        """``page`` repeats when the call told of several pages (coalesced): a keypress acknowledges them all."""
        services, form = await self._twilio_form(request)
        records = [r for p in page if (r := await services.store.get_page(p)) is not None]
        if not records:
            return _twiml("This page is unknown. Goodbye.")
        if form.get("Digits") != "1":
            return _twiml("Not acknowledged. Goodbye.")
        callee = form.get("To") or form.get("Called") or ""
        user = next((u for u in services.config.users if u.phone and u.phone == callee), None)
        actor = f"user:{user.name}" if user is not None else f"phone:{callee}"
        acknowledged = 0
        for incident_id in dict.fromkeys(r.incident_id for r in records):
            try:
                await services.responder.acknowledge(incident_id, actor, datetime.now(UTC))
                acknowledged += 1
            except (Conflict, NotFound):
                continue
        if not acknowledged:
            return _twiml("The incident is already resolved. Goodbye.")
        return _twiml("Incident acknowledged. Thank you." if acknowledged == 1 else
                      f"{acknowledged} incidents acknowledged. Thank you.")  # fmt: skip

    @post(
        "/twilio/status",
        exclude_from_auth=True,
        status_code=204,
        operation_id="twilioStatus",
        summary="Twilio's status callback of an SMS or call page: recorded on the incident's timeline",
    )
    async def twilio_status(self, request: AnyRequest, page: FromQuery[list[str]]) -> None:
        services, form = await self._twilio_form(request)
        records = [r for p in page if (r := await services.store.get_page(p)) is not None]
        if not records:
            return
        status = form.get("CallStatus") or form.get("MessageStatus") or form.get("SmsStatus") or "unknown"
        now = datetime.now(UTC)
        await services.store.finish_pages(
            [], now,
            timeline=[(r.incident_id, now, "notification_status", "twilio",
                       {"page": r.id, "channel": r.channel, "recipient": r.recipient, "status": status,
                        "sid": form.get("CallSid") or form.get("MessageSid")})
                      for r in records],
        )  # fmt: skip


class MetricsController(Controller):
    path = "/metrics"
    tags = ["health"]
    security = [{}]

    @get("/", exclude_from_auth=True, operation_id="metrics", summary="Prometheus metrics (text format)")
    async def metrics(self, request: AnyRequest) -> Response[str]:
        services = _services(request)
        lines = [
            "# HELP lim_notifications Pages in the notification outbox, by state (failed = dead letters).",
            "# TYPE lim_notifications gauge",
        ]
        counts = await services.store.page_counts()
        for state in PageState:
            lines.append(f'lim_notifications{{state="{state.value}"}} {counts.get(state.value, 0)}')
        runtime = services.notifications
        if runtime is not None:
            metrics = runtime.dispatcher.metrics
            lines += [
                "# HELP lim_notification_attempts_total Sends tried by this instance, by channel and result.",
                "# TYPE lim_notification_attempts_total counter",
            ]
            lines += [
                f'lim_notification_attempts_total{{channel="{c}",result="{r}"}} {n}'
                for (c, r), n in sorted(metrics.attempts.items())
            ]
            lines += [
                "# HELP lim_notification_pages_finished_total Pages finished by this instance, by channel and state.",
                "# TYPE lim_notification_pages_finished_total counter",
            ]
            lines += [
                f'lim_notification_pages_finished_total{{channel="{c}",state="{s}"}} {n}'
                for (c, s), n in sorted(metrics.finished.items())
            ]
            lines += [
                "# HELP lim_notification_dead_letters_total Pages that failed for good on this instance.",
                "# TYPE lim_notification_dead_letters_total counter",
            ]
            by_channel: dict[str, int] = {}
            for (c, s), n in metrics.finished.items():
                if s == PageState.FAILED.value:
                    by_channel[c] = by_channel.get(c, 0) + n
            lines += [
                f'lim_notification_dead_letters_total{{channel="{c}"}} {n}' for c, n in sorted(by_channel.items())
            ]
            lines += [
                "# HELP lim_notification_send_seconds Time providers took to accept a send.",
                "# TYPE lim_notification_send_seconds summary",
            ]
            for c, (count, total) in sorted(metrics.latency.items()):
                lines.append(f'lim_notification_send_seconds_count{{channel="{c}"}} {int(count)}')
                lines.append(f'lim_notification_send_seconds_sum{{channel="{c}"}} {total:.6f}')
            lines += [
                "# HELP lim_notification_breaker_open Channel endpoints whose circuit breaker is open (1) or not (0).",
                "# TYPE lim_notification_breaker_open gauge",
            ]
            now = time.monotonic()
            for (c, endpoint), breaker in sorted(runtime.dispatcher.breakers.items()):
                is_open = 1 if breaker.open_until > now or breaker.probing else 0
                host = urlsplit(endpoint).netloc or endpoint  # never the path: webhook URLs carry secrets there
                lines.append(f'lim_notification_breaker_open{{channel="{c}",endpoint="{host}"}} {is_open}')
        return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
