"""Locust load test: an LLM-serving alert stream sent through the service's ingest formats.

The stream is the one of the peer measurement (/work/shared/tools/alertmanager-peer/loadgen.py): each alert
event is, with probability ``1 - repeat``, a new alert (a new label set) and otherwise a re-fire of an alert
already sent through the same format (same labels, same dedup key, same ``startsAt``), so the dedup path is
what most requests exercise. Labels: alertname, service, model, model_version, region, env, instance, severity;
annotations: summary, description, runbook_url.

Options (command line, or the environment variable in brackets; ``loadtest/run.py`` passes them through):

  --lim-format      generic | alertmanager | alertmanager-v2 | pagerduty | cloudevents, or a comma-separated
                    list sent in turn, or ``all`` [LIM_FORMAT, default generic]
  --lim-batch       alerts per request [LIM_BATCH, default 10; 100 for the storm scenario]
  --lim-repeat      share of alert events that re-fire an alert already sent [LIM_REPEAT, default 0.9;
                    0.5 for the storm scenario]
  --lim-scenario    steady: the everyday mix across all services, models and regions;
                    storm: a bad deploy of one model version in two regions, so most new alerts share
                    model, model_version and region, 50,000 alerts offered at 5,000 alerts/s;
                    soak: the steady stream at 500 alerts/s [LIM_SCENARIO, default steady]
  --lim-rate        total offered alerts per second, shared by all users: each user paces itself with
                    ``constant_throughput(rate / batch / users)``; 0 = closed loop [LIM_RATE, default: the
                    scenario's, 0 for steady, 5000 for storm, 500 for soak]
  --lim-user-rate   requests per second per user when --lim-rate is 0; 0 = closed loop, as fast as the
                    service answers [LIM_USER_RATE, default 0]
  --lim-max-alerts  stop the run once this many alerts have been sent and answered; 0 = no limit
                    [LIM_MAX_ALERTS, default: the scenario's, 50000 for storm, 0 otherwise]
  --lim-seed        seed of the stream [LIM_SEED, default 1]
  --lim-report      write a JSON report (alerts sent, per-action counts) here when Locust quits
                    [LIM_LOADTEST_REPORT]

The API key comes from ``LIM_KEY`` (an ingest key: ``lim keys create --role ingest``). Only loopback hosts are
accepted unless ``LIM_LOADTEST_ALLOW_REMOTE=1``.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import gevent
from locust import FastHttpUser, constant_throughput, events, task
from locust.env import Environment

from fleet import MODELS, REGIONS, SERVICES  # locust puts this folder on sys.path

FORMATS: dict[str, tuple[str, str]] = {
    # format: (path, content type)
    "generic": ("/api/v1/alerts", "application/json"),
    "alertmanager": ("/api/v1/integrations/alertmanager", "application/json"),
    "pagerduty": ("/v2/enqueue", "application/json"),
    "cloudevents": ("/api/v1/integrations/cloudevents", "application/cloudevents-batch+json"),
    "alertmanager-v2": ("/api/v2/alerts", "application/json"),
}
#: Formats whose answer is not ``202`` with one ``results`` entry per alert: Alertmanager's API v2 answers an
#: empty ``200``, so only the status is checked and the alerts of a ``200`` count as accepted.
NO_RESULTS: dict[str, int] = {"alertmanager-v2": 200}
SCENARIOS: dict[str, dict[str, float]] = {
    # rate: offered alerts/s (0 = closed loop); max_alerts: stop after this many (0 = at the run time)
    "steady": {"batch": 10, "repeat": 0.9, "rate": 0, "max_alerts": 0},
    "storm": {"batch": 100, "repeat": 0.5, "rate": 5000, "max_alerts": 50_000},
    "soak": {"batch": 10, "repeat": 0.9, "rate": 500, "max_alerts": 0},
}

# name: (weight, severities with weights, summary, description)
ALERTNAMES: dict[str, tuple[int, tuple[tuple[str, int], ...], str, str]] = {
    "ModelLatencyP99High": (
        20,
        (("warning", 3), ("critical", 1)),
        "p99 latency of {model} in {region} above SLO",
        "p99 end-to-end latency for {model} ({model_version}) on {instance} is {value:.0f} ms, SLO is 2500 ms, "
        "for more than 5m.",
    ),
    "TokenCostSpike": (
        10,
        (("warning", 1),),
        "Token spend for {service} spiking",
        "Token cost for {model} is {value:.1f}x the 7d baseline in {region}.",
    ),
    "HallucinationRateHigh": (
        6,
        (("warning", 2), ("critical", 1)),
        "Hallucination rate high on {model}",
        "Grounding-eval failure rate for {model_version} is {value:.1f}% over the last 15m (threshold 5%).",
    ),
    "GPUMemoryHigh": (
        16,
        (("warning", 3), ("critical", 1)),
        "GPU memory above 92% on {instance}",
        "HBM utilisation {value:.1f}% on {instance} serving {model}; KV-cache evictions likely.",
    ),
    "GPUTempHigh": (
        8,
        (("warning", 2), ("critical", 1)),
        "GPU temperature high on {instance}",
        "GPU core temperature {value:.0f} C on {instance} in {region}.",
    ),
    "OOMKilled": (
        6,
        (("critical", 1),),
        "Container OOMKilled in {service}",
        "Pod {instance} of {service} was OOMKilled while loading {model_version}.",
    ),
    "RateLimitExceeded": (
        24,
        (("info", 1), ("warning", 2)),
        "Upstream rate limit exceeded for {service}",
        "{value:.0f} requests/min rejected with 429 for {model} in {region}.",
    ),
    "QuotaExhaustionSoon": (
        10,
        (("warning", 2), ("critical", 1)),
        "Token quota for {service} exhausted soon",
        "At the current rate the monthly token quota for {model} runs out in {value:.1f} h.",
    ),
}
#: What a bad deploy of one model version sets off (the storm scenario).
STORM_ALERTNAMES = ("HallucinationRateHigh", "ModelLatencyP99High", "GPUMemoryHigh", "OOMKilled")
STORM_MODEL, STORM_VERSION, STORM_REGIONS = "llama-3.1-70b-instruct", "llama-3.3.0", ("us-east-1", "eu-west-1")

ENVS = (("prod", 8), ("staging", 2))
PD_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
#: Alertmanager API v2 clients (Prometheus) send firing alerts with ``endsAt`` a few minutes ahead.
V2_ENDS_AFTER_S = 300.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def am_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's label fingerprint (FNV-1a 64 over sorted labels), as its webhook carries it."""
    h = 14695981039346656037
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode():
                h = ((h ^ byte) * 1099511628211) & 0xFFFF_FFFF_FFFF_FFFF
            h = ((h ^ 0xFF) * 1099511628211) & 0xFFFF_FFFF_FFFF_FFFF
    return f"{h:016x}"


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([value for value, _ in weighted], [weight for _, weight in weighted])[0]


class Alert:
    """One alert of the stream; a re-fire sends the same object again."""

    __slots__ = ("annotations", "dedup_key", "fingerprint", "generator_url", "labels", "starts_at", "title")

    def __init__(self, labels: dict[str, str], annotations: dict[str, str], starts_at: str) -> None:
        self.labels = labels
        self.annotations = annotations
        self.starts_at = starts_at
        self.fingerprint = am_fingerprint(labels)
        self.dedup_key = f"{labels['alertname']}-{self.fingerprint}"
        self.title = f"{labels['alertname']}: {annotations['summary']}"
        query = urllib.parse.quote(f'ALERTS{{alertname="{labels["alertname"]}"}}')
        self.generator_url = f"http://prometheus.example.internal:9090/graph?g0.expr={query}&g0.tab=1"


class Stream:
    """The alerts sent through one format: new ones, and re-fires picked uniformly from those already sent."""

    def __init__(self, rng: random.Random, scenario: str, tag: str) -> None:
        self.rng = rng
        self.storm = scenario == "storm"
        self.tag = tag
        self.pool: list[Alert] = []

    def new_alert(self) -> Alert:
        rng = self.rng
        names = list(ALERTNAMES)
        if self.storm:
            alertname = rng.choice(STORM_ALERTNAMES)
            model, version, region = STORM_MODEL, STORM_VERSION, rng.choice(STORM_REGIONS)
            service = rng.choice(("vllm-serving", "chat-api", "inference-gateway"))
        else:
            alertname = rng.choices(names, [ALERTNAMES[n][0] for n in names])[0]
            model, region, service = rng.choice(MODELS), rng.choice(REGIONS), rng.choice(SERVICES)
            version = f"{model.split('-')[0]}-{rng.randint(1, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 30)}"
        _, severities, summary, description = ALERTNAMES[alertname]
        labels = {
            "alertname": alertname,
            "service": service,
            "model": model,
            "model_version": version,
            "region": region,
            "env": "prod" if self.storm else _pick(rng, ENVS),
            "instance": f"{service}-{self.tag}-{len(self.pool):07d}-{rng.getrandbits(20):05x}:8000",
            "severity": "critical" if self.storm and rng.random() < 0.5 else _pick(rng, severities),
        }
        values = {**labels, "value": rng.uniform(1, 5000)}
        annotations = {
            "summary": summary.format(**values),
            "description": description.format(**values),
            "runbook_url": f"https://runbooks.example.internal/llm/{alertname.lower()}",
        }
        alert = Alert(labels, annotations, rfc3339(time.time()))
        self.pool.append(alert)
        return alert

    def batch(self, n: int, repeat: float) -> list[Alert]:
        rng, pool = self.rng, self.pool
        return [
            pool[int(rng.random() * len(pool))] if pool and rng.random() < repeat else self.new_alert()
            for _ in range(n)
        ]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def render_generic(alerts: list[Alert], key: str) -> bytes:
    return _dumps(
        [
            {
                "title": a.title,
                "description": a.annotations["description"],
                "severity": a.labels["severity"],
                "source": "prometheus",
                "service": a.labels["service"],
                "labels": a.labels,
                "annotations": a.annotations,
                "timestamp": a.starts_at,
            }
            for a in alerts
        ]
    )


def render_alertmanager(alerts: list[Alert], key: str) -> bytes:
    common = dict(alerts[0].labels)
    for a in alerts[1:]:
        for name in [name for name, value in common.items() if a.labels.get(name) != value]:
            del common[name]
    return _dumps(
        {
            "version": "4",
            "groupKey": "{}:{}",
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "lim",
            "groupLabels": {},
            "commonLabels": common,
            "commonAnnotations": alerts[0].annotations if len(alerts) == 1 else {},
            "externalURL": "http://alertmanager.example.internal:9093",
            "alerts": [
                {
                    "status": "firing",
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": a.starts_at,
                    "endsAt": GO_ZERO_TIME,
                    "generatorURL": a.generator_url,
                    "fingerprint": a.fingerprint,
                }
                for a in alerts
            ],
        }
    )


def render_alertmanager_v2(alerts: list[Alert], key: str) -> bytes:
    ends_at = rfc3339(time.time() + V2_ENDS_AFTER_S)
    return _dumps(
        [
            {
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": a.starts_at,
                "endsAt": ends_at,
                "generatorURL": a.generator_url,
            }
            for a in alerts
        ]
    )


def render_pagerduty(alerts: list[Alert], key: str) -> bytes:
    events_ = [
        {
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": a.dedup_key,
            "payload": {
                "summary": a.title[:1024],
                "source": a.labels["instance"],
                "severity": PD_SEVERITY.get(a.labels["severity"], "warning"),
                "timestamp": a.starts_at,
                "component": a.labels["model"],
                "group": a.labels["service"],
                "class": a.labels["alertname"],
                "custom_details": {**a.labels, "description": a.annotations["description"]},
            },
            "client": "locust",
            "client_url": a.generator_url,
        }
        for a in alerts
    ]
    # One event is PagerDuty's own shape; an array is the service's batch extension.
    return _dumps(events_[0] if len(events_) == 1 else events_)


def render_cloudevents(alerts: list[Alert], key: str) -> bytes:
    now = rfc3339(time.time())
    return _dumps(
        [
            {
                "specversion": "1.0",
                "id": uuid.uuid4().hex,
                "source": "/prometheus/llm-serving",
                "type": "com.example.llm.alert",
                "subject": a.labels["service"],
                "time": now,
                "datacontenttype": "application/json",
                "dedupkey": a.dedup_key,
                "data": {
                    "title": a.title,
                    "description": a.annotations["description"],
                    "severity": a.labels["severity"],
                    "status": "firing",
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "runbook_url": a.annotations["runbook_url"],
                },
            }
            for a in alerts
        ]
    )


RENDER: dict[str, Callable[[list[Alert], str], bytes]] = {
    "generic": render_generic,
    "alertmanager": render_alertmanager,
    "pagerduty": render_pagerduty,
    "cloudevents": render_cloudevents,
    "alertmanager-v2": render_alertmanager_v2,
}

#: Counters of this Locust process, written to --lim-report when it quits.
TOTALS: dict[str, Any] = {
    "alerts_ok": 0,
    "alerts_failed": 0,
    "requests_ok": 0,
    "requests_failed": 0,
    "alerts_claimed": 0,  # alerts taken for a request (what --lim-max-alerts bounds)
    "alerts_interrupted": 0,  # alerts in requests cut off unanswered when Locust stopped at --run-time
    "in_flight": 0,  # requests sent and not answered yet
    "first_sent_at": None,  # wall-clock time the first request was sent
    "last_answer_at": None,  # wall-clock time the last answer arrived
    "last_ok_at": None,  # wall-clock time the last accepted answer arrived
    "max_alerts_reached_at": None,  # when the last of --lim-max-alerts was answered
}
ACTIONS: Counter[str] = Counter()
ALERTS_BY_FORMAT: Counter[str] = Counter()
STREAMS: dict[str, Stream] = {}


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--lim-format", default=_env("LIM_FORMAT", "generic"), help="ingest format(s), or all")
    parser.add_argument("--lim-batch", type=int, default=int(_env("LIM_BATCH", "0")), help="alerts per request")
    parser.add_argument("--lim-repeat", type=float, default=float(_env("LIM_REPEAT", "-1")), help="re-fire share")
    parser.add_argument("--lim-scenario", choices=sorted(SCENARIOS), default=_env("LIM_SCENARIO", "steady"))
    parser.add_argument("--lim-rate", type=float, default=float(_env("LIM_RATE", "-1")), help="total alerts/s")
    parser.add_argument("--lim-user-rate", type=float, default=float(_env("LIM_USER_RATE", "0")))
    parser.add_argument("--lim-max-alerts", type=int, default=int(_env("LIM_MAX_ALERTS", "-1")))
    parser.add_argument("--lim-seed", type=int, default=int(_env("LIM_SEED", "1")))
    parser.add_argument("--lim-report", default=_env("LIM_LOADTEST_REPORT", ""), include_in_web_ui=False)


def _settings(environment: Environment) -> dict[str, Any]:
    opts = environment.parsed_options
    scenario = SCENARIOS[opts.lim_scenario]
    formats = list(FORMATS) if opts.lim_format == "all" else [f.strip() for f in opts.lim_format.split(",")]
    batch = opts.lim_batch or int(scenario["batch"])
    rate = opts.lim_rate if opts.lim_rate >= 0 else scenario["rate"]
    users = max(1, int(getattr(opts, "num_users", None) or 1))
    return {
        "formats": formats,
        "batch": batch,
        "repeat": opts.lim_repeat if opts.lim_repeat >= 0 else scenario["repeat"],
        "scenario": opts.lim_scenario,
        "rate": rate,
        # requests/s of each user: the offered rate split evenly over the users, or --lim-user-rate
        "user_rate": rate / batch / users if rate > 0 else opts.lim_user_rate,
        "max_alerts": opts.lim_max_alerts if opts.lim_max_alerts >= 0 else int(scenario["max_alerts"]),
        "seed": opts.lim_seed,
    }


@events.init.add_listener
def _check(environment: Environment, **_: Any) -> None:
    if environment.parsed_options is None:
        return
    settings = _settings(environment)
    unknown = [f for f in settings["formats"] if f not in FORMATS]
    if unknown:
        sys.exit(f"--lim-format: unknown {unknown}; use {', '.join(FORMATS)}, a comma-separated list, or all")
    if settings["batch"] < 1 or not 0.0 <= settings["repeat"] <= 1.0:
        sys.exit("--lim-batch must be at least 1 and --lim-repeat between 0 and 1")
    if settings["user_rate"] < 0:
        sys.exit("--lim-rate and --lim-user-rate must not be negative")
    if not os.environ.get("LIM_KEY"):
        sys.exit("set LIM_KEY to an ingest key (lim keys create --role ingest)")
    host = urllib.parse.urlsplit(environment.host or "").hostname or ""
    if host not in LOOPBACK and not host.startswith("127.") and os.environ.get("LIM_LOADTEST_ALLOW_REMOTE") != "1":
        sys.exit(f"refusing non-loopback host {environment.host!r} (set LIM_LOADTEST_ALLOW_REMOTE=1 to allow it)")
    for i, fmt in enumerate(FORMATS):
        STREAMS[fmt] = Stream(random.Random(f"{settings['seed']}/{fmt}"), settings["scenario"], f"{fmt[:2]}{i}")


@events.quitting.add_listener
def _report(environment: Environment, **_: Any) -> None:
    """The final figures (Locust's CSV files are rewritten once a second, so they can miss the last second)."""
    path = environment.parsed_options.lim_report if environment.parsed_options else ""
    if not path:
        return
    total = environment.stats.total
    with open(path, "w", encoding="utf-8") as out:
        json.dump(
            {
                **_settings(environment),
                **TOTALS,
                "actions": dict(ACTIONS),
                "alerts_by_format": dict(ALERTS_BY_FORMAT),
                "unique_alerts_sent": {fmt: len(s.pool) for fmt, s in STREAMS.items() if s.pool},
                "locust": {
                    "requests": total.num_requests,
                    "failures": total.num_failures,
                    "requests_per_s": total.total_rps,
                    "start_time": total.start_time,
                    "last_request_time": total.last_request_timestamp,
                    "p50_ms": total.get_response_time_percentile(0.5),
                    "p90_ms": total.get_response_time_percentile(0.9),
                    "p95_ms": total.get_response_time_percentile(0.95),
                    "p99_ms": total.get_response_time_percentile(0.99),
                    "p999_ms": total.get_response_time_percentile(0.999),
                    "max_ms": total.max_response_time,
                    "by_name": {
                        name: {
                            "requests": entry.num_requests,
                            "failures": entry.num_failures,
                            "p50_ms": entry.get_response_time_percentile(0.5),
                            "p99_ms": entry.get_response_time_percentile(0.99),
                        }
                        for (name, _method), entry in environment.stats.entries.items()
                    },
                },
            },
            out,
            indent=2,
        )


class AlertSender(FastHttpUser):
    """Posts batches of the alert stream, turn by turn through the chosen formats."""

    connection_timeout = 5.0
    network_timeout = 30.0

    def on_start(self) -> None:
        self.settings = _settings(self.environment)
        self.key = os.environ["LIM_KEY"]
        self.turn = 0
        rate = self.settings["user_rate"]
        self._pace = constant_throughput(rate) if rate > 0 else None

    def wait_time(self) -> float:
        return self._pace(self) if self._pace is not None else 0.0

    def _claim(self) -> int:
        """How many alerts the next request carries: the batch, or what is left of --lim-max-alerts."""
        n: int = self.settings["batch"]
        limit: int = self.settings["max_alerts"]
        if limit:
            n = min(n, limit - TOTALS["alerts_claimed"])
        if n > 0:
            TOTALS["alerts_claimed"] += n
        return n

    def _answered(self, answered: bool) -> None:
        now = time.time()
        TOTALS["in_flight"] -= 1
        if answered:
            TOTALS["last_answer_at"] = now
        limit = self.settings["max_alerts"]
        done = limit and TOTALS["alerts_claimed"] >= limit and TOTALS["in_flight"] == 0
        if done and not TOTALS["max_alerts_reached_at"]:
            # Every alert of the bounded count is answered: end the run now rather than at --run-time.
            TOTALS["max_alerts_reached_at"] = now
            runner = self.environment.runner
            if runner is not None:
                gevent.spawn(runner.quit)

    @task
    def send(self) -> None:
        n = self._claim()
        if n <= 0:  # the bounded count is used up; the run ends when the last answer arrives
            gevent.sleep(0.05)
            return
        formats: list[str] = self.settings["formats"]
        fmt = formats[self.turn % len(formats)]
        self.turn += 1
        path, content_type = FORMATS[fmt]
        alerts = STREAMS[fmt].batch(n, self.settings["repeat"])
        headers = {"Content-Type": content_type}
        if fmt != "pagerduty":
            headers["Authorization"] = f"Bearer {self.key}"
        body = RENDER[fmt](alerts, self.key)
        TOTALS["first_sent_at"] = TOTALS["first_sent_at"] or time.time()
        TOTALS["in_flight"] += 1
        answered = False
        try:
            with self.client.post(path, data=body, headers=headers, name=f"{fmt} x{n}", catch_response=True) as resp:
                problem = _problem(fmt, n, resp)
                answered = True
                if problem is None:
                    resp.success()
                    TOTALS["alerts_ok"] += n
                    TOTALS["requests_ok"] += 1
                    TOTALS["last_ok_at"] = time.time()
                    ALERTS_BY_FORMAT[fmt] += n
                else:
                    resp.failure(problem)
                    TOTALS["alerts_failed"] += n
                    TOTALS["requests_failed"] += 1
        finally:
            if not answered:  # Locust killed this user mid-request when it stopped at --run-time
                TOTALS["alerts_interrupted"] += n
            self._answered(answered)


def _problem(fmt: str, n: int, resp: Any) -> str | None:
    """None when the answer accepts all ``n`` alerts, else what is wrong with it. Counts the per-alert actions."""
    expected = NO_RESULTS.get(fmt, 202)
    if resp.status_code != expected:
        return f"HTTP {resp.status_code} (expected {expected}): {(resp.text or '')[:300]}"
    if fmt in NO_RESULTS:
        return None
    try:
        results = resp.json()["results"]
    except (ValueError, KeyError, TypeError):
        results = None
    if not isinstance(results, list) or len(results) != n:
        return f"expected {n} results, got {(resp.text or '')[:300]}"
    ACTIONS.update(r.get("action", "?") for r in results)
    return None
