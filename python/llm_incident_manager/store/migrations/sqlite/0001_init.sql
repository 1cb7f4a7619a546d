-- Times are integer microseconds since the Unix epoch (UTC); JSON columns hold msgspec-encoded text.
CREATE TABLE incidents (
    id              TEXT PRIMARY KEY,
    status          TEXT NOT NULL,
    severity        TEXT NOT NULL,
    title           TEXT NOT NULL,
    description     TEXT,
    source          TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    service         TEXT,
    model           TEXT,
    model_version   TEXT,
    provider        TEXT,
    region          TEXT,
    env             TEXT,
    node            TEXT,
    labels          TEXT NOT NULL DEFAULT '{}',
    alert_count     INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    resolved_at     INTEGER,
    resolved_by     TEXT
) WITHOUT ROWID;
CREATE INDEX incidents_open ON incidents (status) WHERE status <> 'resolved';
CREATE INDEX incidents_created ON incidents (created_at);

CREATE TABLE incident_alerts (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id     TEXT NOT NULL REFERENCES incidents (id),
    fingerprint     TEXT NOT NULL,
    status          TEXT NOT NULL,
    title           TEXT NOT NULL,
    severity        TEXT NOT NULL,
    source          TEXT NOT NULL,
    explicit        INTEGER NOT NULL,
    dedup_key       TEXT,
    labels          TEXT NOT NULL,
    annotations     TEXT NOT NULL,
    count           INTEGER NOT NULL,
    first_seen_at   INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    resolved_at     INTEGER,
    superseded_by   TEXT,
    UNIQUE (incident_id, fingerprint)
);

-- The alert log: every accepted request's alerts, append-only, one row per batch (the batch travels as a batch
-- into the store too). `alerts` is the JSON array of the normalised alerts; `decisions` the JSON array of
-- [incident_id, fingerprint, action, event_time_us] per alert, in request order. Written in the same transaction
-- as everything the batch changed: this row is what makes every accepted alert durable.
CREATE TABLE alert_batches (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at     INTEGER NOT NULL,
    alert_count     INTEGER NOT NULL,
    deduplicated    INTEGER NOT NULL,
    alerts          BLOB NOT NULL,
    decisions       BLOB NOT NULL
);

-- The append-only timeline; the incident row is its projection, written in the same transaction.
CREATE TABLE timeline (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id     TEXT NOT NULL REFERENCES incidents (id),
    at              INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    actor           TEXT NOT NULL,
    data            TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_incident ON timeline (incident_id, id);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,
    prefix          TEXT NOT NULL,
    key_hash        TEXT NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER
);
