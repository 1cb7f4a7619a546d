"""PagerDuty's Events API v2: one alert per incident (``dedup_key`` = the incident id), triggered, acknowledged and
resolved as the incident is. The v1 ``service_key`` integration is not supported (``build_targets`` says so)."""

from __future__ import annotations

from typing import Any

import msgspec

from llm_incident_manager.notify import templates
from llm_incident_manager.notify.channels.webhook import USER_AGENT, HttpPoster, endpoint_of
from llm_incident_manager.notify.config import Channel, EventKind, HTTPConfig, PagerDutyConfig
from llm_incident_manager.notify.model import Delivery, DeliveryError, PageEvent, Sent

__all__ = ["DEFAULT_EVENTS_URL", "PagerDutyNotifier", "pagerduty_event"]

DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"

_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info", "info": "info"}
_PD_SEVERITIES = frozenset(("critical", "error", "warning", "info"))
_ACTION = {
    EventKind.TRIGGERED: "trigger",
    EventKind.ALERT_ADDED: "trigger",
    EventKind.SEVERITY_RAISED: "trigger",
    EventKind.REFIRED: "trigger",
    EventKind.ACKNOWLEDGED: "acknowledge",
    EventKind.RESOLVED: "resolve",
}


def _literal(value: str | None) -> str | None:
    """A configured value, unless it is an Alertmanager Go template (not evaluated here)."""
    return value if value and "{{" not in value else None


def pagerduty_event(
    event: PageEvent, routing_key: str, incident_url: str, config: PagerDutyConfig | None = None
) -> dict[str, Any]:
    """The Events API v2 body of one page."""
    action = _ACTION[event.kind]
    incident = event.incident
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": incident.id}
    if action != "trigger":
        return body
    f = templates.facts(event, incident_url)
    configured_severity = _literal(config.severity if config else None)
    severity = configured_severity if configured_severity in _PD_SEVERITIES else _SEVERITY[incident.severity.value]
    details: dict[str, Any] = {
        "status": f.status.value,
        "severity": incident.severity.value,
        "service": f.service,
        "model": templates.scrub(incident.model) if incident.model else None,
        "model_version": templates.scrub(incident.model_version) if incident.model_version else None,
        "provider": templates.scrub(incident.provider) if incident.provider else None,
        "env": templates.scrub(incident.env) if incident.env else None,
        "region": templates.scrub(incident.region) if incident.region else None,
        "node": templates.scrub(incident.node) if incident.node else None,
        "alert_count": f.alert_count,
        "metric": f.metric,
        "value": f.value,
        "threshold": f.threshold,
        "description": f.description,
        "event": f.follow_up,
        "labels": f.labels,
    }
    if config is not None and config.details:
        literal = {k: v for k, v in config.details.items() if not (isinstance(v, str) and "{{" in v)}
        details.update(templates.clean(literal))
    payload: dict[str, Any] = {
        "summary": templates.truncate(f"[{f.style.name}] {f.title}", 1024),
        "source": _literal(config.source if config else None)
        or f.service
        or templates.scrub(incident.source)
        or "llm-incident-manager",
        "severity": severity,
        "timestamp": event.at.isoformat(),
        "custom_details": {k: v for k, v in details.items() if v not in (None, "", {})},
    }
    component = _literal(config.component if config else None) or f.model
    group = _literal(config.group if config else None) or f.service
    klass = _literal(config.class_ if config else None) or f.metric
    payload.update({k: v for k, v in (("component", component), ("group", group), ("class", klass)) if v})
    links = [{"href": f.url, "text": f"Incident {incident.id}"}]
    for label, url in (("Runbook", f.runbook), ("Dashboard", f.dashboard)):
        if url and url.startswith(("https://", "http://")):
            links.append({"href": url, "text": label})
    body.update(
        payload=payload,
        links=links,
        client=_literal(config.client if config else None) or "llm-incident-manager",
        client_url=_literal(config.client_url if config else None) or f.url,
    )
    return body


class PagerDutyNotifier:
    """One Events API v2 integration (routing key); each page of a delivery is one event, in order."""

    def __init__(
        self,
        *,
        routing_key: str,
        url: str = DEFAULT_EVENTS_URL,
        timeout: float,
        config: PagerDutyConfig | None = None,
        http_config: HTTPConfig | None = None,
    ) -> None:
        self.channel = Channel.PAGERDUTY
        # the routing key is a secret: the recipient shows its last four characters only
        self.recipient = f"routing_key:…{routing_key[-4:]}"
        self.endpoint = endpoint_of(url)
        self.url = url
        self.routing_key = routing_key
        self.config = config
        self._http = HttpPoster(
            name="pagerduty",
            timeout=timeout,
            tls=http_config.tls_config if http_config is not None else None,
            proxy=http_config.proxy_url if http_config is not None else None,
        )

    async def send(self, delivery: Delivery) -> Sent:
        if not delivery.events:
            raise DeliveryError("pagerduty: nothing to send", retryable=False)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        status = None
        for event in delivery.events:
            body = pagerduty_event(event, self.routing_key, delivery.incident_url, self.config)
            status, _ = await self._http.post(self.url, msgspec.json.encode(body), headers)
        return Sent(ref=delivery.events[-1].incident.id, status=status)

    async def close(self) -> None:
        await self._http.close()
