from __future__ import annotations

import uuid

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_incident_manager.config import Settings, parse_duration
from llm_incident_manager.errors import field_error_from_msgspec
from llm_incident_manager.ids import uuid7


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("250ms", 0.25), ("42", 42), ("1.5h", 5400), ("2d", 172800)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["s", "m", "h", "d", "ms"]))
def test_duration_units(n: int, unit: str) -> None:
    factor = {"s": 1, "m": 60, "h": 3600, "d": 86400, "ms": 0.001}[unit]
    assert parse_duration(f"{n}{unit}") == pytest.approx(n * factor)


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "-1s", "1w"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_settings_from_env_name_the_variable() -> None:
    settings = Settings.from_env({"LIM_PORT": "9000", "LIM_DEDUP_WINDOW": "5m", "LIM_DATABASE_URL": "sqlite:///x.db"})
    assert (settings.port, settings.dedup_window_seconds) == (9000, 300)
    assert Settings.from_env({}).database_url == "sqlite:///./var/lim.db"
    with pytest.raises(ValueError, match="LIM_PORT"):
        Settings.from_env({"LIM_PORT": "eighty"})
    with pytest.raises(ValueError, match="LIM_SQLITE_SYNCHRONOUS"):
        Settings.from_env({"LIM_SQLITE_SYNCHRONOUS": "sometimes"})
    assert Settings.from_env({"LIM_DATABASE_URL": "postgresql://x/y"}).database_url == "postgresql://x/y"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LIM_PORT", "0"),
        ("LIM_PORT", "70000"),
        ("LIM_DATABASE_URL", "mysql://x"),
        ("LIM_MAX_BATCH", "0"),
        ("LIM_DEDUP_WINDOW", "0s"),
        ("LIM_LOG_LEVEL", "chatty"),
        ("LIM_MAX_BODY_BYTES", "10"),
        ("LIM_COMMIT_MAX_ALERTS", "0"),
        ("LIM_DB_TIMEOUT", "0"),
    ],
)
def test_settings_out_of_range_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_uuid7_is_version_7_and_strictly_increasing() -> None:
    ids = [uuid7() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    # a clock that does not move still gives increasing ids
    frozen = [uuid7(now_ms=1) for _ in range(5000)]
    assert frozen == sorted(frozen)
    assert len(set(frozen)) == 5000


class Inner(msgspec.Struct):
    labels: dict[str, str]
    title: str


@given(
    st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), st.text(max_size=5), max_size=4),
    st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
    st.integers(),
)
def test_field_errors_name_the_map_key(good: dict[str, str], bad_key: str, value: int) -> None:
    labels = {**good, bad_key: value}
    body = msgspec.json.encode([{"labels": {}, "title": "ok"}, {"title": "t", "labels": labels}])
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.json.decode(body, type=list[Inner])
    error = field_error_from_msgspec(info.value, body)
    assert error.errors[0].field == f"[1].labels.{bad_key}"


def test_missing_field_is_named() -> None:
    body = b'[{"labels": {}}]'
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.json.decode(body, type=list[Inner])
    assert field_error_from_msgspec(info.value, body).errors[0].field == "[0].title"


def test_cli_names_an_unreachable_database(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_incident_manager.cli import main

    monkeypatch.setenv("LIM_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nothing-listens-here")
    assert main(["migrate"]) == 1
    assert "did not answer" in capsys.readouterr().err
    monkeypatch.setenv("LIM_DATABASE_URL", "mysql://x")
    assert main(["keys", "list"]) == 2
    assert "LIM_DATABASE_URL" in capsys.readouterr().err
