"""What a channel is given to send, what it answers, and the one protocol every channel implements.

A *page* (an outbox row) is one logical notification: one event of one incident for one recipient of one
integration. A *delivery* is what one send carries: usually one page, several when a throttle or a digest
coalesced what waited for the same recipient.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import msgspec

from llm_incident_manager.domain.incidents import Incident
from llm_incident_manager.notify.config import Channel, EventKind

__all__ = ["Delivery", "DeliveryError", "Notifier", "PageEvent", "Sent"]


class PageEvent(msgspec.Struct, kw_only=True):
    """One page: an event of an incident, with the incident as it is when the page is sent."""

    #: the outbox row's id
    id: str
    #: one logical page per (incident, step, recipient, channel): passed to providers that honour one
    idempotency_key: str
    kind: EventKind
    at: datetime
    incident: Incident
    #: the event's details: ``fingerprint``, ``title``, ``actor``, ``annotations`` of the alert that caused it
    #: (``runbook_url``, ``dashboard_url``, ``value``, ``threshold``, ``summary``...), ``from``/``to`` severities
    data: dict[str, Any] = {}
    #: 1 for the first try
    attempt: int = 1


class Delivery(msgspec.Struct, kw_only=True):
    """What one send carries. ``events`` holds one page, or several coalesced for one recipient (``digest`` is
    True when they were gathered on purpose for a digest rather than by a throttle)."""

    events: list[PageEvent]
    #: the incident's link base: ``{public_url}/api/v1/incidents/``
    incident_url: str
    digest: bool = False
    #: what an earlier send of this integration returned for this incident (Slack: the message's ``ts``), so a
    #: later event updates that message and replies in its thread; None when none was sent yet
    thread_ref: str | None = None
    #: the service's public URL (Twilio callbacks)
    public_url: str = ""


class Sent(msgspec.Struct, kw_only=True):
    """A provider accepted the send."""

    #: the provider's id of what it made (Slack ``ts``, Twilio ``SM...``/``CA...`` sid, SMTP message id)
    ref: str | None = None
    #: Slack: the ts of the incident's root message after this send (to keep for later updates)
    thread_ref: str | None = None
    status: int | None = None


class DeliveryError(Exception):
    """A send failed. ``retryable``: try again later (5xx, 408, 429, timeouts, connection errors); a 4xx other
    than 408/429 is final. ``retry_after``: the provider asked for this many seconds (429). ``disable``: the
    endpoint is gone for good (webhook 410)."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        disable: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.disable = disable

    @classmethod
    def from_status(cls, status: int, reason: str, retry_after: float | None = None) -> DeliveryError:
        """The conventional reading of an HTTP answer that is not a success."""
        retryable = status >= 500 or status in (408, 429)
        return cls(reason, retryable=retryable, status=status, retry_after=retry_after, disable=status == 410)


class Notifier(Protocol):
    """One recipient of one integration (a Slack channel, an email ``to``, a phone number, a webhook URL)."""

    channel: Channel
    #: who receives: ``#ops``, ``oncall@example.com``, ``+15550001``, ``https://hooks.example.com/x``; the
    #: throttle and the breaker key on it (with the channel), and it is shown on the timeline, never a secret
    recipient: str
    #: the provider's endpoint (its base URL); the circuit breaker keys on (channel, endpoint)
    endpoint: str

    async def send(self, delivery: Delivery) -> Sent:
        """Sends; raises DeliveryError on failure (and only that: anything else is treated as retryable)."""
        ...

    async def close(self) -> None: ...


def parse_retry_after(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC

    return max(0.0, (when - datetime.now(UTC)).total_seconds())
