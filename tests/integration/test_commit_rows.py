"""One commit of many batches, on SQLite (rows sent as one JSON array per statement) and PostgreSQL: every row of
every batch lands, however many batches change one incident, and flushes fold in every counter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from llm_incident_manager.domain.alerts import AlertStatus, Severity
from llm_incident_manager.domain.incidents import IncidentStatus
from llm_incident_manager.ids import uuid7
from llm_incident_manager.pipeline.projection import Bucket
from llm_incident_manager.pipeline.writeset import Counter, NewAlert, NewIncident, WriteSet
from llm_incident_manager.store.protocol import Store

NOW = datetime.now(UTC).replace(microsecond=0)


def _opened(incident_id: str, fps: list[str]) -> WriteSet:
    ws = WriteSet()
    ws.new_incidents.append(
        NewIncident(
            id=incident_id, status=IncidentStatus.TRIGGERED, severity=Severity.LOW, title="t", description=None,
            source="test", fingerprint=fps[0], service="svc", model=None, model_version=None, provider=None,
            region=None, env=None, node=None, labels={"a": "b"}, created_at=NOW, last_seen_at=NOW,
        )
    )  # fmt: skip
    for fp in fps:
        ws.new_alerts.append(
            NewAlert(
                incident_id=incident_id, fingerprint=fp, status=AlertStatus.FIRING, title=f"alert {fp}",
                severity=Severity.LOW, source="test", explicit=False, dedup_key=None, labels={"fp": fp},
                annotations={"summary": "s \\" + '"quoted"'}, first_seen_at=NOW,
            )
        )  # fmt: skip
    return ws


async def test_every_batch_of_a_commit_changes_the_incident(store: Store) -> None:
    incident_id = uuid7()
    opened = _opened(incident_id, ["f0"])
    later = []
    for i in range(1, 6):  # five batches of one commit, each adding an alert and changing the same incident
        ws = WriteSet()
        change = ws.change(incident_id)
        change.alerts_added = 1
        change.updated_at = NOW + timedelta(seconds=i)
        change.last_seen_at = NOW + timedelta(seconds=i)
        if i == 3:
            change.severity = Severity.CRITICAL
        if i == 4:
            change.status = IncidentStatus.ACKNOWLEDGED
            change.acknowledged_by = "user:ann"
            change.acknowledged_at = NOW
        later.append(ws)
    await store.commit([opened, *later])
    incident, _ = await store.get_incident(incident_id)
    assert incident is not None
    assert incident.alert_count == 1 + 5
    assert incident.severity is Severity.CRITICAL
    assert incident.status is IncidentStatus.ACKNOWLEDGED
    assert incident.acknowledged_by == "user:ann"
    assert incident.last_seen_at == NOW + timedelta(seconds=5)


async def test_a_flush_folds_in_every_counter(store: Store) -> None:
    incident_id = uuid7()
    fps = [f"{i:016x}" for i in range(300)]
    await store.commit([_opened(incident_id, fps)])
    bucket = Bucket()
    seen = NOW + timedelta(minutes=1)
    for i, fp in enumerate(fps):
        annotations = {"summary": f"now {i}", "quote": 'a "b" \\ c'}
        if i % 2:  # a counter without text: the row keeps its own
            bucket.add((incident_id, fp), Counter(i + 1, seen, seen, None, None, None, None))
        else:
            bucket.add((incident_id, fp), Counter(i + 1, seen, seen, f"title {i}", Severity.HIGH, None, annotations))
    await store.commit([], bucket)
    incident, _ = await store.get_incident(incident_id)
    assert incident is not None
    assert incident.alert_count == 1 + sum(range(1, 301))  # opened with one; the counters add theirs
    assert incident.last_seen_at == seen
    page, _ = await store.list_incident_alerts(incident_id, None, 500)
    alerts = {a.fingerprint: a for a in page.items}
    assert len(alerts) == 300
    for i, fp in enumerate(fps):
        alert = alerts[fp]
        assert alert.count == 1 + i + 1
        assert alert.labels == {"fp": fp}  # None keeps the labels
        assert alert.last_seen_at == seen
        if i % 2:
            assert (alert.title, alert.severity) == (f"alert {fp}", Severity.LOW)
            assert alert.annotations == {"summary": 's \\"quoted"'}
        else:
            assert (alert.title, alert.severity) == (f"title {i}", Severity.HIGH)
            assert alert.annotations == {"summary": f"now {i}", "quote": 'a "b" \\ c'}


async def test_later_flushes_add_to_the_earlier_ones(store: Store) -> None:
    """A second flush of the same alerts adds to what the first folded in (the counters' upsert conflicts), keeps
    the later last-seen time, and the dedup state loaded at start-up sees it."""
    incident_id = uuid7()
    fps = [f"{i:016x}" for i in range(50)]
    await store.commit([_opened(incident_id, fps)])
    first, second = NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)
    bucket = Bucket()
    for fp in fps:
        bucket.add((incident_id, fp), Counter(2, second, second, None, None, None, None))
    await store.commit([], bucket)
    bucket = Bucket()
    for i, fp in enumerate(fps):  # the even ones are seen again later, the odd ones report an older event
        bucket.add((incident_id, fp), Counter(3, first if i % 2 else second + timedelta(seconds=i), first, None,
                                              None, None, None))  # fmt: skip
    await store.commit([], bucket)
    page, _ = await store.list_incident_alerts(incident_id, None, 100)
    alerts = {a.fingerprint: a for a in page.items}
    opened = {row.fingerprint: row for row in await store.load_open_alerts() if row.incident_id == incident_id}
    for i, fp in enumerate(fps):
        expected = second if i % 2 else second + timedelta(seconds=i)
        assert alerts[fp].count == 1 + 2 + 3
        assert alerts[fp].last_seen_at == expected
        assert opened[fp].last_seen_at == expected
    incident, _ = await store.get_incident(incident_id)
    assert incident is not None
    assert incident.alert_count == 1 + 50 * (2 + 3)


async def test_get_incidents_reads_many_at_once_as_get_incident_reads_one(store: Store) -> None:
    """The dispatcher reads the incidents of a claimed batch in one go: the same rows and watermark as one by one,
    the ids that do not exist left out, duplicates read once, more ids than one statement binds (SQLite: 500)."""
    ids = [uuid7() for _ in range(3)]
    await store.commit([_opened(incident_id, [f"{n:016x}"]) for n, incident_id in enumerate(ids)])
    bucket = Bucket()
    bucket.add((ids[1], f"{1:016x}"), Counter(4, NOW, NOW, None, None, None, None))
    await store.commit([], bucket)
    missing = [uuid7() for _ in range(600)]
    found, watermark = await store.get_incidents([ids[0], *missing, ids[1], ids[2], ids[1]])
    assert sorted(found) == sorted(ids)
    for incident_id in ids:
        one, one_watermark = await store.get_incident(incident_id)
        assert found[incident_id] == one
        assert watermark == one_watermark
    assert found[ids[1]].alert_count == 1 + 4
    assert await store.get_incidents([]) == ({}, 0)
