"""``lim config check`` and ``lim serve`` on configuration files with receivers: an alertmanager.yml loads as
is and says what each receiver sends to; a receiver that cannot work stops both with the key's path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import LIM, free_port

ALERTMANAGER_YML = """
global:
  smtp_smarthost: 'localhost:25'
  smtp_from: 'am@example.org'
  slack_api_url: 'https://hooks.slack.com/services/T000/B000/XXXX'
route:
  receiver: team
  group_by: [alertname, cluster]
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
receivers:
  - name: team
    slack_configs:
      - channel: '#ops'
        title: '{{ .CommonLabels.alertname }}'
        send_resolved: true
    email_configs:
      - to: 'ops@example.org'
        html: '{{ template "email.default.html" . }}'
  - name: pager
    pagerduty_configs:
      - routing_key: 0123456789abcdef0123456789abcdef
        severity: '{{ .CommonLabels.severity }}'
    webhook_configs:
      - url: 'http://127.0.0.1:5001/'
        max_alerts: 10
    opsgenie_configs:
      - api_key: secret
    mattermost_configs:
      - webhook_url: https://mattermost.example.com/hooks/xyz
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname]
"""


def _lim(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LIM, *args], capture_output=True, text=True, timeout=60, check=False, env=env)


def test_an_alertmanager_file_checks_out_and_says_where_pages_go(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(ALERTMANAGER_YML)
    done = _lim("config", "check", str(path))
    assert done.returncode == 0, done.stderr
    assert "receiver 'team' sends to slack #ops, email ops@example.org" in done.stderr
    assert "opsgenie_configs is an Alertmanager integration lim does not send to" in done.stderr
    assert "mattermost_configs is an Alertmanager integration lim does not send to" in done.stderr
    assert "secret" not in done.stderr
    assert "XXXX" not in done.stderr  # the incoming-webhook URL is a secret: never printed


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("route: {receiver: a}\nreceivers: [{name: a, email_configs: [{to: x@y.z}]}]",
         "email_configs[0].smarthost"),
        ("route: {receiver: b}\nreceivers: [{name: a}]", "route.receiver: no receiver is named 'b'"),
        ("receivers: [{name: a, slack_configs: [{chanel: '#x'}]}]",
         "receivers[0].slack_configs[0].chanel: unknown key"),
        ("receivers: [{name: a, fallback: b}, {name: b, fallback: a}]", "go round in a circle"),
        ("notifications: {delivery: {retry: {backoff: [1s, soon]}}}",
         "notifications.delivery.retry.backoff[1]"),
    ],
)  # fmt: skip
def test_a_receiver_that_cannot_work_stops_check_and_serve(tmp_path: Path, doc: str, message: str) -> None:
    path = tmp_path / "lim.yaml"
    path.write_text(doc)
    done = _lim("config", "check", str(path))
    assert done.returncode == 2
    assert message in done.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIM_")}
    env.update(LIM_CONFIG=str(path), LIM_PORT=str(free_port()), LIM_DATABASE_URL=f"sqlite:///{tmp_path}/lim.db")
    served = _lim("serve", env=env)
    assert served.returncode == 2
    assert message in served.stderr


def test_the_readme_receivers_example_checks_out(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("## Paging someone", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "lim.yaml"
    path.write_text(example)
    done = _lim("config", "check", str(path))
    assert done.returncode == 0, done.stderr
    assert "receiver 'oncall' sends to slack #ml-oncall, sms +15550001111" in done.stderr
