-- Correlation (docs/correlation.md) rebuilds its index of open incidents from their alerts at start-up, so each
-- alert keeps the dimensions the rules compare and the scope of its explicit dedup key.
ALTER TABLE incident_alerts ADD COLUMN service TEXT;
ALTER TABLE incident_alerts ADD COLUMN model TEXT;
ALTER TABLE incident_alerts ADD COLUMN env TEXT;
ALTER TABLE incident_alerts ADD COLUMN region TEXT;
ALTER TABLE incident_alerts ADD COLUMN node TEXT;
ALTER TABLE incident_alerts ADD COLUMN key_scope TEXT;

-- A responder split an alert out of an incident: that (incident, fingerprint) pair is never merged again.
CREATE TABLE correlation_splits (
    incident_id     TEXT NOT NULL REFERENCES incidents (id),
    fingerprint     TEXT NOT NULL,
    new_incident_id TEXT NOT NULL REFERENCES incidents (id),
    at              INTEGER NOT NULL,
    actor           TEXT NOT NULL,
    PRIMARY KEY (incident_id, fingerprint)
);
