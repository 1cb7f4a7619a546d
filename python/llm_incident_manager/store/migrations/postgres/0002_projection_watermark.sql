-- Repeats of an alert update its counters in memory; every flush interval they are folded into incidents and
-- incident_alerts in one transaction that also records here the last alert_batches id those rows include. After a
-- crash the counters are recounted from alert_batches past this id (docs/dedup.md).
CREATE TABLE projection_watermark (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    events_through BIGINT NOT NULL
);
-- Before this migration every counter was written with its batch, so the rows already include every event.
INSERT INTO projection_watermark (id, events_through) SELECT 1, coalesce(max(id), 0) FROM alert_batches;
