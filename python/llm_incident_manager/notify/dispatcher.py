"""Sends claimed pages: throttle, circuit breaker, retries, fallback, dead letters, and the timeline of every
attempt. One code path for both modes: embedded mode claims due pages from the outbox itself
(``run_embedded``); distributed mode gets page ids from NATS JetStream (``notify.jetstream``) and claims those.

A page is claimed in the store before its send and its outcome written after, so a worker that dies between
the provider's success and the done mark leaves the page claimed; when its lease runs out another worker sends it
again (at least once), with the same idempotency key, which providers that honour one use to drop the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from llm_incident_manager.clock import Clock, SystemClock
from llm_incident_manager.domain.incidents import Incident, IncidentStatus
from llm_incident_manager.domain.notifications import PageOutcome, PageRecord, PageState
from llm_incident_manager.notify.channels import Target
from llm_incident_manager.notify.config import Channel, DeliveryPolicy, EventKind, seconds
from llm_incident_manager.notify.model import Delivery, DeliveryError, PageEvent, Sent
from llm_incident_manager.notify.outcomes import OutcomeWriter
from llm_incident_manager.notify.planner import SELF_SOURCE, NotificationPlanner
from llm_incident_manager.notify.policy import Breaker, Throttle, retry_delay
from llm_incident_manager.pipeline.writeset import NewPage, TimelineRow
from llm_incident_manager.store.protocol import Store

__all__ = ["DeadLetterHook", "DispatchMetrics", "Dispatcher"]

log = logging.getLogger(__name__)

ACTOR = "notifier"
#: (page, reason, incident) of a page that will not be delivered
DeadLetterHook = Callable[[PageRecord, str, Incident | None], Awaitable[None]]


@dataclass
class DispatchMetrics:
    #: sends by (channel, result): result is sent, failed (this attempt), throttled, breaker_open
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: pages by (channel, final state): done, failed (dead letters), fallback, dropped, coalesced
    finished: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: latency of successful sends, seconds, by channel: (count, sum)
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0, 0.0]))


@dataclass(slots=True)
class _Known:
    """What ``Dispatcher._prefetch`` read for a claimed batch (None: the incident does not exist)."""

    incidents: dict[str, Incident | None] = field(default_factory=dict)
    threads: dict[tuple[str, str, str], str | None] = field(default_factory=dict)


class Dispatcher:
    def __init__(
        self,
        store: Store,
        get_incident: Callable[[str], Awaitable[Incident | None]],
        planner: NotificationPlanner,
        targets: Mapping[tuple[str, str], Target],
        fallbacks: Mapping[str, str | None],
        policy: DeliveryPolicy,
        public_url: str,
        worker_id: str,
        on_dead_letter: DeadLetterHook | None = None,
        disabled: set[tuple[str, str, str]] | None = None,
        clock: Clock | None = None,
        get_incidents: Callable[[Sequence[str]], Awaitable[Mapping[str, Incident]]] | None = None,
    ) -> None:
        self.store = store
        #: the incidents of a whole claimed batch in one read (None: one read per send)
        self.get_incidents = get_incidents
        #: outcome writes of concurrent sends share a transaction (notify/outcomes.py)
        self.outcomes = OutcomeWriter(store)
        self.get_incident = get_incident
        self.planner = planner
        self.targets = targets
        self.fallbacks = fallbacks
        self.policy = policy
        self.public_url = public_url.rstrip("/")
        self.worker_id = worker_id
        self.on_dead_letter = on_dead_letter
        self.disabled = disabled if disabled is not None else set()
        #: when pages fall due (the service's clock; tests inject one)
        self.clock = clock or SystemClock()
        self.metrics = DispatchMetrics()
        self.breakers: dict[tuple[str, str], Breaker] = {}
        self.throttles: dict[tuple[str, str], Throttle] = {}
        self._lease = seconds("lease", policy.lease)
        self._timeout = seconds("timeout", policy.timeout)
        self._poll = seconds("poll_interval", policy.poll_interval)
        self._delays = policy.retry.delays()
        self._max_retry_after = seconds("max_retry_after", policy.retry.max_retry_after)
        self._sem = asyncio.Semaphore(policy.concurrency)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._timer: asyncio.TimerHandle | None = None

    # -- embedded mode: the outbox is the queue ------------------------------------------------------
    def start_embedded(self) -> None:
        self._task = asyncio.create_task(self._run_embedded(), name="lim-notify-dispatcher")

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            await self._task

    def due(self, when: datetime) -> None:
        """A new page falls due at ``when``: wakes the embedded loop now if it is due, else when it is."""
        if when <= self.clock.now():
            self.wake()
        else:
            self._wake_at(when)

    def _wake_at(self, when: datetime) -> None:
        """Wakes the embedded loop when a page (a retry, a window's end) falls due before the next poll would
        notice."""
        delay = (when - self.clock.now()).total_seconds()
        if self._task is None or delay >= self._poll:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._timer is not None and now <= self._timer.when() <= now + delay:
            return  # a timer still to fire wakes the loop first
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(max(delay, 0.0), self._wakeup.set)

    async def _run_embedded(self) -> None:
        failures = 0
        while not self._stopping:
            self._wakeup.clear()
            try:
                claimed = await self.run_once()
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("notification worker: %r; retrying", exc)
                claimed = 0
                await asyncio.sleep(min(0.05 * 2**failures, 2.0))
            if claimed >= self.policy.batch or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll)

    async def run_once(self, ids: Sequence[str] | None = None) -> int:
        """Claims due pages (only ``ids`` when given), sends them and writes their outcomes; returns how many
        it claimed."""
        return len(await self.run_claimed(ids))

    async def run_claimed(self, ids: Sequence[str] | None = None) -> set[str]:
        """As ``run_once``; returns the ids of the pages it claimed."""
        now = self.clock.now()
        pages = await self.store.claim_pages(
            self.worker_id, now, now + timedelta(seconds=self._lease), self.policy.batch, ids
        )
        if pages:
            await self.process(pages)
        return {page.id for page in pages}

    # -- one claimed batch ---------------------------------------------------------------------------
    async def process(self, pages: Sequence[PageRecord]) -> None:
        groups: dict[tuple[str, str, bool], list[PageRecord]] = defaultdict(list)
        for page in pages:
            groups[(page.receiver, page.target, page.digest)].append(page)
        known = await self._prefetch(pages)
        await asyncio.gather(*(self._guarded(group, known) for group in groups.values()))

    async def _prefetch(self, pages: Sequence[PageRecord]) -> _Known:
        """The incidents and thread refs of a claimed batch, in two reads instead of two per send: a burst of
        deliveries (every group's window ending together) made hundreds of small reads, each a round trip
        through the store's reader thread and the event loop that ingest shares (docs/performance.md). If a
        read fails, each send reads its own again."""
        known = _Known()
        if self.get_incidents is None or len(pages) < 2:
            return known
        try:
            found = await self.get_incidents([page.incident_id for page in pages])
            keys = list({(page.incident_id, page.receiver, page.target) for page in pages})
            threads = await self.store.thread_refs(keys)
        except Exception as exc:
            log.warning("reading the incidents of %d pages at once failed (%r); reading them one by one", len(pages),
                        exc)  # fmt: skip
            return known
        known.incidents = {page.incident_id: found.get(page.incident_id) for page in pages}
        known.threads = {key: threads.get(key) for key in keys}
        return known

    async def _guarded(self, group: list[PageRecord], known: _Known) -> None:
        async with self._sem:
            try:
                await self._send_group(group, known)
            except Exception:  # the pages stay claimed; their lease runs out and they are sent again
                log.exception("notification group of %d pages failed unexpectedly", len(group))

    async def _send_group(self, group: list[PageRecord], known: _Known) -> None:
        """The due pages of one recipient. Each goes in its own send while the throttle allows; what the throttle
        holds back is coalesced: the last send it allows carries all the rest, or, with none allowed now, they
        wait for the next token and then go together. A digest group is one send."""
        first = group[0]
        now = self.clock.now()
        mono = time.monotonic()
        target = self.targets.get((first.receiver, first.target))
        if target is None:
            await self._give_up(group, "the receiver or integration is no longer configured", None, None, now)
            return
        notifier = target.notifier
        if (first.receiver, first.target, notifier.recipient) in self.disabled:
            await self._give_up(group, "the endpoint is disabled (it answered 410 Gone)", None, target, now,
                                state=PageState.DROPPED)  # fmt: skip
            return
        breaker = self._breaker(target)
        if not breaker.allow(mono):
            self.metrics.attempts[(target.channel.value, "breaker_open")] += len(group)
            if self.fallbacks.get(first.receiver):
                await self._give_up(group, "the channel's circuit breaker is open", None, target, now)
            else:
                # open: until it half-opens; half-open: until the probe in flight has its answer
                wait = breaker.retry_at(mono) - mono if not breaker.probing else min(self._timeout, 1.0)
                await self._release(group, now + timedelta(seconds=max(wait, 0.05)))
            return
        throttle = self._throttle(target)
        if first.digest:
            sends = [group]
        else:
            allowed = throttle.available(mono)
            if allowed >= len(group):
                sends = [[page] for page in group]
            elif allowed >= 1:
                singles = int(allowed) - 1
                sends = [[page] for page in group[:singles]] + [group[singles:]]
            else:
                sends = []
        if breaker.probing:
            sends = sends[:1]  # half-open: one probe, the rest wait for its answer
        taken = []
        for pages in sends:
            if throttle.take(mono) > 0:
                break
            taken.append(pages)
        sent_ids = {page.id for pages in taken for page in pages}
        held = [page for page in group if page.id not in sent_ids]
        if held:
            # held back, never dropped: when a token is free, everything waiting for this recipient goes at once
            self.metrics.attempts[(target.channel.value, "throttled")] += len(held)
            wait = throttle.wait(mono)
            if breaker.probing:  # the probe's answer decides when the rest may go
                wait = max(wait, min(self._timeout, 1.0))
            await self._release(held, now + timedelta(seconds=max(wait, 0.05)))
        if taken:
            await asyncio.gather(*(self._deliver(pages, target, breaker, known) for pages in taken))
        elif breaker.probing:
            breaker.probing = False  # the probe slot was not used

    async def _deliver(self, group: list[PageRecord], target: Target, breaker: Breaker, known: _Known) -> None:
        """One send carrying ``group`` (one page, or several coalesced), and its outcome."""
        first = group[0]
        now = self.clock.now()
        incidents: dict[str, Incident | None] = {}
        for page in group:
            if page.incident_id in incidents:
                continue
            if page.incident_id in known.incidents:
                incidents[page.incident_id] = known.incidents[page.incident_id]
            else:
                incidents[page.incident_id] = await self.get_incident(page.incident_id)
        answered = [
            p for p in group
            if p.data.get("unless_acknowledged") and (i := incidents[p.incident_id]) is not None
            and i.status is not IncidentStatus.TRIGGERED
        ]  # fmt: skip
        if answered:  # a delayed notification rule's page: someone answered in the meantime
            await self._cancel(answered, now)
            group = [p for p in group if p not in answered]
            if not group:
                return
            first = group[0]
        events = [self._event(page, incident) for page in group if (incident := incidents[page.incident_id])]
        if not events:
            await self._give_up(group, "the incident no longer exists", None, target, now)
            return
        thread_ref = None
        single = len(incidents) == 1
        if single:
            key = (first.incident_id, first.receiver, first.target)
            found = known.threads if key in known.threads else await self.store.thread_refs([key])
            thread_ref = found.get(key)
        delivery = Delivery(
            events=events,
            incident_url=f"{self.public_url}/api/v1/incidents/",
            digest=first.digest,
            thread_ref=thread_ref,
            public_url=self.public_url,
        )
        started = time.monotonic()
        try:
            sent = await asyncio.wait_for(target.notifier.send(delivery), self._timeout)
        except DeliveryError as exc:
            error = exc
        except TimeoutError:
            error = DeliveryError(f"no answer within {self._timeout:g}s", retryable=True)
        except Exception as exc:  # a bug or an unexpected client error: retried like a transient failure
            error = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True)
        else:
            breaker.success()
            await self._delivered(group, target, sent, time.monotonic() - started, single, now)
            return
        if error.retryable:
            breaker.failure(time.monotonic())
        else:  # the endpoint answered: a bad request (one recipient, one token) says nothing of the channel's health
            breaker.success()
        await self._failed(group, target, error, time.monotonic() - started, incidents, now)

    # -- outcomes ------------------------------------------------------------------------------------
    async def _delivered(
        self, group: list[PageRecord], target: Target, sent: Sent, latency: float, single: bool, now: datetime
    ) -> None:
        channel = target.channel.value
        primary = group[0]
        outcomes, timeline = [], []
        for page in group:
            coalesced = page is not primary
            outcomes.append(
                PageOutcome(
                    id=page.id, state=PageState.COALESCED if coalesced else PageState.DONE,
                    attempts=page.attempts, next_at=page.next_at, done_at=now, last_status=sent.status,
                    provider_ref=sent.ref, coalesced_into=primary.id if coalesced else None,
                )
            )  # fmt: skip
            timeline.append(self._attempt_event(page, target, "sent", latency, now, status=sent.status,
                                                ref=sent.ref, coalesced=len(group)))  # fmt: skip
        threads = []
        if single and sent.thread_ref:
            threads.append((primary.incident_id, primary.receiver, primary.target, sent.thread_ref))
        await self.outcomes.finish(outcomes, now, timeline=timeline, threads=threads)
        self.metrics.attempts[(channel, "sent")] += 1
        self.metrics.finished[(channel, "done")] += 1
        self.metrics.finished[(channel, "coalesced")] += len(group) - 1
        stats = self.metrics.latency[channel]
        stats[0] += 1
        stats[1] += latency

    async def _failed(
        self,
        group: list[PageRecord],
        target: Target,
        error: DeliveryError,
        latency: float,
        incidents: Mapping[str, Incident | None],
        now: datetime,
    ) -> None:
        channel = target.channel
        self.metrics.attempts[(channel.value, "failed")] += 1
        disabled: list[tuple[str, str, str, datetime, str]] = []
        if error.disable:
            key = (target.receiver, target.key, target.notifier.recipient)
            self.disabled.add(key)
            disabled.append((*key, now, error.reason))
        attempts = group[0].attempts
        final = error.disable or not error.retryable or attempts >= self.policy.attempts_for(channel)
        if not final:
            delay = retry_delay(attempts, self._delays, self.policy.retry.jitter, error.retry_after,
                                self._max_retry_after)  # fmt: skip
            next_at = now + timedelta(seconds=delay)
            outcomes = [
                PageOutcome(id=p.id, state=PageState.PENDING, attempts=p.attempts, next_at=next_at,
                            last_error=error.reason, last_status=error.status)
                for p in group
            ]  # fmt: skip
            timeline = [
                self._attempt_event(p, target, "failed", latency, now, status=error.status, error=error.reason,
                                    retry_at=next_at.isoformat())
                for p in group
            ]  # fmt: skip
            await self.outcomes.finish(outcomes, now, timeline=timeline, disabled=disabled)
            self._wake_at(next_at)
            return
        timeline = [
            self._attempt_event(p, target, "failed", latency, now, status=error.status, error=error.reason)
            for p in group
        ]
        await self._give_up(group, error.reason, error.status, target, now, timeline=timeline, disabled=disabled,
                            state=PageState.DROPPED if error.disable else None, incidents=incidents)  # fmt: skip

    async def _give_up(
        self,
        group: list[PageRecord],
        reason: str,
        status: int | None,
        target: Target | None,
        now: datetime,
        *,
        timeline: list[TimelineRow] | None = None,
        disabled: list[tuple[str, str, str, datetime, str]] | None = None,
        state: PageState | None = None,
        incidents: Mapping[str, Incident | None] | None = None,
    ) -> None:
        """No more attempts on this target: the receiver's fallback takes the pages over, or they are dead
        letters (``state`` overrides the dead-letter state, e.g. dropped for a disabled endpoint)."""
        timeline = list(timeline or [])
        fallback = self.fallbacks.get(group[0].receiver)
        channel = target.channel.value if target is not None else group[0].channel
        new_pages: list[NewPage] = []
        outcomes = []
        dead: list[PageRecord] = []
        for page in group:
            attempts = page.attempts if status is not None or timeline else page.attempts - 1
            taken_over = self.planner.fallback_pages(page, fallback, now, reason) if fallback else []
            if taken_over:
                new_pages.extend(taken_over)
                final = PageState.FALLBACK
                timeline.append(
                    (page.incident_id, now, "notification_fallback", ACTOR,
                     {"page": page.id, "from_receiver": page.receiver, "from_target": page.target,
                      "channel": page.channel, "recipient": page.recipient, "to_receiver": fallback,
                      "reason": reason})
                )  # fmt: skip
            else:
                final = state or PageState.FAILED
                if final is PageState.FAILED:
                    dead.append(page)
                timeline.append(
                    (page.incident_id, now, "notification_failed", ACTOR,
                     {"page": page.id, "receiver": page.receiver, "target": page.target, "channel": page.channel,
                      "recipient": page.recipient, "attempts": attempts, "reason": reason, "state": final.value})
                )  # fmt: skip
            outcomes.append(PageOutcome(id=page.id, state=final, attempts=attempts, next_at=page.next_at,
                                        done_at=now, last_error=reason, last_status=status))  # fmt: skip
            self.metrics.finished[(channel, final.value)] += 1
        await self.outcomes.finish(outcomes, now, timeline=timeline, pages=new_pages, disabled=disabled or ())
        if new_pages:
            self.wake()
        if self.on_dead_letter is not None:
            for page in dead:
                incident = incidents.get(page.incident_id) if incidents else None
                try:
                    await self.on_dead_letter(page, reason, incident)
                except Exception as exc:  # the dead letter is stored and counted either way
                    log.warning("could not raise the self-monitoring alert for page %s: %r", page.id, exc)

    async def _cancel(self, group: list[PageRecord], now: datetime) -> None:
        """Pages that are no longer wanted (the incident was acknowledged or resolved before their time)."""
        outcomes = [PageOutcome(id=p.id, state=PageState.CANCELLED, attempts=p.attempts - 1, next_at=p.next_at,
                                done_at=now, last_error="acknowledged or resolved before its time")
                    for p in group]  # fmt: skip
        timeline = [(p.incident_id, now, "notification_cancelled", ACTOR,
                     {"page": p.id, "receiver": p.receiver, "channel": p.channel, "recipient": p.recipient})
                    for p in group]  # fmt: skip
        await self.outcomes.finish(outcomes, now, timeline=timeline)
        for p in group:
            self.metrics.finished[(p.channel, PageState.CANCELLED.value)] += 1

    async def _release(self, group: list[PageRecord], next_at: datetime) -> None:
        """Back to pending, not counted as an attempt (throttled, or the breaker is open with no fallback): the
        claim counted one, which is given back."""
        outcomes = [
            PageOutcome(id=p.id, state=PageState.PENDING, attempts=p.attempts - 1, next_at=next_at,
                        last_error=p.last_error, last_status=p.last_status)
            for p in group
        ]  # fmt: skip
        await self.outcomes.finish(outcomes, self.clock.now())
        self._wake_at(next_at)

    # -- helpers -------------------------------------------------------------------------------------
    def _breaker(self, target: Target) -> Breaker:
        key = (target.channel.value, target.notifier.endpoint)
        breaker = self.breakers.get(key)
        if breaker is None:
            cfg = self.policy.breaker
            breaker = self.breakers[key] = Breaker(cfg.failures, seconds("open_for", cfg.open_for))
        return breaker

    def _throttle(self, target: Target) -> Throttle:
        key = (target.channel.value, target.notifier.recipient)
        throttle = self.throttles.get(key)
        if throttle is None:
            cfg = target.throttle or self.policy.throttle.get(Channel(target.channel))
            throttle = Throttle(0.0) if cfg is None else Throttle(cfg.interval, cfg.messages)
            self.throttles[key] = throttle
        return throttle

    @staticmethod
    def _event(page: PageRecord, incident: Incident) -> PageEvent:
        return PageEvent(
            id=page.id,
            idempotency_key=page.idempotency_key,
            kind=EventKind(page.event),
            at=page.created_at,
            incident=incident,
            data=page.data,
            attempt=page.attempts,
        )

    @staticmethod
    def _attempt_event(
        page: PageRecord, target: Target, result: str, latency: float, now: datetime, **extra: Any
    ) -> TimelineRow:
        data: dict[str, Any] = {
            "page": page.id,
            "event": page.event,
            "receiver": page.receiver,
            "target": page.target,
            "channel": target.channel.value,
            "recipient": target.notifier.recipient,
            "attempt": page.attempts,
            "result": result,
            "latency_ms": round(latency * 1000, 1),
        }
        data.update({k: v for k, v in extra.items() if v is not None})
        return (page.incident_id, now, "notification_attempt", ACTOR, data)


def is_self_incident(incident: Incident | None) -> bool:
    return incident is not None and incident.source == SELF_SOURCE
