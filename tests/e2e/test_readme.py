"""The README's quickstart runs verbatim (but for the port) against a real `lim serve`."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def quickstart_script() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README's quickstart has no sh block"
    return match.group(1)


def test_readme_quickstart_works(server) -> None:  # type: ignore[no-untyped-def]
    script = quickstart_script().replace("http://127.0.0.1:8080", server.url)
    # every curl must succeed; the script's output is every answer, one per line
    prelude = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; echo; }\n'
    done = subprocess.run(
        ["bash", "-c", prelude + script],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    actions = [r["action"] for a in answers if "results" in a for r in a["results"]]
    assert actions == ["created", "deduplicated", "created", "grouped", "created"]
    assert answers[3]["results"][0]["incident_id"] == answers[2]["results"][0]["incident_id"]
    pd = answers[4]
    assert (pd["status"], pd["dedup_key"]) == ("success", "gpu-7-ecc")
    listed = answers[5]["items"]
    assert len(listed) == 3
    statuses = [a.get("status") for a in answers[6:]]
    assert statuses[0] == "acknowledged"
    assert answers[7]["text"] == "draining gpu-7"
    assert statuses[2] == "resolved"
    kinds = [e["kind"] for e in answers[9]["items"]]
    assert kinds == ["created", "acknowledged", "note", "resolved"]
