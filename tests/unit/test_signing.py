"""notify/signing.py against the independent implementations its counterparts use: the standardwebhooks library
(what a receiver of our webhooks runs), slack-sdk's SignatureVerifier and SignatureVerifier-style signing, and
twilio's RequestValidator."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from twilio.request_validator import RequestValidator

from llm_incident_manager.notify import signing

SECRETS = st.binary(min_size=1, max_size=64).map(lambda b: "whsec_" + base64.b64encode(b).decode())
IDS = st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=122, exclude_characters="."), min_size=1)
BODIES = st.binary(max_size=512).map(lambda b: b.hex().encode())  # the library decodes the body as UTF-8


@given(SECRETS, IDS, BODIES)
def test_standard_webhooks_library_verifies_what_we_sign(secret: str, msg_id: str, body: bytes) -> None:
    now = int(time.time())
    headers = signing.sign_standard_webhook(secret, msg_id, now, body)
    Webhook(secret).verify(body, headers, json_parse=False)  # raises if it does not verify
    assert signing.verify_standard_webhook(secret, headers, body, now)
    # and the library's own signature verifies with ours
    theirs = Webhook(secret).sign(msg_id, datetime.fromtimestamp(now, UTC), body.decode())
    assert signing.verify_standard_webhook(secret, {**headers, "webhook-signature": theirs}, body, now)


@given(SECRETS, IDS, BODIES, st.integers(0, 255))
def test_a_changed_body_or_a_stale_timestamp_does_not_verify(secret: str, msg_id: str, body: bytes, byte: int) -> None:
    now = int(time.time())
    headers = signing.sign_standard_webhook(secret, msg_id, now, body)
    tampered = body + bytes([byte])
    assert not signing.verify_standard_webhook(secret, headers, tampered, now)
    assert not signing.verify_standard_webhook(secret, headers, body, now + signing.TOLERANCE_SECONDS + 1)
    stale = signing.sign_standard_webhook(secret, msg_id, now - 301, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, stale, json_parse=False)
    assert not signing.verify_standard_webhook(secret, stale, body, now)
    assert not signing.verify_standard_webhook(secret, {"webhook-id": msg_id}, body, now)
    assert not signing.verify_standard_webhook(secret, {**headers, "webhook-id": msg_id + ".x"}, body, now)


def test_a_plain_secret_is_its_utf8_bytes_and_several_signatures_may_be_sent() -> None:
    body = b'{"incident": "x"}'
    headers = signing.sign_standard_webhook("plain-secret", "msg_1", 1_800_000_000, body)
    as_bytes = signing.sign_standard_webhook(b"plain-secret", "msg_1", 1_800_000_000, body)
    assert headers == as_bytes
    rotated = {**headers, "webhook-signature": "v1,AAAA " + headers["webhook-signature"]}
    assert signing.verify_standard_webhook("plain-secret", rotated, body, 1_800_000_000)
    assert not signing.verify_standard_webhook("other", headers, body, 1_800_000_000)


# slack-sdk refuses a secret that is only whitespace (NBSP, ideographic space...): no real secret is one
SLACK_SECRETS = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=40).filter(
    str.strip
)


@given(SLACK_SECRETS, BODIES)
def test_slack_sdk_verifies_our_slack_signature_and_we_verify_its(secret: str, body: bytes) -> None:
    now = int(time.time())
    stamp = str(now)
    ours = signing.slack_signature(secret, stamp, body)
    verifier = SignatureVerifier(secret)
    assert verifier.is_valid(body, stamp, ours)
    assert ours == verifier.generate_signature(timestamp=stamp, body=body)
    assert signing.verify_slack(secret, stamp, body, ours, now)
    assert not signing.verify_slack(secret, stamp, body + b"x", ours, now)
    assert not signing.verify_slack(secret, stamp, body, ours, now + 301)
    assert not signing.verify_slack(secret, None, body, ours, now)
    assert not signing.verify_slack(secret, stamp, body, None, now)


@given(
    st.text(alphabet="abcdef0123456789", min_size=32, max_size=32),
    st.dictionaries(st.sampled_from(["CallSid", "Digits", "From", "To", "CallStatus"]), st.text(max_size=20)),
)
def test_twilio_request_validator_agrees(token: str, params: dict[str, str]) -> None:
    url = "https://lim.example.com/api/v1/integrations/twilio/voice?incident=abc"
    ours = signing.twilio_signature(token, url, params)
    validator = RequestValidator(token)
    assert ours == validator.compute_signature(url, params)
    assert validator.validate(url, params, ours)
    assert signing.verify_twilio(token, url, params, ours)
    assert not signing.verify_twilio(token, url + "x", params, ours)
    assert not signing.verify_twilio(token, url, params, None)
