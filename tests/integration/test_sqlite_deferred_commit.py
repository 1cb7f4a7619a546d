"""The SQLite store's deferred commit with the real group-commit writer: the batches queued while a commit runs
are committed by the writer thread as soon as that commit ends, all in one transaction, before the event loop
has had a turn to hand them over."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from llm_incident_manager.domain.alerts import Severity
from llm_incident_manager.domain.incidents import IncidentStatus
from llm_incident_manager.ids import uuid7
from llm_incident_manager.pipeline.writer import GroupCommitWriter
from llm_incident_manager.pipeline.writeset import NewIncident, WriteSet
from llm_incident_manager.store.sqlite import SQLiteStore

NOW = datetime.now(UTC).replace(microsecond=0)


def _opens(title: str) -> WriteSet:
    ws = WriteSet()
    ws.new_incidents.append(
        NewIncident(
            id=uuid7(), status=IncidentStatus.TRIGGERED, severity=Severity.LOW, title=title, description=None,
            source="test", fingerprint=title, service="svc", model=None, model_version=None, provider=None,
            region=None, env=None, node=None, labels={}, created_at=NOW, last_seen_at=NOW,
        )
    )  # fmt: skip
    return ws


async def test_batches_queued_behind_a_commit_are_committed_together_without_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "lim.db"
    store = SQLiteStore(f"sqlite:///{path}")
    await store.open()
    await store.migrate()

    async def reload() -> None:
        raise AssertionError("nothing fails here")

    writer = GroupCommitWriter(store, reload, flush_interval=3600.0)
    writer.start()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # the first commit waits for this lock in the writer thread
        first = writer.submit(_opens("first"))
        queued = [writer.submit(_opens(f"queued-{i}")) for i in range(3)]
        other.execute("COMMIT")
        # Without yielding to the event loop: a job queued on the writer thread behind the two commits returns
        # once both have run, so whatever they wrote, they wrote with the loop blocked here.
        store._writer.submit(lambda: None).result(timeout=30)  # the store's one writer thread
        titles = sorted(r[0] for r in other.execute("SELECT title FROM incidents"))
        assert titles == ["first", "queued-0", "queued-1", "queued-2"]
        assert not any(f.done() for f in queued)  # the loop has not run: nobody has been answered yet
        await first
        for future in queued:
            await future
        assert writer.commits == 2  # the first alone, the three queued behind it together
    finally:
        other.close()
        await writer.stop()
        await store.close()
