"""Email through an SMTP smarthost (aiosmtplib), as Alertmanager's ``email_configs`` describe it."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, getaddresses

import aiosmtplib

from llm_incident_manager.notify import templates
from llm_incident_manager.notify.config import Channel
from llm_incident_manager.notify.model import Delivery, DeliveryError, Sent

__all__ = ["PROTECTED_HEADERS", "EmailNotifier", "parse_smarthost"]

#: headers the configuration may not set: ours (To, From and Message-ID come from ``to``, ``from`` and the page)
PROTECTED_HEADERS = frozenset(("to", "from", "message-id"))


def parse_smarthost(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:25`` for IPv6) → (host, port); ValueError without a port."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        msg = f"{value!r} is not host:port"
        raise ValueError(msg)
    return host.removeprefix("[").removesuffix("]"), int(port)


def _domain(address: str) -> str:
    _, addr = getaddresses([address])[0] if address else ("", "")
    domain = addr.rpartition("@")[2]
    return domain or "llm-incident-manager.invalid"


class EmailNotifier:
    """One ``email_configs`` entry: one message to every address of its ``to``."""

    def __init__(
        self,
        *,
        to: str,
        sender: str,
        host: str,
        port: int,
        timeout: float,
        hello: str | None = None,
        username: str | None = None,
        password: str | None = None,
        implicit_tls: bool = False,
        require_tls: bool = True,
        tls_context: ssl.SSLContext | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.channel = Channel.EMAIL
        self.recipient = to
        self.endpoint = f"smtp://{host}:{port}"
        self.to = [addr for _, addr in getaddresses([to]) if addr]
        if not self.to:
            msg = f"to: {to!r} holds no address"
            raise ValueError(msg)
        self.sender = sender
        self.host = host
        self.port = port
        self.timeout = timeout
        self.hello = hello
        self.username = username
        self.password = password
        self.implicit_tls = implicit_tls or port == 465
        self.require_tls = require_tls
        self.tls_context = tls_context
        # Alertmanager's headers are Go templates more often than not: one with ``{{`` is not ours to evaluate
        self.headers = {k: v for k, v in (headers or {}).items() if "{{" not in v}
        bad = sorted(k for k in self.headers if k.lower() in PROTECTED_HEADERS)
        if bad:
            msg = f"headers.{bad[0]}: set by `to`, `from` and the page, not by a header"
            raise ValueError(msg)

    def message(self, delivery: Delivery) -> EmailMessage:
        parts = templates.email_message(delivery)
        key = templates.delivery_key(delivery)
        domain = _domain(self.sender)
        message = EmailMessage()
        subject = parts.subject
        for name, value in self.headers.items():
            if name.lower() == "subject":
                subject = " ".join(value.split())
            else:
                message[name] = " ".join(value.split())
        message["Subject"] = subject
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<lim.{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"
        incidents = {e.incident.id for e in delivery.events}
        if len(incidents) == 1 and not delivery.digest:
            # every message about one incident names the same thread, so mail clients group them
            thread = hashlib.sha256(next(iter(incidents)).encode()).hexdigest()[:40]
            message["References"] = f"<lim.incident.{thread}@{domain}>"
        message["Auto-Submitted"] = "auto-generated"
        message["X-LIM-Idempotency-Key"] = key
        message.set_content(parts.text)
        message.add_alternative(parts.html, subtype="html")
        return message

    async def send(self, delivery: Delivery) -> Sent:
        if not delivery.events:
            raise DeliveryError("email: nothing to send", retryable=False)
        message = self.message(delivery)
        try:
            await aiosmtplib.send(
                message,
                sender=_address(self.sender),
                recipients=self.to,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password if self.username else None,
                local_hostname=self.hello,
                timeout=self.timeout,
                use_tls=self.implicit_tls,
                start_tls=False if self.implicit_tls else self.require_tls,
                tls_context=self.tls_context,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _refused(exc.recipients) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # 4xx: the server asks to try later (451 local error, 452 storage, 421 closing); 5xx: it never will
            retryable = 400 <= exc.code < 500
            msg = f"email: SMTP {exc.code} {templates.scrub(exc.message)}"
            raise DeliveryError(msg, retryable=retryable, status=exc.code) from exc
        except aiosmtplib.SMTPNotSupported as exc:  # e.g. require_tls against a server without STARTTLS
            raise DeliveryError(f"email: {templates.scrub(str(exc))}", retryable=False) from exc
        except (aiosmtplib.SMTPException, TimeoutError, OSError) as exc:
            raise DeliveryError(f"email: {type(exc).__name__}: {templates.scrub(str(exc))}", retryable=True) from exc
        return Sent(ref=str(message["Message-ID"]), status=250)

    async def close(self) -> None:
        return None


def _address(value: str) -> str:
    found = getaddresses([value])
    return found[0][1] if found and found[0][1] else value


def _refused(recipients: Sequence[aiosmtplib.SMTPRecipientRefused]) -> DeliveryError:
    codes = [r.code for r in recipients]
    detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in recipients)
    retryable = bool(codes) and all(400 <= c < 500 for c in codes)
    return DeliveryError(f"email: recipients refused: {detail}", retryable=retryable, status=max(codes, default=None))
