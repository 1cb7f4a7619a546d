-- The notification outbox (docs/notifications.md). A page is written here in the same transaction as the
-- incident change that causes it; workers claim due pages (FOR UPDATE SKIP LOCKED), send them and mark them done.
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    -- one logical page per (incident, step, recipient, channel): a second page with the same key is dropped
    idempotency_key TEXT NOT NULL UNIQUE,
    incident_id     TEXT NOT NULL REFERENCES incidents (id),
    event           TEXT NOT NULL,
    receiver        TEXT NOT NULL,
    target          TEXT NOT NULL,
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    severity        TEXT NOT NULL,
    data            JSONB NOT NULL,
    -- pending (due at next_at) | sending (claimed until lease_until) | done | failed (a dead letter)
    -- | fallback (handed to the receiver's fallback) | coalesced (sent in another page's send: coalesced_into)
    -- | dropped (its endpoint is disabled)
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         TIMESTAMPTZ NOT NULL,
    lease_until     TIMESTAMPTZ,
    claimed_by      TEXT,
    published_at    TIMESTAMPTZ,
    digest          BOOLEAN NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    done_at         TIMESTAMPTZ,
    last_error      TEXT,
    last_status     INTEGER,
    provider_ref    TEXT,
    fallback_of     TEXT,
    coalesced_into  TEXT
);
CREATE INDEX notifications_due ON notifications (next_at) WHERE state = 'pending';
CREATE INDEX notifications_leased ON notifications (lease_until) WHERE state = 'sending';
CREATE INDEX notifications_incident ON notifications (incident_id);
CREATE INDEX notifications_state ON notifications (state, created_at);

-- What an integration's first send for an incident returned (Slack: the message ts), for updates and threads.
CREATE TABLE notification_threads (
    incident_id     TEXT NOT NULL,
    receiver        TEXT NOT NULL,
    target          TEXT NOT NULL,
    ref             TEXT NOT NULL,
    PRIMARY KEY (incident_id, receiver, target)
);

-- Recipients (a webhook's URL) that answered 410 Gone: nothing more is sent to them until the configuration
-- changes them (another URL is another recipient). `endpoint` holds the recipient.
CREATE TABLE notification_disabled (
    receiver        TEXT NOT NULL,
    target          TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL,
    reason          TEXT NOT NULL,
    PRIMARY KEY (receiver, target, endpoint)
);
