"""The wiring: every long-lived part of a running service, built and torn down in one place."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llm_incident_manager.auth.keys import KeyCache
from llm_incident_manager.clock import Clock, SystemClock
from llm_incident_manager.config import Settings
from llm_incident_manager.configfile import ConfigError, FileConfig, overlay, parse_document, read_document
from llm_incident_manager.correlation.state import CorrelationState
from llm_incident_manager.domain.silences import Silence
from llm_incident_manager.notify.runtime import NotificationRuntime
from llm_incident_manager.pipeline.builder import IngestPipeline
from llm_incident_manager.pipeline.dedup import DedupState
from llm_incident_manager.pipeline.projection import ProjectionBuffer
from llm_incident_manager.pipeline.reader import IncidentReader
from llm_incident_manager.pipeline.responder import ResponderActions
from llm_incident_manager.pipeline.writer import GroupCommitWriter
from llm_incident_manager.routing.inhibit import build_inhibitor
from llm_incident_manager.routing.silences import Silencer, silence_events
from llm_incident_manager.store.factory import make_store
from llm_incident_manager.store.protocol import Store

__all__ = ["Services", "tune_runtime"]

#: Generation-0 threshold of the garbage collector in a running service (Python's default is 700).
GC_THRESHOLD = (50_000, 20, 100)
#: How long a thread holds the GIL before handing it to a waiting one (Python's default is 5 ms).
SWITCH_INTERVAL = 0.0002


def tune_runtime() -> None:
    """The interpreter settings of a served process (``lim serve`` sets them before granian forks its worker,
    which inherits them; tests and embedders keep Python's defaults).

    * The GIL is handed over after ``SWITCH_INTERVAL`` rather than Python's 5 ms: the store's writer thread takes
      the GIL back after each statement it runs without it, and while the event loop's thread is busy every one
      of those hand-overs waited the whole interval (docs/performance.md).
    * The garbage collector collects less often: ingest allocates a few short-lived containers per alert, and at
      Python's default threshold a collection ran every few batches, over a heap that grows with the open alerts
      (about 18 % of the ingest path's CPU, benchmarks/RESULTS.md). The long-lived state made at start-up is
      frozen out of the collector's scans (here, and in the worker once the app has started:
      ``freeze_started_state``); reference cycles are rare here and are still collected, later."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    _TUNED.append(True)


#: set by ``tune_runtime``: this process (or the process it was forked from) serves
_TUNED: list[bool] = []


def freeze_started_state() -> None:
    """In a served process, once the app has started: what start-up built (the app, its routes and schemas, the
    state loaded from the store) is frozen out of the garbage collector's scans. Granian's worker builds the app
    after the fork, so ``tune_runtime``'s freeze did not cover it, and the first collection under load scanned
    it all: a 20-30 ms pause of the event loop at 2,000 alerts/s (docs/performance.md)."""
    if _TUNED:
        gc.collect()
        gc.freeze()


log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    config: FileConfig
    store: Store
    clock: Clock
    state: DedupState
    writer: GroupCommitWriter
    pipeline: IngestPipeline
    reader: IncidentReader
    responder: ResponderActions
    keys: KeyCache
    notifications: NotificationRuntime | None = None
    silencer: Silencer | None = None
    _reloading: asyncio.Lock = field(default_factory=asyncio.Lock)
    _seen: tuple[int, str] = (0, "")
    _watcher: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        settings: Settings,
        store: Store | None = None,
        clock: Clock | None = None,
        config: FileConfig | None = None,
    ) -> Services:
        """Reads the configuration file, opens the store, applies migrations, rebuilds the dedup and correlation
        state and starts the writer."""
        given = config
        document = read_document(settings.config_path) if given is None else {}
        store = store or make_store(settings)
        await store.open()
        try:
            applied = await store.migrate()
            if applied:
                log.info("applied migrations %s", applied)
            if given is None:  # the file, with the objects managed through the API laid over it
                objects = [(kind, name, body) for kind, name, body, _ in await store.list_config_objects()]
                config = parse_document(overlay(document, objects), settings.config_path or "<config>")
            else:
                config = given
            router = config.router() if config.route is not None else None
            correlator = CorrelationState(
                config.correlation, route_group_by=router.group_by if router is not None else None
            )
            try:
                inhibitor = build_inhibitor(config.inhibit_rules)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            recounted = await store.recount()
            if recounted:
                log.info("recounted %d repeats logged after the last counter flush", recounted)
            buffer = ProjectionBuffer(await store.watermark())
            state = DedupState(settings.dedup_window_seconds, correlator)
            rows = await store.load_open_alerts()
            state.load(rows, await store.load_splits())
            if inhibitor is not None:
                inhibitor.load(rows)
        except BaseException:
            await store.close()
            raise

        notifications: NotificationRuntime | None = None
        #: the running service, once built (what a reload of the configuration may have replaced)
        box: list[Services] = []

        async def reload() -> None:
            rows = await store.load_open_alerts()
            state.load(rows, await store.load_splits())
            current = box[0] if box else None
            inhibit = current.pipeline.inhibitor if current is not None else inhibitor
            runtime = current.notifications if current is not None else notifications
            if inhibit is not None:
                inhibit.load(rows)
            if runtime is not None:
                runtime.reload(rows)

        writer = GroupCommitWriter(
            store,
            reload,
            max_alerts=settings.commit_max_alerts,
            flush_interval=settings.flush_interval_seconds,
            flush_max=settings.flush_max,
            buffer=buffer,
        )
        writer.start()
        log.info(
            "store %s ready: %d open incidents, %d open alerts", store.kind, state.open_incidents, state.open_alerts
        )
        reader = IncidentReader(store, buffer)
        silencer = Silencer(store)
        pipeline = IngestPipeline(store, state, writer, silencer, inhibitor)
        try:
            await silencer.load()
            silencer.start()
            notifications = NotificationRuntime.build(
                config, store, reader.get_incident, pipeline.ingest, settings.nats_url, state, writer.submit,
                clock, reader.get_incidents,
            )  # fmt: skip
            if notifications is not None:
                writer.plan = notifications.plan
                writer.after_commit = notifications.committed
                await notifications.start(store, await store.load_open_alerts())
        except BaseException:
            await silencer.stop()
            await writer.stop()
            await store.close()
            raise
        services = cls(
            settings=settings,
            config=config,
            store=store,
            clock=clock or SystemClock(),
            state=state,
            writer=writer,
            pipeline=pipeline,
            reader=reader,
            responder=ResponderActions(reader, state, writer),
            keys=KeyCache(store, settings.key_cache_seconds),
            notifications=notifications,
            silencer=silencer,
        )
        box.append(services)
        services._seen = await services._config_signature()
        services._watcher = asyncio.create_task(services._watch_config(), name="lim-config-watch")
        return services

    async def _config_signature(self) -> tuple[int, str]:
        objects = await self.store.list_config_objects()
        return len(objects), max((o[3].isoformat() for o in objects), default="")

    async def _watch_config(self, every: float = 5.0) -> None:
        """Another instance changed the configuration through the API: build and swap it here too."""
        while True:
            await asyncio.sleep(every)  # the polling period of the shared configuration
            try:
                signature = await self._config_signature()
                if signature != self._seen:
                    self._seen = signature
                    await self.reload_config()
            except Exception as exc:  # the running configuration stays
                log.warning("applying the configuration changed elsewhere failed: %r", exc)

    async def effective_config(
        self, extra: Sequence[tuple[str, str, Any]] = (), without: tuple[str, str] | None = None
    ) -> FileConfig:
        """The configuration file with the API's objects over it (plus ``extra``, minus ``without``: a change
        being tried); ConfigError with the key's path when it does not hold together."""
        objects = [(k, n, b) for k, n, b, _ in await self.store.list_config_objects() if (k, n) != without]
        objects.extend(extra)
        source = self.settings.config_path or "<config>"
        return parse_document(overlay(read_document(self.settings.config_path), objects), source)

    async def reload_config(self) -> FileConfig:
        """Reads the configuration file again, builds all of it (routes, receivers and their clients, inhibition,
        escalation policies, schedules) and only then swaps it in; on any error the running configuration stays
        and ConfigError says why (with the key's path). Pages already in the outbox keep their receiver and target
        names: a target that no longer exists gives its pending pages up (fallback or dead letter)."""
        async with self._reloading:
            config = await self.effective_config()
            try:
                inhibitor = build_inhibitor(config.inhibit_rules)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            runtime = NotificationRuntime.build(
                config, self.store, self.reader.get_incident, self.pipeline.ingest, self.settings.nats_url,
                self.state, self.writer.submit, self.clock, self.reader.get_incidents,
            )  # fmt: skip
            rows = await self.store.load_open_alerts()
            old = self.notifications
            if old is not None:
                await old.stop()
            if inhibitor is not None:
                inhibitor.load(rows)
            self.pipeline.inhibitor = inhibitor
            self.writer.plan = runtime.plan if runtime is not None else None
            self.writer.after_commit = runtime.committed if runtime is not None else None
            if runtime is not None:
                await runtime.start(self.store, rows)
            self.notifications = runtime
            self.config = config
            self._seen = await self._config_signature()
            log.info("configuration reloaded from %s", self.settings.config_path)
            return config

    async def silence_events(self, silence: Silence, kind: str) -> None:
        """``silence_created`` / ``silence_expired`` on the timeline of every open incident the silence covers."""
        ws = silence_events(silence, kind, await self.store.load_open_alerts(), self.clock.now())
        if ws:
            await self.writer.submit(ws)

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self.silencer is not None:
            await self.silencer.stop()
        if self.notifications is not None:
            await self.notifications.stop()
        await self.writer.stop()
        await self.store.close()
