"""The routing tree, inhibition and muting end to end: the real service in the test's loop, each receiver a
local webhook receiver, so where a page lands is what the test reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from llm_incident_manager.configfile import FileConfig, parse_config
from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.incidents import Action
from llm_incident_manager.services import Services
from tests.fakes.providers import FakeWebhookReceiver
from tests.integration.notify_helpers import FAST, alert, eventually, ingest, pages, service

RECEIVERS = ("default", "gpu", "gpu-critical", "quality", "audit", "muted")


@pytest.fixture
async def hook() -> AsyncIterator[FakeWebhookReceiver]:
    async with FakeWebhookReceiver() as fake:
        yield fake


def _config(hook: FakeWebhookReceiver, **extra: Any) -> FileConfig:
    doc = {
        "route": {
            "receiver": "default",
            "group_by": ["alertname"],
            "routes": [
                {"matchers": ['team="gpu"'], "receiver": "gpu", "routes": [
                    {"matchers": ['severity="critical"'], "receiver": "gpu-critical"},
                ]},
                {"match": {"team": "quality"}, "receiver": "quality", "continue": True},
                {"match_re": {"team": "quality|research"}, "receiver": "audit"},
                {"matchers": ['team="batch"'], "receiver": "muted", "mute_time_intervals": ["always"]},
            ],
        },
        "time_intervals": [{"name": "always", "time_intervals": [{}]}],
        "receivers": [{"name": name, "webhook_configs": [{"url": hook.endpoint(f"/{name}")}]} for name in RECEIVERS],
        "inhibit_rules": [
            {"source_matchers": ['alertname="GPUNodeDown"'], "target_matchers": ['alertname="LatencyHigh"'],
             "equal": ["node"]},
        ],
        "notifications": {"delivery": FAST},
        **extra,
    }  # fmt: skip
    return parse_config(yaml.safe_dump(doc), "test")


async def _receivers(services: Services, incident_id: str | None) -> set[str]:
    return {p.receiver for p in await pages(services, incident_id)}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"team": "gpu"}, {"gpu"}),
        ({"team": "gpu", "severity": "critical"}, {"gpu-critical"}),
        ({"team": "quality"}, {"quality", "audit"}),
        ({"team": "research"}, {"audit"}),
        ({"team": "nobody"}, {"default"}),
        ({"team": "batch"}, set()),
    ],
)
async def test_alerts_go_where_alertmanager_would_send_them(
    database_url: str, hook: FakeWebhookReceiver, labels: dict[str, str], expected: set[str]
) -> None:
    async with service(database_url, _config(hook)) as services:
        rest = dict(labels)
        severity = Severity(rest.pop("severity", "high"))  # routing sees it as the label ``severity``
        [result] = await ingest(services, alert("ModelDrift", severity, **rest))
        if expected:
            found = await eventually(lambda: _receivers(services, result.incident_id), what="pages")
            assert found == expected
        else:
            assert await _receivers(services, result.incident_id) == set()


async def test_a_firing_source_inhibits_its_targets_on_the_same_node(
    database_url: str, hook: FakeWebhookReceiver
) -> None:
    # correlation off: the node's alerts would otherwise join one incident (topology), hiding what is tested
    async with service(database_url, _config(hook, correlation={"enabled": False})) as services:
        await ingest(services, alert("GPUNodeDown", node="gpu-7", service="infra"))
        [same] = await ingest(services, alert("LatencyHigh", Severity.MEDIUM, node="gpu-7", service="chat"))
        [other] = await ingest(services, alert("LatencyHigh", Severity.MEDIUM, node="gpu-8", service="search"))
        assert same.action is Action.SUPPRESSED
        assert other.action is Action.CREATED
        await eventually(lambda: _receivers(services, other.incident_id), what="the other node's page")
        assert await pages(services, same.incident_id) == []
        events = (await services.store.list_timeline(same.incident_id or "", None, 50)).items
        assert any(str(e.data.get("suppressed_by", "")).startswith("inhibit_rules[0]:") for e in events)

        # the inhibited incident paged nobody when it opened: its resolution pages nobody either
        await ingest(services, alert("LatencyHigh", Severity.MEDIUM, resolve=True, node="gpu-7", service="chat"))
        assert await pages(services, same.incident_id) == []
        await ingest(services, alert("GPUNodeDown", resolve=True, node="gpu-7", service="infra"))
        [after] = await ingest(services, alert("LatencyHigh", Severity.MEDIUM, node="gpu-7", service="api"))
        assert after.action is not Action.SUPPRESSED


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"receiver": "default", "routes": [{"matchers": ['team=~~"x"'], "receiver": "gpu"}]},
         "route.routes[0].matchers[0]"),
        ({"receiver": "default", "routes": [{"matchers": ['team="x"'], "receiver": "nope"}]},
         "route.routes[0].receiver: no receiver is named 'nope'"),
        ({"receiver": "default", "routes": [{"receiver": "gpu", "mute_time_intervals": ["never"]}]},
         "route.routes[0].mute_time_intervals[0]"),
        ({"receiver": "default", "routes": [{"receiver": "gpu", "continu": True}]}, "route.routes[0].continu"),
        ({"receiver": "default", "mute_time_intervals": ["always"]}, "route: the root route matches every alert"),
    ],
)  # fmt: skip
def test_bad_routes_are_refused_with_the_path(hook: FakeWebhookReceiver, route: dict[str, Any], message: str) -> None:
    from llm_incident_manager.configfile import ConfigError

    doc = {"route": route, "receivers": [{"name": n} for n in ("default", "gpu")]}
    with pytest.raises(ConfigError) as raised:
        parse_config(yaml.safe_dump(doc), "test")
    assert message in str(raised.value)


async def test_reload_swaps_a_good_configuration_and_keeps_the_old_one_on_a_bad_one(
    database_url: str, hook: FakeWebhookReceiver, tmp_path: Any
) -> None:
    from tests.integration.conftest import make_settings, running

    def doc(path: str) -> dict[str, Any]:
        return {"route": {"receiver": "team"}, "notifications": {"delivery": FAST},
                "receivers": [{"name": "team", "webhook_configs": [{"url": hook.endpoint(path)}]}]}  # fmt: skip

    config = tmp_path / "lim.yaml"
    config.write_text(yaml.safe_dump(doc("/before")))
    async with running(make_settings(database_url, config_path=str(config))) as api:
        await api.alerts([{"title": "First", "labels": {"service": "a"}}])
        await hook.wait_for(lambda r: any(x.path == "/before" for x in r))

        config.write_text(yaml.safe_dump(doc("/after")))
        assert (await api.post("/api/v1/config/reload", role="responder")).status_code == 403
        reloaded = await api.post("/api/v1/config/reload")
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["receivers"] == ["team"]
        await api.alerts([{"title": "Second", "labels": {"service": "b"}}])
        await hook.wait_for(lambda r: any(x.path == "/after" for x in r))

        config.write_text("route: {receiver: nobody}\nreceivers: [{name: team}]\n")
        refused = await api.post("/-/reload")
        assert refused.status_code == 400
        assert "route.receiver: no receiver is named 'nobody'" in refused.text
        await api.alerts([{"title": "Third", "labels": {"service": "c"}}])
        await hook.wait_for(lambda r: sum(x.path == "/after" for x in r) >= 2)  # the old configuration still runs


async def test_a_routes_group_by_groups_its_alerts(database_url: str, hook: FakeWebhookReceiver) -> None:
    """Alertmanager's per-route grouping: the route an alert goes to says which labels make one incident."""
    doc = {
        "route": {"receiver": "default", "group_by": ["alertname", "cluster"], "routes": [
            {"matchers": ['team="gpu"'], "receiver": "gpu", "group_by": ["node"]},
            {"matchers": ['team="batch"'], "receiver": "quality", "group_by": ["..."]},
        ]},
        "receivers": [{"name": n, "webhook_configs": [{"url": hook.endpoint(f"/{n}")}]}
                      for n in ("default", "gpu", "quality")],
        "notifications": {"delivery": FAST},
    }  # fmt: skip
    async with service(database_url, parse_config(yaml.safe_dump(doc), "test")) as services:
        # the root's grouping: same alertname and cluster, different services → one incident
        [a] = await ingest(services, alert("KVCacheEvictions", cluster="eu1", service="chat"))
        [b] = await ingest(services, alert("KVCacheEvictions", cluster="eu1", service="search"))
        assert b.incident_id == a.incident_id
        assert b.action is Action.GROUPED
        # the gpu route's grouping: same node, different alertnames → one incident
        [c] = await ingest(services, alert("GPUMemoryHigh", team="gpu", node="gpu-3", service="infer"))
        [d] = await ingest(services, alert("GPUThrottling", team="gpu", node="gpu-3", service="train"))
        assert d.incident_id == c.incident_id
        events = (await services.store.list_timeline(c.incident_id or "", None, 50)).items
        [grouped] = [e for e in events if e.kind == "alert_grouped"]
        assert grouped.data["rule"] == "label_group"
        assert grouped.data["group_by"] == ["node"]
        # '...': every label set its own group → no label grouping
        [e] = await ingest(services, alert("JobSlow", team="batch", service="etl", cluster="x"))
        [f] = await ingest(services, alert("JobSlow", team="batch", service="etl2", cluster="x"))
        assert f.incident_id != e.incident_id
