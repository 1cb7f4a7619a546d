-- The counters' flush folds repeats into this narrow table instead of into incident_alerts' wide rows (labels and
-- annotations as JSONB, text): a flush touches a row for nearly every repeat, and an UPDATE writes a new version
-- of the whole row (issue 6, docs/performance.md). The flush is one upsert of arrays (unnest) per transaction.
-- An alert's count is incident_alerts.count plus the count here, its last_seen_at the later of the two; a row
-- appears at the alert's first flushed repeat.
CREATE TABLE alert_counts (
    incident_id     TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    count           BIGINT NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (incident_id, fingerprint)
);
