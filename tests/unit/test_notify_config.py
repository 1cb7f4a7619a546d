"""The receivers and notifications sections of the configuration file: Alertmanager's keys load, ours are
checked, and every rejection names the key's path."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from llm_incident_manager.configfile import ConfigError, parse_config
from llm_incident_manager.notify.config import Channel, EventKind

INTEGRATIONS = {
    "slack_configs": {"channel": "#ops", "api_url": "https://hooks.slack.com/services/T/B/X"},
    "email_configs": {"to": "a@example.com"},
    "webhook_configs": {"url": "http://127.0.0.1:9/"},
    "pagerduty_configs": {"routing_key": "0123456789abcdef0123456789abcdef"},
    "twilio_sms_configs": {"to": "+15550001111"},
    "twilio_voice_configs": {"to": "+15550001111"},
}


def _doc(receiver: dict[str, object], **top: object) -> str:
    return yaml.safe_dump({"route": {"receiver": "r"}, "receivers": [{"name": "r", **receiver}], **top})


def test_defaults_follow_the_seed() -> None:
    config = parse_config("")
    delivery = config.notifications.delivery
    assert delivery.retry.attempts == 5
    assert delivery.retry.delays() == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert delivery.attempts_for(Channel.SMS) == 3
    assert delivery.attempts_for(Channel.SLACK) == 5
    assert (delivery.breaker.failures, delivery.breaker.open_for) == (5, "60s")
    assert delivery.throttle[Channel.SLACK].interval == 1.0
    assert config.root_receiver is None


@pytest.mark.parametrize("integration", sorted(INTEGRATIONS))
def test_every_integration_rejects_an_unknown_key_by_its_path(integration: str) -> None:
    entry = {**INTEGRATIONS[integration], "no_such_key": 1}
    with pytest.raises(ConfigError, match=rf"receivers\[0\]\.{integration}\[0\]\.no_such_key: unknown key"):
        parse_config(_doc({integration: [entry]}))


@given(key=st.from_regex(r"[a-z][a-z_]{2,20}", fullmatch=True), integration=st.sampled_from(sorted(INTEGRATIONS)))
def test_any_key_an_integration_does_not_know_is_named(key: str, integration: str) -> None:
    from llm_incident_manager.notify import config as notify_config

    types = {
        "slack_configs": notify_config.SlackConfig, "email_configs": notify_config.EmailConfig,
        "webhook_configs": notify_config.WebhookConfig, "pagerduty_configs": notify_config.PagerDutyConfig,
        "twilio_sms_configs": notify_config.TwilioSmsConfig, "twilio_voice_configs": notify_config.TwilioVoiceConfig,
    }  # fmt: skip
    known = {f.encode_name for f in msgspec.structs.fields(types[integration])}
    entry = {**INTEGRATIONS[integration], key: "x"}
    if key in known:
        return
    with pytest.raises(ConfigError, match=rf"{integration}\[0\]\.{key}: unknown key"):
        parse_config(_doc({integration: [entry]}))


def test_events_and_send_resolved_parse() -> None:
    config = parse_config(_doc({"webhook_configs": [{"url": "http://x/", "events": ["triggered", "resolved"]}]}))
    assert config.receivers[0].webhook_configs[0].events == [EventKind.TRIGGERED, EventKind.RESOLVED]
    with pytest.raises(ConfigError, match=r"webhook_configs\[0\]\.events\[0\]"):
        parse_config(_doc({"webhook_configs": [{"url": "http://x/", "events": ["paged"]}]}))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"notifications": {"delivery": {"timeout": "2m"}}},
         "notifications.delivery.timeout: must be shorter than lease"),
        ({"notifications": {"delivery": {"retry": {"jitter": 2}}}}, "notifications.delivery.retry.jitter"),
        ({"notifications": {"delivery": {"breaker": {"failures": 0}}}}, "notifications.delivery.breaker.failures"),
        ({"notifications": {"jetstream": {"replicas": 7}}}, "notifications.jetstream.replicas: must be 1 to 5"),
        ({"notifications": {"jetstream": {"subject": "a.>"}}}, "notifications.jetstream.subject"),
        ({"notifications": {"self_monitoring_receiver": "nobody"}}, "notifications.self_monitoring_receiver"),
        ({"users": [{"name": "a"}, {"name": "a"}]}, "users[1].name"),
        ({"users": [{"name": "a", "phone": "555-0100"}]}, "users[0].phone: '555-0100' is not a phone number"),
        ({"users": [{"name": "a"}], "teams": [{"name": "t", "members": ["zed"]}]},
         "teams[0].members[0]: no user is named 'zed'"),
        ({"users": [{"name": "a", "time_zone": "Mars/Olympus"}]}, "users[0].time_zone"),
        ({"users": [{"name": "a"}], "schedules": [{"name": "s", "layers": [{"rotation": "daily", "users": ["a"]}],
          "overrides": [{"user": "zed", "start": "2026-01-01T00:00", "end": "2026-01-02T00:00"}]}]},
         "schedules[0].overrides[0].user: no user is named 'zed'"),
    ],
)  # fmt: skip
def test_bad_values_name_their_key(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(_doc({}, **doc))
    assert message in str(raised.value)


def test_digest_and_throttle_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"email_configs\[0\]\.digest\.severities\[0\]"):
        parse_config(_doc({"email_configs": [{"to": "a@b.c", "digest": {"severities": ["urgent"]}}]}))
    with pytest.raises(ConfigError, match=r"slack_configs\[0\]\.throttle\.messages"):
        parse_config(_doc({"slack_configs": [{"channel": "#x", "throttle": {"messages": 0}}]}))


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("xoxb-from-a-file\n")
    config = parse_config(
        _doc({"webhook_configs": [{"url": "http://x/", "signing_secret_file": str(secret)}]},
             notifications={"slack": {"bot_token_file": str(secret)}, "twilio": {"auth_token_file": str(secret)}})
    )  # fmt: skip
    assert config.notifications.slack.bot_token == "xoxb-from-a-file"
    assert config.notifications.twilio.auth_token == "xoxb-from-a-file"
    assert config.receivers[0].webhook_configs[0].signing_secret == "xoxb-from-a-file"
    with pytest.raises(ConfigError, match=r"notifications\.slack\.signing_secret_file: cannot read"):
        parse_config(_doc({}, notifications={"slack": {"signing_secret_file": str(tmp_path / "missing")}}))
