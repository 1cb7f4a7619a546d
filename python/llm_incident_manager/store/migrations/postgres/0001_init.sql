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
    labels          JSONB NOT NULL DEFAULT '{}',
    alert_count     BIGINT NOT NULL DEFAULT 1,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL,
    acknowledged_at TIMESTAMPTZ,
    acknowledged_by TEXT,
    resolved_at     TIMESTAMPTZ,
    resolved_by     TEXT
);
CREATE INDEX incidents_open ON incidents (status) WHERE status <> 'resolved';
CREATE INDEX incidents_created ON incidents (created_at);

CREATE TABLE incident_alerts (
    seq             BIGSERIAL PRIMARY KEY,
    incident_id     TEXT NOT NULL REFERENCES incidents (id),
    fingerprint     TEXT NOT NULL,
    status          TEXT NOT NULL,
    title           TEXT NOT NULL,
    severity        TEXT NOT NULL,
    source          TEXT NOT NULL,
    explicit        BOOLEAN NOT NULL,
    dedup_key       TEXT,
    labels          JSONB NOT NULL,
    annotations     JSONB NOT NULL,
    count           BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL,
    resolved_at     TIMESTAMPTZ,
    superseded_by   TEXT,
    UNIQUE (incident_id, fingerprint)
);

-- The alert log: every accepted request's alerts, append-only, one row per batch (the batch travels as a batch
-- into the store too). `alerts` is the JSON array of the normalised alerts; `decisions` the JSON array of
-- [incident_id, fingerprint, action, event_time_us] per alert, in request order. Written in the same transaction
-- as everything the batch changed: this row is what makes every accepted alert durable.
CREATE TABLE alert_batches (
    id              BIGSERIAL PRIMARY KEY,
    received_at     TIMESTAMPTZ NOT NULL,
    alert_count     INTEGER NOT NULL,
    deduplicated    INTEGER NOT NULL,
    alerts          BYTEA NOT NULL,
    decisions       BYTEA NOT NULL
);

-- The append-only timeline; the incident row is its projection, written in the same transaction.
CREATE TABLE timeline (
    id              BIGSERIAL PRIMARY KEY,
    incident_id     TEXT NOT NULL REFERENCES incidents (id),
    at              TIMESTAMPTZ NOT NULL,
    kind            TEXT NOT NULL,
    actor           TEXT NOT NULL,
    data            JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_incident ON timeline (incident_id, id);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,
    prefix          TEXT NOT NULL,
    key_hash        TEXT NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);
