"""The embedded system of record: one SQLite file in WAL mode.

One writer thread owns the write connection and runs every commit (a group of batches) as one
``BEGIN IMMEDIATE`` transaction; one reader thread serves queries from its own connection, which WAL lets read
while the writer writes. ``synchronous`` defaults to FULL, so a 2xx answer survives power loss too.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from llm_incident_manager.domain.alerts import AlertStatus, Severity
from llm_incident_manager.domain.escalations import EscalationRecord
from llm_incident_manager.domain.incidents import Incident, IncidentAlert, IncidentStatus, TimelineEvent
from llm_incident_manager.domain.notifications import PageOutcome, PageRecord, PageState
from llm_incident_manager.domain.silences import Silence
from llm_incident_manager.errors import Unavailable
from llm_incident_manager.pipeline.dedup import OpenAlertRow
from llm_incident_manager.pipeline.projection import Bucket
from llm_incident_manager.pipeline.writeset import NewPage, TimelineRow, WriteSet
from llm_incident_manager.store.codec import (
    decode_json,
    decode_silence_matchers,
    encode_json,
    encode_silence_matchers,
    from_us,
    from_us_opt,
    to_us,
    to_us_opt,
)
from llm_incident_manager.store.migrations import migrations
from llm_incident_manager.store.protocol import ApiKeyRecord, IncidentQuery, Page
from llm_incident_manager.store.rows import (
    PAGE_COLUMNS,
    CommitRows,
    Row,
    commit_rows,
    flush_rows,
    page,
    page_row,
    recount_rows,
)

__all__ = ["SQLiteStore"]

T = TypeVar("T")

INCIDENT_COLUMNS = (
    "id, status, severity, title, description, source, fingerprint, service, model, model_version, provider, "
    "region, env, node, labels, alert_count, created_at, updated_at, last_seen_at, acknowledged_at, "
    "acknowledged_by, resolved_at, resolved_by"
)
_INSERT_INCIDENT = f"INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ({', '.join('?' * 23)})"
_INSERT_ALERT = """
INSERT INTO incident_alerts (incident_id, fingerprint, status, title, severity, source, explicit, dedup_key,
                             labels, annotations, count, first_seen_at, last_seen_at, resolved_at,
                             service, model, env, region, node, key_scope)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_ALERT_STATUS = "UPDATE incident_alerts SET status = ?, resolved_at = ? WHERE incident_id = ? AND fingerprint = ?"
_SUPERSEDE = """
UPDATE incident_alerts SET status = 'resolved', superseded_by = ?, resolved_at = ?
WHERE incident_id = ? AND fingerprint = ?
"""
_UPDATE_INCIDENT = """
UPDATE incidents SET
    updated_at = max(updated_at, coalesce(?, updated_at)),
    status = coalesce(?, status),
    severity = coalesce(?, severity),
    acknowledged_at = coalesce(?, acknowledged_at),
    acknowledged_by = coalesce(?, acknowledged_by),
    resolved_at = coalesce(?, resolved_at),
    resolved_by = coalesce(?, resolved_by),
    alert_count = alert_count + ?,
    last_seen_at = max(last_seen_at, coalesce(?, last_seen_at))
WHERE id = ?
"""
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
INSERT INTO alert_batches (received_at, alert_count, deduplicated, alerts, decisions) VALUES (?, ?, ?, ?, ?)
"""
#: an alert's count and last seen time: its incident_alerts row's plus its flushed repeats' (``a`` and ``c``)
_ALERT_COUNT = "a.count + coalesce(c.count, 0)"
_ALERT_LAST_SEEN = "max(a.last_seen_at, coalesce(c.last_seen_at, a.last_seen_at))"
_JOIN_COUNTS = "LEFT JOIN alert_counts c ON c.incident_id = a.incident_id AND c.fingerprint = a.fingerprint"
_OPEN_ALERT_COLUMNS = (
    f"a.incident_id, i.status, i.severity, a.fingerprint, a.status, {_ALERT_LAST_SEEN}, a.explicit, a.title, "
    "a.labels, a.service, a.model, a.env, a.region, a.node, a.key_scope, a.source"
)
_INSERT_TIMELINE = "INSERT INTO timeline (incident_id, at, kind, actor, data) VALUES (?, ?, ?, ?, ?)"
_INSERT_SPLIT = (
    "INSERT INTO correlation_splits (incident_id, fingerprint, new_incident_id, at, actor) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (incident_id, fingerprint) DO UPDATE SET new_incident_id = excluded.new_incident_id, "
    "at = excluded.at, actor = excluded.actor"
)

_INSERT_PAGE = (
    f"INSERT INTO notifications ({PAGE_COLUMNS}) VALUES ({', '.join('?' * 17)}) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)
_PAGE_SELECT = (
    "id, idempotency_key, incident_id, event, receiver, target, channel, recipient, severity, state, attempts, "
    "next_at, created_at, updated_at, digest, data, done_at, last_error, last_status, provider_ref, fallback_of, "
    "coalesced_into, claimed_by, lease_until, published_at"
)
_DUE = "((state = 'pending' AND next_at <= ?) OR (state = 'sending' AND lease_until < ?))"
_FINISH_PAGE = """
UPDATE notifications SET state = ?, attempts = ?, next_at = ?, done_at = ?, last_error = ?, last_status = ?,
    provider_ref = coalesce(?, provider_ref), coalesced_into = ?, claimed_by = NULL, lease_until = NULL,
    published_at = NULL, updated_at = ?
WHERE id = ? AND state NOT IN ('done', 'coalesced')
"""
_UPSERT_THREAD = (
    "INSERT INTO notification_threads (incident_id, receiver, target, ref) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (incident_id, receiver, target) DO UPDATE SET ref = excluded.ref"
)
_INSERT_DISABLED = (
    "INSERT INTO notification_disabled (receiver, target, endpoint, at, reason) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (receiver, target, endpoint) DO NOTHING"
)


#: the counters' flush: every row adds its numbers to ``alert_counts`` (migration 0008: a narrow table, so a flush
#: dirties few pages); a row whose text changed also rewrites the text of its ``incident_alerts`` row
_FLUSH_SQL = {
    "flush_texts": """
UPDATE incident_alerts SET
    title = coalesce(?, title), severity = coalesce(?, severity), labels = coalesce(?, labels),
    annotations = coalesce(?, annotations)
WHERE incident_id = ? AND fingerprint = ?
""",
    "flush_counts": "INSERT INTO alert_counts (count, last_seen_at, incident_id, fingerprint) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (incident_id, fingerprint) DO UPDATE SET count = count + excluded.count, "
    "last_seen_at = max(last_seen_at, excluded.last_seen_at)",
    "flush_incidents": "UPDATE incidents SET alert_count = alert_count + ?, last_seen_at = max(last_seen_at, ?), "
    "updated_at = max(updated_at, ?) WHERE id = ?",
}


def _flush(conn: sqlite3.Connection, alerts: Sequence[tuple[Any, ...]], incidents: Sequence[tuple[Any, ...]]) -> None:
    """Folds counters in (``rows.flush_rows``' rows): every row adds its numbers; a row with text (title or labels
    not None) also rewrites its alert's text."""
    texts = [(r[2], r[3], r[4], r[5], r[6], r[7]) for r in alerts if r[2] is not None or r[4] is not None]
    if texts:
        conn.executemany(_FLUSH_SQL["flush_texts"], texts)
    if alerts:
        conn.executemany(_FLUSH_SQL["flush_counts"], [(r[0], r[1], r[6], r[7]) for r in alerts])
    if incidents:
        conn.executemany(_FLUSH_SQL["flush_incidents"], incidents)


_ESCALATION_COLUMNS = "incident_id, receiver, policy, state, level, cycle, severity, next_at, updated_at"


def _escalation(r: sqlite3.Row) -> EscalationRecord:
    return EscalationRecord(
        incident_id=r[0], receiver=r[1], policy=r[2], state=r[3], level=r[4], cycle=r[5], severity=r[6],
        next_at=from_us_opt(r[7]), updated_at=from_us(r[8]),
    )  # fmt: skip


_SILENCE_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, created_at, updated_at"


def _silence(r: sqlite3.Row) -> Silence:
    return Silence(
        id=r[0], matchers=decode_silence_matchers(r[1]), starts_at=from_us(r[2]), ends_at=from_us(r[3]),
        created_by=r[4], comment=r[5], created_at=from_us(r[6]), updated_at=from_us(r[7]),
    )  # fmt: skip


def _page(r: sqlite3.Row) -> PageRecord:
    return PageRecord(
        id=r[0], idempotency_key=r[1], incident_id=r[2], event=r[3], receiver=r[4], target=r[5], channel=r[6],
        recipient=r[7], severity=r[8], state=PageState(r[9]), attempts=r[10], next_at=from_us(r[11]),
        created_at=from_us(r[12]), updated_at=from_us(r[13]), digest=bool(r[14]),
        data=decode_json(r[15], str_dict=False), done_at=from_us_opt(r[16]), last_error=r[17], last_status=r[18],
        provider_ref=r[19], fallback_of=r[20], coalesced_into=r[21], claimed_by=r[22],
        lease_until=from_us_opt(r[23]), published_at=from_us_opt(r[24]),
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
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (incident_id, receiver) DO UPDATE SET "
        "policy = excluded.policy, state = excluded.state, level = excluded.level, cycle = excluded.cycle, "
        "severity = excluded.severity, next_at = excluded.next_at, lease_until = NULL, claimed_by = NULL, "
        "updated_at = excluded.updated_at"
    ),
    "escalation_states": (
        "UPDATE escalations SET state = ?, next_at = ?, lease_until = NULL, claimed_by = NULL, updated_at = ? "
        "WHERE incident_id = ? AND state <> 'done'"
    ),
}


def _path_of(url: str) -> str:
    path = url.removeprefix("sqlite:").removeprefix("//").removeprefix("/") if url.startswith("sqlite:") else url
    if path in (":memory:", ""):
        # One private in-memory database shared by this store's two connections (tests, replay).
        return f"file:lim-memory-{uuid.uuid4().hex}?mode=memory&cache=shared"
    return path


def _statements(script: str) -> list[str]:
    """The statements of a migration script, split where SQLite itself says a statement is complete."""
    out: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                out.append(buffer)
            buffer = ""
    if buffer.strip():
        out.append(buffer)
    return out


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction (``BEGIN IMMEDIATE``: the write lock up front), committed, or rolled back on any
    error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _incident(row: sqlite3.Row) -> Incident:
    return Incident(
        id=row[0],
        status=IncidentStatus(row[1]),
        severity=Severity(row[2]),
        title=row[3],
        description=row[4],
        source=row[5],
        fingerprint=row[6],
        service=row[7],
        model=row[8],
        model_version=row[9],
        provider=row[10],
        region=row[11],
        env=row[12],
        node=row[13],
        labels=decode_json(row[14]),
        alert_count=row[15],
        created_at=from_us(row[16]),
        updated_at=from_us(row[17]),
        last_seen_at=from_us(row[18]),
        acknowledged_at=from_us_opt(row[19]),
        acknowledged_by=row[20],
        resolved_at=from_us_opt(row[21]),
        resolved_by=row[22],
    )


class SQLiteStore:
    kind = "sqlite"
    #: commits run in the order they are started, one after the other on their own thread, so the writer queues
    #: a second, deferred one behind the running one (``start_deferred_commit``; pipeline.writer): the thread
    #: takes its batches when it gets to it, every batch queued by then (docs/performance.md)
    pipelined = True

    def __init__(self, url: str, *, synchronous: str = "FULL", timeout: float = 10.0) -> None:
        self.path = _path_of(url)
        self.synchronous = synchronous
        self.timeout = timeout
        self.in_memory = self.path.startswith("file:lim-memory-")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="lim-sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="lim-sqlite-reader")
        self._wconn: sqlite3.Connection | None = None
        self._failed = False
        self._rconn: sqlite3.Connection | None = None

    # -- plumbing ------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self.timeout, uri=self.in_memory
        )
        conn.execute("PRAGMA page_size=16384")  # takes effect on a new database only
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        # the counters' flush updates rows all over alert_counts: keep its pages in memory (64 MiB of page
        # cache per connection, the file memory-mapped) rather than read back through system calls
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA mmap_size=268435456")
        return conn

    def _start_write(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """``fn`` handed to the writer thread now; the future completes with its result."""
        conn = self._wconn
        assert conn is not None, "store is not open"  # noqa: S101
        return asyncio.get_running_loop().run_in_executor(self._writer, fn, conn)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._start_write(fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._rconn
        assert conn is not None, "store is not open"  # noqa: S101
        return await asyncio.get_running_loop().run_in_executor(self._reader, fn, conn)

    async def open(self) -> None:
        if not self.in_memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._wconn = await loop.run_in_executor(self._writer, self._connect)
        self._rconn = await loop.run_in_executor(self._reader, self._connect)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        if self._wconn is not None:
            await loop.run_in_executor(self._writer, self._wconn.close)
        if self._rconn is not None:
            await loop.run_in_executor(self._reader, self._rconn.close)
        self._wconn = self._rconn = None
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)

    async def ping(self) -> None:
        await self._read(lambda c: c.execute("SELECT 1").fetchone())

    async def migrate(self) -> list[int]:
        def run(conn: sqlite3.Connection) -> list[int]:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT)")
            applied = []
            for version, name, sql in migrations("sqlite"):
                # the check and the change in one write transaction, so two processes apply each version once
                with _immediate(conn):
                    if conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                        continue  # applied already (the empty transaction commits)
                    for statement in _statements(sql):
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
                applied.append(version)
            return applied

        return await self._write(run)

    # -- writes --------------------------------------------------------------------------------------
    async def commit(self, batches: Sequence[WriteSet], flush: Bucket | None = None) -> int | None:
        return await self.start_commit(batches, flush)

    def start_commit(self, batches: Sequence[WriteSet], flush: Bucket | None = None) -> asyncio.Future[int | None]:
        """``commit``, handed to the writer thread before this returns. Commits run in the order they are started,
        one after the other (``pipelined``), and once one fails every commit after it is refused until
        ``clear_failure``: a later batch may build on a failed one's decisions."""
        rows = commit_rows(batches, to_us, int)
        flushed = None if flush is None else flush_rows(flush, to_us)

        def run(conn: sqlite3.Connection) -> int | None:
            if self._failed:
                raise Unavailable("a commit queued before this one failed", retry_after=1)
            return self._commit_in_thread(conn, rows, flushed)

        return self._start_write(run)

    def start_deferred_commit(self, take: Callable[[], list[WriteSet]]) -> asyncio.Future[int | None]:
        """A commit of the batches ``take()`` returns when the writer thread gets to it, after every commit
        started before it (``pipeline.writer``): the thread goes on to it as soon as the one before ends, without
        waiting for the event loop. It never folds counters in. Refused, before ``take`` runs, after a failed
        commit; nothing to take, no transaction."""

        def run(conn: sqlite3.Connection) -> int | None:
            if self._failed:
                raise Unavailable("a commit queued before this one failed", retry_after=1)
            try:
                batches = take()
                rows = commit_rows(batches, to_us, int) if batches else None
            except BaseException:
                self._failed = True
                raise
            return None if rows is None else self._commit_in_thread(conn, rows, None)

        return self._start_write(run)

    def _commit_in_thread(
        self,
        conn: sqlite3.Connection,
        rows: CommitRows,
        flushed: tuple[list[Row], list[Row]] | None,
    ) -> int | None:
        """One group commit's transaction, on the writer thread; a failure makes the store refuse every commit
        after it until ``clear_failure``."""
        try:
            with _immediate(conn):
                # counters first: the watermark they record must not cover this group's alert-log rows, whose
                # counters are not in the bucket
                watermark = None
                if flushed is not None:
                    _flush(conn, *flushed)
                    watermark = int(conn.execute(_ADVANCE).fetchone()[0])
                if rows.batches:  # the alert log's payloads, compressed here, without the GIL
                    rows.batches = [(r[0], r[1], r[2], zlib.compress(r[3], 1), r[4]) for r in rows.batches]
                for name, params in rows.in_order():
                    conn.executemany(_COMMIT_SQL[name], params)
            return watermark
        except BaseException:
            self._failed = True
            raise

    def clear_failure(self) -> None:
        """Commits are accepted again (the writer reloads its state from the store after a failed commit)."""
        self._failed = False

    async def watermark(self) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return int(conn.execute(f"SELECT {_WATERMARK}").fetchone()[0])

        return await self._read(run)

    async def recount(self) -> int:
        def run(conn: sqlite3.Connection) -> int:
            with _immediate(conn):
                entries = [(blob, from_us(at)) for blob, at in conn.execute(_RECOUNT)]
                alerts, incidents = recount_rows(entries, to_us)
                _flush(conn, alerts, incidents)
                conn.execute(_ADVANCE)
            return sum(row[0] for row in incidents)

        return await self._write(run)

    # -- reads ---------------------------------------------------------------------------------------
    async def load_open_alerts(self) -> list[OpenAlertRow]:
        def run(conn: sqlite3.Connection) -> list[OpenAlertRow]:
            rows = conn.execute(
                f"SELECT {_OPEN_ALERT_COLUMNS} FROM incident_alerts a JOIN incidents i ON i.id = a.incident_id "
                f"{_JOIN_COUNTS} "
                "WHERE i.status <> 'resolved' AND a.superseded_by IS NULL ORDER BY a.seq"
            )
            return [
                OpenAlertRow(r[0], IncidentStatus(r[1]), Severity(r[2]), r[3], AlertStatus(r[4]), from_us(r[5]),
                             bool(r[6]), r[7], decode_json(r[8]), r[9], r[10], r[11], r[12], r[13], r[14], r[15])
                for r in rows
            ]  # fmt: skip

        return await self._read(run)

    async def load_splits(self) -> list[tuple[str, str]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            return [(r[0], r[1]) for r in conn.execute("SELECT incident_id, fingerprint FROM correlation_splits")]

        return await self._read(run)

    async def get_incident(self, incident_id: str) -> tuple[Incident | None, int]:
        def run(conn: sqlite3.Connection) -> tuple[Incident | None, int]:
            row = conn.execute(
                f"SELECT {INCIDENT_COLUMNS}, {_WATERMARK} FROM incidents WHERE id = ?", (incident_id,)
            ).fetchone()
            return (None, 0) if row is None else (_incident(row), row[-1])

        return await self._read(run)

    async def get_incidents(self, incident_ids: Sequence[str]) -> tuple[dict[str, Incident], int]:
        ids = list(dict.fromkeys(incident_ids))

        def run(conn: sqlite3.Connection) -> tuple[dict[str, Incident], int]:
            found: dict[str, Incident] = {}
            conn.execute("BEGIN")  # one snapshot: the rows and the watermark they are exact to
            try:
                watermark = int(conn.execute(f"SELECT {_WATERMARK}").fetchone()[0])
                for start in range(0, len(ids), 500):  # well below SQLite's limit of bound parameters
                    chunk = ids[start : start + 500]
                    sql = f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id IN ({', '.join('?' * len(chunk))})"
                    for row in conn.execute(sql, chunk):
                        found[row[0]] = _incident(row)
            finally:
                conn.execute("COMMIT")
            return found, watermark

        if not ids:
            return {}, 0
        return await self._read(run)

    async def list_incidents(self, query: IncidentQuery) -> tuple[Page[Incident], int]:
        where: list[str] = []
        params: list[Any] = []
        if query.status:
            where.append(f"status IN ({', '.join('?' * len(query.status))})")
            params.extend(s.value for s in query.status)
        if query.severity:
            where.append(f"severity IN ({', '.join('?' * len(query.severity))})")
            params.extend(s.value for s in query.severity)
        for column in ("service", "model", "env"):
            value = getattr(query, column)
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if query.since is not None:
            where.append("created_at >= ?")
            params.append(to_us(query.since))
        if query.until is not None:
            where.append("created_at < ?")
            params.append(to_us(query.until))
        if query.cursor:
            where.append("id < ?")
            params.append(query.cursor)
        sql = f"SELECT {INCIDENT_COLUMNS}, {_WATERMARK} FROM incidents"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(query.limit + 1)

        def run(conn: sqlite3.Connection) -> tuple[list[Incident], int]:
            rows = conn.execute(sql, params).fetchall()
            return [_incident(row) for row in rows], (rows[0][-1] if rows else 0)

        items, watermark = await self._read(run)
        return page(items, query.limit, lambda i: i.id), watermark

    async def list_incident_alerts(
        self, incident_id: str, cursor: str | None, limit: int, fingerprint: str | None = None
    ) -> tuple[Page[IncidentAlert], int]:
        after = int(cursor) if cursor else 0

        def run(conn: sqlite3.Connection) -> tuple[list[tuple[int, IncidentAlert]], int]:
            rows = conn.execute(
                "SELECT a.seq, a.incident_id, a.fingerprint, a.status, a.title, a.severity, a.source, a.dedup_key, "
                f"a.labels, a.annotations, {_ALERT_COUNT}, a.first_seen_at, {_ALERT_LAST_SEEN}, a.resolved_at, "
                f"a.superseded_by, {_WATERMARK} FROM incident_alerts a {_JOIN_COUNTS} "
                "WHERE a.incident_id = ?1 AND a.seq > ?2 AND (?4 IS NULL OR a.fingerprint = ?4) "
                "ORDER BY a.seq LIMIT ?3",
                (incident_id, after, limit + 1, fingerprint),
            ).fetchall()
            return [
                (r[0], IncidentAlert(
                    incident_id=r[1], fingerprint=r[2], status=AlertStatus(r[3]), title=r[4],
                    severity=Severity(r[5]), source=r[6], dedup_key=r[7], labels=decode_json(r[8]),
                    annotations=decode_json(r[9]), count=r[10], first_seen_at=from_us(r[11]),
                    last_seen_at=from_us(r[12]), resolved_at=from_us_opt(r[13]), superseded_by=r[14], id=r[0]))
                for r in rows
            ], (rows[0][-1] if rows else 0)  # fmt: skip

        rows, watermark = await self._read(run)
        found = page(rows, limit, lambda r: str(r[0]))
        return Page([r[1] for r in found.items], found.next_cursor), watermark

    async def list_timeline(self, incident_id: str, cursor: str | None, limit: int) -> Page[TimelineEvent]:
        after = int(cursor) if cursor else 0

        def run(conn: sqlite3.Connection) -> list[TimelineEvent]:
            rows = conn.execute(
                "SELECT id, incident_id, at, kind, actor, data FROM timeline WHERE incident_id = ? AND id > ? "
                "ORDER BY id LIMIT ?",
                (incident_id, after, limit + 1),
            )
            return [
                TimelineEvent(id=r[0], incident_id=r[1], at=from_us(r[2]), kind=r[3], actor=r[4],
                              data=decode_json(r[5], str_dict=False))
                for r in rows
            ]  # fmt: skip

        items = await self._read(run)
        return page(items, limit, lambda e: str(e.id))

    async def count_logged_alerts(self) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT coalesce(sum(alert_count), 0) FROM alert_batches").fetchone()[0])

        return await self._read(run)

    # -- the notification outbox ---------------------------------------------------------------------
    async def claim_pages(
        self, worker: str, now: datetime, lease_until: datetime, limit: int, ids: Sequence[str] | None = None
    ) -> list[PageRecord]:
        now_us, lease_us = to_us(now), to_us(lease_until)
        only = f" AND id IN ({', '.join('?' * len(ids))})" if ids is not None else ""
        sql = (
            "UPDATE notifications SET state = 'sending', attempts = attempts + 1, claimed_by = ?, lease_until = ?, "
            "updated_at = ? "
            f"WHERE id IN (SELECT id FROM notifications WHERE {_DUE}{only} ORDER BY next_at LIMIT ?) "
            f"RETURNING {_PAGE_SELECT}"
        )
        params: list[Any] = [worker, lease_us, now_us, now_us, now_us, *(ids or ()), limit]
        if ids is not None and not ids:
            return []

        def run(conn: sqlite3.Connection) -> list[PageRecord]:
            with _immediate(conn):
                rows = conn.execute(sql, params).fetchall()
            return sorted((_page(r) for r in rows), key=lambda p: (p.next_at, p.id))

        return await self._write(run)

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
        now_us = to_us(now)
        finish = [
            (o.state.value, o.attempts, to_us(o.next_at), to_us_opt(o.done_at), o.last_error, o.last_status,
             o.provider_ref, o.coalesced_into, now_us, o.id)
            for o in outcomes
        ]  # fmt: skip
        events = [(t[0], to_us(t[1]), t[2], t[3], encode_json(t[4])) for t in timeline]
        new = [page_row(p, to_us, int) for p in pages]
        off = [(r, t, e, to_us(at), why) for r, t, e, at, why in disabled]

        def run(conn: sqlite3.Connection) -> None:
            with _immediate(conn):
                conn.executemany(_FINISH_PAGE, finish)
                conn.executemany(_INSERT_TIMELINE, events)
                conn.executemany(_INSERT_PAGE, new)
                conn.executemany(_UPSERT_THREAD, threads)
                conn.executemany(_INSERT_DISABLED, off)

        await self._write(run)

    async def publishable_pages(self, now: datetime, redrive_before: datetime, limit: int) -> list[PageRecord]:
        now_us = to_us(now)

        def run(conn: sqlite3.Connection) -> list[PageRecord]:
            rows = conn.execute(
                f"SELECT {_PAGE_SELECT} FROM notifications WHERE {_DUE} "
                "AND (published_at IS NULL OR published_at < ?) ORDER BY next_at LIMIT ?",
                (now_us, now_us, to_us(redrive_before), limit),
            ).fetchall()
            return [_page(r) for r in rows]

        return await self._read(run)

    async def mark_published(self, pages: Sequence[tuple[str, int, datetime]], at: datetime) -> None:
        rows = [(to_us(at), i, n, to_us(due)) for i, n, due in pages]

        def run(conn: sqlite3.Connection) -> None:
            with _immediate(conn):
                conn.executemany(
                    "UPDATE notifications SET published_at = ? WHERE id = ? AND attempts = ? AND next_at = ?", rows
                )

        await self._write(run)

    async def list_pages(
        self, state: PageState | None, incident_id: str | None, cursor: str | None, limit: int
    ) -> Page[PageRecord]:
        def run(conn: sqlite3.Connection) -> list[PageRecord]:
            rows = conn.execute(
                f"SELECT {_PAGE_SELECT} FROM notifications WHERE (?1 IS NULL OR state = ?1) "
                "AND (?2 IS NULL OR incident_id = ?2) AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4",
                (None if state is None else state.value, incident_id, cursor, limit + 1),
            ).fetchall()
            return [_page(r) for r in rows]

        return page(await self._read(run), limit, lambda p: p.id)

    async def get_page(self, page_id: str) -> PageRecord | None:
        def run(conn: sqlite3.Connection) -> PageRecord | None:
            row = conn.execute(f"SELECT {_PAGE_SELECT} FROM notifications WHERE id = ?", (page_id,)).fetchone()
            return None if row is None else _page(row)

        return await self._read(run)

    async def thread_refs(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
        def run(conn: sqlite3.Connection) -> dict[tuple[str, str, str], str]:
            found = {}
            for key in keys:
                row = conn.execute(
                    "SELECT ref FROM notification_threads WHERE incident_id = ? AND receiver = ? AND target = ?", key
                ).fetchone()
                if row is not None:
                    found[key] = row[0]
            return found

        return await self._read(run)

    async def load_disabled(self) -> list[tuple[str, str, str]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
            return [
                (r[0], r[1], r[2]) for r in conn.execute("SELECT receiver, target, endpoint FROM notification_disabled")
            ]

        return await self._read(run)

    async def page_counts(self) -> dict[str, int]:
        def run(conn: sqlite3.Connection) -> dict[str, int]:
            return {r[0]: r[1] for r in conn.execute("SELECT state, count(*) FROM notifications GROUP BY state")}

        return await self._read(run)

    # -- escalations ---------------------------------------------------------------------------------
    async def claim_escalations(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[EscalationRecord]:
        now_us = to_us(now)

        def run(conn: sqlite3.Connection) -> list[EscalationRecord]:
            with _immediate(conn):
                rows = conn.execute(
                    "UPDATE escalations SET lease_until = ?, claimed_by = ? WHERE rowid IN (SELECT rowid FROM "
                    "escalations WHERE next_at <= ? AND state <> 'done' AND (lease_until IS NULL OR lease_until < ?) "
                    f"ORDER BY next_at LIMIT ?) RETURNING {_ESCALATION_COLUMNS}",
                    (to_us(lease_until), worker, now_us, now_us, limit),
                ).fetchall()
            return [_escalation(r) for r in rows]

        return await self._write(run)

    async def list_escalations(self, incident_id: str) -> list[EscalationRecord]:
        def run(conn: sqlite3.Connection) -> list[EscalationRecord]:
            rows = conn.execute(
                f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE incident_id = ? ORDER BY receiver", (incident_id,)
            )
            return [_escalation(r) for r in rows]

        return await self._read(run)

    # -- configuration objects -----------------------------------------------------------------------
    async def list_config_objects(self) -> list[tuple[str, str, Any, datetime]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, str, Any, datetime]]:
            rows = conn.execute("SELECT kind, name, body, updated_at FROM config_objects ORDER BY kind, name")
            return [(r[0], r[1], decode_json(r[2], str_dict=False), from_us(r[3])) for r in rows]

        return await self._read(run)

    async def put_config_object(self, kind: str, name: str, body: Any, at: datetime) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with _immediate(conn):
                conn.execute(
                    "INSERT INTO config_objects (kind, name, body, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                    (kind, name, encode_json(body), to_us(at)),
                )

        await self._write(run)

    async def delete_config_object(self, kind: str, name: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            with _immediate(conn):
                cur = conn.execute("DELETE FROM config_objects WHERE kind = ? AND name = ?", (kind, name))
            return cur.rowcount > 0

        return await self._write(run)

    # -- silences ------------------------------------------------------------------------------------
    async def save_silence(self, silence: Silence) -> None:
        row = (silence.id, encode_silence_matchers(silence.matchers), to_us(silence.starts_at), to_us(silence.ends_at),
               silence.created_by, silence.comment, to_us(silence.created_at), to_us(silence.updated_at))  # fmt: skip

        def run(conn: sqlite3.Connection) -> None:
            with _immediate(conn):
                conn.execute(
                    "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                    "matchers = excluded.matchers, starts_at = excluded.starts_at, ends_at = excluded.ends_at, "
                    "created_by = excluded.created_by, comment = excluded.comment, updated_at = excluded.updated_at",
                    row,
                )

        await self._write(run)

    async def list_silences(self) -> list[Silence]:
        def run(conn: sqlite3.Connection) -> list[Silence]:
            return [_silence(r) for r in conn.execute(f"SELECT {_SILENCE_COLUMNS} FROM silences ORDER BY id DESC")]

        return await self._read(run)

    async def get_silence(self, silence_id: str) -> Silence | None:
        def run(conn: sqlite3.Connection) -> Silence | None:
            row = conn.execute(f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE id = ?", (silence_id,)).fetchone()
            return None if row is None else _silence(row)

        return await self._read(run)

    # -- API keys ------------------------------------------------------------------------------------
    async def create_key(self, record: ApiKeyRecord) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO api_keys (id, name, role, prefix, key_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (record.id, record.name, record.role, record.prefix, record.key_hash, to_us(record.created_at)),
            )

        await self._write(run)

    async def list_keys(self) -> list[ApiKeyRecord]:
        def run(conn: sqlite3.Connection) -> list[ApiKeyRecord]:
            rows = conn.execute(
                "SELECT id, name, role, prefix, key_hash, created_at, revoked_at FROM api_keys ORDER BY created_at"
            )
            return [_key(r) for r in rows]

        return await self._read(run)

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (to_us(at), key_id)
            )
            return cur.rowcount > 0

        return await self._write(run)

    async def find_key(self, key_hash: str) -> ApiKeyRecord | None:
        def run(conn: sqlite3.Connection) -> ApiKeyRecord | None:
            row = conn.execute(
                "SELECT id, name, role, prefix, key_hash, created_at, revoked_at FROM api_keys WHERE key_hash = ?",
                (key_hash,),
            ).fetchone()
            return None if row is None else _key(row)

        return await self._read(run)


def _key(r: sqlite3.Row) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=r[0], name=r[1], role=r[2], prefix=r[3], key_hash=r[4], created_at=from_us(r[5]),
        revoked_at=from_us_opt(r[6]),
    )  # fmt: skip
