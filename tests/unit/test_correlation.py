"""The correlation rules, their vetoes and evidence, through the dedup stage that asks them (no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_incident_manager.configfile import parse_config
from llm_incident_manager.correlation.config import CorrelationConfig
from llm_incident_manager.correlation.metrics import score_grouping
from llm_incident_manager.correlation.state import CorrelationState
from llm_incident_manager.domain.alerts import Alert, EventAction, Severity
from llm_incident_manager.domain.incidents import Action, AlertResult, IncidentAlert
from llm_incident_manager.errors import Conflict
from llm_incident_manager.ingest.normalize import dimensions
from llm_incident_manager.pipeline.dedup import DedupState
from llm_incident_manager.pipeline.fingerprint import fingerprint_alerts
from llm_incident_manager.pipeline.writeset import WriteSet

T0 = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = 900.0


def am(alertname: str, at: float = 0.0, summary: str | None = None, **labels: str) -> Alert:
    """An Alertmanager-style alert: identity is its labels."""
    labels = {"alertname": alertname, **labels}
    dims = dimensions(labels)
    return Alert(
        title=summary or alertname,
        severity=Severity.HIGH,
        action=EventAction.TRIGGER,
        source="prometheus",
        integration="alertmanager",
        event_time=T0 + timedelta(seconds=at),
        identity=None,
        labels=labels,
        **dims,  # type: ignore[arg-type]
    )


def keyed(title: str, key: str, at: float = 0.0, source: str = "datadog", **dims: str) -> Alert:
    """A PagerDuty-style alert with an explicit dedup key."""
    return Alert(
        title=title,
        severity=Severity.HIGH,
        action=EventAction.TRIGGER,
        source=source,
        integration="pagerduty",
        event_time=T0 + timedelta(seconds=at),
        identity=(f"pd:{source}", key),
        dedup_key=key,
        **dims,  # type: ignore[arg-type]
    )


def generic(title: str, at: float = 0.0, **dims: str) -> Alert:
    """A generic JSON alert without labels (identity: title and dimensions)."""
    return Alert(
        title=title,
        severity=Severity.MEDIUM,
        action=EventAction.TRIGGER,
        source="eval-job",
        integration="generic",
        event_time=T0 + timedelta(seconds=at),
        identity={"alertname": title, "source": "eval-job", **dims},
        **dims,  # type: ignore[arg-type]
    )


def state(yaml: str = "") -> DedupState:
    config = parse_config(yaml).correlation
    return DedupState(WINDOW, CorrelationState(config))


def run(st_: DedupState, *alerts: Alert, received: datetime = T0) -> tuple[list[AlertResult], WriteSet]:
    ws = WriteSet()
    results = st_.apply(list(alerts), fingerprint_alerts(alerts), received, ws)
    return results, ws


def grouped(ws: WriteSet) -> list[dict[str, Any]]:
    return [row[4] for row in ws.timeline if row[2] == "alert_grouped"]


def test_label_group_joins_the_same_symptom_on_other_pods_with_evidence() -> None:
    s = state()
    base = {"service": "vllm", "model": "llama3-70b", "env": "prod", "region": "eu"}
    results, ws = run(s, am("HighP95Latency", pod="a", **base), am("HighP95Latency", at=30, pod="b", **base))
    assert [r.action for r in results] == [Action.CREATED, Action.GROUPED]
    assert results[0].incident_id == results[1].incident_id
    [evidence] = grouped(ws)
    assert evidence["rule"] == "label_group"
    assert evidence["matched"]["fingerprint"] == results[0].fingerprint
    assert evidence["values"]["alertname"] == "HighP95Latency"
    change = ws.changes[results[0].incident_id or ""]
    assert change.alerts_added == 1


def test_never_across_env_nor_outside_the_window() -> None:
    s = state()
    results, _ = run(
        s,
        am("HighP95Latency", service="vllm", env="prod", pod="a"),
        am("HighP95Latency", at=10, service="vllm", env="staging", pod="a"),
        am("HighP95Latency", at=30 * 60 + 11, service="vllm", env="prod", pod="b"),  # 30m window past the last
    )
    assert [r.action for r in results] == [Action.CREATED, Action.CREATED, Action.CREATED]
    assert len({r.incident_id for r in results}) == 3


def test_window_runs_from_the_last_repeat_in_event_time() -> None:
    s = state("correlation: {window: 60s}")
    a = am("QueueDepthHigh", service="gw", pod="a")
    results, _ = run(s, a, am("QueueDepthHigh", at=50, service="gw", pod="a"))
    assert results[1].action is Action.DEDUPLICATED
    results2, _ = run(s, am("QueueDepthHigh", at=100, service="gw", pod="b"))  # 50 s after the repeat
    assert results2[0].action is Action.GROUPED
    results3, _ = run(s, am("QueueDepthHigh", at=200, service="gw", pod="c"))  # 100 s after the last
    assert results3[0].action is Action.CREATED


def test_topology_links_a_node_and_the_services_on_it_but_not_one_services_two_problems() -> None:
    s = state()
    results, ws = run(
        s,
        am("GPUNodeDown", node="gpu-7", cluster="c1"),
        am("HighP95Latency", at=60, service="vllm-llama", node="gpu-7", env="prod"),
        am("TokensPerSecondLow", at=70, service="vllm-mixtral", node="gpu-7", env="prod"),
    )
    assert [r.action for r in results] == [Action.CREATED, Action.GROUPED, Action.GROUPED]
    assert {e["rule"] for e in grouped(ws)} == {"topology"}
    assert grouped(ws)[0]["label"] == "node"
    # two unrelated problems of one service on one node stay apart (no resource alert links them)
    s2 = state()
    results, _ = run(
        s2,
        am("HighP95Latency", service="vllm", node="gpu-1", env="prod"),
        am("TokenCostSpike", at=5, service="vllm", node="gpu-1", env="prod"),
    )
    assert [r.action for r in results] == [Action.CREATED, Action.CREATED]


def test_cascade_downstream_joins_the_open_upstream_incident_not_the_reverse() -> None:
    yaml = "correlation: {dependencies: {gateway: [router], router: [vllm]}}"
    s = state(yaml)
    results, ws = run(
        s,
        am("HighErrorRate", service="router", env="prod", region="eu"),
        am("Upstream5xx", at=40, service="gateway", env="prod", region="eu"),
    )
    assert [r.action for r in results] == [Action.CREATED, Action.GROUPED]
    [evidence] = grouped(ws)
    assert (evidence["rule"], evidence["upstream"], evidence["downstream"]) == ("cascade", "router", "gateway")
    # not the reverse, not two edges away (depth 1 by default), not across regions or models
    for first, second in (
        (am("Upstream5xx", service="gateway", env="prod"), am("HighErrorRate", at=40, service="router", env="prod")),
        (am("HighErrorRate", service="vllm", env="prod"), am("Upstream5xx", at=40, service="gateway", env="prod")),
        (am("HighErrorRate", service="router", region="us"), am("Upstream5xx", at=40, service="gateway", region="eu")),
        (am("HighErrorRate", service="router", model="a"), am("Upstream5xx", at=40, service="gateway", model="b")),
    ):
        results, _ = run(state(yaml), first, second)
        assert [r.action for r in results] == [Action.CREATED, Action.CREATED], (first.labels, second.labels)
    # two edges away when the configuration says so
    deep = state("correlation: {dependencies: {gateway: [router], router: [vllm]}, cascade: {depth: 2}}")
    results, _ = run(deep, am("HighErrorRate", service="vllm"), am("Upstream5xx", at=40, service="gateway"))
    assert [r.action for r in results] == [Action.CREATED, Action.GROUPED]


def test_similarity_joins_reports_of_one_problem_from_other_sources_despite_numbers() -> None:
    s = state()
    results, ws = run(
        s,
        am("HallucinationRateHigh", summary="Hallucination rate 7.2% above 5% for llama3-70b", model="llama3-70b",
           env="prod", region="eu-west-1"),
        generic("Hallucination rate 8.1% above 5% for llama3-70b", at=120, model="llama3-70b", env="prod"),
        generic("Hallucination rate 8.1% above 5% for llama3-70b", at=130, model="mixtral", env="prod"),
        generic("Hallucination rate 8.1% above 5% for llama3-70b", at=140, model="llama3-70b", env="staging"),
        generic("Hallucination rate 8.1% above 5% for llama3-70b", at=150, model="llama3-70b", env="prod",
                region="us-east-1"),
        generic("Hallucination rate at 9.0% (threshold 5%)", at=160, model="llama3-70b", env="prod"),
    )  # fmt: skip
    # another number, or the eval job's wording with an extra word (token-set ratio), joins; another model, env or
    # region is another incident (a source that gives no region agrees with any)
    assert [r.action for r in results] == [
        Action.CREATED, Action.GROUPED, Action.CREATED, Action.CREATED, Action.CREATED, Action.GROUPED
    ]  # fmt: skip
    evidence = grouped(ws)
    assert {e["rule"] for e in evidence} == {"similarity"}
    assert all(e["cosine"] >= 0.85 or e["fuzzy"] >= 0.9 for e in evidence)
    assert evidence[0]["scope"] == {"model": "llama3-70b"}


def test_dissimilar_titles_in_one_scope_stay_apart() -> None:
    s = state()
    results, _ = run(
        s,
        generic("Hallucination rate 7.2% above 5%", model="llama3-70b", env="prod"),
        generic("Token cost per request doubled", at=10, model="llama3-70b", env="prod"),
    )
    assert [r.action for r in results] == [Action.CREATED, Action.CREATED]


def test_explicit_dedup_keys_of_one_source_never_merge() -> None:
    s = state()
    results, _ = run(
        s,
        keyed("Error rate high on checkout", "k1", service="checkout", env="prod"),
        keyed("Error rate high on checkout", "k2", at=5, service="checkout", env="prod"),
        keyed("Error rate high on checkout", "k3", at=6, source="other", service="checkout", env="prod"),
    )
    assert [r.action for r in results] == [Action.CREATED, Action.CREATED, Action.GROUPED]


def test_a_split_pair_is_never_merged_again() -> None:
    s = state()
    base = {"service": "vllm", "env": "prod"}
    results, _ = run(s, am("HighP95Latency", pod="a", **base), am("HighP95Latency", at=5, pod="b", **base))
    old, fp = results[0].incident_id or "", results[1].fingerprint
    row = IncidentAlert(
        incident_id=old, fingerprint=fp, status="firing", title="HighP95Latency",  # type: ignore[arg-type]
        severity=Severity.HIGH, source="prometheus", count=1, first_seen_at=T0, last_seen_at=T0,
        labels={"alertname": "HighP95Latency", "pod": "b", **base},
    )  # fmt: skip
    ws = WriteSet()
    new = s.split(old, row, "user:ana", T0, ws)
    assert ws.splits == [(old, fp, new, T0, "user:ana")]
    assert [t[2] for t in ws.timeline] == ["alert_split", "created"]
    # its repeats now land in the new incident
    results, _ = run(s, am("HighP95Latency", at=10, pod="b", **base))
    assert (results[0].action, results[0].incident_id) == (Action.DEDUPLICATED, new)
    # a lone alert cannot be split from its incident, nor can a split be repeated
    with pytest.raises(Conflict):
        s.split(new, row, "user:ana", T0, WriteSet())
    # after its new incident resolved and a long silence it fires again: not back into the old incident
    s.close(new)
    results, _ = run(s, am("HighP95Latency", at=20 * 60, pod="b", **base))
    assert results[0].action is Action.CREATED
    assert results[0].incident_id not in (old, new)
    # other alerts still group
    results, _ = run(s, am("HighP95Latency", at=20 * 60 + 5, pod="c", **base))
    assert results[0].action is Action.GROUPED


def test_per_service_grouping_overrides_the_default() -> None:
    s = state("correlation: {services: {gateway: {group_by: [alertname, env]}}}")
    results, ws = run(
        s,
        am("Upstream5xx", service="gateway", env="prod", region="eu", model="a"),
        am("Upstream5xx", at=5, service="gateway", env="prod", region="us", model="b"),  # model, region ignored
        am("HighP95Latency", at=6, service="vllm", env="prod", region="eu", model="a"),
        am("HighP95Latency", at=7, service="vllm", env="prod", region="us", model="a"),  # default: region counts
    )
    assert [r.action for r in results] == [Action.CREATED, Action.GROUPED, Action.CREATED, Action.CREATED]
    assert grouped(ws)[0]["group_by"] == ["alertname", "env"]


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"correlation\.similarity\.threshold: must be in \(0, 1\]"):
        parse_config("correlation: {similarity: {threshold: 1.5}}")
    with pytest.raises(ValueError, match=r"correlation\.topology\.labelz: unknown key"):
        parse_config("correlation: {topology: {labelz: [node]}}")
    with pytest.raises(ValueError, match=r"correlation\.window: '10x' is not a duration"):
        parse_config("correlation: {window: 10x}")
    # an alertmanager.yml loads as is
    parsed = parse_config(
        "global: {resolve_timeout: 5m}\nroute: {receiver: x, group_by: [alertname]}\nreceivers: [{name: x}]"
    )
    assert parsed.correlation == CorrelationConfig()


def test_upstream_closure_handles_cycles() -> None:
    config = parse_config("correlation: {dependencies: {a: [b], b: [c, a], c: [b]}}").correlation
    assert config.upstream_of("a") == ["b", "c"]
    assert config.upstream_of("z") == []


# -- properties ----------------------------------------------------------------------------------------
SERVICES = ["vllm", "gateway", "router"]
NAMES = ["HighP95Latency", "HighErrorRate", "TokenCostSpike"]


@st.composite
def streams(draw: st.DrawFn) -> list[Alert]:
    n = draw(st.integers(1, 40))
    at = 0.0
    alerts = []
    for _ in range(n):
        at += draw(st.floats(0, 400))
        labels = {
            "service": draw(st.sampled_from(SERVICES)),
            "env": draw(st.sampled_from(["prod", "staging"])),
            "pod": draw(st.sampled_from(["a", "b", "c"])),
        }
        if draw(st.booleans()):
            labels["node"] = draw(st.sampled_from(["n1", "n2"]))
        alerts.append(am(draw(st.sampled_from(NAMES)), at=at, **labels))
    return alerts


def partition(results: list[AlertResult]) -> list[int]:
    """The grouping as a canonical list: per alert, the index of the first alert of its incident."""
    first: dict[str | None, int] = {}
    return [first.setdefault(r.incident_id, i) for i, r in enumerate(results)]


@settings(max_examples=60, deadline=None)
@given(streams(), st.integers(1, 10), st.integers(0, 10**6))
def test_grouping_depends_on_event_times_only_not_on_batching_or_arrival(
    alerts: list[Alert], batch: int, offset: int
) -> None:
    yaml = "correlation: {dependencies: {gateway: [router], router: [vllm]}}"
    live = state(yaml)
    results_live, _ = run(live, *alerts)
    replayed = state(yaml)
    results_replay: list[AlertResult] = []
    for i in range(0, len(alerts), batch):
        chunk, _ = run(replayed, *alerts[i : i + batch], received=T0 + timedelta(seconds=offset + i))
        results_replay.extend(chunk)
    assert partition(results_live) == partition(results_replay)
    assert [r.action for r in results_live] == [r.action for r in results_replay]
    # and no incident ever mixes environments
    env_of: dict[str | None, set[str | None]] = {}
    for alert, r in zip(alerts, results_live, strict=True):
        env_of.setdefault(r.incident_id, set()).add(alert.env)
    assert all(len(envs) == 1 for envs in env_of.values())


@given(st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from("wxyz")), min_size=1, max_size=60))
def test_bcubed_matches_its_definition(pairs: list[tuple[str, str]]) -> None:
    score = score_grouping(pairs)
    n = len(pairs)
    precision = (
        sum(
            sum(1 for q in pairs if q[0] == p[0] and q[1] == p[1]) / sum(1 for q in pairs if q[0] == p[0])
            for p in pairs
        )
        / n
    )
    recall = (
        sum(
            sum(1 for q in pairs if q[0] == p[0] and q[1] == p[1]) / sum(1 for q in pairs if q[1] == p[1])
            for p in pairs
        )
        / n
    )
    assert score.precision == pytest.approx(precision)
    assert score.recall == pytest.approx(recall)
    assert score.noise_reduction == pytest.approx(1 - len({p for p, _ in pairs}) / n)
    assert score.ceiling == pytest.approx(1 - len({t for _, t in pairs}) / n)
