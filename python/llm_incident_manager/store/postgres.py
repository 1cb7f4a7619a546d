"""The distributed system of record: PostgreSQL through an asyncpg pool.

A commit (a group of batches) is one transaction: ``executemany`` for incidents, alerts and the timeline, and
``COPY`` for the append-only alert log. Migrations run under an advisory lock so instances starting together
apply each one once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from llm_incident_manager.domain.alerts import AlertStatus, Severity
from llm_incident_manager.domain.escalations import EscalationRecord
from llm_incident_manager.domain.incidents import Incident, IncidentAlert, IncidentStatus, TimelineEvent
from llm_incident_manager.domain.notifications import PageOutcome, PageRecord, PageState
from llm_incident_manager.domain.silences import Silence
from llm_incident_manager.pipeline.dedup import OpenAlertRow
from llm_incident_manager.pipeline.projection import Bucket
from llm_incident_manager.pipeline.writeset import NewPage, TimelineRow, WriteSet
from llm_incident_manager.store.codec import (
    decode_json,
    decode_silence_matchers,
    encode_json,
    encode_silence_matchers,
)
from llm_incident_manager.store.commit_thread import CommitThread
from llm_incident_manager.store.migrations import migrations
from llm_incident_manager.store.protocol import ApiKeyRecord, IncidentQuery, Page
from llm_incident_manager.store.rows import PAGE_COLUMNS, commit_rows, flush_rows, page, page_row, recount_rows

__all__ = ["PostgresStore"]

T = TypeVar("T")
_MIGRATION_LOCK = 0x6C696D  # "lim"

INCIDENT_COLUMNS = (
    "id, status, severity, title, description, source, fingerprint, service, model, model_version, provider, "
    "region, env, node, labels, alert_count, created_at, updated_at, last_seen_at, acknowledged_at, "
    "acknowledged_by, resolved_at, resolved_by"
)
_INSERT_INCIDENT = (
    f"INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES "
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16, $17, $18, $19, $20, $21, "
    "$22, $23)"
)
_INSERT_ALERT = """
INSERT INTO incident_alerts (incident_id, fingerprint, status, title, severity, source, explicit, dedup_key,
                             labels, annotations, count, first_seen_at, last_seen_at, resolved_at,
                             service, model, env, region, node, key_scope)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
"""
_ALERT_STATUS = "UPDATE incident_alerts SET status = $1, resolved_at = $2 WHERE incident_id = $3 AND fingerprint = $4"
_SUPERSEDE = """
UPDATE incident_alerts SET status = 'resolved', superseded_by = $1, resolved_at = $2
WHERE incident_id = $3 AND fingerprint = $4
"""
_UPDATE_INCIDENT = """
UPDATE incidents SET
    updated_at = GREATEST(updated_at, coalesce($1, updated_at)),
    status = coalesce($2, status),
    severity = coalesce($3, severity),
    acknowledged_at = coalesce($4, acknowledged_at),
    acknowledged_by = coalesce($5, acknowledged_by),
    resolved_at = coalesce($6, resolved_at),
    resolved_by = coalesce($7, resolved_by),
    alert_count = alert_count + $8,
    last_seen_at = GREATEST(last_seen_at, coalesce($9, last_seen_at))
WHERE id = $10
"""
#: the counters' flush (migration 0008): every counter adds its numbers to the narrow alert_counts table, all of a
#: flush in one statement (the keys are distinct: a bucket holds one counter per alert); an alert whose text changed
#: also gets its text rewritten in incident_alerts
_FLUSH_COUNTS = """
INSERT INTO alert_counts AS c (count, last_seen_at, incident_id, fingerprint)
SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[])
ON CONFLICT (incident_id, fingerprint) DO UPDATE SET
    count = c.count + excluded.count, last_seen_at = GREATEST(c.last_seen_at, excluded.last_seen_at)
"""
_FLUSH_TEXT = """
UPDATE incident_alerts SET
    title = coalesce($1, title), severity = coalesce($2, severity), labels = coalesce($3::jsonb, labels),
    annotations = coalesce($4::jsonb, annotations)
WHERE incident_id = $5 AND fingerprint = $6
"""
#: an alert's count and last seen time: its incident_alerts row's plus its flushed repeats' (``a`` and ``c``)
_JOIN_COUNTS = "LEFT JOIN alert_counts c ON c.incident_id = a.incident_id AND c.fingerprint = a.fingerprint"
_FLUSH_INCIDENT = """
UPDATE incidents SET alert_count = alert_count + $1, last_seen_at = GREATEST(last_seen_at, $2),
    updated_at = GREATEST(updated_at, $3)
WHERE id = $4
"""


async def _flush(conn: Any, alerts: Sequence[tuple[Any, ...]], incidents: Sequence[tuple[Any, ...]]) -> None:
    """Folds counters in (``rows.flush_rows``' rows): every row adds its numbers, a row with text (title or labels
    not None) also rewrites its alert's text."""
    texts = [(r[2], r[3], r[4], r[5], r[6], r[7]) for r in alerts if r[2] is not None or r[4] is not None]
    if texts:
        await conn.executemany(_FLUSH_TEXT, texts)
    if alerts:
        await conn.execute(
            _FLUSH_COUNTS,
            [r[0] for r in alerts],
            [r[1] for r in alerts],
            [r[6] for r in alerts],
            [r[7] for r in alerts],
        )
    if incidents:
        await conn.executemany(_FLUSH_INCIDENT, incidents)


_ADVANCE = (
    "UPDATE projection_watermark SET events_through = (SELECT coalesce(max(id), 0) FROM alert_batches) "
    "RETURNING events_through"
)
_WATERMARK = "(SELECT events_through FROM projection_watermark)"
_RECOUNT = (
    "SELECT decisions, received_at FROM alert_batches "
    "WHERE id > (SELECT events_through FROM projection_watermark) AND deduplicated > 0 ORDER BY id"
)
_INSERT_BATCH = """
INSERT INTO alert_batches (received_at, alert_count, deduplicated, alerts, decisions) VALUES ($1, $2, $3, $4, $5)
"""
_INSERT_TIMELINE = "INSERT INTO timeline (incident_id, at, kind, actor, data) VALUES ($1, $2, $3, $4, $5::jsonb)"
_INSERT_SPLIT = (
    "INSERT INTO correlation_splits (incident_id, fingerprint, new_incident_id, at, actor) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (incident_id, fingerprint) DO UPDATE SET new_incident_id = excluded.new_incident_id, "
    "at = excluded.at, actor = excluded.actor"
)

_INSERT_PAGE = (
    f"INSERT INTO notifications ({PAGE_COLUMNS}) VALUES "
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14, $15, $16, $17) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)
_PAGE_SELECT = (
    "id, idempotency_key, incident_id, event, receiver, target, channel, recipient, severity, state, attempts, "
    "next_at, created_at, updated_at, digest, data, done_at, last_error, last_status, provider_ref, fallback_of, "
    "coalesced_into, claimed_by, lease_until, published_at"
)
_DUE = "((state = 'pending' AND next_at <= $1) OR (state = 'sending' AND lease_until < $1))"
_FINISH_PAGE = """
UPDATE notifications SET state = $1, attempts = $2, next_at = $3, done_at = $4, last_error = $5, last_status = $6,
    provider_ref = coalesce($7, provider_ref), coalesced_into = $8, claimed_by = NULL, lease_until = NULL,
    published_at = NULL, updated_at = $9
WHERE id = $10 AND state NOT IN ('done', 'coalesced')
"""
_UPSERT_THREAD = (
    "INSERT INTO notification_threads (incident_id, receiver, target, ref) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (incident_id, receiver, target) DO UPDATE SET ref = excluded.ref"
)
_INSERT_DISABLED = (
    "INSERT INTO notification_disabled (receiver, target, endpoint, at, reason) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (receiver, target, endpoint) DO NOTHING"
)


_ESCALATION_COLUMNS = "incident_id, receiver, policy, state, level, cycle, severity, next_at, updated_at"


def _escalation(r: asyncpg.Record) -> EscalationRecord:
    return EscalationRecord(
        incident_id=r[0], receiver=r[1], policy=r[2], state=r[3], level=r[4], cycle=r[5], severity=r[6],
        next_at=r[7], updated_at=r[8],
    )  # fmt: skip


_SILENCE_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, created_at, updated_at"


def _silence(r: asyncpg.Record) -> Silence:
    return Silence(
        id=r[0], matchers=decode_silence_matchers(r[1]), starts_at=r[2], ends_at=r[3], created_by=r[4],
        comment=r[5], created_at=r[6], updated_at=r[7],
    )  # fmt: skip


def _page(r: asyncpg.Record) -> PageRecord:
    return PageRecord(
        id=r[0], idempotency_key=r[1], incident_id=r[2], event=r[3], receiver=r[4], target=r[5], channel=r[6],
        recipient=r[7], severity=r[8], state=PageState(r[9]), attempts=r[10], next_at=r[11], created_at=r[12],
        updated_at=r[13], digest=bool(r[14]), data=decode_json(r[15], str_dict=False), done_at=r[16],
        last_error=r[17], last_status=r[18], provider_ref=r[19], fallback_of=r[20], coalesced_into=r[21],
        claimed_by=r[22], lease_until=r[23], published_at=r[24],
    )  # fmt: skip


_COMMIT_SQL = {
    "incidents": _INSERT_INCIDENT,
    "alerts": _INSERT_ALERT,
    "alert_status": _ALERT_STATUS,
    "changes": _UPDATE_INCIDENT,
    "batches": _INSERT_BATCH,
    "timeline": _INSERT_TIMELINE,
    "superseded": _SUPERSEDE,
    "splits": _INSERT_SPLIT,
    "pages": _INSERT_PAGE,
    "escalations": (
        "INSERT INTO escalations (incident_id, receiver, policy, state, level, cycle, severity, next_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (incident_id, receiver) DO UPDATE SET "
        "policy = excluded.policy, state = excluded.state, level = excluded.level, cycle = excluded.cycle, "
        "severity = excluded.severity, next_at = excluded.next_at, lease_until = NULL, claimed_by = NULL, "
        "updated_at = excluded.updated_at"
    ),
    "escalation_states": (
        "UPDATE escalations SET state = $1, next_at = $2, lease_until = NULL, claimed_by = NULL, updated_at = $3 "
        "WHERE incident_id = $4 AND state <> 'done'"
    ),
}


def _incident(r: asyncpg.Record) -> Incident:
    return Incident(
        id=r[0], status=IncidentStatus(r[1]), severity=Severity(r[2]), title=r[3], description=r[4], source=r[5],
        fingerprint=r[6], service=r[7], model=r[8], model_version=r[9], provider=r[10], region=r[11], env=r[12],
        node=r[13], labels=decode_json(r[14]), alert_count=r[15], created_at=r[16], updated_at=r[17],
        last_seen_at=r[18], acknowledged_at=r[19], acknowledged_by=r[20], resolved_at=r[21], resolved_by=r[22],
    )  # fmt: skip


def _key(r: asyncpg.Record) -> ApiKeyRecord:
    return ApiKeyRecord(id=r[0], name=r[1], role=r[2], prefix=r[3], key_hash=r[4], created_at=r[5], revoked_at=r[6])


def _same(value: datetime) -> datetime:
    return value


class PostgresStore:
    kind = "postgresql"
    #: commits run in the order they are started, one after the other on their own thread, so the writer could
    #: queue a second one behind the running one (pipeline.writer); it does not: measured on the peer's stream,
    #: starting the next commit only when one ends makes bigger groups and did better (batch 100: 22.9-23.2k
    #: alerts/s against 20.6-22.2k; docs/performance.md)
    pipelined = False

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._commits: CommitThread | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "store is not open"  # noqa: S101
        return self._pool

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.url, min_size=self.min_size, max_size=self.max_size, command_timeout=self.timeout
        )
        self._commits = CommitThread(self.url, self.timeout)
        await self._commits.open()

    async def close(self) -> None:
        if self._commits is not None:
            await self._commits.close()
            self._commits = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT 1")

    async def migrate(self) -> list[int]:
        applied: list[int] = []
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
                )
                done = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
                for version, name, sql in migrations("postgres"):
                    if version in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                        )
                    applied.append(version)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        return applied

    async def commit(self, batches: Sequence[WriteSet], flush: Bucket | None = None) -> int | None:
        return await self.start_commit(batches, flush)

    def start_commit(self, batches: Sequence[WriteSet], flush: Bucket | None = None) -> asyncio.Future[int | None]:
        """``commit``, handed to the commit thread before this returns (``store.commit_thread``): commits run in
        the order they are started, one after the other, and once one fails every commit after it is refused until
        ``clear_failure``."""
        rows = commit_rows(batches, _same)
        flush_alerts, flush_incidents = flush_rows(flush, _same) if flush else ([], [])

        async def write(conn: Any) -> int | None:
            # counters first: the watermark they record must not cover this group's alert-log rows, whose
            # counters are not in the bucket
            watermark = None
            if flush is not None:
                await _flush(conn, flush_alerts, flush_incidents)
                watermark = int(await conn.fetchval(_ADVANCE))
            for name, params in rows.in_order():
                await conn.executemany(_COMMIT_SQL[name], params)
            return watermark

        assert self._commits is not None, "store is not open"  # noqa: S101
        return self._commits.start(write)

    def clear_failure(self) -> None:
        """Commits are accepted again (the writer reloads its state from the store after a failed commit)."""
        if self._commits is not None:
            self._commits.clear_failure()

    async def watermark(self) -> int:
        return int(await self.pool.fetchval(f"SELECT {_WATERMARK}"))

    async def recount(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("LOCK TABLE projection_watermark IN EXCLUSIVE MODE")
            entries = [(bytes(r[0]), r[1]) for r in await conn.fetch(_RECOUNT)]
            alerts, incidents = recount_rows(entries, _same)
            await _flush(conn, alerts, incidents)
            await conn.execute(_ADVANCE)
        return sum(int(row[0]) for row in incidents)

    async def load_open_alerts(self) -> list[OpenAlertRow]:
        rows = await self.pool.fetch(
            "SELECT a.incident_id, i.status, i.severity, a.fingerprint, a.status, "
            "GREATEST(a.last_seen_at, c.last_seen_at), a.explicit, a.title, a.labels, a.service, a.model, a.env, "
            "a.region, a.node, a.key_scope, a.source "
            f"FROM incident_alerts a JOIN incidents i ON i.id = a.incident_id {_JOIN_COUNTS} "
            "WHERE i.status <> 'resolved' AND a.superseded_by IS NULL ORDER BY a.seq"
        )
        return [
            OpenAlertRow(r[0], IncidentStatus(r[1]), Severity(r[2]), r[3], AlertStatus(r[4]), r[5], r[6], r[7],
                         decode_json(r[8]), r[9], r[10], r[11], r[12], r[13], r[14], r[15])
            for r in rows
        ]  # fmt: skip

    async def load_splits(self) -> list[tuple[str, str]]:
        rows = await self.pool.fetch("SELECT incident_id, fingerprint FROM correlation_splits")
        return [(r[0], r[1]) for r in rows]

    async def get_incident(self, incident_id: str) -> tuple[Incident | None, int]:
        row = await self.pool.fetchrow(
            f"SELECT {INCIDENT_COLUMNS}, {_WATERMARK} FROM incidents WHERE id = $1", incident_id
        )
        return (None, 0) if row is None else (_incident(row), int(row[-1]))

    async def get_incidents(self, incident_ids: Sequence[str]) -> tuple[dict[str, Incident], int]:
        ids = list(dict.fromkeys(incident_ids))
        if not ids:
            return {}, 0
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            watermark = int(await conn.fetchval(f"SELECT {_WATERMARK}"))
            rows = await conn.fetch(f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ANY($1::text[])", ids)
        return {row[0]: _incident(row) for row in rows}, watermark

    async def list_incidents(self, query: IncidentQuery) -> tuple[Page[Incident], int]:
        where: list[str] = []
        params: list[Any] = []

        def param(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        if query.status:
            where.append(f"status = ANY({param([s.value for s in query.status])}::text[])")
        if query.severity:
            where.append(f"severity = ANY({param([s.value for s in query.severity])}::text[])")
        for column in ("service", "model", "env"):
            value = getattr(query, column)
            if value is not None:
                where.append(f"{column} = {param(value)}")
        if query.since is not None:
            where.append(f"created_at >= {param(query.since)}")
        if query.until is not None:
            where.append(f"created_at < {param(query.until)}")
        if query.cursor:
            where.append(f"id < {param(query.cursor)}")
        sql = f"SELECT {INCIDENT_COLUMNS}, {_WATERMARK} FROM incidents"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY id DESC LIMIT {param(query.limit + 1)}"
        rows = await self.pool.fetch(sql, *params)
        items = [_incident(r) for r in rows]
        return page(items, query.limit, lambda i: i.id), (int(rows[0][-1]) if rows else 0)

    async def list_incident_alerts(
        self, incident_id: str, cursor: str | None, limit: int, fingerprint: str | None = None
    ) -> tuple[Page[IncidentAlert], int]:
        rows = await self.pool.fetch(
            "SELECT a.seq, a.incident_id, a.fingerprint, a.status, a.title, a.severity, a.source, a.dedup_key, "
            "a.labels, a.annotations, a.count + coalesce(c.count, 0), a.first_seen_at, "
            "GREATEST(a.last_seen_at, c.last_seen_at), a.resolved_at, a.superseded_by, "
            f"{_WATERMARK} FROM incident_alerts a {_JOIN_COUNTS} "
            "WHERE a.incident_id = $1 AND a.seq > $2 AND ($4::text IS NULL OR a.fingerprint = $4) "
            "ORDER BY a.seq LIMIT $3",
            incident_id,
            int(cursor) if cursor else 0,
            limit + 1,
            fingerprint,
        )
        items = [
            (r[0], IncidentAlert(
                incident_id=r[1], fingerprint=r[2], status=AlertStatus(r[3]), title=r[4], severity=Severity(r[5]),
                source=r[6], dedup_key=r[7], labels=decode_json(r[8]), annotations=decode_json(r[9]),
                count=r[10], first_seen_at=r[11], last_seen_at=r[12], resolved_at=r[13], superseded_by=r[14],
                id=r[0]))
            for r in rows
        ]  # fmt: skip
        found = page(items, limit, lambda r: str(r[0]))
        return Page([r[1] for r in found.items], found.next_cursor), (int(rows[0][-1]) if rows else 0)

    async def list_timeline(self, incident_id: str, cursor: str | None, limit: int) -> Page[TimelineEvent]:
        rows = await self.pool.fetch(
            "SELECT id, incident_id, at, kind, actor, data FROM timeline WHERE incident_id = $1 AND id > $2 "
            "ORDER BY id LIMIT $3",
            incident_id,
            int(cursor) if cursor else 0,
            limit + 1,
        )
        items = [
            TimelineEvent(
                id=r[0], incident_id=r[1], at=r[2], kind=r[3], actor=r[4], data=decode_json(r[5], str_dict=False)
            )
            for r in rows
        ]
        return page(items, limit, lambda e: str(e.id))

    async def count_logged_alerts(self) -> int:
        return int(await self.pool.fetchval("SELECT coalesce(sum(alert_count), 0) FROM alert_batches"))

    # -- the notification outbox ---------------------------------------------------------------------
    async def claim_pages(
        self, worker: str, now: datetime, lease_until: datetime, limit: int, ids: Sequence[str] | None = None
    ) -> list[PageRecord]:
        if ids is not None and not ids:
            return []
        only = " AND id = ANY($5::text[])" if ids is not None else ""
        # a claim of given ids waits for a row another transaction holds (the relay marking it published) and
        # then sees its new state; a claim of whatever is due skips such rows for other workers to take
        lock = "FOR UPDATE" if ids is not None else "FOR UPDATE SKIP LOCKED"
        sql = (
            f"WITH due AS (SELECT id FROM notifications WHERE {_DUE}{only} ORDER BY next_at LIMIT $4 {lock}) "
            "UPDATE notifications n SET state = 'sending', attempts = n.attempts + 1, claimed_by = $2, "
            "lease_until = $3, updated_at = $1 "
            f"FROM due WHERE n.id = due.id RETURNING {', '.join('n.' + c.strip() for c in _PAGE_SELECT.split(','))}"
        )
        args: list[Any] = [now, worker, lease_until, limit]
        if ids is not None:
            args.append(list(ids))
        rows = await self.pool.fetch(sql, *args)
        return sorted((_page(r) for r in rows), key=lambda p: (p.next_at, p.id))

    async def finish_pages(
        self,
        outcomes: Sequence[PageOutcome],
        now: datetime,
        *,
        timeline: Sequence[TimelineRow] = (),
        pages: Sequence[NewPage] = (),
        threads: Sequence[tuple[str, str, str, str]] = (),
        disabled: Sequence[tuple[str, str, str, datetime, str]] = (),
    ) -> None:
        finish = [
            (o.state.value, o.attempts, o.next_at, o.done_at, o.last_error, o.last_status, o.provider_ref,
             o.coalesced_into, now, o.id)
            for o in outcomes
        ]  # fmt: skip
        events = [(t[0], t[1], t[2], t[3], encode_json(t[4])) for t in timeline]
        new = [page_row(p, _same) for p in pages]
        async with self.pool.acquire() as conn, conn.transaction():
            for sql, rows in (
                (_FINISH_PAGE, finish), (_INSERT_TIMELINE, events), (_INSERT_PAGE, new),
                (_UPSERT_THREAD, list(threads)), (_INSERT_DISABLED, list(disabled)),
            ):  # fmt: skip
                if rows:
                    await conn.executemany(sql, rows)

    async def publishable_pages(self, now: datetime, redrive_before: datetime, limit: int) -> list[PageRecord]:
        rows = await self.pool.fetch(
            f"SELECT {_PAGE_SELECT} FROM notifications WHERE {_DUE} "
            "AND (published_at IS NULL OR published_at < $2) ORDER BY next_at LIMIT $3",
            now,
            redrive_before,
            limit,
        )
        return [_page(r) for r in rows]

    async def mark_published(self, pages: Sequence[tuple[str, int, datetime]], at: datetime) -> None:
        await self.pool.execute(
            "UPDATE notifications n SET published_at = $1 "
            "FROM unnest($2::text[], $3::int[], $4::timestamptz[]) AS p(id, attempts, next_at) "
            "WHERE n.id = p.id AND n.attempts = p.attempts AND n.next_at = p.next_at",
            at,
            [p[0] for p in pages],
            [p[1] for p in pages],
            [p[2] for p in pages],
        )

    async def list_pages(
        self, state: PageState | None, incident_id: str | None, cursor: str | None, limit: int
    ) -> Page[PageRecord]:
        rows = await self.pool.fetch(
            f"SELECT {_PAGE_SELECT} FROM notifications WHERE ($1::text IS NULL OR state = $1) "
            "AND ($2::text IS NULL OR incident_id = $2) AND ($3::text IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
            None if state is None else state.value,
            incident_id,
            cursor,
            limit + 1,
        )
        return page([_page(r) for r in rows], limit, lambda p: p.id)

    async def get_page(self, page_id: str) -> PageRecord | None:
        row = await self.pool.fetchrow(f"SELECT {_PAGE_SELECT} FROM notifications WHERE id = $1", page_id)
        return None if row is None else _page(row)

    async def thread_refs(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
        if not keys:
            return {}
        rows = await self.pool.fetch(
            "SELECT t.incident_id, t.receiver, t.target, t.ref FROM notification_threads t "
            "JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(i, r, g) "
            "ON t.incident_id = k.i AND t.receiver = k.r AND t.target = k.g",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
        )
        return {(r[0], r[1], r[2]): r[3] for r in rows}

    async def load_disabled(self) -> list[tuple[str, str, str]]:
        rows = await self.pool.fetch("SELECT receiver, target, endpoint FROM notification_disabled")
        return [(r[0], r[1], r[2]) for r in rows]

    async def page_counts(self) -> dict[str, int]:
        rows = await self.pool.fetch("SELECT state, count(*) FROM notifications GROUP BY state")
        return {r[0]: int(r[1]) for r in rows}

    # -- escalations ---------------------------------------------------------------------------------
    async def claim_escalations(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[EscalationRecord]:
        rows = await self.pool.fetch(
            "WITH due AS (SELECT incident_id, receiver FROM escalations WHERE next_at <= $1 AND state <> 'done' "
            "AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_at LIMIT $4 FOR UPDATE SKIP LOCKED) "
            "UPDATE escalations e SET lease_until = $2, claimed_by = $3 FROM due "
            "WHERE e.incident_id = due.incident_id AND e.receiver = due.receiver "
            "RETURNING e.incident_id, e.receiver, e.policy, e.state, e.level, e.cycle, e.severity, e.next_at, "
            "e.updated_at",
            now, lease_until, worker, limit,
        )  # fmt: skip
        return [_escalation(r) for r in rows]

    async def list_escalations(self, incident_id: str) -> list[EscalationRecord]:
        rows = await self.pool.fetch(
            f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE incident_id = $1 ORDER BY receiver", incident_id
        )
        return [_escalation(r) for r in rows]

    # -- configuration objects -----------------------------------------------------------------------
    async def list_config_objects(self) -> list[tuple[str, str, Any, datetime]]:
        rows = await self.pool.fetch("SELECT kind, name, body, updated_at FROM config_objects ORDER BY kind, name")
        return [(r[0], r[1], decode_json(r[2], str_dict=False), r[3]) for r in rows]

    async def put_config_object(self, kind: str, name: str, body: Any, at: datetime) -> None:
        await self.pool.execute(
            "INSERT INTO config_objects (kind, name, body, updated_at) VALUES ($1, $2, $3::jsonb, $4) "
            "ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            kind, name, encode_json(body), at,
        )  # fmt: skip

    async def delete_config_object(self, kind: str, name: str) -> bool:
        result = await self.pool.execute("DELETE FROM config_objects WHERE kind = $1 AND name = $2", kind, name)
        return str(result).endswith(" 1")

    # -- silences ------------------------------------------------------------------------------------
    async def save_silence(self, silence: Silence) -> None:
        await self.pool.execute(
            "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at, updated_at) "
            "VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET "
            "matchers = excluded.matchers, starts_at = excluded.starts_at, ends_at = excluded.ends_at, "
            "created_by = excluded.created_by, comment = excluded.comment, updated_at = excluded.updated_at",
            silence.id, encode_silence_matchers(silence.matchers), silence.starts_at, silence.ends_at,
            silence.created_by, silence.comment, silence.created_at, silence.updated_at,
        )  # fmt: skip

    async def list_silences(self) -> list[Silence]:
        rows = await self.pool.fetch(f"SELECT {_SILENCE_COLUMNS} FROM silences ORDER BY id DESC")
        return [_silence(r) for r in rows]

    async def get_silence(self, silence_id: str) -> Silence | None:
        row = await self.pool.fetchrow(f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE id = $1", silence_id)
        return None if row is None else _silence(row)

    async def create_key(self, record: ApiKeyRecord) -> None:
        await self.pool.execute(
            "INSERT INTO api_keys (id, name, role, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            record.id, record.name, record.role, record.prefix, record.key_hash, record.created_at,
        )  # fmt: skip

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = await self.pool.fetch(
            "SELECT id, name, role, prefix, key_hash, created_at, revoked_at FROM api_keys ORDER BY created_at"
        )
        return [_key(r) for r in rows]

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        status = await self.pool.execute(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", at, key_id
        )
        return bool(status.endswith(" 1"))

    async def find_key(self, key_hash: str) -> ApiKeyRecord | None:
        row = await self.pool.fetchrow(
            "SELECT id, name, role, prefix, key_hash, created_at, revoked_at FROM api_keys WHERE key_hash = $1",
            key_hash,
        )
        return None if row is None else _key(row)
