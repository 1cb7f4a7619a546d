"""A real ``lim serve`` process (granian) on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

LIM = str(Path(sys.executable).with_name("lim"))


def require_peer(found: str | None, what: str) -> None:
    """A real peer the test drives (Debian's Alertmanager, amtool) must be there where ``make test-peers`` installs
    it (root with apt-get: CI and fresh machines of this kind): missing there, the test fails rather than skip
    unseen. Elsewhere it skips, saying why."""
    if found is not None:
        return
    installable = os.geteuid() == 0 and shutil.which("apt-get") is not None
    message = f"{what} is not installed; `make test-peers` installs Debian's prometheus-alertmanager"
    if installable:
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """One service process; ``start``/``kill`` may be called again to restart it on the same data."""

    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lim(self, *args: str) -> str:
        return subprocess.run(
            [LIM, *args], env=self.env, check=True, capture_output=True, text=True, timeout=60
        ).stdout.strip()

    def key(self, role: str) -> str:
        if role not in self.keys:
            self.keys[role] = self.lim("keys", "create", "--role", role, "--name", f"e2e-{role}")
        return self.keys[role]

    def start(self, timeout: float = 30.0) -> None:
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [LIM, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lim serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)  # polling for readiness of another process, not synchronisation of our own code
        raise RuntimeError(f"lim serve did not become ready: {self.log.read_text()[-2000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kills the whole process group (granian's main process and its worker). A main process still there 30 s
        after a SIGTERM is SIGKILLed: granian's main process has been seen to hang when its worker got the group's
        SIGTERM first, and a test's teardown must not hang with it."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[object]:
    servers: list[ServerProcess] = []

    def make(database_url: str | None = None, **extra_env: str) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIM_")}
        port = free_port()
        env.update(
            LIM_HOST="127.0.0.1",
            LIM_PORT=str(port),
            LIM_DATABASE_URL=database_url or f"sqlite:///{tmp_path}/lim-{port}.db",
            LIM_LOG_LEVEL="warning",
            **extra_env,
        )
        server = ServerProcess(env=env, port=port, log=tmp_path / f"server-{port}.log")
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.kill(signal.SIGTERM)


@pytest.fixture
def server(server_factory: object) -> ServerProcess:
    """A started embedded-mode server with fresh data (``server_factory`` stops it at teardown)."""
    srv: ServerProcess = server_factory()  # type: ignore[operator]
    srv.start()
    return srv
