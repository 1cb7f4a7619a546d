"""Delivery end to end in one event loop: the real service (store, pipeline, outbox, dispatcher) sending through
the real client libraries to local provider fakes. No part of our own code is replaced."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.notifications import PageRecord, PageState
from llm_incident_manager.services import Services
from tests.fakes.providers import FakeSlack, FakeWebhookReceiver
from tests.fakes.smtp import SmtpServer
from tests.integration.notify_helpers import (
    alert,
    config,
    email_config,
    eventually,
    ingest,
    pages,
    service,
    settled,
    slack_receiver,
    timeline,
    unique,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


async def test_an_incident_pages_every_channel_once_and_updates_slack_in_place(database_url: str) -> None:
    async with FakeSlack() as slack, SmtpServer() as smtp, FakeWebhookReceiver(SECRET) as hook:
        team = slack_receiver("team", slack)
        team["email_configs"] = [email_config(smtp, send_resolved=True)]
        team["webhook_configs"] = [{"url": hook.endpoint(), "signing_secret": SECRET}]
        async with service(database_url, config([team])) as services:
            [result] = await ingest(services, alert(unique("GPUDown")))
            incident_id = result.incident_id
            assert incident_id is not None
            await slack.wait_for(lambda r: any(x.path.endswith("chat.postMessage") for x in r))
            await smtp.wait_for_messages(1)
            await hook.wait_for_requests(1)
            [root] = slack.messages("#ops")
            assert "lim_ack" in str(root.blocks)
            assert "0.93" in str(root.blocks)  # the metric value beside its threshold
            await eventually(lambda: _all_done(services, incident_id), what="the first pages done")

            await services.responder.acknowledge(incident_id, "key:ana", _now())
            await slack.wait_for(lambda r: sum(x.path.endswith("chat.update") for x in r) == 1)
            await hook.wait_for_requests(2)
            await eventually(lambda: _all_done(services, incident_id), what="the acknowledgement pages done")
            await services.responder.resolve(incident_id, "key:ana", _now())
            await slack.wait_for(lambda r: sum(x.path.endswith("chat.update") for x in r) == 2)
            await smtp.wait_for_messages(2)
            await hook.wait_for_requests(3)
            await eventually(lambda: _all_done(services, incident_id), what="the resolution pages done")

            channel = root.channel
            [message] = slack.messages(channel)  # one message for the incident, updated in place
            assert "lim_ack" not in str(message.blocks)  # no buttons once resolved
            replies = slack.thread(channel, message.ts)
            assert len(replies) == 2  # acknowledged, resolved: in the thread
            assert len(slack.calls("chat.postMessage")) == 3
            assert len(smtp.received) == 2
            posts = hook.posts()
            assert [p.json["events"][0]["type"] for p in posts] == [
                "incident.triggered", "incident.acknowledged", "incident.resolved"
            ]  # fmt: skip
            assert all(p.verified for p in posts), [p.verify_error for p in posts]
            assert len(hook.unique_ids()) == 3

            events = await timeline(services, incident_id)
            attempts = [e for e in events if e.kind == "notification_attempt"]
            assert Counter((e.data["channel"], e.data["result"]) for e in attempts) == {
                ("slack", "sent"): 3, ("email", "sent"): 2, ("webhook", "sent"): 3
            }  # fmt: skip
            assert all({"latency_ms", "attempt", "recipient", "receiver"} <= e.data.keys() for e in attempts)


def _now() -> datetime:
    return datetime.now(UTC)


async def _all_done(services: Services, incident_id: str | None) -> list[PageRecord] | None:
    found = await pages(services, incident_id)
    return found if settled(found) and all(p.state is PageState.DONE for p in found) else None


async def test_provider_errors_are_retried_then_the_fallback_takes_over(database_url: str) -> None:
    async with FakeWebhookReceiver() as primary, SmtpServer() as smtp:
        primary.fail_always(500)
        receivers = [
            {"name": "primary", "webhook_configs": [{"url": primary.endpoint()}], "fallback": "backup"},
            {"name": "backup", "email_configs": [email_config(smtp)]},
        ]
        async with service(database_url, config(receivers)) as services:
            [result] = await ingest(services, alert(unique("LatencyHigh")))
            [mail] = await smtp.wait_for_messages(1)
            found = await eventually(lambda: _settled(services, result.incident_id), what="pages settled")
            states = {p.receiver: p.state for p in found}
            assert states == {"primary": PageState.FALLBACK, "backup": PageState.DONE}
            assert len(primary.requests) == 3  # the configured attempts, then no more
            gaps = [b.at - a.at for a, b in zip(primary.requests, primary.requests[1:], strict=False)]
            assert gaps[0] >= 0.045  # the backoff was waited
            assert gaps[1] >= 0.09
            events = await timeline(services, result.incident_id)
            [fallback] = [e for e in events if e.kind == "notification_fallback"]
            assert fallback.data["to_receiver"] == "backup"
            assert "500" in fallback.data["reason"] or "Internal" in fallback.data["reason"]
            assert "LatencyHigh" in str(mail.message["Subject"])


async def _settled(services: Services, incident_id: str | None) -> list[PageRecord] | None:
    found = await pages(services, incident_id)
    return found if settled(found) else None


async def test_429_waits_for_retry_after(database_url: str) -> None:
    async with FakeSlack() as slack:
        slack.fail_next(1, status=429, retry_after=1)
        async with service(database_url, config([slack_receiver("team", slack)])) as services:
            [result] = await ingest(services, alert(unique("TokensSpike")))
            calls = await slack.wait_for(lambda r: sum(x.path.endswith("chat.postMessage") for x in r) == 2)
            first, second = [c for c in calls if c.path.endswith("chat.postMessage")]
            assert second.at - first.at >= 0.95
            found = await eventually(lambda: _all_done(services, result.incident_id), what="the page done")
            assert found[0].attempts == 2


async def test_a_final_error_is_a_dead_letter_and_an_incident_of_our_own(database_url: str) -> None:
    async with FakeWebhookReceiver() as broken, FakeWebhookReceiver() as ops:
        broken.fail_always(400)
        receivers = [
            {"name": "team", "webhook_configs": [{"url": broken.endpoint()}]},
            {"name": "self", "webhook_configs": [{"url": ops.endpoint()}]},
        ]
        cfg = config(receivers, self_monitoring_receiver="self")
        async with service(database_url, cfg) as services:
            [result] = await ingest(services, alert(unique("QualityDrop")))
            failed = await eventually(lambda: _in_state(services, PageState.FAILED), what="a dead letter")
            assert [p.incident_id for p in failed] == [result.incident_id]
            assert failed[0].last_status == 400
            assert len(broken.requests) == 1  # a 4xx other than 408/429 is not retried
            [own] = await ops.wait_for_requests(1)
            event = own.json["events"][0]
            assert event["type"] == "incident.triggered"
            assert event["incident"]["source"] == "lim"
            assert "team/webhook_configs[0]" in event["incident"]["title"]
            assert services.notifications is not None
            assert services.notifications.dispatcher.metrics.finished[("webhook", "failed")] == 1


async def _settled_all(services: Services, incident_ids: list[str | None]) -> list[PageRecord] | None:
    found = [p for i in incident_ids for p in await pages(services, i)]
    return found if settled(found) else None


async def _in_state(services: Services, state: PageState) -> list[PageRecord]:
    return (await services.store.list_pages(state, None, None, 50)).items


async def test_the_breaker_opens_holds_sends_back_and_recovers(database_url: str) -> None:
    async with FakeWebhookReceiver() as hook:
        hook.fail_always(503)
        delivery = {
            "retry": {"attempts": 10, "backoff": [0.05], "jitter": 0},
            "breaker": {"failures": 2, "open_for": "1s"},
        }
        cfg = config([{"name": "team", "webhook_configs": [{"url": hook.endpoint()}]}], delivery=delivery)
        async with service(database_url, cfg) as services:
            [result] = await ingest(services, alert(unique("Down")))
            await hook.wait_for_requests(2)
            assert services.notifications is not None
            [breaker] = services.notifications.dispatcher.breakers.values()
            await eventually(_async(lambda: breaker.state == "open"), what="the breaker open")
            hook.heal()
            found = await eventually(lambda: _all_done(services, result.incident_id), what="delivered after the probe")
            requests = hook.requests
            assert len(requests) == 3  # two failures, then nothing until the probe, which succeeded
            assert requests[2].at - requests[1].at >= 0.95
            assert breaker.state == "closed"
            assert breaker.opened == 1
            assert found[0].attempts == 3


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()

    return run


async def test_an_open_breaker_sends_to_the_fallback_at_once(database_url: str) -> None:
    async with FakeWebhookReceiver() as hook, FakeWebhookReceiver() as backup:
        hook.fail_always(500)
        delivery = {
            "retry": {"attempts": 1, "backoff": [0.05], "jitter": 0},
            "breaker": {"failures": 1, "open_for": "1m"},
        }
        receivers = [
            {"name": "team", "webhook_configs": [{"url": hook.endpoint()}], "fallback": "backup"},
            {"name": "backup", "webhook_configs": [{"url": backup.endpoint()}]},
        ]
        async with service(database_url, config(receivers, delivery=delivery)) as services:
            await ingest(services, alert(unique("First")))
            await backup.wait_for_requests(1)
            await ingest(services, alert(unique("Second")))
            await backup.wait_for_requests(2)
            assert len(hook.requests) == 1  # the second page never tried the open channel
            fallbacks = await _in_state(services, PageState.FALLBACK)
            assert len(fallbacks) == 2


async def test_a_throttled_recipient_gets_one_coalesced_message(database_url: str) -> None:
    async with FakeSlack() as slack:
        delivery = {"throttle": {"slack": {"messages": 1, "per": "1s"}}}
        async with service(database_url, config([slack_receiver("team", slack)], delivery=delivery)) as services:
            await ingest(services, alert(unique("First")))
            await slack.wait_for(lambda r: any(x.path.endswith("chat.postMessage") for x in r))
            results = []
            for i in range(5):
                results += await ingest(services, alert(unique(f"Storm{i}"), service=unique("svc")))
            calls = await slack.wait_for(lambda r: sum(x.path.endswith("chat.postMessage") for x in r) == 2)
            first, second = [c for c in calls if c.path.endswith("chat.postMessage")]
            assert second.at - first.at >= 0.9
            text = str(second.params)
            assert all(f"Storm{i}" in text for i in range(5)), text
            storm = await eventually(lambda: _settled_all(services, [r.incident_id for r in results]), what="settled")
            assert Counter(p.state for p in storm) == {PageState.DONE: 1, PageState.COALESCED: 4}


async def test_low_severity_incidents_arrive_as_one_digest(database_url: str) -> None:
    async with SmtpServer() as smtp:
        email = email_config(smtp, digest={"interval": "1s", "severities": ["low"]})
        async with service(database_url, config([{"name": "team", "email_configs": [email]}])) as services:
            names = [unique("DiskLow") for _ in range(3)]
            await ingest(services, *(alert(n, Severity.LOW, service=n) for n in names))
            await ingest(services, alert(unique("Outage"), Severity.CRITICAL))
            mails = await smtp.wait_for_messages(2, timeout=5)
            digest = next(m for m in mails if "digest" in str(m.message["Subject"]).lower())
            body = digest.message.get_body(preferencelist=("plain",))
            assert body is not None
            assert all(n in body.get_content() for n in names)
            assert len(smtp.received) == 2


async def test_410_disables_the_endpoint(database_url: str) -> None:
    async with FakeWebhookReceiver() as hook:
        hook.respond("/gone", 410)
        cfg = config([{"name": "team", "webhook_configs": [{"url": hook.endpoint("/gone")}]}])
        async with service(database_url, cfg) as services:
            await ingest(services, alert(unique("A")))
            await eventually(lambda: _in_state(services, PageState.DROPPED), what="the page dropped")
            [result] = await ingest(services, alert(unique("B")))
            found = await eventually(lambda: _settled(services, result.incident_id), what="the second page settled")
            assert [p.state for p in found] == [PageState.DROPPED]
            assert len(hook.requests) == 1
            [(receiver, target, _)] = await services.store.load_disabled()
            assert (receiver, target) == ("team", "webhook_configs[0]")


async def test_a_redirect_is_a_failure_and_is_not_followed(database_url: str) -> None:
    async with FakeWebhookReceiver() as hook:
        hook.respond("/moved", 302, location=hook.endpoint("/elsewhere"))
        cfg = config([{"name": "team", "webhook_configs": [{"url": hook.endpoint("/moved")}]}])
        async with service(database_url, cfg) as services:
            [result] = await ingest(services, alert(unique("A")))
            failed = await eventually(lambda: _in_state(services, PageState.FAILED), what="a dead letter")
            [page] = [p for p in failed if p.incident_id == result.incident_id]
            assert page.last_status == 302
            assert "/elsewhere" not in [r.path for r in hook.requests]


async def test_a_restart_sends_what_was_due_and_nothing_twice(database_url: str) -> None:
    async with FakeWebhookReceiver() as hook:
        hook.fail_always(503)
        delivery = {"retry": {"attempts": 50, "backoff": [0.3], "jitter": 0}}
        cfg = config([{"name": "team", "webhook_configs": [{"url": hook.endpoint()}]}], delivery=delivery)
        async with service(database_url, cfg) as services:
            results = await ingest(services, *(alert(unique("R"), service=unique("svc")) for _ in range(5)))
            assert len({r.incident_id for r in results}) == 5
            await hook.wait_for(lambda r: len({x.headers.get("webhook-id") for x in r}) == 5)
        hook.heal()
        async with service(database_url, cfg) as services:
            await hook.wait_for(
                lambda r: len({x.headers.get("webhook-id") for x in r if x.response_status == 200}) == 5
            )
            for r in results:
                await eventually(lambda r=r: _all_done(services, r.incident_id), what="pages done after the restart")
            delivered = Counter(x.headers.get("webhook-id") for x in hook.requests if x.response_status == 200)
            assert all(n == 1 for n in delivered.values()), delivered


async def test_an_added_alert_pages_when_its_window_ends_not_at_the_next_poll(database_url: str) -> None:
    """The commit that plans a page due later (an added alert's ``group_interval`` window) wakes the dispatcher for
    that moment: with a poll interval of a minute the page still goes out as its window ends, not before."""
    async with FakeWebhookReceiver() as hook:
        cfg = config(
            [{"name": "team", "webhook_configs": [{"url": hook.endpoint()}]}],
            route={"group_interval": "1s"},
            delivery={"poll_interval": "60s"},
        )
        async with service(database_url, cfg) as services:
            node = unique("gpu-")
            [opened] = await ingest(services, alert(unique("GPUNodeDown"), node=node))
            await hook.wait_for_requests(1)  # the incident's opening page: due at once
            [added] = await ingest(services, alert(unique("HighLatency"), node=node, service=unique("svc")))
            assert added.incident_id == opened.incident_id  # grouped (topology: the same node)
            [page] = [p for p in await pages(services, opened.incident_id) if p.event == "alert_added"]
            assert page.next_at > datetime.now(UTC)  # due at the window's end, not yet
            await hook.wait_for_requests(2, timeout=10)
            done = await eventually(lambda: _all_done(services, opened.incident_id), what="both pages done")
            [sent] = [p for p in done if p.event == "alert_added"]
            assert sent.done_at is not None
            assert sent.done_at >= page.next_at


async def test_a_receiver_without_integrations_pages_nobody(database_url: str) -> None:
    async with service(database_url, config([{"name": "team"}], root="team")) as services:
        [result] = await ingest(services, alert(unique("Quiet")))
        assert result.incident_id is not None
        assert await pages(services) == []


async def test_a_provider_too_slow_to_answer_is_retried_with_the_same_id(database_url: str) -> None:
    """The receiver does the work but answers after our timeout: the retry carries the same webhook-id, which is
    how the receiver drops the repeat."""
    async with FakeWebhookReceiver(SECRET) as hook:
        hook.fail_next(1, status=200, delay=1.5)
        cfg = config([{"name": "team", "webhook_configs": [{"url": hook.endpoint(), "signing_secret": SECRET}]}],
                     delivery={"timeout": "0.3s"})  # fmt: skip
        async with service(database_url, cfg) as services:
            [result] = await ingest(services, alert(unique("Slow")))
            [page] = await eventually(lambda: _all_done(services, result.incident_id), what="the page done")
            assert page.attempts == 2
            assert len(hook.requests) == 2
            assert len(hook.unique_ids()) == 1
            events = await timeline(services, result.incident_id)
            first = next(e for e in events if e.kind == "notification_attempt")
            assert (first.data["result"], first.data["attempt"]) == ("failed", 1)
            assert "timeout" in first.data["error"].lower() or "no answer within" in first.data["error"]


async def test_a_rejected_request_does_not_open_the_breaker_for_other_recipients(database_url: str) -> None:
    """A 4xx says the request was bad (one recipient), not that the endpoint is down: the breaker stays closed."""
    async with FakeWebhookReceiver() as hook:
        hook.respond("/bad", 400)
        delivery = {"breaker": {"failures": 1, "open_for": "1m"}}
        receivers = [
            {"name": "team", "webhook_configs": [{"url": hook.endpoint("/bad")}, {"url": hook.endpoint("/good")}]}
        ]
        async with service(database_url, config(receivers, delivery=delivery)) as services:
            for _ in range(3):
                await ingest(services, alert(unique("Mixed"), service=unique("svc")))
            await hook.wait_for(lambda r: sum(x.path == "/good" for x in r) >= 3)
            # three pages, plus those of the incident the dead letters raised (sent to the same receiver)
            assert sum(x.path == "/bad" for x in hook.requests) >= 3
            assert services.notifications is not None
            assert all(b.state == "closed" for b in services.notifications.dispatcher.breakers.values())


async def test_a_fallback_that_takes_no_such_event_leaves_a_dead_letter(database_url: str) -> None:
    async with FakeWebhookReceiver() as hook, SmtpServer() as smtp:
        hook.fail_always(400)
        receivers = [
            {"name": "team", "webhook_configs": [{"url": hook.endpoint()}], "fallback": "mail"},
            {"name": "mail", "email_configs": [email_config(smtp, events=["resolved"])]},
        ]
        async with service(database_url, config(receivers)) as services:
            [result] = await ingest(services, alert(unique("Orphan")))
            found = await eventually(lambda: _settled(services, result.incident_id), what="the page settled")
            assert [(p.receiver, p.state) for p in found] == [("team", PageState.FAILED)]
            assert smtp.received == []


async def test_a_claimed_batch_reads_its_incidents_at_once_and_each_send_carries_its_own(database_url: str) -> None:
    """Pages of many incidents claimed together (their incidents and thread refs read in one go): each webhook body
    carries the incident of its own page, with the title, service and counts of that incident, and secrets in
    its labels are gone."""
    async with FakeWebhookReceiver() as hook:
        cfg = config([{"name": "team", "webhook_configs": [{"url": hook.endpoint()}]}])
        async with service(database_url, cfg) as services:
            alerts = [alert(unique("Batch"), service=unique("svc"), api_key="sk-live-hunter2") for _ in range(6)]
            results = await ingest(services, *alerts)
            incidents = {r.incident_id for r in results}
            assert len(incidents) == 6
            await hook.wait_for(lambda r: len({x.headers.get("webhook-id") for x in r}) >= 6)
            for incident_id in incidents:
                await eventually(lambda i=incident_id: _all_done(services, i), what="pages done")
            bodies = [json.loads(r.body) for r in hook.requests]
            by_incident = {e["incident"]["id"]: e for b in bodies for e in b["events"]}
            assert set(by_incident) == incidents
            for incident_id, event in by_incident.items():
                stored = await services.reader.get_incident(incident_id)
                assert stored is not None
                assert event["incident"]["title"] == stored.title
                assert event["incident"]["service"] == stored.service
                assert event["url"].endswith(incident_id)
                assert "api_key" not in event["incident"]["labels"]
            assert b"hunter2" not in b"".join(r.body for r in hook.requests)
