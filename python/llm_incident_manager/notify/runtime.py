"""Notification delivery as a part of the running service: builds the targets of every receiver from the
configuration file, the planner (pages into the outbox with each commit), the dispatcher (sends) and, in
distributed mode (``LIM_NATS_URL``), the JetStream relay and consumer."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

from llm_incident_manager.clock import Clock
from llm_incident_manager.configfile import ConfigError, FileConfig
from llm_incident_manager.domain.alerts import Alert, EventAction, Severity
from llm_incident_manager.domain.escalations import EscalationRecord
from llm_incident_manager.domain.incidents import Incident, IncidentStatus
from llm_incident_manager.domain.notifications import PageRecord
from llm_incident_manager.escalation.engine import EscalationPlanner, EscalationWorker, PersonTargets
from llm_incident_manager.notify.channels import Target, build_targets
from llm_incident_manager.notify.config import (
    Authorization,
    EmailConfig,
    HTTPConfig,
    ReceiverConfig,
    SlackConfig,
    TwilioSmsConfig,
    TwilioVoiceConfig,
    seconds,
)
from llm_incident_manager.notify.dispatcher import Dispatcher, is_self_incident
from llm_incident_manager.notify.jetstream import JetStreamQueue
from llm_incident_manager.notify.planner import SELF_SOURCE, NotificationPlanner, PlannedTarget
from llm_incident_manager.oncall.schedule import Schedule
from llm_incident_manager.pipeline.dedup import DedupState, OpenAlertRow
from llm_incident_manager.pipeline.writeset import WriteSet
from llm_incident_manager.store.protocol import Store

__all__ = ["NotificationRuntime"]

log = logging.getLogger(__name__)

Ingest = Callable[[Sequence[Alert], datetime], Awaitable[object]]


def person_receivers(config: FileConfig) -> list[ReceiverConfig]:
    """One receiver per user (``user:<name>``) with an integration for each contact method the configuration can
    serve: a Slack DM (the Slack app's bot token), email (``global``'s ``smtp_smarthost`` and ``smtp_from``), SMS and
    voice (the ``notifications.twilio`` account). Escalation steps page people through these."""
    g = config.global_ or {}
    slack_ok = bool(config.notifications.slack.bot_token)
    email_ok = bool(g.get("smtp_smarthost")) and bool(g.get("smtp_from"))
    tw = config.notifications.twilio
    twilio_ok = bool(tw.account_sid and tw.auth_token and tw.from_)
    out = []
    # a user's Slack page is always a DM through the Web API with the app's bot token, whatever ``global`` says
    dm_url = config.notifications.slack.api_url.rstrip("/") + "/chat.postMessage"
    bot = HTTPConfig(authorization=Authorization(credentials=config.notifications.slack.bot_token))
    for user in config.users:
        slack = (
            [SlackConfig(channel=user.slack_user, api_url=dm_url, http_config=bot)]
            if slack_ok and user.slack_user
            else []
        )
        out.append(
            ReceiverConfig(
                name=f"user:{user.name}",
                slack_configs=slack,
                email_configs=[EmailConfig(to=user.email)] if email_ok and user.email else [],
                twilio_sms_configs=[TwilioSmsConfig(to=user.phone)] if twilio_ok and user.phone else [],
                twilio_voice_configs=[TwilioVoiceConfig(to=user.phone)] if twilio_ok and user.phone else [],
            )
        )
    return out


def _planned(target: Target) -> PlannedTarget:
    digest = target.digest
    return PlannedTarget(
        receiver=target.receiver,
        key=target.key,
        channel=target.channel.value,
        recipient=target.notifier.recipient,
        events=target.events,
        digest_interval=seconds("interval", digest.interval) if digest is not None else None,
        digest_severities=frozenset(digest.severities) if digest is not None else frozenset(),
    )


class NotificationRuntime:
    def __init__(
        self,
        targets: list[Target],
        planner: NotificationPlanner,
        dispatcher: Dispatcher,
        queue: JetStreamQueue | None,
    ) -> None:
        self.targets = targets
        self.planner = planner
        self.dispatcher = dispatcher
        self.queue = queue
        #: the durable timers of escalation policies (None without policies)
        self.escalations: EscalationWorker | None = None

    @classmethod
    def build(
        cls,
        config: FileConfig,
        store: Store,
        get_incident: Callable[[str], Awaitable[Incident | None]],
        ingest: Ingest,
        nats_url: str | None = None,
        state: DedupState | None = None,
        submit: Callable[[WriteSet], Awaitable[None]] | None = None,
        clock: Clock | None = None,
        get_incidents: Callable[[Sequence[str]], Awaitable[Mapping[str, Incident]]] | None = None,
    ) -> NotificationRuntime | None:
        """None when nothing is to be sent (no root receiver, or ``notifications.enabled: false``). Raises
        ConfigError when a receiver's integration cannot work (its key path in the message)."""
        settings = config.notifications
        if not settings.enabled or config.root_receiver is None:
            return None
        policy = settings.delivery
        timeout = seconds("timeout", policy.timeout)
        targets: list[Target] = []
        try:
            for receiver in config.receivers:
                for name in receiver.unsupported():
                    log.warning("receiver %r: %s is an Alertmanager integration lim does not send to", receiver.name,
                                name)  # fmt: skip
                targets.extend(build_targets(receiver, settings, config.global_, timeout))
            people = PersonTargets()
            for receiver in person_receivers(config):
                for target in build_targets(receiver, settings, config.global_, timeout):
                    targets.append(target)
                    people.add(receiver.name.removeprefix("user:"), target.channel, target.key,
                               target.notifier.recipient)  # fmt: skip
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        by_receiver: dict[str, list[PlannedTarget]] = {}
        for target in targets:
            by_receiver.setdefault(target.receiver, []).append(_planned(target))
        try:
            router = config.router()
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        planner = NotificationPlanner(
            by_receiver,
            config.root_receiver,
            settings.self_monitoring_receiver,
            clock=clock,
            route=router.receivers if router is not None else None,
            group_interval=router.group_interval if router is not None else None,
        )
        worker_escalations = None
        if config.escalation_policies:
            schedules = {s.name: Schedule.from_config(s) for s in config.schedules}

            def oncall(name: str, at: datetime) -> str | None:
                found = schedules[name].oncall(at)
                return None if found is None else found.user

            planner.escalation = EscalationPlanner(
                {p.name: p for p in config.escalation_policies},
                {r.name: r.escalation_policy for r in config.receivers if r.escalation_policy},
                people,
                oncall,
                planner.pages_for,
                {u.name: u.notification_rules for u in config.users if u.notification_rules},
                {u.name: u.time_zone for u in config.users},
                {t.name: t for t in config.teams},
            )
            if state is not None and submit is not None:
                escalations = planner.escalation

                async def claim(now: datetime, until: datetime) -> list[EscalationRecord]:
                    return await store.claim_escalations(worker, now, until, 100)

                known = state

                async def status_of(incident_id: str) -> IncidentStatus | None:
                    """The incident's status: this instance's, or the store's for an incident another instance
                    opened (None: resolved or gone)."""
                    found = known.incident_status(incident_id)
                    if found is not None:
                        return found
                    incident = await get_incident(incident_id)
                    if incident is None or incident.status is IncidentStatus.RESOLVED:
                        return None
                    return incident.status

                worker_escalations = EscalationWorker(
                    claim, escalations, status_of, submit, state.unacknowledge, clock=clock
                )
        worker = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

        async def dead_letter(page: PageRecord, reason: str, incident: Incident | None) -> None:
            if is_self_incident(incident):  # the self-monitoring receiver failed too: stored and counted only
                log.error("page %s of the service's own incident %s failed: %s", page.id, page.incident_id, reason)
                return
            now = datetime.now(UTC)
            labels = {
                "alertname": "NotificationDeadLetter",
                "receiver": page.receiver,
                "target": page.target,
                "channel": page.channel,
            }
            alert = Alert(
                title=f"Notifications to {page.receiver}/{page.target} ({page.channel}) are failing",
                severity=Severity.HIGH,
                action=EventAction.TRIGGER,
                source=SELF_SOURCE,
                integration="lim",
                event_time=now,
                identity=labels,
                service="llm-incident-manager",
                labels=labels,
                annotations={
                    "summary": f"a page of incident {page.incident_id} could not be delivered: {reason}",
                    "page": page.id,
                    "incident": page.incident_id,
                },
            )
            await ingest([alert], now)

        dispatcher = Dispatcher(
            store,
            get_incident,
            planner,
            {(t.receiver, t.key): t for t in targets},
            {r.name: r.fallback for r in config.receivers},
            policy,
            settings.public_url,
            worker,
            on_dead_letter=dead_letter,
            clock=clock,
            get_incidents=get_incidents,
        )
        queue = JetStreamQueue(nats_url, store, dispatcher, policy, settings.jetstream) if nats_url else None
        runtime = cls(targets, planner, dispatcher, queue)
        runtime.escalations = worker_escalations
        return runtime

    async def start(self, store: Store, open_alerts: Iterable[OpenAlertRow]) -> None:
        self.planner.load(open_alerts)
        self.dispatcher.disabled.update(await store.load_disabled())
        if self.queue is not None:
            self.queue.start()
        else:
            self.dispatcher.start_embedded()
        if self.escalations is not None:
            self.escalations.start()

    def reload(self, open_alerts: Iterable[OpenAlertRow]) -> None:
        self.planner.load(open_alerts)

    def plan(self, ws: WriteSet) -> None:
        self.planner.plan(ws)

    def committed(self, batches: Sequence[WriteSet]) -> None:
        """After a commit: wake whoever moves new pages on. The embedded dispatcher is woken for when the first
        new page falls due: at once for a page due now, by a timer for one due later (the end of its
        ``group_interval`` window), rather than for a claim that finds nothing due."""
        due = [page.next_at for ws in batches for page in ws.pages]
        if not due:
            return
        if self.queue is not None:
            self.queue.wake()
        else:
            self.dispatcher.due(min(due))

    async def stop(self) -> None:
        if self.escalations is not None:
            await self.escalations.stop()
        if self.queue is not None:
            await self.queue.stop()
        else:
            await self.dispatcher.stop()
        for target in self.targets:
            try:
                await target.notifier.close()
            except Exception as exc:
                log.debug("closing %s: %r", target.key, exc)
