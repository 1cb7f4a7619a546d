"""A bounded Locust run against a service this script starts itself, then a summary.

    .venv/bin/python loadtest/run.py --users 8 --run-time 15s            # what `make loadtest` runs
    .venv/bin/python loadtest/run.py --format all --batch 100 --run-time 30s
    .venv/bin/python loadtest/run.py --scenario storm
    .venv/bin/python loadtest/run.py --database-url postgresql://postgres@127.0.0.1:5432/lim_load

Steps: pick a free loopback port; ``lim keys create --role ingest`` against a fresh SQLite database in a
temporary directory (or the ``--database-url`` given, which the service migrates and writes into); start
``lim serve`` on 127.0.0.1 in its own session; wait for ``/health/ready``; run Locust headless with a hard
deadline; stop the service by its process id (SIGTERM to its process group, then SIGKILL); print requests/s,
alerts/s, failures, p50/p99 and the CPU the service used. Exits 1 when any request failed, none succeeded, or
Locust or the service misbehaved. The CSV files, the service log and ``summary.json`` go to
``loadtest/reports/<time>-<format>/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


class Service:
    """``lim serve`` in its own session, on 127.0.0.1."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
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
                [*tool("lim"), "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
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
    """CPU of the service's session and of the whole machine, sampled with wall-clock times while Locust runs."""

    def __init__(self, sid: int) -> None:
        self.sid = sid
        self.samples: list[tuple[float, float, int, int, int]] = []  # time, service CPU s, busy, total, RSS

    def sample(self) -> None:
        cpu, rss, _ = session_cpu(self.sid)
        busy, total = machine_busy()
        self.samples.append((time.time(), cpu, busy, total, rss))

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
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    deadline = time.monotonic() + seconds + 60
    with (out / "locust.log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
        while proc.poll() is None and time.monotonic() < deadline:
            sampler.sample()
            time.sleep(0.25)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            print(f"locust did not stop within {seconds + 60:.0f}s; killed it", file=sys.stderr)
        code = proc.wait()
    sampler.sample()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return code, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def summarize(args: argparse.Namespace, report: dict[str, Any], sampler: Sampler) -> dict[str, Any]:
    stats = report["locust"]
    requests = stats["requests"]
    window = max(stats["last_request_time"] - stats["start_time"], 1e-9) if requests else 0.0
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "users": args.users,
        "run_time": args.run_time,
        "format": report["formats"],
        "scenario": report["scenario"],
        "batch": report["batch"],
        "repeat": report["repeat"],
        "store": "postgresql" if args.database_url else "sqlite",
        "requests": requests,
        "failures": stats["failures"],
        "requests_per_s": stats["requests_per_s"],
        "alerts_ok": report["alerts_ok"],
        "alerts_per_s": report["alerts_ok"] / window if window else 0.0,
        "load_window_s": window,
        "p50_ms": stats["p50_ms"],
        "p90_ms": stats["p90_ms"],
        "p99_ms": stats["p99_ms"],
        "max_ms": stats["max_ms"],
        "by_name": stats["by_name"],
        "actions": report["actions"],
        "unique_alerts_sent": report["unique_alerts_sent"],
        **sampler.window(stats["start_time"], stats["last_request_time"] or time.time()),
        "nproc": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--users", type=int, default=8, help="Locust users (connections), default 8")
    parser.add_argument("--spawn-rate", type=float, default=0, help="users started per second (default: all at once)")
    parser.add_argument("--run-time", default="15s", help="Locust --run-time, e.g. 15s, 2m (default 15s)")
    parser.add_argument(
        "--format", default="generic", help="generic, alertmanager, pagerduty, cloudevents, a list, all"
    )
    parser.add_argument("--scenario", default="steady", choices=["steady", "storm"])
    parser.add_argument("--batch", type=int, default=0, help="alerts per request (default: 10 steady, 100 storm)")
    parser.add_argument("--repeat", type=float, default=None, help="re-fire share (default: 0.9 steady, 0.5 storm)")
    parser.add_argument("--user-rate", type=float, default=0, help="requests/s per user; 0 = closed loop")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="e.g. postgresql://...; default: a temporary SQLite file")
    parser.add_argument("--out", type=Path, default=None, help="report directory (default loadtest/reports/...)")
    args = parser.parse_args(argv)

    seconds = parse_seconds(args.run_time)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.out or HERE / "reports" / f"{stamp}-{args.format.replace(',', '+')}-{args.scenario}"
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="lim-loadtest-"))
    env = {
        **os.environ,
        "LIM_HOST": "127.0.0.1",
        "LIM_PORT": str(free_port()),
        "LIM_DATABASE_URL": args.database_url or f"sqlite:///{tmp}/lim.db",
    }
    env.pop("LIM_KEY", None)
    service = Service(env, out / "service.log")
    try:
        key = service.lim("keys", "create", "--role", "ingest", "--name", "loadtest")
        service.start()
        assert service.proc is not None  # noqa: S101 - set by start()
        sid = service.proc.pid
        store = "PostgreSQL" if args.database_url else f"SQLite in {tmp}"
        print(
            f"service pid {sid} on {service.url} ({store}); locust: {args.users} users, {args.run_time}, "
            f"format {args.format}, scenario {args.scenario}",
            file=sys.stderr,
        )
        sampler = Sampler(sid)
        code, locust_cpu = run_locust(args, service.url, key, out, seconds, sampler)
        alive = service.proc.poll() is None
        processes = session_cpu(sid)[2]
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    finally:
        service_code = service.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    try:
        report: dict[str, Any] = json.loads((out / "locust-report.json").read_text())
    except (OSError, ValueError) as exc:
        log = (out / "locust.log").read_text(errors="replace")[-3000:]
        print(f"FAIL: locust exited with {code} and left no report ({exc}):\n{log}", file=sys.stderr)
        return 1
    summary = summarize(args, report, sampler)
    window = summary["load_window_s"]
    summary |= {
        "service_processes": processes,
        "locust_cpu_pct_of_core": 100.0 * locust_cpu / window if window else 0.0,
        "locust_exit_code": code,
        "service_alive_at_end": alive,
        "service_exit_code": service_code,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    actions = ", ".join(f"{name} {count:,}" for name, count in sorted(summary["actions"].items()))
    print(
        f"\n{summary['store']}, {'+'.join(summary['format'])}, {summary['scenario']}: batch {summary['batch']}, "
        f"repeat {summary['repeat']:.0%}, {args.users} users, {window:.1f} s of load\n"
        f"  requests/s {summary['requests_per_s']:,.0f}   alerts/s {summary['alerts_per_s']:,.0f}   "
        f"requests {summary['requests']:,}   failures {summary['failures']}\n"
        f"  latency p50 {summary['p50_ms']:.0f} ms   p90 {summary['p90_ms']:.0f} ms   p99 {summary['p99_ms']:.0f} ms   "
        f"max {summary['max_ms']:.0f} ms\n"
        f"  results: {actions}\n"
        f"  CPU (% of one core): service {summary['service_cpu_pct_of_core']:.0f}% ({processes} processes, "
        f"max RSS {summary['service_rss_mib_max']:.0f} MiB), locust {summary['locust_cpu_pct_of_core']:.0f}%; "
        f"machine busy {summary['machine_busy_pct_all_cores']:.0f}% of {os.cpu_count()} cores\n"
        f"  report: {out}"
    )
    problems = []
    if summary["failures"] or report["requests_failed"]:
        problems.append(f"{summary['failures']} failed requests (see {out}/locust_failures.csv)")
    if summary["requests"] == 0:
        problems.append("no requests were made")
    if code != 0 and not summary["failures"]:
        problems.append(f"locust exited with {code} (see {out}/locust.log)")
    if not alive:
        problems.append(f"the service exited during the run (see {out}/service.log)")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
