"""The channels, and the targets of a receiver: one notifier per recipient of each of its integrations.

:func:`build_targets` reads a receiver as Alertmanager would, its ``global`` section giving the defaults
(``slack_api_url``, ``smtp_smarthost``, ``smtp_from``, ``smtp_require_tls``, ``pagerduty_url``, ...), and our
``notifications`` section the rest (the Slack app's bot token, Twilio's account). A target that cannot work is a
ValueError naming its key (``receivers[team].slack_configs[0].api_url: ...``).

What each target is sent by default (an integration's ``events`` replaces it; ``send_resolved: false`` removes
``resolved``, ``true`` adds it):

=========================  ===========================================
Slack, Web API             every kind
Slack, incoming webhook    triggered, acknowledged, resolved
email                      triggered (resolved with ``send_resolved``)
SMS                        triggered (resolved with ``send_resolved``)
voice                      triggered
webhook                    every kind
PagerDuty                  triggered, acknowledged, resolved
=========================  ===========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llm_incident_manager.notify.channels.email import EmailNotifier, parse_smarthost
from llm_incident_manager.notify.channels.pagerduty import DEFAULT_EVENTS_URL, PagerDutyNotifier
from llm_incident_manager.notify.channels.slack import (
    SlackWebApiNotifier,
    SlackWebhookNotifier,
    api_base_url,
    is_web_api_url,
)
from llm_incident_manager.notify.channels.twilio import TwilioSmsNotifier, TwilioVoiceNotifier
from llm_incident_manager.notify.channels.webhook import WebhookNotifier, ssl_context
from llm_incident_manager.notify.config import (
    Channel,
    DigestConfig,
    EventKind,
    NotificationsConfig,
    ReceiverConfig,
    ThrottleConfig,
    seconds,
)
from llm_incident_manager.notify.model import Notifier

__all__ = [
    "DEFAULT_EVENTS",
    "EmailNotifier",
    "PagerDutyNotifier",
    "SlackWebApiNotifier",
    "SlackWebhookNotifier",
    "Target",
    "TwilioSmsNotifier",
    "TwilioVoiceNotifier",
    "WebhookNotifier",
    "build_targets",
]

ALL_EVENTS = frozenset(EventKind)
_TRIGGERED = frozenset((EventKind.TRIGGERED,))
_LIFECYCLE = frozenset((EventKind.TRIGGERED, EventKind.ACKNOWLEDGED, EventKind.RESOLVED))

#: the default events of each kind of integration (before ``send_resolved``)
DEFAULT_EVENTS: dict[str, frozenset[EventKind]] = {
    "slack_web_api": ALL_EVENTS,
    "slack_webhook": _LIFECYCLE,
    "email": _TRIGGERED,
    "sms": _TRIGGERED,
    "voice": _TRIGGERED,
    "webhook": ALL_EVENTS,
    "pagerduty": _LIFECYCLE,
}


@dataclass(frozen=True, slots=True)
class Target:
    #: the receiver's name
    receiver: str
    #: the recipient's stable id within the receiver: ``slack_configs[0]``, ``twilio_sms_configs[1]/+15550001``
    key: str
    channel: Channel
    notifier: Notifier
    #: what this target is sent
    events: frozenset[EventKind]
    throttle: ThrottleConfig | None
    digest: DigestConfig | None


class _Global:
    """Alertmanager's ``global`` section, read leniently (a plain mapping from the YAML)."""

    def __init__(self, values: Mapping[str, Any] | None) -> None:
        self.values = values or {}

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        return str(value)

    def secret(self, name: str) -> str | None:
        """``name`` or the content of ``name_file``."""
        return self.text(name) or _read_file(self.text(f"{name}_file"), f"global.{name}_file")

    def flag(self, name: str, default: bool) -> bool:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)


def _read_file(path: str | None, where: str) -> str | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError as exc:
        msg = f"{where}: cannot read {path}: {exc.strerror}"
        raise ValueError(msg) from None


def _events(
    events: list[EventKind] | None, send_resolved: bool | None, default: frozenset[EventKind]
) -> frozenset[EventKind]:
    chosen = set(events) if events is not None else set(default)
    if send_resolved is False:
        chosen.discard(EventKind.RESOLVED)
    elif send_resolved is True:
        chosen.add(EventKind.RESOLVED)
    return frozenset(chosen)


def _timeout(value: str | float | None, default: float, where: str) -> float:
    return seconds(where, value) if value is not None else default


def _named(path: str, exc: ValueError) -> ValueError:
    return ValueError(f"{path}.{exc}")


def build_targets(
    receiver: ReceiverConfig,
    notifications: NotificationsConfig,
    global_: Mapping[str, Any] | None,
    timeout: float,
) -> list[Target]:
    """The targets of ``receiver``, in configuration order; ValueError (with the key path) for one that cannot
    work."""
    g = _Global(global_)
    base = f"receivers[{receiver.name}]"
    targets: list[Target] = []

    def add(key: str, notifier: Notifier, events: frozenset[EventKind], integration: Any) -> None:
        targets.append(
            Target(
                receiver=receiver.name,
                key=key,
                channel=notifier.channel,
                notifier=notifier,
                events=events,
                throttle=integration.throttle,
                digest=integration.digest,
            )
        )

    # -- Slack -------------------------------------------------------------------------------------------------
    for i, sc in enumerate(receiver.slack_configs):
        key = f"slack_configs[{i}]"
        path = f"{base}.{key}"
        slack_timeout = _timeout(sc.timeout, timeout, f"{path}.timeout")
        app_token = _read_file(sc.app_token_file, f"{path}.app_token_file") if not sc.app_token else sc.app_token
        app_token = app_token or g.secret("slack_app_token")
        if app_token:  # Alertmanager's Web API keys: app_token with app_url
            token: str | None = app_token
            url = sc.app_url or g.text("slack_app_url")
        else:
            token = (sc.http_config.bearer() if sc.http_config else None) or notifications.slack.bot_token
            url = sc.api_url or _read_file(sc.api_url_file, f"{path}.api_url_file") or g.secret("slack_api_url")
        if url is None or is_web_api_url(url):
            if token is None:
                if url is None:
                    msg = (
                        f"{path}.api_url: no api_url (nor global slack_api_url) and no bot token "
                        "(http_config.authorization.credentials, app_token or notifications.slack.bot_token)"
                    )
                else:
                    msg = (
                        f"{path}.api_url: {url} is Slack's Web API, which needs a bot token "
                        "(http_config.authorization.credentials, app_token or notifications.slack.bot_token)"
                    )
                raise ValueError(msg)
            if not sc.channel:
                msg = f"{path}.channel: the Slack Web API needs a channel (an id such as C0123ABCD, or #name)"
                raise ValueError(msg)
            base_url = api_base_url(url) if url is not None else notifications.slack.api_url
            if not base_url.endswith("/"):
                base_url += "/"
            notifier: Notifier = SlackWebApiNotifier(
                token=token,
                base_url=base_url,
                slack_channel=sc.channel,
                timeout=slack_timeout,
                username=sc.username,
                icon_emoji=sc.icon_emoji,
                icon_url=sc.icon_url,
            )
            default = DEFAULT_EVENTS["slack_web_api"]
        else:
            if not url.startswith(("https://", "http://")):
                msg = f"{path}.api_url: not an http(s) URL"
                raise ValueError(msg)
            notifier = SlackWebhookNotifier(url=url, timeout=slack_timeout, slack_channel=sc.channel)
            default = DEFAULT_EVENTS["slack_webhook"]
        add(key, notifier, _events(sc.events, sc.send_resolved, default), sc)

    # -- email -------------------------------------------------------------------------------------------------
    for i, ec in enumerate(receiver.email_configs):
        key = f"email_configs[{i}]"
        path = f"{base}.{key}"
        smarthost = ec.smarthost or g.text("smtp_smarthost")
        if not smarthost:
            msg = f"{path}.smarthost: no smarthost (nor global smtp_smarthost)"
            raise ValueError(msg)
        try:
            host, port = parse_smarthost(smarthost)
        except ValueError as exc:
            raise _named(path, ValueError(f"smarthost: {exc}")) from None
        sender = ec.from_ or g.text("smtp_from")
        if not sender:
            msg = f"{path}.from: no from (nor global smtp_from)"
            raise ValueError(msg)
        username = ec.auth_username or g.text("smtp_auth_username")
        password = (
            ec.auth_password
            or _read_file(ec.auth_password_file, f"{path}.auth_password_file")
            or g.secret("smtp_auth_password")
        )
        require_tls = ec.require_tls if ec.require_tls is not None else g.flag("smtp_require_tls", True)
        implicit = (
            ec.force_implicit_tls if ec.force_implicit_tls is not None else g.flag("smtp_force_implicit_tls", False)
        )
        try:
            notifier = EmailNotifier(
                to=ec.to,
                sender=sender,
                host=host,
                port=port,
                timeout=timeout,
                hello=ec.hello or g.text("smtp_hello") or "localhost",
                username=username,
                password=password,
                implicit_tls=implicit,
                require_tls=require_tls,
                tls_context=ssl_context(ec.tls_config),
                headers=ec.headers,
            )
        except ValueError as exc:
            raise _named(path, exc) from None
        except OSError as exc:  # a CA or client certificate file that cannot be read
            msg = f"{path}.tls_config: {exc}"
            raise ValueError(msg) from None
        add(key, notifier, _events(ec.events, ec.send_resolved, DEFAULT_EVENTS["email"]), ec)

    # -- webhooks ----------------------------------------------------------------------------------------------
    for i, wc in enumerate(receiver.webhook_configs):
        key = f"webhook_configs[{i}]"
        path = f"{base}.{key}"
        url = wc.url or _read_file(wc.url_file, f"{path}.url_file")
        if not url or not url.startswith(("https://", "http://")):
            msg = f"{path}.url: not an http(s) URL"
            raise ValueError(msg)
        try:
            notifier = WebhookNotifier(
                url=url,
                timeout=_timeout(wc.timeout, timeout, f"{path}.timeout"),
                signing_secret=wc.signing_secret,
                http_config=wc.http_config,
            )
        except OSError as exc:  # a credentials, header or CA file that cannot be read
            msg = f"{path}.http_config: {exc}"
            raise ValueError(msg) from None
        add(key, notifier, _events(wc.events, wc.send_resolved, DEFAULT_EVENTS["webhook"]), wc)

    # -- PagerDuty ---------------------------------------------------------------------------------------------
    for i, pc in enumerate(receiver.pagerduty_configs):
        key = f"pagerduty_configs[{i}]"
        path = f"{base}.{key}"
        if pc.service_key or pc.service_key_file:
            name = "service_key" if pc.service_key else "service_key_file"
            msg = f"{path}.{name}: the Events API v1 (service_key) is not supported; use routing_key (Events API v2)"
            raise ValueError(msg)
        routing_key = pc.routing_key or _read_file(pc.routing_key_file, f"{path}.routing_key_file")
        if not routing_key:
            msg = f"{path}.routing_key: empty"
            raise ValueError(msg)
        url = pc.url or g.text("pagerduty_url") or DEFAULT_EVENTS_URL
        if not url.startswith(("https://", "http://")):
            msg = f"{path}.url: not an http(s) URL"
            raise ValueError(msg)
        try:
            notifier = PagerDutyNotifier(
                routing_key=routing_key,
                url=url,
                timeout=_timeout(pc.timeout, timeout, f"{path}.timeout"),
                config=pc,
                http_config=pc.http_config,
            )
        except OSError as exc:
            msg = f"{path}.http_config: {exc}"
            raise ValueError(msg) from None
        add(key, notifier, _events(pc.events, pc.send_resolved, DEFAULT_EVENTS["pagerduty"]), pc)
    # -- Twilio SMS and voice ----------------------------------------------------------------------------------
    twilio = notifications.twilio
    for field, configs, cls, kind in (
        ("twilio_sms_configs", receiver.twilio_sms_configs, TwilioSmsNotifier, "sms"),
        ("twilio_voice_configs", receiver.twilio_voice_configs, TwilioVoiceNotifier, "voice"),
    ):
        for i, tc in enumerate(configs):
            path = f"{base}.{field}[{i}]"
            account_sid = tc.account_sid or twilio.account_sid
            auth_token = tc.auth_token or twilio.auth_token
            sender = tc.from_ or twilio.from_
            for name, value in (("account_sid", account_sid), ("auth_token", auth_token), ("from", sender)):
                if not value:
                    msg = f"{path}.{name}: not set here nor in notifications.twilio"
                    raise ValueError(msg)
            assert account_sid  # noqa: S101 - checked just above
            assert auth_token  # noqa: S101
            assert sender  # noqa: S101
            events = _events(tc.events, tc.send_resolved, DEFAULT_EVENTS[kind])
            for number in tc.numbers():
                notifier = cls(
                    to=number,
                    from_=sender,
                    account_sid=account_sid,
                    auth_token=auth_token,
                    timeout=timeout,
                    api_url=tc.api_url or twilio.api_url,
                )
                add(f"{field}[{i}]/{number}", notifier, events, tc)

    return targets
