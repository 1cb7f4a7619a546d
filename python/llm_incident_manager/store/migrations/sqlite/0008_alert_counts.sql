-- The counters' flush folds repeats into this narrow table, clustered on its key, instead of into incident_alerts'
-- wide rows (labels, annotations, text): a flush touches a row for nearly every repeat, and each touched row dirties
-- its whole page in the WAL; here a page holds a couple of hundred counters instead of a dozen alerts (issue 6,
-- docs/performance.md). An alert's count is incident_alerts.count plus the count here, its last_seen_at the later
-- of the two; a row appears at the alert's first flushed repeat.
CREATE TABLE alert_counts (
    incident_id     TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    count           INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    PRIMARY KEY (incident_id, fingerprint)
) WITHOUT ROWID;
