"""Receivers and delivery settings of the configuration file (docs/notifications.md lists every key).

``receivers`` reads Alertmanager's syntax where Alertmanager has an equivalent (``slack_configs``,
``email_configs``, ``webhook_configs``, ``pagerduty_configs``, with Alertmanager's keys), so an
``alertmanager.yml`` loads unchanged. Alertmanager keys whose value is a Go template (``title``, ``text``,
``html``, ...) are accepted and not evaluated: our messages come from our own templates (``notify.templates``).
Integrations Alertmanager has and we do not deliver through (``opsgenie_configs``, ``msteams_configs``, ...) are
accepted and reported by ``lim config check``; nothing is sent through them.

Ours: ``twilio_sms_configs`` and ``twilio_voice_configs``, ``signing_secret`` on webhooks, ``events``,
``throttle`` and ``digest`` on any integration, ``fallback`` (another receiver) on a receiver, and the top-level
``notifications`` section (delivery policy, Slack app and Twilio settings, the public URL of links).
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from llm_incident_manager.config import parse_duration

__all__ = [
    "ALERTMANAGER_ONLY_INTEGRATIONS",
    "Authorization",
    "BasicAuth",
    "Channel",
    "DeliveryPolicy",
    "DigestConfig",
    "EmailConfig",
    "EventKind",
    "HTTPConfig",
    "JetStreamConfig",
    "NotificationsConfig",
    "PagerDutyConfig",
    "ReceiverConfig",
    "SlackAppConfig",
    "SlackConfig",
    "TLSConfig",
    "ThrottleConfig",
    "TwilioConfig",
    "TwilioSmsConfig",
    "TwilioVoiceConfig",
    "WebhookConfig",
    "seconds",
]


class Channel(enum.StrEnum):
    SLACK = "slack"
    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"
    WEBHOOK = "webhook"
    PAGERDUTY = "pagerduty"


class EventKind(enum.StrEnum):
    """What happened to an incident that a notification tells."""

    TRIGGERED = "triggered"
    ALERT_ADDED = "alert_added"
    SEVERITY_RAISED = "severity_raised"
    REFIRED = "refired"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


#: Alertmanager integrations accepted in a receiver but not delivered through (reported at load).
ALERTMANAGER_ONLY_INTEGRATIONS = (
    "opsgenie_configs",
    "victorops_configs",
    "pushover_configs",
    "wechat_configs",
    "telegram_configs",
    "sns_configs",
    "webex_configs",
    "discord_configs",
    "msteams_configs",
    "msteamsv2_configs",
    "jira_configs",
    "rocketchat_configs",
    "incidentio_configs",
    "mattermost_configs",
)


def seconds(name: str, value: str | float, *, minimum: float = 0.0, allow_zero: bool = False) -> float:
    """Seconds of a duration field (``30s``, ``5m`` or a number); ValueError names the field."""
    try:
        result = parse_duration(value) if isinstance(value, str) else float(value)
    except ValueError as exc:
        msg = f"{name}: {exc}"
        raise ValueError(msg) from None
    if result < minimum or (result == minimum and not allow_zero):
        msg = f"{name}: must be longer than {minimum:g}s"
        raise ValueError(msg)
    return result


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


# -- Alertmanager's shared HTTP client settings (prometheus/common's HTTPClientConfig) -------------------------
class Authorization(_Strict, kw_only=True, frozen=True):
    type: str = "Bearer"
    credentials: str | None = None
    credentials_file: str | None = None


class BasicAuth(_Strict, kw_only=True, frozen=True):
    username: str | None = None
    username_file: str | None = None
    password: str | None = None
    password_file: str | None = None


class TLSConfig(_Strict, kw_only=True, frozen=True):
    ca: str | None = None
    ca_file: str | None = None
    cert: str | None = None
    cert_file: str | None = None
    key: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False
    min_version: str | None = None
    max_version: str | None = None


class HTTPConfig(_Strict, kw_only=True, frozen=True):
    authorization: Authorization | None = None
    basic_auth: BasicAuth | None = None
    bearer_token: str | None = None
    bearer_token_file: str | None = None
    tls_config: TLSConfig | None = None
    # accepted for Alertmanager files; webhooks never follow redirects here (a 3xx is a failure)
    follow_redirects: bool = True
    enable_http2: bool = True
    proxy_url: str | None = None
    no_proxy: str | None = None
    proxy_from_environment: bool = False
    proxy_connect_header: dict[str, Any] | None = None
    oauth2: dict[str, Any] | None = None
    http_headers: dict[str, Any] | None = None

    def bearer(self) -> str | None:
        """The bearer credentials, from ``authorization`` or the older ``bearer_token``."""
        if self.authorization is not None and self.authorization.type.lower() == "bearer":
            return _secret(self.authorization.credentials, self.authorization.credentials_file)
        return _secret(self.bearer_token, self.bearer_token_file)

    def headers(self) -> dict[str, str]:
        """The authentication headers these settings ask for."""
        if self.authorization is not None:
            token = _secret(self.authorization.credentials, self.authorization.credentials_file)
            return {"Authorization": f"{self.authorization.type} {token}"} if token else {}
        username = None if self.basic_auth is None else _secret(self.basic_auth.username, self.basic_auth.username_file)
        if self.basic_auth is not None and username is not None:
            import base64

            password = _secret(self.basic_auth.password, self.basic_auth.password_file) or ""
            raw = f"{username}:{password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        token = _secret(self.bearer_token, self.bearer_token_file)
        return {"Authorization": f"Bearer {token}"} if token else {}


def _from_file(config: msgspec.Struct, name: str) -> None:
    """Fills the secret ``name`` from the file named by ``name_file`` (a mounted Kubernetes Secret), at load."""
    path = getattr(config, f"{name}_file")
    if not path:
        return
    if getattr(config, name):
        msg = f"{name}_file: set either {name} or {name}_file, not both"
        raise ValueError(msg)
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read().strip()
    except OSError as exc:
        msg = f"{name}_file: cannot read {path}: {exc.strerror}"
        raise ValueError(msg) from None
    msgspec.structs.force_setattr(config, name, value)


def _secret(value: str | None, path: str | None) -> str | None:
    if value:
        return value
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    return None


# -- what every integration of ours may add -------------------------------------------------------------------
class ThrottleConfig(_Strict, kw_only=True, frozen=True):
    """At most ``messages`` sends per ``per`` to one recipient; what waits is coalesced into the next send."""

    messages: int = 1
    per: str | float = "1s"

    def __post_init__(self) -> None:
        if self.messages < 1:
            msg = "messages: must be at least 1"
            raise ValueError(msg)
        seconds("per", self.per)

    @property
    def interval(self) -> float:
        return seconds("per", self.per) / self.messages


class DigestConfig(_Strict, kw_only=True, frozen=True):
    """Incidents of these severities are not sent one by one but gathered into one message every ``interval``."""

    interval: str | float = "15m"
    severities: list[str] = msgspec.field(default_factory=lambda: ["low", "info"])

    def __post_init__(self) -> None:
        seconds("interval", self.interval)
        for i, name in enumerate(self.severities):
            if name not in ("critical", "high", "medium", "low", "info"):
                msg = f"severities[{i}]: {name!r} is not a severity (critical, high, medium, low, info)"
                raise ValueError(msg)


class _Integration(_Strict, kw_only=True, frozen=True):
    """Keys every integration shares: Alertmanager's ``send_resolved`` and our ``events``, ``throttle``,
    ``digest``."""

    send_resolved: bool | None = None
    events: list[EventKind] | None = None
    throttle: ThrottleConfig | None = None
    digest: DigestConfig | None = None


class SlackConfig(_Integration, kw_only=True, frozen=True):
    # Alertmanager's keys
    http_config: HTTPConfig | None = None
    api_url: str | None = None
    api_url_file: str | None = None
    channel: str | None = None
    username: str | None = None
    color: str | None = None
    title: str | None = None
    title_link: str | None = None
    pretext: str | None = None
    text: str | None = None
    fields: list[Any] | None = None
    short_fields: bool = False
    footer: str | None = None
    fallback: str | None = None
    callback_id: str | None = None
    icon_emoji: str | None = None
    icon_url: str | None = None
    image_url: str | None = None
    thumb_url: str | None = None
    link_names: bool = False
    mrkdwn_in: list[str] | None = None
    actions: list[Any] | None = None
    edit_messages: bool | None = None
    update_message: bool | None = None
    message_text: str | None = None
    app_token: str | None = None
    app_token_file: str | None = None
    app_url: str | None = None
    timeout: str | float | None = None


class EmailConfig(_Integration, kw_only=True, frozen=True):
    to: str
    from_: str | None = msgspec.field(default=None, name="from")
    hello: str | None = None
    smarthost: str | None = None
    auth_username: str | None = None
    auth_password: str | None = None
    auth_password_file: str | None = None
    auth_secret: str | None = None
    auth_secret_file: str | None = None
    auth_identity: str | None = None
    headers: dict[str, str] | None = None
    html: str | None = None
    text: str | None = None
    require_tls: bool | None = None
    tls_config: TLSConfig | None = None
    force_implicit_tls: bool | None = None
    threading: dict[str, Any] | None = None


class WebhookConfig(_Integration, kw_only=True, frozen=True):
    url: str | None = None
    url_file: str | None = None
    http_config: HTTPConfig | None = None
    max_alerts: int = 0
    timeout: str | float | None = None
    #: ours: sign each request as Standard Webhooks do, with this secret (``whsec_<base64>`` or any string)
    signing_secret: str | None = None
    signing_secret_file: str | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.url_file is None):
            msg = "url: exactly one of url and url_file must be set"
            raise ValueError(msg)
        _from_file(self, "signing_secret")


class PagerDutyConfig(_Integration, kw_only=True, frozen=True):
    http_config: HTTPConfig | None = None
    service_key: str | None = None
    service_key_file: str | None = None
    routing_key: str | None = None
    routing_key_file: str | None = None
    url: str | None = None
    client: str | None = None
    client_url: str | None = None
    description: str | None = None
    details: dict[str, Any] | None = None
    images: list[Any] | None = None
    links: list[Any] | None = None
    source: str | None = None
    severity: str | None = None
    class_: str | None = msgspec.field(default=None, name="class")
    component: str | None = None
    group: str | None = None
    timeout: str | float | None = None

    def __post_init__(self) -> None:
        if not (self.routing_key or self.routing_key_file or self.service_key or self.service_key_file):
            msg = "routing_key: one of routing_key, routing_key_file, service_key, service_key_file is required"
            raise ValueError(msg)


class _TwilioTarget(_Integration, kw_only=True, frozen=True):
    #: one number or a list; each number is its own recipient (its own page, throttle and idempotency key)
    to: str | list[str]
    from_: str | None = msgspec.field(default=None, name="from")
    #: these three default to the ``notifications.twilio`` section
    account_sid: str | None = None
    auth_token: str | None = None
    auth_token_file: str | None = None
    api_url: str | None = None

    def numbers(self) -> list[str]:
        return [self.to] if isinstance(self.to, str) else list(self.to)

    def __post_init__(self) -> None:
        _from_file(self, "auth_token")
        for i, number in enumerate(self.numbers()):
            digits = number.removeprefix("+")
            if not number.startswith("+") or not digits.isdigit() or not 6 <= len(digits) <= 15:
                where = "to" if isinstance(self.to, str) else f"to[{i}]"
                msg = f"{where}: {number!r} is not a phone number in E.164 form (+15550001234)"
                raise ValueError(msg)


class TwilioSmsConfig(_TwilioTarget, kw_only=True, frozen=True):
    pass


class TwilioVoiceConfig(_TwilioTarget, kw_only=True, frozen=True):
    pass


class ReceiverConfig(_Strict, kw_only=True, frozen=True):
    name: str
    slack_configs: list[SlackConfig] = []
    email_configs: list[EmailConfig] = []
    webhook_configs: list[WebhookConfig] = []
    pagerduty_configs: list[PagerDutyConfig] = []
    twilio_sms_configs: list[TwilioSmsConfig] = []
    twilio_voice_configs: list[TwilioVoiceConfig] = []
    #: ours: the receiver that takes over a page this one could not deliver (attempts exhausted, breaker open)
    fallback: str | None = None
    #: ours: page people by this escalation policy (``escalation_policies``) besides the integrations above
    escalation_policy: str | None = None
    # Alertmanager integrations we accept and do not deliver through
    opsgenie_configs: list[Any] = []
    victorops_configs: list[Any] = []
    pushover_configs: list[Any] = []
    wechat_configs: list[Any] = []
    telegram_configs: list[Any] = []
    sns_configs: list[Any] = []
    webex_configs: list[Any] = []
    discord_configs: list[Any] = []
    msteams_configs: list[Any] = []
    msteamsv2_configs: list[Any] = []
    jira_configs: list[Any] = []
    rocketchat_configs: list[Any] = []
    incidentio_configs: list[Any] = []
    mattermost_configs: list[Any] = []

    def unsupported(self) -> list[str]:
        return [name for name in ALERTMANAGER_ONLY_INTEGRATIONS if getattr(self, name)]


# -- the ``notifications`` section (ours) --------------------------------------------------------------------
class RetryConfig(_Strict, kw_only=True, frozen=True):
    attempts: int = 5
    #: delays before each retry; the last repeats; each gets up to ``jitter`` of itself added or taken at random
    backoff: list[str | float] = msgspec.field(default_factory=lambda: ["1s", "2s", "4s", "8s", "16s"])
    jitter: float = 0.2
    #: the most a provider's Retry-After may delay a retry
    max_retry_after: str | float = "5m"

    def __post_init__(self) -> None:
        if self.attempts < 1:
            msg = "attempts: must be at least 1"
            raise ValueError(msg)
        if not self.backoff:
            msg = "backoff: must list at least one delay"
            raise ValueError(msg)
        for i, value in enumerate(self.backoff):
            seconds(f"backoff[{i}]", value, allow_zero=True)
        if not 0 <= self.jitter <= 1:
            msg = "jitter: must be in [0, 1]"
            raise ValueError(msg)
        seconds("max_retry_after", self.max_retry_after)

    def delays(self) -> list[float]:
        return [seconds("backoff", v, allow_zero=True) for v in self.backoff]


class BreakerConfig(_Strict, kw_only=True, frozen=True):
    failures: int = 5
    open_for: str | float = "60s"

    def __post_init__(self) -> None:
        if self.failures < 1:
            msg = "failures: must be at least 1"
            raise ValueError(msg)
        seconds("open_for", self.open_for)


class DeliveryPolicy(_Strict, kw_only=True, frozen=True):
    """How hard a page is tried: retries, per-channel attempts, the breaker, the worker's lease and polling."""

    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    #: attempts per channel where it differs from ``retry.attempts`` (seed: SMS 3)
    attempts: dict[Channel, int] = msgspec.field(default_factory=lambda: {Channel.SMS: 3})
    breaker: BreakerConfig = msgspec.field(default_factory=BreakerConfig)
    #: default throttles per channel (a recipient's own ``throttle`` wins)
    throttle: dict[Channel, ThrottleConfig] = msgspec.field(
        default_factory=lambda: {
            Channel.SLACK: ThrottleConfig(messages=1, per="1s"),
            Channel.SMS: ThrottleConfig(messages=6, per="1m"),
            Channel.VOICE: ThrottleConfig(messages=2, per="1m"),
        }
    )
    #: one send may take this long before it counts as a failure (a timeout is retried)
    timeout: str | float = "10s"
    #: a claimed page not marked done by then is claimed again (its worker died)
    lease: str | float = "60s"
    #: how often a worker looks for due pages when nothing woke it
    poll_interval: str | float = "1s"
    #: how many pages a worker claims at once
    batch: int = 100
    #: concurrent sends per instance
    concurrency: int = 32
    #: distributed mode: a published page not done by then is published again (JetStream lost it)
    redrive_after: str | float = "5m"

    def __post_init__(self) -> None:
        for name in ("timeout", "lease", "poll_interval", "redrive_after"):
            seconds(name, getattr(self, name))
        if seconds("timeout", self.timeout) >= seconds("lease", self.lease):
            msg = "timeout: must be shorter than lease (a send still running when its lease ends would be sent twice)"
            raise ValueError(msg)
        for channel, count in self.attempts.items():
            if count < 1:
                msg = f"attempts.{channel.value}: must be at least 1"
                raise ValueError(msg)
        if self.batch < 1 or self.concurrency < 1:
            msg = "batch: batch and concurrency must be at least 1"
            raise ValueError(msg)

    def attempts_for(self, channel: Channel) -> int:
        return self.attempts.get(channel, self.retry.attempts)


class JetStreamConfig(_Strict, kw_only=True, frozen=True):
    """Distributed mode's queue (``LIM_NATS_URL``): one work-queue stream, one durable pull consumer shared by
    every instance."""

    stream: str = "LIM_PAGES"
    #: pages are published on ``{subject}.{channel}``
    subject: str = "lim.pages"
    consumer: str = "lim-pages"
    #: the stream's replicas (a JetStream cluster keeps this many copies)
    replicas: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.replicas <= 5:
            msg = "replicas: must be 1 to 5"
            raise ValueError(msg)
        for name in ("stream", "consumer"):
            value = getattr(self, name)
            if not value or not all(c.isalnum() or c in "-_" for c in value):
                msg = f"{name}: {value!r} may hold only letters, digits, '-' and '_'"
                raise ValueError(msg)
        if not self.subject or any(c in self.subject for c in " *>") or self.subject.endswith("."):
            msg = f"subject: {self.subject!r} is not a subject prefix (e.g. lim.pages)"
            raise ValueError(msg)


class SlackAppConfig(_Strict, kw_only=True, frozen=True):
    """The Slack app: the bot token for Web API mode (when a ``slack_configs`` entry gives none in its
    ``http_config``), the signing secret that verifies button clicks, and the API base URL (GovSlack)."""

    bot_token: str | None = None
    bot_token_file: str | None = None
    signing_secret: str | None = None
    signing_secret_file: str | None = None
    api_url: str = "https://slack.com/api/"

    def __post_init__(self) -> None:
        _from_file(self, "bot_token")
        _from_file(self, "signing_secret")


class TwilioConfig(_Strict, kw_only=True, frozen=True):
    account_sid: str | None = None
    auth_token: str | None = None
    auth_token_file: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    #: Twilio's REST base URL (an edge location, or a local server in tests)
    api_url: str = "https://api.twilio.com"

    def __post_init__(self) -> None:
        _from_file(self, "auth_token")


class NotificationRule(_Strict, kw_only=True, frozen=True):
    """How a user wants to be paged: through ``via``, ``after`` the page (``0s``: at once); a delayed one is sent
    only while the incident is still unacknowledged."""

    via: Channel
    after: str | float = 0

    def __post_init__(self) -> None:
        if self.via not in (Channel.SLACK, Channel.EMAIL, Channel.SMS, Channel.VOICE):
            msg = f"via: {self.via.value!r} cannot reach a person (slack, email, sms, voice)"
            raise ValueError(msg)
        seconds("after", self.after, allow_zero=True)

    @property
    def delay(self) -> float:
        return seconds("after", self.after, allow_zero=True)


class UserConfig(_Strict, kw_only=True, frozen=True):
    """A responder: how chat, mail and phone identify them, and how they want to be paged by escalation levels
    that leave ``via`` out (``notification_rules``; without rules, the severity's channels)."""

    name: str
    email: str | None = None
    slack_user: str | None = None
    phone: str | None = None
    notification_rules: list[NotificationRule] = []
    #: the user's IANA time zone: their business hours (Mon-Fri 09:00 to 18:00) for medium pages by the severity matrix
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(self.time_zone)
        except (KeyError, ValueError):
            msg = f"time_zone: {self.time_zone!r} is not an IANA time zone (e.g. Europe/Berlin)"
            raise ValueError(msg) from None
        if self.phone is not None:
            digits = self.phone.removeprefix("+")
            if not self.phone.startswith("+") or not digits.isdigit() or not 6 <= len(digits) <= 15:
                msg = f"phone: {self.phone!r} is not a phone number in E.164 form (+15550001234)"
                raise ValueError(msg)


class NotificationsConfig(_Strict, kw_only=True, frozen=True):
    enabled: bool = True
    #: the receiver of the service's own incidents (dead letters); unset sends them to the root route's receiver
    self_monitoring_receiver: str | None = None
    #: the service's public URL: incident links and Twilio's callbacks point here
    public_url: str = "http://127.0.0.1:8080"
    delivery: DeliveryPolicy = msgspec.field(default_factory=DeliveryPolicy)
    jetstream: JetStreamConfig = msgspec.field(default_factory=JetStreamConfig)
    slack: SlackAppConfig = msgspec.field(default_factory=SlackAppConfig)
    twilio: TwilioConfig = msgspec.field(default_factory=TwilioConfig)
