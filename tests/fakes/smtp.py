"""A real SMTP server for the email tests: aiosmtpd's threaded ``Controller`` on ``127.0.0.1`` (a free port).

::

    with SmtpServer(username="alerts", password="s3cret") as smtp:     # or: async with SmtpServer(...) as smtp:
        await aiosmtplib.send(msg, hostname=smtp.host, port=smtp.port, username="alerts", password="s3cret",
                              use_tls=False, start_tls=False)
        [mail] = await smtp.wait_for_messages(1)
        assert mail.message["Subject"] == "..."

The server runs its own event loop in a thread; the handler hands each message to the test's loop with
``loop.call_soon_threadsafe``, so ``await smtp.wait_for(...)`` wakes on arrival instead of polling.

AUTH (PLAIN and LOGIN) is offered without TLS (``auth_require_tls=False``: loopback only) when a username is given,
and then required before ``MAIL`` (530 otherwise). aiosmtpd's own ``auth_required=True`` is not used: together with
``auth_require_tls=False`` it issues a ``UserWarning`` on every connection, which ``filterwarnings = error`` turns
into a server-side failure.

``fail_next(n, code=451, stage="DATA")`` makes the next ``n`` transactions fail at DATA (or at RCPT) with that code.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["ReceivedMail", "SmtpServer"]

Stage = Literal["RCPT", "DATA"]

_TEMPORARY_TEXT = {
    421: "4.3.2 Service not available (programmed)",
    450: "4.2.1 Mailbox unavailable (programmed)",
    451: "4.3.0 Local error in processing (programmed)",
    452: "4.3.1 Insufficient system storage (programmed)",
    550: "5.1.1 Mailbox unavailable (programmed)",
    554: "5.0.0 Transaction failed (programmed)",
}


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message."""

    mail_from: str
    rcpt_tos: list[str]
    #: parsed with ``email.policy.default``
    message: EmailMessage
    raw: bytes
    #: the AUTH login name the client used, or None
    login: str | None
    at: float


@dataclass(frozen=True)
class _Failure:
    code: int
    stage: Stage
    text: str


class _Controller(Controller):
    """aiosmtpd's Controller on port 0: learns the bound port before its start-up probe connects."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class _Handler:
    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_MAIL(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.owner.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        failure = self.owner._take_failure("RCPT")
        if failure is not None:
            return f"{failure.code} {failure.text}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        failure = self.owner._take_failure("DATA")
        if failure is not None:
            return f"{failure.code} {failure.text}"
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        auth: Any = session.auth_data  # typed None by aiosmtpd; a LoginPassword after AUTH PLAIN/LOGIN
        login = auth.login if isinstance(auth, LoginPassword) else None
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            message=message,
            raw=raw,
            login=login.decode() if isinstance(login, bytes) else login,
            at=time.monotonic(),
        )
        self.owner._deliver(mail)
        return "250 OK"


class SmtpServer:
    """A real SMTP server (see the module docstring).

    ``received`` holds the accepted messages, ``rejected`` counts the commands failed by ``fail_next`` and
    ``auth_failures`` the refused logins. ``username``/``password`` turn AUTH on; ``require_auth`` (default: whether
    a username is given) refuses ``MAIL`` before a successful AUTH."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        require_auth: bool | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.port = 0
        self.username = username
        self.password = password
        self.require_auth = username is not None if require_auth is None else require_auth
        self.received: list[ReceivedMail] = []
        self.rejected = 0
        self.auth_failures = 0
        self._lock = threading.Lock()
        self._failures: deque[_Failure] = deque()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        kwargs: dict[str, Any] = {}
        if username is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        self._controller = _Controller(
            _Handler(self), hostname=host, port=0, server_hostname="fake-smtp.test", ready_timeout=5.0, **kwargs
        )

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> Self:
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()  # a few milliseconds: binding and one probe connection

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, code: int = 451, *, stage: Stage = "DATA", text: str | None = None) -> None:
        """Answer the next ``n`` DATA (or RCPT) commands with ``code`` instead of accepting."""
        failure = _Failure(code, stage, text or _TEMPORARY_TEXT.get(code, "Programmed failure"))
        with self._lock:
            self._failures.extend(failure for _ in range(n))

    def heal(self) -> None:
        with self._lock:
            self._failures.clear()

    def _take_failure(self, stage: Stage) -> _Failure | None:
        with self._lock:
            if self._failures and self._failures[0].stage == stage:
                self.rejected += 1
                return self._failures.popleft()
        return None

    # -- auth ------------------------------------------------------------------------------------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.username is not None
            and self.password is not None
            and auth_data.login == self.username.encode()
            and auth_data.password == self.password.encode()
        )
        if not ok:
            with self._lock:
                self.auth_failures += 1
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    # -- delivery and waiting --------------------------------------------------------------------------------

    def _deliver(self, mail: ReceivedMail) -> None:
        """In the server thread: store ``mail`` and wake every waiting test loop."""
        with self._lock:
            self.received.append(mail)
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop closed meanwhile
                loop.call_soon_threadsafe(event.set)

    async def wait_for(
        self,
        predicate: Callable[[list[ReceivedMail]], object],
        timeout: float = 10,  # noqa: ASYNC109 (the fakes' common signature)
    ) -> list[ReceivedMail]:
        """Return ``received`` once ``predicate(received)`` is true; woken by each delivery, no polling."""
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event.clear()
                    with self._lock:
                        snapshot = list(self.received)
                    if predicate(snapshot):
                        return snapshot
                    await event.wait()
        except TimeoutError:
            got = ", ".join(f"{m.message['Subject']!r} to {m.rcpt_tos}" for m in self.received) or "nothing"
            msg = f"SmtpServer: condition not met within {timeout}s; received {got}"
            raise TimeoutError(msg) from None
        finally:
            with self._lock:
                self._waiters.remove(waiter)

    async def wait_for_messages(self, n: int = 1, timeout: float = 10) -> list[ReceivedMail]:  # noqa: ASYNC109
        return await self.wait_for(lambda received: len(received) >= n, timeout)
