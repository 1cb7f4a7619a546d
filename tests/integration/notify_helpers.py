"""Shared by the delivery tests: a service started in the test's own event loop on a configuration that
points every channel at the local provider fakes, with a delivery policy fast enough for tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import yaml

from llm_incident_manager.clock import Clock
from llm_incident_manager.config import Settings
from llm_incident_manager.configfile import FileConfig, parse_config
from llm_incident_manager.domain.alerts import Alert, EventAction, Severity
from llm_incident_manager.domain.incidents import AlertResult, TimelineEvent
from llm_incident_manager.domain.notifications import PageRecord
from llm_incident_manager.services import Services

T = TypeVar("T")

#: retries 50 ms then 100 ms apart, 3 attempts, breaker after 3 failures for 1 s, no throttle unless a test sets one
FAST: dict[str, Any] = {
    "retry": {"attempts": 3, "backoff": [0.05, 0.1], "jitter": 0},
    "breaker": {"failures": 3, "open_for": "1s"},
    "throttle": {},
    "poll_interval": "0.2s",
    "lease": "5s",
    "timeout": "2s",
}


def config(
    receivers: list[dict[str, Any]], root: str | None = None, route: dict[str, Any] | None = None, **notifications: Any
) -> FileConfig:
    """A configuration paging ``receivers`` (the root route to ``root`` or the first, with ``route``'s other keys)."""
    delivery = {**FAST, **notifications.pop("delivery", {})}
    doc = {
        "route": {"receiver": root or receivers[0]["name"], **(route or {})},
        "receivers": receivers,
        "notifications": {"public_url": "http://127.0.0.1:9", "delivery": delivery, **notifications},
    }
    return parse_config(yaml.safe_dump(doc), "test")


@asynccontextmanager
async def service(
    database_url: str, cfg: FileConfig, clock: Clock | None = None, **settings: Any
) -> AsyncIterator[Services]:
    services = await Services.start(Settings(database_url=database_url, **settings), config=cfg, clock=clock)
    try:
        yield services
    finally:
        await services.stop()


def alert(name: str, severity: Severity = Severity.CRITICAL, *, resolve: bool = False, **labels: str) -> Alert:
    labels = {"alertname": name, **labels}
    return Alert(
        title=f"{name} on {labels.get('service', 'chat')}",
        severity=severity,
        action=EventAction.RESOLVE if resolve else EventAction.TRIGGER,
        source="prometheus",
        integration="test",
        event_time=datetime.now(UTC),
        identity=labels,
        service=labels.get("service", "chat"),
        model=labels.get("model"),
        labels=labels,
        annotations={"runbook_url": "https://runbooks.example.com/gpu", "value": "0.93", "threshold": "0.8"},
    )


def unique(prefix: str = "a") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def ingest(services: Services, *alerts: Alert) -> list[AlertResult]:
    return await services.pipeline.ingest(list(alerts), datetime.now(UTC))


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 10.0, what: str = "it") -> T:  # noqa: ASYNC109
    """Polls ``check`` (a read of the store) until it returns something truthy; a condition, not a sleep."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: T | None = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.02)
    msg = f"timed out waiting for {what}; last saw {last!r}"
    raise TimeoutError(msg)


async def pages(services: Services, incident_id: str | None = None) -> list[PageRecord]:
    return (await services.store.list_pages(None, incident_id, None, 500)).items


async def timeline(services: Services, incident_id: str) -> list[TimelineEvent]:
    return (await services.store.list_timeline(incident_id, None, 500)).items


def slack_receiver(name: str, slack: Any, channel: str = "#ops", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "slack_configs": [
            {
                "api_url": f"{slack.api_url}chat.postMessage",
                "channel": channel,
                "http_config": {"authorization": {"credentials": slack.token}},
                **extra,
            }
        ],
    }


def email_config(smtp: Any, to: str = "oncall@example.com", **extra: Any) -> dict[str, Any]:
    return {"to": to, "from": "lim@example.com", "smarthost": f"{smtp.host}:{smtp.port}", "require_tls": False, **extra}


def settled(found: list[PageRecord]) -> bool:
    return bool(found) and all(p.state.value not in ("pending", "sending") for p in found)
