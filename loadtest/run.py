"""A bounded Locust run against a service this script starts itself, then a summary.

    .venv/bin/python loadtest/run.py --users 8 --run-time 15s            # closed loop, as fast as answers come
    .venv/bin/python loadtest/run.py --rate 1000 --run-time 30s           # steady at 1,000 alerts/s offered
    .venv/bin/python loadtest/run.py --format all --batch 100 --run-time 30s
    .venv/bin/python loadtest/run.py --scenario storm                     # 50,000 alerts offered in 10 s
    .venv/bin/python loadtest/run.py --scenario soak                      # 30 min at 500 alerts/s, RSS over time
    .venv/bin/python loadtest/run.py --mode distributed --rate 1000       # PostgreSQL + NATS (+ Redis URL)

Steps: pick a free loopback port; set up the database (embedded: a fresh SQLite file in a temporary directory;
distributed: a new PostgreSQL database ``lim_load_<pid>`` on 127.0.0.1, dropped at the end; or the
``--database-url`` given, which the service migrates and writes into); ``lim keys create --role ingest``; start
``lim serve`` on 127.0.0.1 in its own session (under ``taskset`` if asked); wait for ``/health/ready``; run Locust
headless with a hard deadline, sampling the service's CPU and RSS; stop the service by its process id (SIGTERM to
its process group, then SIGKILL); print requests/s, alerts/s, failures, latency percentiles and the CPU of the
service, of Locust and of the machine. Exits 1 when any request failed, none succeeded, a bounded count was not
all accepted, or Locust or the service misbehaved. The CSV files, the logs and ``summary.json`` go to
``loadtest/reports/<time>-<format>-<scenario>-<mode>/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LOOPBACK = ("127.0.0.1", "localhost", "::1")

#: run.py's defaults per scenario (batch, repeat, rate and the storm's count are the locustfile's).
RUN_TIME = {"steady": "15s", "storm": "2m", "soak": "30m"}  # storm: a cap; it ends when its count is answered
STORM_ALERTS = 50_000
#: distributed mode: where the run's database is created, and the other services the service is pointed at
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
NATS_URL = "nats://127.0.0.1:4222"
#: open incidents' alerts, as the service's stores read them when they start (None when it cannot be counted)
OPEN_ALERTS_SQL = (
    "SELECT count(*) FROM incident_alerts a JOIN incidents i ON i.id = a.incident_id "
    "WHERE i.status <> 'resolved' AND a.superseded_by IS NULL"
)


def parse_seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    text = text.strip()
    if text[-1:] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tool(name: str) -> list[str]:
    """The console script ``name`` of this virtualenv (or ``python -m name``)."""
    path = BIN / name
    return [str(path)] if path.exists() else [sys.executable, "-m", name]


def pinned(cpus: str | None, argv: list[str]) -> list[str]:
    """``argv`` under ``taskset -c CPUS`` when ``cpus`` is given (taskset execs it: the process id stays)."""
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in LOOPBACK or host.startswith("127.")


def without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def session_cpu(sid: int) -> tuple[float, int, int]:
    """CPU seconds (user + system), RSS bytes and process count of every live process in session ``sid``."""
    cpu, rss, count = 0.0, 0, 0
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) != sid:  # fields[3] is the session id
            continue
        cpu += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        rss += int(fields[21]) * page
        count += 1
    return cpu, rss, count


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:  # noqa: S310 - a loopback URL built here
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class Database:
    """The service's database for one run: a temporary SQLite file (embedded), a new PostgreSQL database made for
    the run and dropped at the end (distributed), or the ``--database-url`` given (neither made nor dropped)."""

    def __init__(self, mode: str, url: str | None, admin_url: str, tmp: Path) -> None:
        self.admin_url = admin_url
        self.created: str | None = None
        if url:
            self.url = url
        elif mode == "distributed":
            self.created = f"lim_load_{os.getpid()}"
            base = admin_url.split("?", 1)[0].rpartition("/")[0]
            self.url = f"{base}/{self.created}"
        else:
            self.url = f"sqlite:///{tmp}/lim.db"

    @property
    def kind(self) -> str:
        return "sqlite" if self.url.startswith("sqlite:") else "postgresql"

    async def _admin(self, sql: str) -> None:
        import asyncpg  # a dependency of the service; only the distributed mode needs it here

        conn = await asyncpg.connect(self.admin_url, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def create(self) -> None:
        if self.created:
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.created}" WITH (FORCE)'))
            asyncio.run(self._admin(f'CREATE DATABASE "{self.created}"'))

    def drop(self) -> None:
        if self.created:
            try:
                asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.created}" WITH (FORCE)'))
            except Exception as exc:  # asyncpg's errors too; the run's result stands either way
                print(f"could not drop database {self.created}: {exc}", file=sys.stderr)


class OpenAlerts:
    """Counts the open incidents' alerts in the service's database, read-only, for the RSS timeline. Gives up (and
    returns None from then on) at the first error or when one count takes longer than a second."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.note: str | None = None
        self._runner: asyncio.Runner | None = None
        self._conn: Any = None

    def count(self) -> int | None:
        if self.note is not None:
            return None
        started = time.monotonic()
        try:
            if self.url.startswith("sqlite:"):
                path = self.url.removeprefix("sqlite://").removeprefix("/").split("?", 1)[0]
                uri = f"file:{urllib.parse.quote(path)}?mode=ro"
                with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=0.5)) as conn:
                    value = int(conn.execute(OPEN_ALERTS_SQL).fetchone()[0])
            else:
                value = self._pg_count()
        except Exception as exc:  # the column is optional: any failure drops it
            self.note = f"not counted: {type(exc).__name__}: {exc}"[:300]
            return None
        if time.monotonic() - started > 1.0:
            self.note = "not counted after one count took over 1 s"
        return value

    def _pg_count(self) -> int:
        import asyncpg

        if self._runner is None:
            self._runner = asyncio.Runner()
            self._conn = self._runner.run(asyncpg.connect(self.url, timeout=5))
        return int(self._runner.run(self._conn.fetchval(OPEN_ALERTS_SQL, timeout=5)))

    def close(self) -> None:
        if self._runner is not None:
            with contextlib.suppress(Exception):
                self._runner.run(self._conn.close(timeout=5))
            self._runner.close()
            self._runner = None


class Service:
    """``lim serve`` in its own session, on 127.0.0.1."""

    def __init__(self, env: dict[str, str], log: Path, taskset: str | None = None) -> None:
        self.env = env
        self.log = log
        self.taskset = taskset
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['LIM_PORT']}"

    def lim(self, *args: str) -> str:
        done = subprocess.run(  # noqa: S603 - fixed argv
            [*tool("lim"), *args], env=self.env, check=False, capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise RuntimeError(f"lim {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return done.stdout.strip()

    def start(self, timeout: float = 30.0) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
                pinned(self.taskset, [*tool("lim"), "serve"]),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lim serve exited with {self.proc.returncode}: {self.tail()}")
            if http_ok(f"{self.url}/health/ready"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"lim serve was not ready after {timeout:.0f}s: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM to the service's process group (granian and its workers), SIGKILL after ``timeout``."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        # granian's workers are in the same session; none may outlive the run
        if session_cpu(proc.pid)[2]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        return proc.returncode


class Sampler:
    """CPU and RSS of the service's session and CPU of the whole machine, sampled with wall-clock times while
    Locust runs; every ``every`` seconds also a point of the timeline (RSS, CPU, open alerts)."""

    def __init__(self, sid: int, every: float, open_alerts: OpenAlerts | None = None) -> None:
        self.sid = sid
        self.every = every
        self.open_alerts = open_alerts
        self.samples: list[tuple[float, float, int, int, int]] = []  # time, service CPU s, busy, total, RSS
        self.started = 0.0
        self.rss_timeline: list[list[float | int | None]] = []  # [s since start, RSS MiB, open alerts]
        self.cpu_timeline: list[list[float]] = []  # [s since start, service % of one core, machine busy %]
        self._last_point: tuple[float, float, int, int, int] | None = None

    def sample(self, force_point: bool = False) -> None:
        cpu, rss, _ = session_cpu(self.sid)
        busy, total = machine_busy()
        now = time.time()
        sample = (now, cpu, busy, total, rss)
        self.samples.append(sample)
        last = self._last_point
        if last is None:
            self.started = now
        elif not force_point and now - last[0] < self.every:
            return
        open_alerts = self.open_alerts.count() if self.open_alerts is not None else None
        t = round(now - self.started, 1)
        self.rss_timeline.append([t, round(rss / 2**20, 1), open_alerts])
        if last is not None:
            seconds = max(now - last[0], 1e-9)
            self.cpu_timeline.append(
                [
                    t,
                    round(100.0 * (cpu - last[1]) / seconds, 1),
                    round(100.0 * (busy - last[2]) / max(1, total - last[3]), 1),
                ]
            )
        self._last_point = sample

    def window(self, start: float, end: float) -> dict[str, float]:
        """Service CPU (% of one core) and machine busy % between the first sample at or after ``start`` and the
        last at or before ``end``: the load window Locust reports, without its start-up and shut-down."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            inside = self.samples
        first, last = inside[0], inside[-1]
        seconds = max(last[0] - first[0], 1e-9)
        return {
            "cpu_window_s": last[0] - first[0],
            "service_cpu_pct_of_core": 100.0 * (last[1] - first[1]) / seconds,
            "machine_busy_pct_all_cores": 100.0 * (last[2] - first[2]) / max(1, last[3] - first[3]),
            "service_rss_mib_max": max(s[4] for s in self.samples) / 2**20,
        }

    def rss_points(self) -> dict[str, float | None]:
        """RSS (MiB) at the start, middle and end of the timeline, and how much it grew overall and in the second
        half (growth in the second half only is what a leak looks like; the first half includes warm-up)."""
        points = self.rss_timeline
        if not points:
            return {"rss_mib_start": None, "rss_mib_middle": None, "rss_mib_end": None}
        start, end = points[0], points[-1]
        middle = min(points, key=lambda p: abs(float(p[0] or 0) - float(end[0] or 0) / 2))
        start_mib, middle_mib, end_mib = float(start[1] or 0), float(middle[1] or 0), float(end[1] or 0)
        return {
            "rss_mib_start": start_mib,
            "rss_mib_middle": middle_mib,
            "rss_mib_end": end_mib,
            "rss_growth_mib": end_mib - start_mib,
            "rss_growth_pct": 100.0 * (end_mib - start_mib) / start_mib if start_mib else 0.0,
            "rss_growth_second_half_mib": end_mib - middle_mib,
            "open_alerts_end": end[2],
        }


def run_locust(
    args: argparse.Namespace, url: str, key: str, out: Path, seconds: float, sampler: Sampler
) -> tuple[int, float]:
    """Runs Locust headless, sampling CPU; returns its exit code and the CPU seconds it used. Killed (by its
    process id) if it has not stopped a minute after its run time."""
    env = {**os.environ, "LIM_KEY": key}
    cmd = [
        *tool("locust"),
        "-f", str(HERE / "locustfile.py"),
        "--headless",
        "-u", str(args.users),
        "-r", str(args.spawn_rate or args.users),
        "--run-time", args.run_time,
        "--stop-timeout", "5",
        "--host", url,
        "--csv", str(out / "locust"),
        "--only-summary",
        "--loglevel", "WARNING",
        "--lim-format", args.format,
        "--lim-scenario", args.scenario,
        "--lim-seed", str(args.seed),
        "--lim-user-rate", str(args.user_rate),
        "--lim-report", str(out / "locust-report.json"),
    ]  # fmt: skip
    if args.batch:
        cmd += ["--lim-batch", str(args.batch)]
    if args.repeat is not None:
        cmd += ["--lim-repeat", str(args.repeat)]
    if args.rate is not None:
        cmd += ["--lim-rate", str(args.rate)]
    if args.scenario == "storm":
        cmd += ["--lim-max-alerts", str(args.storm_alerts)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    deadline = time.monotonic() + seconds + 60
    with (out / "locust.log").open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            pinned(args.taskset_locust, cmd), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        while proc.poll() is None and time.monotonic() < deadline:
            sampler.sample()
            time.sleep(0.25)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            print(f"locust did not stop within {seconds + 60:.0f}s; killed it", file=sys.stderr)
        code = proc.wait()
    sampler.sample(force_point=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return code, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def summarize(args: argparse.Namespace, report: dict[str, Any], sampler: Sampler, db: Database) -> dict[str, Any]:
    stats = report["locust"]
    requests = stats["requests"]
    window = max(stats["last_request_time"] - stats["start_time"], 1e-9) if requests else 0.0
    # a bounded count: from the first request sent to the last of its alerts answered (None if not all were)
    first, done = report.get("first_sent_at"), report.get("max_alerts_reached_at")
    accept_s = done - first if first and done else None
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": args.mode,
        "users": args.users,
        "run_time": args.run_time,
        "format": report["formats"],
        "scenario": report["scenario"],
        "batch": report["batch"],
        "repeat": report["repeat"],
        "offered_alerts_per_s": report.get("rate", 0.0),
        "user_rate": report.get("user_rate", 0.0),
        "max_alerts": report.get("max_alerts", 0),
        "store": db.kind,
        "database": without_password(db.url),
        "nats_url": args.nats_url if args.mode == "distributed" else None,
        "redis_url": args.redis_url if args.mode == "distributed" else None,
        "taskset_service": args.taskset_service,
        "taskset_locust": args.taskset_locust,
        "requests": requests,
        "failures": stats["failures"],
        "requests_per_s": stats["requests_per_s"],
        "alerts_sent": report["alerts_ok"] + report["alerts_failed"],  # in requests that got an answer
        "alerts_interrupted": report.get("alerts_interrupted", 0),  # cut off unanswered at --run-time
        "alerts_ok": report["alerts_ok"],
        "alerts_per_s": report["alerts_ok"] / window if window else 0.0,
        "load_window_s": window,
        "accept_s": accept_s,
        "p50_ms": stats["p50_ms"],
        "p90_ms": stats["p90_ms"],
        "p95_ms": stats.get("p95_ms"),
        "p99_ms": stats["p99_ms"],
        "p999_ms": stats.get("p999_ms"),
        "max_ms": stats["max_ms"],
        "by_name": stats["by_name"],
        "actions": report["actions"],
        "alerts_by_format": report.get("alerts_by_format", {}),
        "unique_alerts_sent": report["unique_alerts_sent"],
        **sampler.window(stats["start_time"], stats["last_request_time"] or time.time()),
        **sampler.rss_points(),
        "sample_every_s": sampler.every,
        "rss_timeline": sampler.rss_timeline,
        "cpu_timeline": sampler.cpu_timeline,
        "open_alerts_note": sampler.open_alerts.note if sampler.open_alerts else None,
        "nproc": os.cpu_count(),
    }


def print_summary(summary: dict[str, Any], out: Path) -> None:
    rate = summary["offered_alerts_per_s"]
    offered = f"offered {rate:,.0f} alerts/s" if rate else "closed loop"
    actions = ", ".join(f"{name} {count:,}" for name, count in sorted(summary["actions"].items()))
    v2 = summary["alerts_by_format"].get("alertmanager-v2")
    if v2:
        actions += ("; " if actions else "") + f"alertmanager-v2 {v2:,} alerts accepted (its 200 has no results)"
    lines = [
        f"\n{summary['store']} ({summary['mode']}), {'+'.join(summary['format'])}, {summary['scenario']}: "
        f"batch {summary['batch']}, repeat {summary['repeat']:.0%}, {summary['users']} users, {offered}, "
        f"{summary['load_window_s']:.1f} s of load",
        f"  requests/s {summary['requests_per_s']:,.0f}   alerts/s {summary['alerts_per_s']:,.0f}   "
        f"requests {summary['requests']:,}   failures {summary['failures']}",
        f"  latency p50 {summary['p50_ms']:.0f} ms   p90 {summary['p90_ms']:.0f} ms   "
        f"p99 {summary['p99_ms']:.0f} ms   max {summary['max_ms']:.0f} ms",
        f"  results: {actions or 'none'}",
        f"  CPU (% of one core): service {summary['service_cpu_pct_of_core']:.0f}% "
        f"({summary['service_processes']} processes, max RSS {summary['service_rss_mib_max']:.0f} MiB), "
        f"locust {summary['locust_cpu_pct_of_core']:.0f}%; "
        f"machine busy {summary['machine_busy_pct_all_cores']:.0f}% of {summary['nproc']} cores",
    ]
    if summary["max_alerts"]:
        accept = summary["accept_s"]
        ideal = summary["max_alerts"] / rate if rate else 0.0
        lines.append(
            f"  {summary['scenario']}: {summary['alerts_ok']:,} of {summary['max_alerts']:,} alerts accepted"
            + (f" in {accept:.1f} s ({summary['alerts_ok'] / accept:,.0f} alerts/s)" if accept else "")
            + (f"; offered over {ideal:.1f} s" if ideal else "")
        )
    if summary["scenario"] == "soak" and summary["rss_mib_start"] is not None:
        open_alerts = summary["open_alerts_end"]
        lines.append(
            f"  RSS: start {summary['rss_mib_start']:.0f} MiB, middle {summary['rss_mib_middle']:.0f} MiB, "
            f"end {summary['rss_mib_end']:.0f} MiB; growth {summary['rss_growth_mib']:+.0f} MiB "
            f"({summary['rss_growth_pct']:+.0f}%), second half {summary['rss_growth_second_half_mib']:+.0f} MiB"
            + (f"; open alerts at the end {open_alerts:,}" if open_alerts is not None else "")
        )
    lines.append(f"  report: {out}")
    print("\n".join(lines))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--scenario", default="steady", choices=["steady", "storm", "soak"])
    parser.add_argument("--mode", default="embedded", choices=["embedded", "distributed"])
    parser.add_argument("--users", type=int, default=8, help="Locust users (connections), default 8")
    parser.add_argument("--spawn-rate", type=float, default=0, help="users started per second (default: all at once)")
    parser.add_argument(
        "--run-time", default=None, help="Locust --run-time, e.g. 15s, 2m (default: steady 15s, storm 2m, soak 30m)"
    )
    parser.add_argument(
        "--format",
        default="generic",
        help="generic, alertmanager, pagerduty, cloudevents, alertmanager-v2, a list, all",
    )
    parser.add_argument("--rate", type=float, default=None, help="offered alerts/s in total; 0 = closed loop")
    parser.add_argument(
        "--storm-alerts", type=int, default=None, help=f"storm: alerts to send (default {STORM_ALERTS})"
    )
    parser.add_argument("--batch", type=int, default=0, help="alerts per request (default: 10; storm 100)")
    parser.add_argument("--repeat", type=float, default=None, help="re-fire share (default: 0.9; storm 0.5)")
    parser.add_argument("--user-rate", type=float, default=0, help="requests/s per user without --rate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="the service's database, made by you (any mode)")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL, help="distributed: where lim_load_<pid> is made")
    parser.add_argument("--redis-url", default=REDIS_URL, help="distributed: LIM_REDIS_URL")
    parser.add_argument("--nats-url", default=NATS_URL, help="distributed: LIM_NATS_URL")
    parser.add_argument("--taskset-service", metavar="CPUS", default=None, help="run lim serve under taskset -c CPUS")
    parser.add_argument("--taskset-locust", metavar="CPUS", default=None, help="run Locust under taskset -c CPUS")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between timeline points (5)")
    parser.add_argument("--out", type=Path, default=None, help="report directory (default loadtest/reports/...)")
    args = parser.parse_args(argv)

    args.run_time = args.run_time or RUN_TIME[args.scenario]
    if args.storm_alerts is not None and args.scenario != "storm":
        parser.error("--storm-alerts is for --scenario storm")
    args.storm_alerts = args.storm_alerts if args.storm_alerts is not None else STORM_ALERTS
    if args.storm_alerts < 1:
        parser.error("--storm-alerts must be at least 1")
    if args.rate is not None and args.rate < 0:
        parser.error("--rate must not be negative")
    if args.rate and args.user_rate:
        parser.error("give --rate (all users) or --user-rate (each user), not both")
    if args.users < 1 or args.sample_every <= 0:
        parser.error("--users must be at least 1 and --sample-every more than 0")
    if (args.taskset_service or args.taskset_locust) and shutil.which("taskset") is None:
        parser.error("taskset is not installed (util-linux)")
    remote = os.environ.get("LIM_LOADTEST_ALLOW_REMOTE") == "1"
    urls = [args.database_url or ""] + (
        [args.pg_admin_url, args.redis_url, args.nats_url] * (args.mode == "distributed")
    )
    for url in urls:
        if url and not url.startswith("sqlite:") and not is_loopback(url) and not remote:
            parser.error(f"refusing non-loopback {without_password(url)} (set LIM_LOADTEST_ALLOW_REMOTE=1 to allow it)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seconds = parse_seconds(args.run_time)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{stamp}-{args.format.replace(',', '+')}-{args.scenario}-{args.mode}"
    out: Path = args.out or HERE / "reports" / name
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="lim-loadtest-"))
    db = Database(args.mode, args.database_url, args.pg_admin_url, tmp)
    env = {**os.environ, "LIM_HOST": "127.0.0.1", "LIM_PORT": str(free_port()), "LIM_DATABASE_URL": db.url}
    env.pop("LIM_KEY", None)
    if args.mode == "distributed":
        env |= {"LIM_REDIS_URL": args.redis_url, "LIM_NATS_URL": args.nats_url}
    else:  # embedded: no NATS or Redis even if the environment names them
        env.pop("LIM_NATS_URL", None)
        env.pop("LIM_REDIS_URL", None)
    service = Service(env, out / "service.log", args.taskset_service)
    open_alerts = OpenAlerts(db.url)
    try:
        db.create()
        key = service.lim("keys", "create", "--role", "ingest", "--name", "loadtest")
        service.start()
        assert service.proc is not None  # noqa: S101 - set by start()
        sid = service.proc.pid
        where = f"{db.kind} {without_password(db.url)}"
        if args.mode == "distributed":
            where += f", NATS {args.nats_url}, Redis {args.redis_url}"
        print(
            f"service pid {sid} on {service.url} ({args.mode}: {where}); locust: {args.users} users, "
            f"{args.run_time}, format {args.format}, scenario {args.scenario}"
            + (f", {args.rate:,.0f} alerts/s offered" if args.rate else "")
            + (f", {args.storm_alerts:,} alerts" if args.scenario == "storm" else ""),
            file=sys.stderr,
        )
        sampler = Sampler(sid, args.sample_every, open_alerts)
        code, locust_cpu = run_locust(args, service.url, key, out, seconds, sampler)
        alive = service.proc.poll() is None
        processes = session_cpu(sid)[2]
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # asyncpg's errors from creating the database
        print(f"FAIL: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        open_alerts.close()
        service_code = service.stop()
        db.drop()
        shutil.rmtree(tmp, ignore_errors=True)

    try:
        report: dict[str, Any] = json.loads((out / "locust-report.json").read_text())
    except (OSError, ValueError) as exc:
        log = (out / "locust.log").read_text(errors="replace")[-3000:]
        print(f"FAIL: locust exited with {code} and left no report ({exc}):\n{log}", file=sys.stderr)
        return 1
    summary = summarize(args, report, sampler, db)
    window = summary["load_window_s"]
    summary |= {
        "service_processes": processes,
        "locust_cpu_pct_of_core": 100.0 * locust_cpu / window if window else 0.0,
        "locust_exit_code": code,
        "service_alive_at_end": alive,
        "service_exit_code": service_code,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_summary(summary, out)

    rate = summary["offered_alerts_per_s"]
    achieved = summary["alerts_ok"] / summary["accept_s"] if summary["accept_s"] else summary["alerts_per_s"]
    if rate and achieved < 0.9 * rate:
        print(
            f"NOTE: {achieved:,.0f} alerts/s accepted of {rate:,.0f} offered: each user waits for its answer, so "
            f"the offered rate drops once latency exceeds a user's interval "
            f"({1000 / summary['user_rate']:.1f} ms); more --users keep it up",
            file=sys.stderr,
        )
    problems = []
    if summary["failures"] or report["requests_failed"]:
        problems.append(f"{summary['failures']} failed requests (see {out}/locust_failures.csv)")
    if summary["requests"] == 0:
        problems.append("no requests were made")
    if summary["max_alerts"] and summary["alerts_ok"] < summary["max_alerts"]:
        problems.append(
            f"only {summary['alerts_ok']:,} of {summary['max_alerts']:,} alerts were accepted within --run-time "
            f"{args.run_time}"
        )
    if code != 0 and not summary["failures"]:
        problems.append(f"locust exited with {code} (see {out}/locust.log)")
    if not alive:
        problems.append(f"the service exited during the run (see {out}/service.log)")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
