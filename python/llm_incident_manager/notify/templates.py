"""What a notification says, per channel and severity: Slack blocks, email, SMS, voice, the webhook body.

Every renderer starts from :func:`facts`, which reads what is worth telling from a page (the incident, the event's
``data`` and ``annotations``, the incident's labels) and is the one place secrets are removed: labels, annotations
and data keys that name a secret (:func:`is_secret_key`) are dropped, and every string that is rendered goes through
:func:`scrub`, which masks what looks like a credential (Slack and OpenAI tokens, ``Bearer ...``, AWS key ids, ...).
The webhook body applies the same two rules to its encoded JSON in one Rust call per delivery
(``_core.redact_json``); :func:`clean` applies them to a tree of Python values.

Alertmanager's Go templates (``title``, ``text``, ``html`` in a receiver) are not evaluated: these are the messages.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from llm_incident_manager import _core
from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.incidents import Incident, IncidentStatus
from llm_incident_manager.notify.config import EventKind
from llm_incident_manager.notify.model import Delivery, PageEvent

__all__ = [
    "ACK_ACTION",
    "RESOLVE_ACTION",
    "STYLES",
    "WEBHOOK_SCHEMA_VERSION",
    "EmailMessageParts",
    "Facts",
    "SeverityStyle",
    "SlackMessage",
    "clean",
    "delivery_key",
    "email_digest",
    "email_message",
    "facts",
    "fit_sms",
    "follow_up",
    "is_gsm7",
    "is_secret_key",
    "latest",
    "scrub",
    "slack_digest",
    "slack_follow_up",
    "slack_message",
    "slack_summary",
    "sms_segments",
    "sms_text",
    "truncate",
    "voice_speech",
    "webhook_body",
]

ACK_ACTION = "lim_ack"
RESOLVE_ACTION = "lim_resolve"
WEBHOOK_SCHEMA_VERSION = "1"


# -- severities ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SeverityStyle:
    name: str
    #: SMS and subject prefix
    tag: str
    #: Slack emoji
    emoji: str
    #: HTML colour (email) and Slack-compatible hex
    colour: str
    #: what it asks of the reader
    wording: str
    #: how the voice call says it
    spoken: str


STYLES: dict[Severity, SeverityStyle] = {
    Severity.CRITICAL: SeverityStyle(
        "CRITICAL", "[CRIT]", ":red_circle:", "#D32F2F", "Critical: immediate action required", "Critical"
    ),
    Severity.HIGH: SeverityStyle("HIGH", "[HIGH]", ":large_orange_circle:", "#F57C00", "High: act now", "High"),
    Severity.MEDIUM: SeverityStyle(
        "MEDIUM", "[MED]", ":large_yellow_circle:", "#FBC02D", "Medium: investigate soon", "Medium"
    ),
    Severity.LOW: SeverityStyle("LOW", "[LOW]", ":large_blue_circle:", "#1976D2", "Low: when convenient", "Low"),
    Severity.INFO: SeverityStyle("INFO", "[INFO]", ":white_circle:", "#757575", "Info: for your information", "Info"),
}

_RANK = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3, Severity.INFO: 4}

_KIND_PREFIX = {
    EventKind.TRIGGERED: "",
    EventKind.ALERT_ADDED: "Alert added: ",
    EventKind.SEVERITY_RAISED: "Severity raised: ",
    EventKind.REFIRED: "Fired again: ",
    EventKind.ACKNOWLEDGED: "Acknowledged: ",
    EventKind.RESOLVED: "Resolved: ",
}


# -- secrets -------------------------------------------------------------------------------------------------------
# Both rules run in the Rust extension (rust/src/redact.rs holds the patterns; pipeline/reference.py keeps their
# Python form as the reference, and tests/unit/test_redact.py checks on generated texts that both agree). In Python
# they were six regular-expression passes per string, the longest stretch of the event loop's work in a burst of
# deliveries (docs/performance.md); in Rust a string without a credential costs one scan (benchmarks/test_redact.py:
# an alert's strings 28 times faster).


def is_secret_key(key: str) -> bool:
    """Whether a label, annotation or data key names a secret (``api_key``, ``X-Session``, ``password``, ...)."""
    return _core.is_secret_key(key)


def scrub(text: str) -> str:
    """``text`` with whatever looks like a credential replaced by ``[redacted]`` (Slack, OpenAI/Anthropic, Stripe,
    AWS, GitHub, GitLab, Google, Hugging Face and SendGrid tokens, JWTs, PEM private keys, ``Bearer ...``,
    ``Authorization: ...``, ``password=...``, ``?token=...`` and ``user:password@`` in URLs). A lone surrogate (not
    UTF-8, so not something Rust can read) becomes ``?`` first."""
    try:
        return _core.scrub(text)
    except UnicodeEncodeError:
        return _core.scrub(text.encode("utf-8", "replace").decode("utf-8"))


def clean(value: Any, _depth: int = 0) -> Any:
    """A JSON-able tree without secret keys and with every string scrubbed."""
    if _depth > 32:
        return None
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {str(k): clean(v, _depth + 1) for k, v in value.items() if not is_secret_key(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        return [clean(v, _depth + 1) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))


def _clean_labels(labels: Mapping[str, Any]) -> dict[str, str]:
    return {k: scrub(str(v)) for k, v in labels.items() if not is_secret_key(k)}


# -- what a page tells ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Facts:
    """What the renderers show of one page, every string already scrubbed."""

    kind: EventKind
    incident_id: str
    title: str
    severity: Severity
    style: SeverityStyle
    status: IncidentStatus
    service: str | None
    #: ``gpt-4o 2024-08-06 (openai)``
    model: str | None
    #: ``prod / us-east-1``
    where: str | None
    metric: str | None
    value: str | None
    threshold: str | None
    alert_count: int
    description: str | None
    runbook: str | None
    dashboard: str | None
    url: str
    actor: str | None
    labels: dict[str, str]
    #: the one-line account of the event (a Slack thread reply)
    follow_up: str

    @property
    def resolved(self) -> bool:
        return self.status is IncidentStatus.RESOLVED

    @property
    def metric_line(self) -> str | None:
        """``latency_p99_seconds = 4.2 (threshold 2)``."""
        if self.value is None and self.threshold is None:
            return None
        name = f"{self.metric} = " if self.metric else ""
        if self.value is not None and self.threshold is not None:
            return f"{name}{self.value} (threshold {self.threshold})"
        if self.value is not None:
            return f"{name}{self.value}"
        return f"{self.metric + ' ' if self.metric else ''}threshold {self.threshold}"


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        text = str(value).strip()
        return scrub(text) if text else None
    return None


def _lookup(event: PageEvent, labels: Mapping[str, str], *keys: str) -> str | None:
    """The first of ``keys`` in the event's data, its annotations, its labels, then the incident's labels."""
    data = event.data
    places: list[Mapping[str, Any]] = [data]
    for nested in ("annotations", "labels"):
        inner = data.get(nested)
        if isinstance(inner, Mapping):
            places.append(inner)
    places.append(labels)
    for key in keys:
        for place in places:
            found = _scalar(place.get(key))
            if found is not None:
                return found
    return None


def _model_line(incident: Incident) -> str | None:
    parts = [scrub(p) for p in (incident.model, incident.model_version) if p]
    line = " ".join(parts)
    if incident.provider:
        provider = scrub(incident.provider)
        line = f"{line} ({provider})" if line else provider
    return line or None


def follow_up(kind: EventKind, event: PageEvent, actor: str | None) -> str:
    """The one line that tells what happened (the Slack thread reply, the email's opening line)."""
    incident = event.incident
    title = _scalar(event.data.get("title")) or scrub(incident.title)
    if kind is EventKind.TRIGGERED:
        return f"Incident opened ({incident.severity.value}): {title}"
    if kind is EventKind.ALERT_ADDED:
        return f"Alert added: {title} ({incident.alert_count} alerts)"
    if kind is EventKind.SEVERITY_RAISED:
        old = _scalar(event.data.get("from"))
        new = _scalar(event.data.get("to")) or incident.severity.value
        return f"Severity raised{f' from {old}' if old else ''} to {new}"
    if kind is EventKind.ACKNOWLEDGED:
        return f"Acknowledged by {actor}" if actor else "Acknowledged"
    if kind is EventKind.RESOLVED:
        return f"Resolved by {actor}" if actor else "Resolved"
    return f"Fired again: {title}"


_FOLLOW_UP_EMOJI = {
    EventKind.ALERT_ADDED: ":heavy_plus_sign:",
    EventKind.REFIRED: ":repeat:",
    EventKind.ACKNOWLEDGED: ":eyes:",
    EventKind.RESOLVED: ":white_check_mark:",
}


def facts(event: PageEvent, incident_url: str) -> Facts:
    incident = event.incident
    labels = _clean_labels(incident.labels)
    where = " / ".join(scrub(p) for p in (incident.env, incident.region) if p) or None
    actor = _scalar(event.data.get("actor"))
    if actor is None and event.kind is EventKind.ACKNOWLEDGED and incident.acknowledged_by:
        actor = scrub(incident.acknowledged_by)
    if actor is None and event.kind is EventKind.RESOLVED and incident.resolved_by:
        actor = scrub(incident.resolved_by)
    description = scrub(incident.description) if incident.description else None
    description = description or _lookup(event, labels, "summary", "description")
    return Facts(
        kind=event.kind,
        incident_id=incident.id,
        title=scrub(incident.title),
        severity=incident.severity,
        style=STYLES[incident.severity],
        status=incident.status,
        service=scrub(incident.service) if incident.service else None,
        model=_model_line(incident),
        where=where,
        metric=_lookup(event, labels, "metric", "alertname"),
        value=_lookup(event, labels, "value"),
        threshold=_lookup(event, labels, "threshold"),
        alert_count=incident.alert_count,
        description=description,
        runbook=_lookup(event, labels, "runbook_url", "runbook"),
        dashboard=_lookup(event, labels, "dashboard_url", "dashboard"),
        url=f"{incident_url}{incident.id}",
        actor=actor,
        labels=labels,
        follow_up=follow_up(event.kind, event, actor),
    )


def latest(events: Sequence[PageEvent]) -> PageEvent:
    """The event carrying the newest state of its incident (the last of equals)."""
    return max(reversed(events), key=lambda e: (e.incident.updated_at, e.at))


def _latest_per_incident(events: Sequence[PageEvent]) -> list[tuple[PageEvent, list[PageEvent]]]:
    """The events grouped by incident, most severe first (then in order of appearance): the latest event of each
    and all of them."""
    groups: dict[str, list[PageEvent]] = {}
    for event in events:
        groups.setdefault(event.incident.id, []).append(event)
    out = [(latest(group), group) for group in groups.values()]
    out.sort(key=lambda pair: _RANK[pair[0].incident.severity])
    return out


def delivery_key(delivery: Delivery) -> str:
    """The idempotency key of a send: the page's, or ``coalesced_`` + a hash of the sorted keys of all."""
    keys = sorted({e.idempotency_key for e in delivery.events})
    if len(keys) == 1:
        return keys[0]
    return "coalesced_" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ellipsis))].rstrip() + ellipsis


# -- Slack ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SlackMessage:
    text: str
    blocks: list[dict[str, Any]]


def _mrkdwn(text: str) -> str:
    """Slack's three control characters escaped (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str | None, label: str) -> str:
    if not url:
        return _mrkdwn(label)
    if url.startswith(("https://", "http://")):
        return f"<{_mrkdwn(url).replace('|', '%7C')}|{_mrkdwn(label)}>"
    return f"{_mrkdwn(label)}: {_mrkdwn(url)}"


def _slack_links(f: Facts) -> str:
    links = [_slack_link(f.url, f"Incident {f.incident_id}")]
    if f.runbook:
        links.append(_slack_link(f.runbook, "Runbook"))
    if f.dashboard:
        links.append(_slack_link(f.dashboard, "Dashboard"))
    return " · ".join(links)


def _field(name: str, value: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(f"*{name}*\n{_mrkdwn(value)}", 2000)}


def _slack_fields(f: Facts) -> list[dict[str, Any]]:
    fields = [_field("Severity", f.style.name.lower()), _field("Status", f.status.value)]
    if f.service:
        fields.append(_field("Service", f.service))
    if f.model:
        fields.append(_field("Model", f.model))
    if f.where:
        fields.append(_field("Env / Region", f.where))
    if f.metric_line:
        fields.append(_field("Metric", f.metric_line))
    fields.append(_field("Alerts", str(f.alert_count)))
    if f.actor and f.kind in (EventKind.ACKNOWLEDGED, EventKind.RESOLVED):
        fields.append(_field("By", f.actor))
    return fields[:10]


def _fallback(f: Facts) -> str:
    service = f" ({f.service})" if f.service else ""
    return truncate(f"{f.style.emoji} [{f.style.name}] {_KIND_PREFIX[f.kind]}{f.title}{service}: {f.status}", 3000)


def _header(f: Facts) -> str:
    """``:red_circle: [CRITICAL] title``; ``[CRITICAL · ACKNOWLEDGED]``; resolved: a check mark."""
    if f.status is IncidentStatus.RESOLVED:
        return f":white_check_mark: [{f.style.name} · RESOLVED] {f.title}"
    if f.status is IncidentStatus.ACKNOWLEDGED:
        return f"{f.style.emoji} [{f.style.name} · ACKNOWLEDGED] {f.title}"
    return f"{f.style.emoji} [{f.style.name}] {f.title}"


def slack_message(delivery: Delivery, *, buttons: bool = True) -> SlackMessage:
    """The incident's message (the thread root): its current state, the last event of the delivery's."""
    event = latest(delivery.events)
    f = facts(event, delivery.incident_url)
    header = truncate(_one_line(_header(f)), 150)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "fields": _slack_fields(f)},
    ]
    if f.description:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": truncate(_mrkdwn(f.description), 3000)}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(_slack_links(f), 3000)}]})
    if buttons and not f.resolved:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"lim_actions:{f.incident_id}"[:255],
                "elements": [
                    {
                        "type": "button",
                        "action_id": ACK_ACTION,
                        "text": {"type": "plain_text", "text": "Acknowledge", "emoji": True},
                        "value": f.incident_id,
                        "style": "primary",
                    },
                    {
                        "type": "button",
                        "action_id": RESOLVE_ACTION,
                        "text": {"type": "plain_text", "text": "Resolve", "emoji": True},
                        "value": f.incident_id,
                    },
                ],
            }
        )
    return SlackMessage(text=_fallback(f), blocks=blocks)


def _slack_line(f: Facts) -> str:
    return f"{_FOLLOW_UP_EMOJI.get(f.kind, f.style.emoji)} {_mrkdwn(f.follow_up)}"


def slack_follow_up(delivery: Delivery) -> str:
    """The thread reply of a delivery to an incident's thread: one line per event (alert added, severity raised,
    acknowledged by X, resolved by X, fired again)."""
    lines = [_slack_line(facts(e, delivery.incident_url)) for e in delivery.events]
    return truncate("\n".join(lines), 3000)


def _slack_incident_section(latest: PageEvent, group: Sequence[PageEvent], incident_url: str, *, why: bool) -> str:
    f = facts(latest, incident_url)
    details = [f.style.name.lower(), f.status.value]
    details += [x for x in (f.service, f.model, f.where, f.metric_line) if x]
    details.append(f"{f.alert_count} alert{'s' if f.alert_count != 1 else ''}")
    lines = [f"{f.style.emoji} *{_slack_link(f.url, f.title)}*", _mrkdwn(" · ".join(details))]
    if why:
        lines += [_slack_line(facts(e, incident_url)) for e in group]
    return truncate("\n".join(lines), 3000)


def _slack_list(delivery: Delivery, heading: str, *, why: bool) -> SlackMessage:
    groups = _latest_per_incident(delivery.events)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": heading, "emoji": True}}]
    shown = groups[:45]
    for latest, group in shown:
        text = _slack_incident_section(latest, group, delivery.incident_url, why=why)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if len(groups) > len(shown):
        more = f"…and {len(groups) - len(shown)} more"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    lines = [heading] + [
        f"[{STYLES[latest.incident.severity].name}] {scrub(latest.incident.title)}" for latest, _ in groups
    ]
    return SlackMessage(text=truncate("\n".join(lines), 3000), blocks=blocks)


def _counts(groups: Sequence[tuple[PageEvent, list[PageEvent]]]) -> str:
    by: dict[Severity, int] = {}
    for latest, _ in groups:
        by[latest.incident.severity] = by.get(latest.incident.severity, 0) + 1
    return ", ".join(f"{n} {sev.value}" for sev, n in sorted(by.items(), key=lambda kv: _RANK[kv[0]]))


def slack_digest(delivery: Delivery) -> SlackMessage:
    """Several incidents in one message (no buttons: each incident links to itself)."""
    groups = _latest_per_incident(delivery.events)
    n = len(groups)
    heading = f":bell: Digest: {n} incident{'s' if n != 1 else ''} ({_counts(groups)})"
    return _slack_list(delivery, heading, why=False)


def slack_summary(delivery: Delivery) -> SlackMessage:
    """What a coalesced delivery (several events, throttled) or a digest says in one message."""
    if delivery.digest:
        return slack_digest(delivery)
    groups = _latest_per_incident(delivery.events)
    n = len(delivery.events)
    heading = f":bell: {n} update{'s' if n != 1 else ''} on {len(groups)} incident{'s' if len(groups) != 1 else ''}"
    return _slack_list(delivery, heading, why=True)


# -- email ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EmailMessageParts:
    subject: str
    text: str
    html: str


def _email_rows(f: Facts) -> list[tuple[str, str]]:
    rows = [("Severity", f.style.wording), ("Status", f.status.value)]
    rows += [(k, v) for k, v in (("Service", f.service), ("Model", f.model), ("Env / Region", f.where)) if v]
    if f.metric_line:
        rows.append(("Metric", f.metric_line))
    rows.append(("Alerts", str(f.alert_count)))
    if f.actor and f.kind in (EventKind.ACKNOWLEDGED, EventKind.RESOLVED):
        rows.append(("By", f.actor))
    return rows


def _email_links(f: Facts) -> list[tuple[str, str]]:
    links = [("Incident", f.url)]
    if f.runbook:
        links.append(("Runbook", f.runbook))
    if f.dashboard:
        links.append(("Dashboard", f.dashboard))
    return links


def _a(url: str, label: str) -> str:
    if url.startswith(("https://", "http://")):
        return f'<a href="{html.escape(url, quote=True)}">{html.escape(label)}</a>'
    return f"{html.escape(label)}: {html.escape(url)}"


def _subject(text: str) -> str:
    return truncate(_one_line(text), 200)


def email_message(delivery: Delivery) -> EmailMessageParts:
    """The email of a delivery: one incident (the last event's state, every event's line), or a digest."""
    if len({e.incident.id for e in delivery.events}) > 1 or delivery.digest:
        return email_digest(delivery)
    event = latest(delivery.events)
    f = facts(event, delivery.incident_url)
    service = f" ({f.service})" if f.service else ""
    subject = _subject(f"{f.style.tag} {_KIND_PREFIX[f.kind]}{f.title}{service}")
    whats = [facts(e, delivery.incident_url).follow_up for e in delivery.events]
    rows = _email_rows(f)
    links = _email_links(f)
    width = max(len(k) for k, _ in rows + links)
    text_lines = [f"[{f.style.name}] {f.title}", "", *whats, ""]
    text_lines += [f"{k + ':':<{width + 1}} {v}" for k, v in rows]
    if f.description:
        text_lines += ["", f.description]
    if f.labels:
        text_lines += ["", "Labels:"] + [f"  {k}={v}" for k, v in sorted(f.labels.items())]
    text_lines += [""] + [f"{k + ':':<{width + 1}} {v}" for k, v in links]
    text_lines += ["", "-- ", "llm-incident-manager"]

    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html><body style="font-family: sans-serif">',
        f'<div style="border-left: 6px solid {f.style.colour}; padding-left: 12px">',
        f'<h2 style="margin: 0 0 8px 0"><span style="color: {f.style.colour}">[{esc(f.style.name)}]</span> '
        f"{esc(f.title)}</h2>",
    ]
    parts += [f"<p>{esc(w)}</p>" for w in whats]
    parts.append('<table cellpadding="4" style="border-collapse: collapse">')
    parts += [f'<tr><th align="left">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in rows]
    parts.append("</table>")
    if f.description:
        parts.append(f"<p>{esc(f.description)}</p>")
    if f.labels:
        items = "".join(f"<li><code>{esc(k)}={esc(v)}</code></li>" for k, v in sorted(f.labels.items()))
        parts.append(f"<p>Labels:</p><ul>{items}</ul>")
    parts.append("<p>" + " · ".join(_a(url, label) for label, url in links) + "</p>")
    parts += ["</div>", "</body></html>"]
    return EmailMessageParts(subject=subject, text="\n".join(text_lines) + "\n", html="\n".join(parts) + "\n")


def email_digest(delivery: Delivery) -> EmailMessageParts:
    """Several incidents in one email, most severe first."""
    groups = _latest_per_incident(delivery.events)
    n = len(groups)
    label = "Digest" if delivery.digest else "Updates"
    subject = _subject(f"[{label}] {n} incident{'s' if n != 1 else ''} ({_counts(groups)})")
    esc = html.escape
    text_lines = [f"{label}: {n} incident{'s' if n != 1 else ''}", ""]
    parts = [
        "<!DOCTYPE html>",
        '<html><body style="font-family: sans-serif">',
        f"<h2>{esc(label)}: {n} incident{'s' if n != 1 else ''}</h2>",
        '<table cellpadding="4" style="border-collapse: collapse">',
        '<tr><th align="left">Severity</th><th align="left">Incident</th><th align="left">Status</th>'
        '<th align="left">Service</th><th align="left">Model</th><th align="left">Alerts</th></tr>',
    ]
    for latest, group in groups:
        f = facts(latest, delivery.incident_url)
        text_lines.append(f"{f.style.tag} {f.title}")
        details = [f"status {f.status.value}"] + [x for x in (f.service, f.model, f.where, f.metric_line) if x]
        details.append(f"{f.alert_count} alert{'s' if f.alert_count != 1 else ''}")
        text_lines.append("    " + " · ".join(details))
        if not delivery.digest:
            text_lines += ["    " + facts(e, delivery.incident_url).follow_up for e in group]
        text_lines.append(f"    {f.url}")
        if f.runbook:
            text_lines.append(f"    Runbook: {f.runbook}")
        text_lines.append("")
        links = " · ".join(_a(url, label) for label, url in _email_links(f)[1:])
        parts.append(
            f'<tr><td style="color: {f.style.colour}"><b>{esc(f.style.name)}</b></td>'
            f"<td>{_a(f.url, f.title)}{'<br>' + links if links else ''}</td><td>{esc(f.status.value)}</td>"
            f"<td>{esc(f.service or '')}</td><td>{esc(f.model or '')}</td><td>{f.alert_count}</td></tr>"
        )
    text_lines += ["-- ", "llm-incident-manager"]
    parts += ["</table>", "</body></html>"]
    return EmailMessageParts(subject=subject, text="\n".join(text_lines) + "\n", html="\n".join(parts) + "\n")


# -- SMS -----------------------------------------------------------------------------------------------------------
# The GSM 03.38 default alphabet (3GPP TS 23.038) and its extension table (two septets each: ESC + char). Written
# out here rather than taken from a library: it is a fixed table of 138 characters, and the segment arithmetic
# around it is a dozen lines, smaller than a dependency (none on PyPI is small, typed and maintained for this).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
SMS_MAX_SEGMENTS = 2


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 alphabet or its extension (else the SMS goes as UCS-2)."""
    return all(c in _GSM7_BASIC or c in _GSM7_EXTENSION for c in text)


def sms_segments(text: str) -> int:
    """How many SMS segments ``text`` takes: GSM-7 160 single / 153 per concatenated segment (extension chars
    count twice), else UCS-2 70 / 67 UTF-16 units; a two-unit character never straddles two segments."""
    if is_gsm7(text):
        units = [2 if c in _GSM7_EXTENSION else 1 for c in text]
        single, multi = 160, 153
    else:
        units = [2 if ord(c) > 0xFFFF else 1 for c in text]
        single, multi = 70, 67
    if sum(units) <= single:
        return 1
    segments, used = 1, 0
    for u in units:
        if used + u > multi:
            segments, used = segments + 1, 0
        used += u
    return segments


def fit_sms(head: str, body: str, tail: str = "", max_segments: int = SMS_MAX_SEGMENTS) -> str:
    """``head + body + tail`` within ``max_segments``, ``body`` truncated with an ellipsis when it must be
    (``...`` when the rest is GSM-7, so one ``…`` does not turn the whole message into UCS-2; else ``…``);
    ``tail`` is dropped when even an empty body cannot keep it."""
    full = head + body + tail
    if sms_segments(full) <= max_segments:
        return full
    ellipsis = "..." if is_gsm7(full) else "…"
    for suffix in (tail, ""):
        if sms_segments(head + ellipsis + suffix) > max_segments:
            continue
        lo, hi = 0, len(body)
        while lo < hi:  # the longest prefix that fits
            mid = (lo + hi + 1) // 2
            if sms_segments(head + body[:mid].rstrip() + ellipsis + suffix) <= max_segments:
                lo = mid
            else:
                hi = mid - 1
        return head + body[:lo].rstrip() + ellipsis + suffix
    return truncate(head, 60)


def sms_text(delivery: Delivery) -> str:
    """One SMS of at most two segments: ``[CRIT] title · service · model https://.../incidents/ID``."""
    groups = _latest_per_incident(delivery.events)
    if len(groups) == 1:
        event = latest(delivery.events)
        f = facts(event, delivery.incident_url)
        head = f"{f.style.tag} {_KIND_PREFIX[f.kind]}"
        details = "".join(f" | {x}" for x in (f.service, f.model, f.metric_line) if x)
        if len(delivery.events) > 1:
            details += f" ({len(delivery.events)} updates)"
        return fit_sms(head, _one_line(f.title + details), " " + f.url)
    top = STYLES[groups[0][0].incident.severity]
    head = f"{top.tag} {len(groups)} incidents: "
    body = "; ".join(
        f"{STYLES[latest.incident.severity].tag} {scrub(latest.incident.title)}"
        + (f" ({scrub(latest.incident.service)})" if latest.incident.service else "")
        for latest, _ in groups
    )
    return fit_sms(head, _one_line(body))


# -- voice ---------------------------------------------------------------------------------------------------------
_URL = re.compile(r"https?://\S+")


def _speakable(text: str) -> str:
    text = _URL.sub("", text)
    text = re.sub(r"[_*`#<>|{}\[\]~^]+", " ", text)
    return _one_line(text)


def voice_speech(delivery: Delivery) -> str:
    """Plain words for text-to-speech: severity, title, service, model, and how to acknowledge."""
    groups = _latest_per_incident(delivery.events)
    sentences: list[str] = []
    if len(groups) > 1:
        sentences.append(f"{len(groups)} incidents need attention.")
    for latest, _ in groups[:5]:
        f = facts(latest, delivery.incident_url)
        verb = {
            EventKind.RESOLVED: "resolved",
            EventKind.ACKNOWLEDGED: "acknowledged",
            EventKind.SEVERITY_RAISED: "raised to " + f.style.spoken.lower(),
            EventKind.REFIRED: "firing again",
        }.get(f.kind)
        opening = f"{f.style.spoken} incident" + (f", {verb}" if verb else "")
        sentences.append(f"{opening}: {truncate(_speakable(f.title), 200, '')}.")
        if f.service:
            sentences.append(f"Service {_speakable(f.service)}.")
        if f.model:
            sentences.append(f"Model {_speakable(f.model)}.")
    if len(groups) > 5:
        sentences.append(f"And {len(groups) - 5} more.")
    if any(latest.incident.status is not IncidentStatus.RESOLVED for latest, _ in groups):
        sentences.append("Press 1 to acknowledge.")
    return " ".join(sentences)


# -- webhook -------------------------------------------------------------------------------------------------------
_encode = msgspec.json.Encoder(enc_hook=str)


def webhook_body(delivery: Delivery) -> bytes:
    """The webhook's JSON (schema version 1)::

    {"version": "1", "digest": false, "events": [{"type": "incident.triggered", "id": "<page id>",
      "idempotency_key": "...", "at": "<RFC 3339>", "attempt": 1, "url": "<incident link>",
      "incident": {<Incident fields>}, "data": {<event details>}}]}

    Secret-named keys are absent and credential-looking strings masked, in ``incident`` and ``data`` alike: each
    is encoded by msgspec and redacted by one Rust call for the whole delivery, then embedded as it is.
    """
    events = delivery.events
    parts = [_encode.encode(e.incident) for e in events] + [_encode.encode(e.data) for e in events]
    clean_parts = _core.redact_json(parts)
    n = len(events)
    body = [
        {
            "type": f"incident.{e.kind.value}",
            "id": e.id,
            "idempotency_key": e.idempotency_key,
            "at": e.at.isoformat(),
            "attempt": e.attempt,
            "url": f"{delivery.incident_url}{e.incident.id}",
            "incident": msgspec.Raw(clean_parts[i]),
            "data": msgspec.Raw(clean_parts[n + i]),
        }
        for i, e in enumerate(events)
    ]
    return _encode.encode({"version": WEBHOOK_SCHEMA_VERSION, "digest": delivery.digest, "events": body})
