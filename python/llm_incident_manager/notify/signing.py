"""Request signatures of the notification channels: what we sign and what we verify.

* **Standard Webhooks** (https://www.standardwebhooks.com), for our outgoing webhooks: headers ``webhook-id``,
  ``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` = ``v1,`` + base64(HMAC-SHA256(secret,
  ``{id}.{timestamp}.{body}``)). A secret written ``whsec_<base64>`` is the base64-decoded key, as the spec and
  its libraries have it; any other string is used as its UTF-8 bytes.
* **Slack** request signing, for the interactivity endpoint: ``X-Slack-Signature`` = ``v0=`` +
  hex(HMAC-SHA256(signing secret, ``v0:{X-Slack-Request-Timestamp}:{body}``)), the timestamp within 5 minutes.
* **Twilio** request validation, for status and gather callbacks: ``X-Twilio-Signature`` = base64(HMAC-SHA1(auth
  token, the full URL followed by each form parameter's name and value, sorted by name)).

Every comparison is constant-time (``hmac.compare_digest``). These few lines of ``hmac`` are written here rather
than taken from slack-sdk, twilio and standardwebhooks because each of those verifies only one side and reads its
own request objects; the tests check this module against all three libraries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

__all__ = [
    "TOLERANCE_SECONDS",
    "sign_standard_webhook",
    "slack_signature",
    "twilio_signature",
    "verify_slack",
    "verify_standard_webhook",
    "verify_twilio",
]

#: how far a signed timestamp may lie from now, either way (Slack's and the Standard Webhooks' 5 minutes)
TOLERANCE_SECONDS = 300


def _webhook_key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_") + "==")
    return secret.encode()


def sign_standard_webhook(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, sent with message id ``msg_id`` at ``timestamp``."""
    if not msg_id or any(c in msg_id for c in ".\r\n"):
        msg = "the message id must be non-empty and hold no '.' or line breaks"
        raise ValueError(msg)
    mac = hmac.new(_webhook_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def verify_standard_webhook(secret: str | bytes, headers: Mapping[str, str], body: bytes, now: float) -> bool:
    """True when one of the ``v1`` signatures in the headers signs ``body`` and the timestamp is fresh."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = lower.get("webhook-id"), lower.get("webhook-timestamp"), lower.get("webhook-signature")
    if not secret or not msg_id or not stamp or not signatures or not stamp.isdigit():
        return False
    if abs(now - int(stamp)) > TOLERANCE_SECONDS:
        return False
    try:
        expected = sign_standard_webhook(secret, msg_id, int(stamp), body)["webhook-signature"].encode()
    except ValueError:  # an id no sender of ours would use
        return False
    return any(
        hmac.compare_digest(expected, candidate.encode())
        for candidate in signatures.split(" ")
        if candidate.startswith("v1,")
    )


def slack_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def verify_slack(signing_secret: str, timestamp: str | None, body: bytes, signature: str | None, now: float) -> bool:
    """Slack's request signing: the signature matches and the timestamp is within five minutes of ``now``."""
    if not signing_secret or not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(slack_signature(signing_secret, timestamp, body).encode(), signature.encode())


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def verify_twilio(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """Twilio's request validation of a form-encoded callback to ``url`` (the full URL Twilio requested)."""
    if not auth_token or not signature:
        return False
    return hmac.compare_digest(twilio_signature(auth_token, url, params).encode(), signature.encode())
