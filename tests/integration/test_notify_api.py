"""The notification endpoints over HTTP: dead letters listed, metrics, Slack's buttons and Twilio's voice
callback, each authenticated by the provider's signature (checked here with the providers' own libraries)."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import yaml
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from tests.fakes.providers import FakeSlack, FakeTwilio
from tests.fakes.threaded import LoopThread
from tests.integration.conftest import Api, make_settings, running
from tests.integration.notify_helpers import FAST, eventually

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PUBLIC = "https://lim.example.com"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture
async def api(database_url: str, tmp_path: Path, twilio: FakeTwilio) -> AsyncIterator[Api]:
    doc = {
        "route": {"receiver": "oncall"},
        "users": [{"name": "ana", "slack_user": "U01ANA", "phone": "+15550001111"}],
        "receivers": [
            {
                "name": "oncall",
                "twilio_voice_configs": [{"to": "+15550001111"}],
                "twilio_sms_configs": [{"to": "+15550001111"}],
            },
        ],
        "notifications": {
            "public_url": PUBLIC,
            "delivery": FAST,
            "slack": {"signing_secret": SLACK_SECRET},
            "twilio": {
                "account_sid": twilio.account_sid,
                "auth_token": twilio.auth_token,
                "from": "+15559990000",
                "api_url": twilio.url,
            },
        },
    }
    path = tmp_path / "lim.yaml"
    path.write_text(yaml.safe_dump(doc))
    async with running(make_settings(database_url, config_path=str(path))) as api:
        yield api


async def _incident(api: Api, title: str = "GPU node down") -> str:
    [result] = await api.alerts([{"title": title, "severity": "critical", "labels": {"service": "chat"}}])
    incident_id: str = result["incident_id"]
    return incident_id


async def test_a_voice_page_reads_the_incident_and_a_keypress_acknowledges(api: Api, twilio: FakeTwilio) -> None:
    incident_id = await _incident(api)
    await twilio.wait_for(lambda r: any(x.path.endswith("/Calls.json") for x in r))
    await twilio.wait_for(lambda r: any(x.path.endswith("/Messages.json") for x in r))
    [call] = twilio.calls()
    [sms] = twilio.messages()
    assert call["To"] == "+15550001111"
    assert "GPU node down" in sms["Body"]
    twiml = ET.fromstring(call["Twiml"])  # noqa: S314 - our own TwiML, from a local fake
    gather = twiml.find("Gather")
    assert gather is not None
    assert "GPU node down" in "".join(gather.itertext())
    action = gather.attrib["action"]
    assert action.startswith(f"{PUBLIC}/api/v1/integrations/twilio/voice?page=")
    url = urlsplit(action)
    form = {"CallSid": "CA" + "0" * 32, "Digits": "1", "To": "+15550001111", "From": "+15559990000"}
    signature = RequestValidator(twilio.auth_token).compute_signature(action, form)

    forged = await api.client.post(
        f"{url.path}?{url.query}", content=urlencode(form),
        headers={"X-Twilio-Signature": "bm9wZQ==", "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert forged.status_code == 401
    assert (await api.incident(incident_id))["status"] == "triggered"

    answer = await api.client.post(
        f"{url.path}?{url.query}", content=urlencode(form),
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert answer.status_code == 200
    assert "acknowledged" in answer.text.lower()
    assert answer.headers["content-type"].startswith("text/xml")
    incident = await api.incident(incident_id)
    assert incident["status"] == "acknowledged"
    assert incident["acknowledged_by"] == "user:ana"

    status_url = call["StatusCallback"]
    assert status_url.startswith(f"{PUBLIC}/api/v1/integrations/twilio/status?page=")
    status_form = {"CallSid": form["CallSid"], "CallStatus": "completed"}
    signed = RequestValidator(twilio.auth_token).compute_signature(status_url, status_form)
    parts = urlsplit(status_url)
    status = await api.client.post(
        f"{parts.path}?{parts.query}", content=urlencode(status_form),
        headers={"X-Twilio-Signature": signed, "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert status.status_code == 204
    events = (await api.get(f"/api/v1/incidents/{incident_id}/timeline")).json()["items"]
    assert [e["data"]["status"] for e in events if e["kind"] == "notification_status"] == ["completed"]


async def test_slack_buttons_act_as_the_mapped_responder(api: Api) -> None:
    incident_id = await _incident(api, "Token cost spike")
    verifier = SignatureVerifier(SLACK_SECRET)
    # the test client blocks this loop while the app answers, and the app calls Slack's response_url during the
    # request: the fake answers from a loop of its own
    with LoopThread() as fakes:
        slack = fakes.run(FakeSlack().start())
        try:
            await _clicks(api, incident_id, verifier, slack)
        finally:
            fakes.run(slack.stop())


async def _clicks(api: Api, incident_id: str, verifier: SignatureVerifier, slack: FakeSlack) -> None:
    async def click(user: str, action: str, *, timestamp: int | None = None, secret_ok: bool = True) -> Any:
        payload = {
            "type": "block_actions",
            "user": {"id": user},
            "response_url": slack.webhook_url,
            "actions": [{"action_id": action, "value": incident_id}],
        }
        body = urlencode({"payload": json.dumps(payload)})
        ts = str(timestamp if timestamp is not None else int(time.time()))
        signature = verifier.generate_signature(timestamp=ts, body=body) if secret_ok else "v0=" + "0" * 64
        return await api.client.post(
            "/api/v1/integrations/slack/interactions", content=body,
            headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
                     "Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip

    assert (await click("U01ANA", "lim_ack", secret_ok=False)).status_code == 401
    assert (await click("U01ANA", "lim_ack", timestamp=int(time.time()) - 600)).status_code == 401
    stranger = await click("U99", "lim_ack")
    assert stranger.status_code == 200
    assert "not mapped" in stranger.json()["text"]
    [hint] = slack.webhook_calls()  # what Slack shows the user: the answer sent to the interaction's response_url
    assert hint.json["response_type"] == "ephemeral"
    assert "not mapped" in hint.json["text"]
    assert (await api.incident(incident_id))["status"] == "triggered"

    ok = await click("U01ANA", "lim_ack")
    assert ok.status_code == 200, ok.text
    incident = await api.incident(incident_id)
    assert (incident["status"], incident["acknowledged_by"]) == ("acknowledged", "user:ana")
    assert (await click("U01ANA", "lim_resolve")).status_code == 200
    assert (await api.incident(incident_id))["status"] == "resolved"
    assert [c.json["text"] for c in slack.webhook_calls()[1:]] == ["acknowledged by ana", "resolved by ana"]


async def test_dead_letters_are_listed_and_counted(api: Api, twilio: FakeTwilio) -> None:
    twilio.fail_always(400)  # a final error: no retry, no fallback → a dead letter per page
    incident_id = await _incident(api, "Eval score drop")
    failed = await eventually(lambda: _failed(api, incident_id), what="the dead letters")
    assert {(p["channel"], p["event"], p["last_status"]) for p in failed} == {
        ("sms", "triggered", 400), ("voice", "triggered", 400)
    }  # fmt: skip
    everything = await api.get("/api/v1/notifications", params={"incident_id": incident_id}, role="viewer")
    assert everything.status_code == 200
    assert len(everything.json()["items"]) == 2
    one = await api.get(f"/api/v1/notifications/{failed[0]['id']}")
    assert one.json()["state"] == "failed"
    assert (await api.get("/api/v1/notifications/nope")).status_code == 404
    bad = await api.get("/api/v1/notifications", params={"state": "bogus"})
    assert bad.status_code == 400
    assert "state" in bad.text
    assert (await api.client.get("/api/v1/notifications")).status_code == 401
    metrics = await api.client.get("/metrics")
    assert metrics.status_code == 200
    values = dict(line.rsplit(" ", 1) for line in metrics.text.splitlines() if not line.startswith("#"))
    # ours two, plus those of the incident the dead letters raised (sent to the same failing phone)
    assert int(values['lim_notifications{state="failed"}']) >= 2
    assert int(values['lim_notification_dead_letters_total{channel="sms"}']) >= 1


async def _failed(api: Api, incident_id: str) -> list[dict[str, Any]] | None:
    response = await api.get("/api/v1/notifications", params={"state": "failed", "incident_id": incident_id})
    items: list[dict[str, Any]] = response.json()["items"]
    return items if len(items) == 2 else None
