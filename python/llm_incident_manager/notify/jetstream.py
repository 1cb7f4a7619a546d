"""Distributed mode's notification queue: NATS JetStream between the outbox and the workers of every instance.

* **Relay**: due pages not yet published (or published longer than ``redrive_after`` ago and still not done)
  go to the work-queue stream (``notifications.jetstream.stream``, default ``LIM_PAGES``) on subject
  ``lim.pages.<channel>``, with ``Nats-Msg-Id`` = the page's idempotency key (``#<attempts>@<next_at>`` appended
  for each later schedule of it, a retry or a send held back, each a new message); the page is marked published
  once the stream acknowledged it. JetStream drops a repeat of a message id within the stream's duplicate window.
* **Consumers**: one durable pull consumer (default ``lim-pages``) shared by every instance, explicit ack,
  ``ack_wait`` = the page lease. A worker fetches page ids, claims those pages in the store (the store decides: a
  page already done, or claimed by another worker, is skipped), sends, writes the outcome, then acks.

The store stays the system of record: if NATS is down, pages wait in the outbox and are published when it is
back; if JetStream loses an acknowledged message (its default fsync interval can lose the last writes on power
loss), the relay publishes the page again after ``redrive_after``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import nats
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from llm_incident_manager.domain.notifications import PageRecord, PageState
from llm_incident_manager.notify.config import DeliveryPolicy, JetStreamConfig, seconds
from llm_incident_manager.notify.dispatcher import Dispatcher
from llm_incident_manager.store.protocol import Store

__all__ = ["JetStreamQueue", "msg_id"]

log = logging.getLogger(__name__)


class _Message(msgspec.Struct):
    id: str
    attempt: int


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_Message).decode


def msg_id(page: PageRecord) -> str:
    """The page's idempotency key for its first publication; each later schedule of it (a retry, or a send the
    throttle or an open breaker held back) is a new message: ``{key}#{attempts}@{next_at in µs}``. A re-drive of
    the same schedule keeps the id, so JetStream drops it if the first one did arrive."""
    if page.attempts == 0 and page.next_at <= page.created_at:
        return page.idempotency_key
    return f"{page.idempotency_key}#{page.attempts}@{int(page.next_at.timestamp() * 1_000_000)}"


class JetStreamQueue:
    def __init__(
        self, url: str, store: Store, dispatcher: Dispatcher, policy: DeliveryPolicy, names: JetStreamConfig
    ) -> None:
        self.url = url
        self.names = names
        self.store = store
        self.dispatcher = dispatcher
        self.policy = policy
        self._poll = seconds("poll_interval", policy.poll_interval)
        self._lease = seconds("lease", policy.lease)
        self._redrive = seconds("redrive_after", policy.redrive_after)
        self._nc: Any = None
        self._js: Any = None
        self._ready = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0
        self.consumed = 0

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._connect(), name="lim-nats-connect"),
            asyncio.create_task(self._relay(), name="lim-nats-relay"),
            asyncio.create_task(self._consume(), name="lim-nats-consumer"),
        ]

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._nc is not None:
            try:
                await self._nc.close()
            except Exception as exc:
                log.debug("closing the NATS connection: %r", exc)

    async def stop_consumer(self) -> None:
        """Stops only the consumer (tests restart it mid-stream)."""
        task = self._tasks[2]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    def start_consumer(self) -> None:
        self._tasks[2] = asyncio.create_task(self._consume(), name="lim-nats-consumer")

    # -- connection ----------------------------------------------------------------------------------
    async def _connect(self) -> None:
        delay = 0.1
        while not self._stopping:
            try:
                self._nc = await nats.connect(
                    self.url,
                    name="llm-incident-manager",
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    allow_reconnect=True,
                )
                self._js = self._nc.jetstream()
                await self._ensure_stream()
                self._ready.set()
                log.info("NATS JetStream ready at %s (stream %s)", self.url, self.names.stream)
                return
            except Exception as exc:
                log.warning("NATS at %s not available (%r); pages wait in the outbox", self.url, exc)
                if self._nc is not None:
                    try:
                        await self._nc.close()
                    except Exception as close_exc:
                        log.debug("closing a failed NATS connection: %r", close_exc)
                    self._nc = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _ensure_stream(self) -> None:
        config = StreamConfig(
            name=self.names.stream,
            subjects=[f"{self.names.subject}.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            num_replicas=self.names.replicas,
            # a re-drive must not fall inside the window, or JetStream would drop it as a repeat
            duplicate_window=min(120.0, self._redrive / 2),
        )
        try:
            await self._js.add_stream(config)
        except BadRequestError:
            await self._js.update_stream(config)

    # -- relay: outbox → stream ----------------------------------------------------------------------
    async def _relay(self) -> None:
        await self._ready.wait()
        failures = 0
        while not self._stopping:
            self._wakeup.clear()
            try:
                published = await self.relay_once()
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("publishing pages to JetStream failed: %r; they wait in the outbox", exc)
                published = 0
                await asyncio.sleep(min(0.05 * 2**failures, 2.0))
                continue
            if published >= self.policy.batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll)

    async def relay_once(self) -> int:
        now = datetime.now(UTC)
        pages = await self.store.publishable_pages(now, now - timedelta(seconds=self._redrive), self.policy.batch)
        if not pages:
            return 0
        acks = await asyncio.gather(
            *(
                self._js.publish(
                    f"{self.names.subject}.{page.channel}",
                    _encode(_Message(page.id, page.attempts)),
                    timeout=5.0,
                    stream=self.names.stream,
                    headers={"Nats-Msg-Id": msg_id(page)},
                )
                for page in pages
            ),
            return_exceptions=True,
        )
        done = [
            (p.id, p.attempts, p.next_at)
            for p, ack in zip(pages, acks, strict=True)
            if not isinstance(ack, BaseException)
        ]
        if done:
            await self.store.mark_published(done, now)
            self.published += len(done)
        failed = len(pages) - len(done)
        if failed:
            first = next(ack for ack in acks if isinstance(ack, BaseException))
            msg = f"{failed} of {len(pages)} publishes failed: {first!r}"
            raise ConnectionError(msg)
        return len(done)

    async def _settle(self, messages: dict[str, Any], claimed: set[str]) -> None:
        """Acks what was sent or needs nothing more; a page this worker could not claim while it is still
        waiting to be sent (not yet due, or its row was busy) is handed back to the stream for a little later."""
        later = [page_id for page_id in messages if page_id not in claimed]
        waiting = set()
        if later:
            pages = [await self.store.get_page(page_id) for page_id in later]
            waiting = {p.id for p in pages if p is not None and p.state is PageState.PENDING}
        for page_id, message in messages.items():
            if page_id in waiting:
                await message.nak(delay=self._poll)
            else:
                await message.ack()

    # -- consumer: stream → dispatcher ---------------------------------------------------------------
    async def _consume(self) -> None:
        await self._ready.wait()
        subscription = None
        while not self._stopping:
            try:
                if subscription is None:
                    subscription = await self._js.pull_subscribe(
                        f"{self.names.subject}.>",
                        durable=self.names.consumer,
                        stream=self.names.stream,
                        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=self._lease, max_ack_pending=-1),
                    )
                try:
                    messages = await subscription.fetch(self.policy.batch, timeout=self._poll)
                except (NatsTimeoutError, TimeoutError):  # nothing to fetch within the poll interval
                    continue
                ids: dict[str, Any] = {}
                for message in messages:
                    try:
                        ids[_decode(message.data).id] = message
                    except msgspec.DecodeError:
                        log.warning("dropping an unreadable message on %s", message.subject)
                        await message.ack()
                claimed = await self.dispatcher.run_claimed(list(ids))
                await self._settle(ids, claimed)
                self.consumed += len(messages)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # not acked: JetStream redelivers after ack_wait, the relay re-drives
                log.warning("notification consumer: %r", exc)
                subscription = None
                await asyncio.sleep(0.5)
