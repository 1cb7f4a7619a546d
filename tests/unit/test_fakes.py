"""The provider fakes of tests/fakes, each driven by the real client library our notification code uses:
slack-sdk's AsyncWebClient and AsyncWebhookClient, twilio's Client with AsyncTwilioHttpClient, aiohttp for
PagerDuty and webhooks (signed by the standardwebhooks library), aiosmtplib against the aiosmtpd server."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from email.message import EmailMessage

import aiohttp
import aiosmtplib
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from standardwebhooks.webhooks import Webhook
from twilio.base.exceptions import TwilioRestException

from tests.fakes.providers import (
    FakePagerDuty,
    FakeSlack,
    FakeTwilio,
    FakeWebhookReceiver,
    Recorded,
    basic_auth_header,
    sms_segments,
    twilio_client,
)
from tests.fakes.smtp import SmtpServer

ROUTING_KEY = "R" * 32


def _slack_client(slack: FakeSlack, token: str | None = None) -> AsyncWebClient:
    return AsyncWebClient(token=token or slack.token, base_url=slack.api_url, retry_handlers=[])


# -- Slack ----------------------------------------------------------------------------------------------------


async def test_slack_post_update_history_with_the_real_web_client() -> None:
    async with FakeSlack() as slack:
        client = _slack_client(slack)
        assert (await client.auth_test())["bot_id"] == slack.bot_id
        metadata = {"event_type": "incident", "event_payload": {"id": "inc-1"}}
        posted = await client.chat_postMessage(channel="C1", text="firing", metadata=metadata)
        assert posted["ok"]
        assert posted["channel"] == "C1"
        ts = posted["ts"]
        reply = await client.chat_postMessage(channel="C1", text="still firing", thread_ts=ts)
        later = await client.chat_postMessage(channel="C1", blocks=[{"type": "section"}], text="second")
        assert ts < reply["ts"] < later["ts"]

        updated = await client.chat_update(channel="C1", ts=ts, text="resolved")
        assert updated["message"]["text"] == "resolved"

        history = await client.conversations_history(channel="C1", include_all_metadata=True, limit=10)
        assert [m["ts"] for m in history["messages"]] == [later["ts"], ts]  # newest first, no thread replies
        first = history["messages"][1]
        assert first["text"] == "resolved"
        assert first["metadata"] == metadata
        assert first["reply_count"] == 1
        oldest = await client.conversations_history(channel="C1", oldest=ts)
        assert [m["ts"] for m in oldest["messages"]] == [later["ts"]]

        [parent, second] = slack.messages("C1")
        assert (parent.text, parent.metadata, len(parent.edits)) == ("resolved", metadata, 1)
        assert second.blocks == [{"type": "section"}]
        assert [m.text for m in slack.thread("C1", ts)] == ["still firing"]
        assert len(slack.calls("chat.postMessage")) == 3
        assert slack.calls("chat.update")[0].json["text"] == "resolved"

        with pytest.raises(SlackApiError) as missing:
            await client.chat_update(channel="C1", ts="1.000000", text="x")
        assert missing.value.response["error"] == "message_not_found"


async def test_slack_form_bodies_threads_and_metadata_gating() -> None:
    async with FakeSlack(metadata_requires_flag=True) as slack, aiohttp.ClientSession() as session:
        auth = {"Authorization": f"Bearer {slack.token}"}
        form = {"channel": "C2", "blocks": json.dumps([{"type": "divider"}]), "metadata": json.dumps({"k": 1})}
        async with session.post(f"{slack.api_url}chat.postMessage", data=form, headers=auth) as response:
            parent = await response.json()
        assert parent["ok"]
        assert slack.messages("C2")[0].blocks == [{"type": "divider"}]
        client = _slack_client(slack)
        await client.chat_postMessage(channel="C2", text="reply", thread_ts=parent["ts"])
        replies = await client.conversations_replies(channel="C2", ts=parent["ts"])
        assert [m.get("text") for m in replies["messages"]] == ["", "reply"]
        plain = await client.conversations_history(channel="C2")
        assert "metadata" not in plain["messages"][0]
        full = await client.conversations_history(channel="C2", include_all_metadata=True)
        assert full["messages"][0]["metadata"] == {"k": 1}


async def test_slack_rejects_a_wrong_token_with_http_200_as_slack_does() -> None:
    async with FakeSlack() as slack:
        with pytest.raises(SlackApiError) as bad:
            await _slack_client(slack, token="xoxb-wrong").chat_postMessage(channel="C1", text="x")
        assert (bad.value.response.status_code, bad.value.response["error"]) == (200, "invalid_auth")
        with pytest.raises(SlackApiError) as no_channel:
            await _slack_client(slack).chat_postMessage(channel="", text="x")
        assert no_channel.value.response["error"] == "channel_not_found"
        assert slack.messages("C1") == []


async def test_a_programmed_429_surfaces_as_slack_api_error_with_retry_after() -> None:
    async with FakeSlack() as slack:
        client = _slack_client(slack)
        slack.fail_next(1, status=429, retry_after=7)
        with pytest.raises(SlackApiError) as limited:
            await client.chat_postMessage(channel="C1", text="x")
        response = limited.value.response
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"
        assert response.data == {"ok": False, "error": "ratelimited"}
        assert slack.messages("C1") == []  # a failed request is not processed

        await client.chat_postMessage(channel="C1", text="x")  # the fault was consumed
        assert [m.text for m in slack.messages("C1")] == ["x"]
        assert [r.response_status for r in slack.requests] == [429, 200]


async def test_slack_incoming_webhook_with_the_real_webhook_client() -> None:
    async with FakeSlack() as slack:
        client = AsyncWebhookClient(slack.webhook_url, retry_handlers=[])
        response = await client.send(text="hello", blocks=[{"type": "divider"}])
        assert (response.status_code, response.body) == (200, "ok")
        assert slack.webhook_posts == [
            {"path": FakeSlack.WEBHOOK_PATH, "text": "hello", "blocks": [{"type": "divider"}]}
        ]
        slack.fail_next(1, status=503)
        failed = await client.send(text="again")
        assert failed.status_code == 503
        assert len(slack.webhook_posts) == 1
        assert len(slack.webhook_calls()) == 2


# -- Twilio ---------------------------------------------------------------------------------------------------


async def test_twilio_messages_and_calls_with_the_real_client() -> None:
    async with FakeTwilio() as fake:
        client = twilio_client(fake)
        try:
            message = await client.messages.create_async(to="+15550001111", from_="+15550002222", body="disk full")
            call = await client.calls.create_async(to="+15550001111", from_="+15550002222", twiml="<Response/>")
        finally:
            await client.http_client.close()
    assert message.sid is not None
    assert message.sid.startswith("SM")
    assert len(message.sid) == 34
    assert (message.status, message.body, message.to, message.num_segments) == (
        "queued",
        "disk full",
        "+15550001111",
        "1",
    )
    assert message.date_created is not None
    assert call.sid is not None
    assert call.sid.startswith("CA")
    assert call.status == "queued"
    assert fake.messages() == [{"To": "+15550001111", "From": "+15550002222", "Body": "disk full"}]
    assert fake.calls() == [{"To": "+15550001111", "From": "+15550002222", "Twiml": "<Response/>"}]


async def test_twilio_errors_surface_as_twilio_rest_exception() -> None:
    async with FakeTwilio() as fake:
        client = twilio_client(fake)
        wrong = twilio_client(fake, auth_token="wrong")
        try:
            fake.fail_next(1, status=500)
            with pytest.raises(TwilioRestException) as failed:
                await client.messages.create_async(to="+15550001111", from_="+15550002222", body="x")
            assert (failed.value.status, failed.value.code) == (500, 20500)
            with pytest.raises(TwilioRestException) as unauthenticated:
                await wrong.messages.create_async(to="+15550001111", from_="+15550002222", body="x")
            assert (unauthenticated.value.status, unauthenticated.value.code) == (401, 20003)
            with pytest.raises(TwilioRestException) as no_body:
                await client.messages.create_async(to="+15550001111", from_="+15550002222")
            assert (no_body.value.status, no_body.value.code) == (400, 21602)
        finally:
            await client.http_client.close()
            await wrong.http_client.close()
    assert fake.messages() == []


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning")
async def test_the_stock_async_twilio_http_client_reaches_the_fake_too() -> None:
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    async with FakeTwilio() as fake:
        client = Client(
            fake.account_sid, fake.auth_token, http_client=AsyncTwilioHttpClient(), environment={"TWILIO_FAKE": "1"}
        )
        client.api.base_url = fake.url
        try:
            message = await client.messages.create_async(to="+15550001111", from_="+15550002222", body="x")
        finally:
            await client.http_client.close()
    assert message.status == "queued"


async def test_twilio_without_to_is_21604() -> None:
    async with FakeTwilio() as fake, aiohttp.ClientSession() as session:
        url = f"{fake.url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
        auth = {"Authorization": basic_auth_header(fake.account_sid, fake.auth_token)}
        async with session.post(url, data={"From": "+1", "Body": "x"}, headers=auth) as response:
            assert response.status == 400
            assert (await response.json())["code"] == 21604


def test_sms_segments() -> None:
    assert sms_segments("x" * 160) == 1
    assert sms_segments("x" * 161) == 2
    assert sms_segments("é" * 160) == 1  # in the GSM-7 alphabet
    assert sms_segments("ł" * 70) == 1
    assert sms_segments("ł" * 71) == 2


# -- PagerDuty ------------------------------------------------------------------------------------------------


async def test_pagerduty_events_api() -> None:
    trigger = {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "payload": {"summary": "GPU OOM", "source": "node-1", "severity": "critical"},
    }
    async with FakePagerDuty() as pd, aiohttp.ClientSession() as session:
        async with session.post(pd.enqueue_url, json=trigger) as response:
            assert response.status == 202
            accepted = await response.json()
        assert accepted["status"] == "success"
        dedup_key = accepted["dedup_key"]
        resolve = {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": dedup_key}
        async with session.post(pd.enqueue_url, json=resolve) as response:
            assert response.status == 202
        bad = {"routing_key": "short", "event_action": "trigger", "payload": {"summary": "x"}}
        async with session.post(pd.enqueue_url, json=bad) as response:
            assert response.status == 400
            invalid = await response.json()
        assert invalid["status"] == "invalid event"
        assert len(invalid["errors"]) == 3  # routing_key, payload.source, payload.severity
    assert [e["event_action"] for e in pd.events] == ["trigger", "resolve"]
    assert pd.state == {dedup_key: "resolve"}


async def test_a_slow_answer_times_the_client_out_after_the_provider_acted() -> None:
    event = {"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": "k"}
    started = time.monotonic()
    async with FakePagerDuty() as pd, aiohttp.ClientSession() as session:
        pd.fail_next(1, status=202, delay=30)
        with pytest.raises(TimeoutError):
            async with session.post(pd.enqueue_url, json=event, timeout=aiohttp.ClientTimeout(total=0.2)):
                pass
        assert pd.state == {"k": "acknowledge"}
    assert time.monotonic() - started < 2  # stopping the fake cut the 30 s delay short


# -- fault plumbing shared by all fakes -----------------------------------------------------------------------


async def test_on_request_runs_after_processing_and_before_the_answer() -> None:
    seen: list[tuple[str, int | None, int]] = []
    async with FakeSlack() as slack:

        async def hook(rec: Recorded) -> None:
            seen.append((rec.path, rec.response_status, len(slack.messages("C1"))))

        slack.on_request = hook
        await _slack_client(slack).chat_postMessage(channel="C1", text="x")
    assert seen == [("/api/chat.postMessage", 200, 1)]


async def test_fail_always_heal_and_wait_for() -> None:
    async with FakeWebhookReceiver() as hook, aiohttp.ClientSession() as session:
        hook.fail_always(502)
        async with session.post(hook.endpoint(), data=b"1") as response:
            assert response.status == 502
        hook.heal()
        waiter = asyncio.create_task(hook.wait_for(lambda reqs: len(reqs) >= 2, timeout=5))
        async with session.post(hook.endpoint(), data=b"2") as response:
            assert response.status == 200
        assert len(await waiter) == 2
        with pytest.raises(TimeoutError, match=r"POST /hook -> 200: 2"):
            await hook.wait_for(lambda reqs: len(reqs) >= 3, timeout=0.05)


# -- webhooks -------------------------------------------------------------------------------------------------


async def test_webhook_receiver_verifies_standard_webhooks_signatures() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = json.dumps({"type": "incident.opened"})
    signature = Webhook(secret).sign("msg_1", datetime.now(UTC), body)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(time.time())), "webhook-signature": signature}
    async with FakeWebhookReceiver(secret) as hook, aiohttp.ClientSession() as session:
        for data in (body, body + " "):
            async with session.post(hook.endpoint(), data=data, headers=headers) as response:
                assert response.status == 200
    good, tampered = hook.requests
    assert (good.verified, good.verify_error) == (True, None)
    assert tampered.verified is False
    assert tampered.verify_error is not None
    assert "No matching signature" in tampered.verify_error
    assert hook.verified_requests() == [good]
    assert hook.unique_ids() == {"msg_1"}


async def test_webhook_receiver_with_a_raw_secret_and_per_path_answers() -> None:
    raw = "not-base64-at-all"
    body = b'{"a":1}'
    signature = Webhook(raw.encode()).sign("msg_2", datetime.now(UTC), body.decode())
    headers = {"webhook-id": "msg_2", "webhook-timestamp": str(int(time.time())), "webhook-signature": signature}
    async with FakeWebhookReceiver(raw) as hook, aiohttp.ClientSession() as session:
        hook.respond("/gone", 410)
        hook.respond("/moved", 301, location="http://127.0.0.1:9/elsewhere")
        async with session.post(hook.endpoint("/gone"), data=body, headers=headers) as response:
            assert response.status == 410
        async with session.post(hook.endpoint("/moved"), data=body, headers=headers, allow_redirects=False) as r:
            assert (r.status, r.headers["Location"]) == (301, "http://127.0.0.1:9/elsewhere")
    assert [r.verified for r in hook.requests] == [True, True]
    assert [r.path for r in hook.posts()] == ["/gone", "/moved"]


# -- SMTP -----------------------------------------------------------------------------------------------------


def _mail(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "lim@example.test"
    message["To"] = "oncall@example.test"
    message["Subject"] = subject
    message.set_content("body text")
    return message


SMTP_PASSWORD = "s3cret"


async def _send(smtp: SmtpServer, subject: str, username: str | None = "alerts", password: str = SMTP_PASSWORD) -> None:
    await aiosmtplib.send(
        _mail(subject),
        hostname=smtp.host,
        port=smtp.port,
        username=username,
        password=password if username is not None else None,
        use_tls=False,
        start_tls=False,
    )


async def test_smtp_with_auth_and_a_programmed_451() -> None:
    async with SmtpServer(username="alerts", password=SMTP_PASSWORD) as smtp:
        await _send(smtp, "first")
        [mail] = await smtp.wait_for_messages(1, timeout=5)
        assert (mail.mail_from, mail.rcpt_tos, mail.login) == ("lim@example.test", ["oncall@example.test"], "alerts")
        assert mail.message["Subject"] == "first"
        assert mail.message.get_content().strip() == "body text"

        smtp.fail_next(1, code=451)
        with pytest.raises(aiosmtplib.SMTPDataError) as temporary:
            await _send(smtp, "second")
        assert temporary.value.code == 451
        smtp.fail_next(1, code=450, stage="RCPT")
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await _send(smtp, "third")

        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await _send(smtp, "x", password="nope")
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as anonymous:
            await _send(smtp, "x", username=None)
        assert anonymous.value.code == 530

        await _send(smtp, "fourth")
        received = await smtp.wait_for(lambda got: len(got) >= 2, timeout=5)
        assert [m.message["Subject"] for m in received] == ["first", "fourth"]
        assert smtp.rejected == 2
        assert smtp.auth_failures >= 1  # aiosmtplib tries each offered mechanism (PLAIN, LOGIN) in turn


def test_smtp_server_as_a_plain_context_manager() -> None:
    with SmtpServer() as smtp:
        assert smtp.port > 0
        assert not smtp.require_auth

        async def send() -> None:
            await _send(smtp, "sync", username=None)
            await smtp.wait_for_messages(1, timeout=5)

        asyncio.run(send())
    assert smtp.received[0].login is None
