"""The evaluation corpus (benchmarks/corpus.py): deterministic, decodable by the real adapters, every scenario
present and shaped as described, its ground truth consistent with dedup, its summary consistent."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
import yaml
from benchmarks.corpus import (
    DEFAULT_START,
    DEPENDENCIES,
    ENDPOINTS,
    GATEWAY,
    SCENARIOS,
    SPAN,
    WINDOW,
    Line,
    alert_actions,
    generate,
    kind_of,
    main,
    read_jsonl,
    summary,
    write_jsonl,
)

from llm_incident_manager.domain.alerts import Alert, EventAction
from llm_incident_manager.ingest import alertmanager, cloudevents, generic, pagerduty
from llm_incident_manager.ingest.context import IngestContext
from llm_incident_manager.pipeline.fingerprint import fingerprint_alerts

#: Not an event time of the corpus: an alert whose event time is this fell back to the arrival time.
SENTINEL = datetime(2000, 1, 1, tzinfo=UTC)
DEDUP_WINDOW = timedelta(minutes=15)
CORPUS_YAML = Path(__file__).resolve().parents[2] / "benchmarks" / "corpus.yaml"


def decode(line: Line) -> list[Alert]:
    """The body through the adapter its endpoint uses (api/ingest.py), as the service would decode it."""
    body = msgspec.json.encode(line.body)
    ctx = IngestContext(received_at=SENTINEL, key_id="corpus-key", content_type=ENDPOINTS[line.format][1])
    if line.format == "alertmanager":
        return alertmanager.decode(body, ctx)
    if line.format == "cloudevents":
        return cloudevents.decode(body, ctx)
    if line.format == "generic":
        return generic.decode(body, ctx)
    assert line.format == "pagerduty"
    events, single = pagerduty.decode_events(body)
    return pagerduty.to_alerts(events, ["corpus-key"] * len(events), ctx, single=single)


@pytest.fixture(scope="module")
def lines() -> list[Line]:
    return generate(seed=1, scale=1)


@pytest.fixture(scope="module")
def decoded(lines: list[Line]) -> list[tuple[Line, list[Alert], list[str]]]:
    out = []
    for line in lines:
        alerts = decode(line)
        out.append((line, alerts, fingerprint_alerts(alerts)))
    return out


@pytest.fixture(scope="module")
def by_truth(decoded: list[tuple[Line, list[Alert], list[str]]]) -> dict[str, list[tuple[Line, Alert, str]]]:
    out: dict[str, list[tuple[Line, Alert, str]]] = defaultdict(list)
    for line, alerts, fps in decoded:
        for truth, alert, fp in zip(line.truth, alerts, fps, strict=True):
            out[truth].append((line, alert, fp))
    return out


def _dumps(lines: list[Line]) -> list[str]:
    return [json.dumps(line.to_json(), sort_keys=True) for line in lines]


# -- determinism ------------------------------------------------------------------------------------------------


def test_same_seed_same_lines_other_seed_other_lines(lines: list[Line]) -> None:
    assert _dumps(generate(seed=1, scale=1)) == _dumps(lines)
    assert _dumps(generate(seed=2, scale=1)) != _dumps(lines)


def test_start_shifts_every_time() -> None:
    start = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    shifted, base = generate(seed=3, start=start), generate(seed=3)
    delta = start - DEFAULT_START
    assert [line.received_at - delta for line in shifted] == [line.received_at for line in base]
    first = shifted[0].body
    assert "2027-01-01" in json.dumps(first)


def test_scale_multiplies_instances(lines: list[Line]) -> None:
    double = summary(generate(seed=1, scale=2))
    single = summary(lines)
    assert double["incidents_by_kind"] == {kind: 2 * n for kind, n in single["incidents_by_kind"].items()}


def test_jsonl_round_trip_and_line_shape(lines: list[Line], tmp_path: Path) -> None:
    path = tmp_path / "storm.jsonl"
    write_jsonl(lines, path)
    raw = path.read_text(encoding="utf-8").splitlines()
    assert len(raw) == len(lines)
    first = json.loads(raw[0])
    assert set(first) == {"format", "received_at", "body", "truth"}
    assert first["received_at"].endswith("Z")
    assert isinstance(first["truth"], list)
    assert _dumps(read_jsonl(path)) == _dumps(lines)


def test_cli_writes_the_file_and_prints_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "storm.jsonl"
    assert main(["--seed", "1", "--scale", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    figures = summary(read_jsonl(out))
    for name in ("lines", "alerts", "true_incidents", "ceiling_noise_reduction"):
        assert f"{name}: {figures[name]}" in printed


# -- the bodies, through the real adapters ----------------------------------------------------------------------


def test_every_body_decodes_with_one_truth_per_alert_and_its_own_event_time(
    decoded: list[tuple[Line, list[Alert], list[str]]],
) -> None:
    end = DEFAULT_START + timedelta(seconds=SPAN + 3600)
    for line, alerts, _ in decoded:
        assert len(alerts) == len(line.truth) >= 1
        assert [a.action is EventAction.TRIGGER for a in alerts] == alert_actions(line)
        for alert in alerts:
            assert alert.event_time != SENTINEL, (line.format, alert.title)
            assert DEFAULT_START <= alert.event_time <= line.received_at < end
    assert [line.received_at for line, _, _ in decoded] == sorted(line.received_at for line, _, _ in decoded)


def test_bodies_are_what_each_endpoint_takes(lines: list[Line]) -> None:
    for line in lines:
        body = line.body
        if line.format == "alertmanager":
            assert body["version"] == "4"
            assert body["alerts"]
        elif line.format == "pagerduty":
            assert body["routing_key"] == "ROUTING_KEY"
            assert body["event_action"] in ("trigger", "resolve")
            assert body["dedup_key"]
            assert body["payload"]["timestamp"]
        elif line.format == "cloudevents":
            assert body["specversion"] == "1.0"
            assert body["time"]
            assert isinstance(body["data"], dict)
        else:
            items = body if isinstance(body, list) else [body]
            assert all(item["timestamp"] for item in items)
    assert {line.format for line in lines} == set(ENDPOINTS)


# -- ground truth -------------------------------------------------------------------------------------------------


def test_every_scenario_kind_is_present(by_truth: dict[str, list[tuple[Line, Alert, str]]]) -> None:
    kinds = Counter(kind_of(truth) for truth in by_truth)
    assert set(kinds) == set(SCENARIOS)
    # instances of one true incident, or of two (their suffixes)
    for kind in ("refire", "pods", "gpu-node", "quality", "numeric-title", "singleton"):
        assert kinds[kind] == SCENARIOS[kind]
    for kind in ("two-problems", "staging-prod", "late-refire"):
        assert kinds[kind] == 2 * SCENARIOS[kind]
    assert kinds["pd-keys"] == 3 * SCENARIOS["pd-keys"]


def test_dedup_never_merges_two_true_incidents(decoded: list[tuple[Line, list[Alert], list[str]]]) -> None:
    """Alert by alert in request order, with dedup's rules (docs/dedup.md): a trigger that dedup folds into an
    open alert belongs to that alert's true incident; a resolve resolves an alert of its own incident."""
    open_alerts: dict[str, tuple[str, datetime]] = {}  # fingerprint → (truth, last seen)
    merged = triggers = 0
    for line, alerts, fps in decoded:
        for alert, fp, truth in zip(alerts, fps, line.truth, strict=True):
            held = open_alerts.get(fp)
            if alert.action is EventAction.RESOLVE:
                if held is not None:
                    assert held[0] == truth, (fp, alert.title)
                    del open_alerts[fp]
                continue
            triggers += 1
            explicit = isinstance(alert.identity, tuple)
            if held is not None and (explicit or alert.event_time - held[1] <= DEDUP_WINDOW):
                assert held[0] == truth, (fp, alert.title, held[0], truth)
                merged += 1
                open_alerts[fp] = (truth, max(alert.event_time, held[1]))
            else:
                open_alerts[fp] = (truth, alert.event_time)
    assert merged > triggers // 2


def _overlap(a: list[datetime], b: list[datetime], pad: timedelta) -> bool:
    return min(a) - pad <= max(b) and min(b) - pad <= max(a)


def test_unrelated_incidents_share_no_group_key_node_or_deployment_within_the_window(
    by_truth: dict[str, list[tuple[Line, Alert, str]]],
) -> None:
    """What corpus.yaml's label grouping and topology would link, only the scenarios meant to share it share."""
    pad = timedelta(seconds=WINDOW)
    keys: dict[tuple[str, ...], dict[str, list[datetime]]] = defaultdict(lambda: defaultdict(list))
    for truth, items in by_truth.items():
        for _, alert, _ in items:
            if alert.action is not EventAction.TRIGGER:
                continue
            if name := alert.labels.get("alertname"):
                group = ("group", name, alert.service or "", alert.model or "", alert.env or "", alert.region or "")
                keys[group][truth].append(alert.event_time)
            for label in ("node", "deployment", "gpu"):
                if value := alert.labels.get(label) or (alert.node if label == "node" else None):
                    keys[(label, value)][truth].append(alert.event_time)
    for key, truths in keys.items():
        names = sorted(truths)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                instance = a.rstrip("ab") == b.rstrip("ab") and kind_of(a) == "two-problems"
                if _overlap(truths[a], truths[b], pad):
                    assert instance, (key, a, b)


def test_refire_and_pods(by_truth: dict[str, list[tuple[Line, Alert, str]]]) -> None:
    for truth, items in by_truth.items():
        kind = kind_of(truth)
        triggers = [a for _, a, _ in items if a.action is EventAction.TRIGGER]
        if kind == "refire":
            assert len(triggers) >= 5
            assert len({a.title for a in triggers}) > 1  # the numbers change
            assert any(a.action is EventAction.RESOLVE for _, a, _ in items)
            first, last = min(a.event_time for _, a, _ in items), max(a.event_time for _, a, _ in items)
            assert timedelta(minutes=4) < last - first < timedelta(minutes=35)
        elif kind == "pods":
            pods = {a.labels.get("pod") for a in triggers}
            assert 5 <= len(pods) <= 20
            assert len({(a.labels["alertname"], a.service, a.model, a.env, a.region) for a in triggers}) == 1
            assert len(triggers) > len(pods)  # repeating


def test_gpu_node(by_truth: dict[str, list[tuple[Line, Alert, str]]]) -> None:
    for truth, items in by_truth.items():
        if kind_of(truth) != "gpu-node":
            continue
        triggers = [a for _, a, _ in items if a.action is EventAction.TRIGGER]
        node_alerts = [a for a in triggers if a.service is None and a.node]
        assert node_alerts
        node = node_alerts[0].node
        assert all(a.node == node for a in node_alerts)
        down_at = min(a.event_time for a in node_alerts)
        services = [a for a in triggers if a.service not in (None, GATEWAY)]
        assert services
        assert all(a.node == node for a in services)
        assert timedelta(minutes=1) <= min(a.event_time for a in services) - down_at <= timedelta(minutes=4)
        gateway = [a for a in triggers if a.service == GATEWAY]
        assert gateway
        assert all(a.node is None for a in gateway)
        assert {a.service for a in services} <= set(DEPENDENCIES[GATEWAY])


def test_quality_comes_from_three_sources_in_similar_words(by_truth: dict[str, list[tuple[Line, Alert, str]]]) -> None:
    for truth, items in by_truth.items():
        if kind_of(truth) != "quality":
            continue
        formats = {line.format for line, a, _ in items if a.action is EventAction.TRIGGER}
        assert {"alertmanager", "generic", "cloudevents"} <= formats
        triggers = [a for _, a, _ in items if a.action is EventAction.TRIGGER]
        assert len({a.model for a in triggers}) == 1
        assert len({a.env for a in triggers}) == 1
        titles = {a.title for a in triggers}
        assert len(titles) > 2
        assert all(triggers[0].model in title for title in titles)


def _pairs(by_truth: dict[str, list[tuple[Line, Alert, str]]], kind: str, suffixes: tuple[str, str]) -> list[tuple]:
    out = []
    for truth, items in by_truth.items():
        if kind_of(truth) == kind and truth.endswith(suffixes[0]):
            other = truth.removesuffix(suffixes[0]) + suffixes[1]
            out.append(([a for _, a, _ in items], [a for _, a, _ in by_truth[other]]))
    assert out
    return out


def test_two_problems_on_one_service_at_once(by_truth: dict[str, list[tuple[Line, Alert, str]]]) -> None:
    for first, second in _pairs(by_truth, "two-problems", ("a", "b")):
        assert {(a.service, a.model, a.env, a.node) for a in first + second if a.action is EventAction.TRIGGER} == {
            (first[0].service, first[0].model, first[0].env, first[0].node)
        }
        assert not {a.title for a in first} & {a.title for a in second}
        assert _overlap([a.event_time for a in first], [a.event_time for a in second], timedelta(0))


def test_staging_and_prod_at_once(by_truth: dict[str, list[tuple[Line, Alert, str]]]) -> None:
    for prod, staging in _pairs(by_truth, "staging-prod", ("-prod", "-staging")):
        assert {a.env for a in prod} == {"prod"}
        assert {a.env for a in staging} == {"staging"}
        assert {(a.service, a.model, a.region) for a in prod} == {(a.service, a.model, a.region) for a in staging}
        assert _overlap([a.event_time for a in prod], [a.event_time for a in staging], timedelta(0))


def test_late_refire_is_the_same_alert_hours_later(by_truth: dict[str, list[tuple[Line, Alert, str]]]) -> None:
    for first, second in _pairs(by_truth, "late-refire", ("a", "b")):
        assert any(a.action is EventAction.RESOLVE for a in first)
        gap = min(a.event_time for a in second) - max(a.event_time for a in first)
        assert timedelta(hours=1.5) < gap < timedelta(hours=4)
        same_identity = {(a.identity if isinstance(a.identity, tuple) else None) for a in first} == {
            (a.identity if isinstance(a.identity, tuple) else None) for a in second
        }
        assert same_identity


def test_numeric_titles_change_identity_every_time(by_truth: dict[str, list[tuple[Line, Alert, str]]]) -> None:
    for truth, items in by_truth.items():
        if kind_of(truth) != "numeric-title":
            continue
        assert len(items) >= 4
        assert {line.format for line, _, _ in items} == {"generic"}
        assert all(a.dedup_key is None and "alertname" not in a.labels for _, a, _ in items)
        assert len({fp for _, _, fp in items}) == len(items)
        assert len({tuple(sorted(a.labels.items())) for _, a, _ in items}) == 1


def test_pd_keys(by_truth: dict[str, list[tuple[Line, Alert, str]]]) -> None:
    for truth, items in by_truth.items():
        if kind_of(truth) != "pd-keys":
            continue
        assert {line.format for line, _, _ in items} == {"pagerduty"}
        assert len({a.dedup_key for _, a, _ in items}) == 1
        if truth.endswith("c"):
            assert [line.body["event_action"] for line, _, _ in items] == ["trigger", "trigger", "resolve"]
        elif truth.endswith("a"):
            other = by_truth[truth[:-1] + "b"]
            assert {a.source for _, a, _ in items} == {a.source for _, a, _ in other}
            services = {a.service for _, a, _ in items + other if a.action is EventAction.TRIGGER}
            assert len(services) == 1
            assert items[0][1].dedup_key != other[0][1].dedup_key


def test_singletons_fire_once_or_twice(by_truth: dict[str, list[tuple[Line, Alert, str]]]) -> None:
    singletons = [items for truth, items in by_truth.items() if kind_of(truth) == "singleton"]
    assert len(singletons) >= 100
    for items in singletons:
        assert 1 <= sum(a.action is EventAction.TRIGGER for _, a, _ in items) <= 2


def test_incidents_overlap_in_time(lines: list[Line]) -> None:
    assert summary(lines)["max_concurrent_incidents"] >= 10


# -- summary and configuration ------------------------------------------------------------------------------------


def test_summary_figures_are_consistent(
    lines: list[Line], decoded: list[tuple[Line, list[Alert], list[str]]], by_truth: dict[str, list]
) -> None:
    figures = summary(lines)
    alerts = [a for _, batch, _ in decoded for a in batch]
    triggers = sum(a.action is EventAction.TRIGGER for a in alerts)
    assert figures["lines"] == len(lines)
    assert figures["alerts"] == len(alerts) == sum(len(line.truth) for line in lines)
    assert figures["trigger_alerts"] == triggers
    assert figures["resolve_alerts"] == len(alerts) - triggers
    assert figures["true_incidents"] == len(by_truth) == sum(figures["incidents_by_kind"].values())
    assert figures["ceiling_noise_reduction"] == round(1 - len(by_truth) / triggers, 4)
    assert sum(figures["alerts_by_format"].values()) == len(alerts)
    assert 3000 <= figures["alerts"] <= 6000
    assert 0.7 <= figures["ceiling_noise_reduction"] <= 0.9


def test_corpus_yaml_is_the_configuration_the_corpus_assumes() -> None:
    config = yaml.safe_load(CORPUS_YAML.read_text(encoding="utf-8"))["correlation"]
    assert config["window"] == f"{int(WINDOW // 60)}m"
    assert config["group_by"] == ["alertname", "service", "model", "env", "region"]
    assert config["topology"]["labels"] == ["node", "gpu", "deployment"]
    assert config["dependencies"] == DEPENDENCIES
    assert config["similarity"]["threshold"] == 0.85
