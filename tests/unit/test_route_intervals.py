"""A route's group_interval: Prometheus durations, inherited from the parent, Alertmanager's 5m by default."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_incident_manager.routing.tree import DEFAULT_GROUP_INTERVAL, Router, RoutingError


def _router(route: dict[str, object]) -> Router:
    def never(name: str, at: datetime) -> bool:
        return False

    return Router.build(route, ["team", "db"], [], never)


def test_inherited_overridden_and_defaulted() -> None:
    router = _router({"receiver": "team", "group_interval": "1h30m", "routes": [
        {"matchers": ["service=db"], "receiver": "db", "group_interval": "45s"},
        {"matchers": ["service=api"]},
    ]})  # fmt: skip
    assert router.group_interval({"service": "db"}) == 45.0
    assert router.group_interval({"service": "api"}) == 5400.0
    assert router.group_interval({"service": "other"}) == 5400.0
    assert _router({"receiver": "team"}).group_interval({}) == DEFAULT_GROUP_INTERVAL


@pytest.mark.parametrize("text", ["", "5", "5 m", "m5", "-5m", "1.5h", "0s", "5mm"])
def test_a_bad_duration_names_its_key(text: str) -> None:
    with pytest.raises(RoutingError, match=r"route\.routes\[0\]\.group_interval"):
        _router({"receiver": "team", "routes": [{"matchers": ["a=b"], "group_interval": text}]})


@given(st.lists(st.tuples(st.integers(1, 500), st.sampled_from(["ms", "s", "m", "h", "d", "w"])), min_size=1,
                max_size=3))  # fmt: skip
def test_compound_durations_add_up(parts: list[tuple[int, str]]) -> None:
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = "".join(f"{n}{unit}" for n, unit in parts)
    seconds = _router({"receiver": "team", "group_interval": text}).group_interval({})
    assert seconds == pytest.approx(sum(n * scale[unit] for n, unit in parts))
