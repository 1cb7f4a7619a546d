-- Escalations (docs/oncall.md): one row per (incident, receiver with an escalation policy), the durable timer of
-- the next step. `next_at` NULL means nothing is due (the policy ran out, or no further step). A worker claims a
-- due row until `lease_until` (FOR UPDATE SKIP LOCKED in PostgreSQL), writes the step with the incident's change
-- in one transaction, and the idempotency keys of the step's pages make a second firing page nobody twice.
CREATE TABLE escalations (
    incident_id  TEXT NOT NULL,
    receiver     TEXT NOT NULL,
    policy       TEXT NOT NULL,
    -- active | acknowledged | done
    state        TEXT NOT NULL,
    level        INTEGER NOT NULL,
    cycle        INTEGER NOT NULL,
    severity     TEXT NOT NULL,
    next_at      INTEGER,
    lease_until  INTEGER,
    claimed_by   TEXT,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (incident_id, receiver)
);
CREATE INDEX escalations_due ON escalations (next_at) WHERE next_at IS NOT NULL;
