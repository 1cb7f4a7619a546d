-- Silences (docs/routing.md): alerts matching an active silence are recorded (action `suppressed`) and page
-- nobody. `matchers` is the JSON array of Alertmanager's API v2 matchers ({name, value, isRegex, isEqual}).
CREATE TABLE silences (
    id          TEXT PRIMARY KEY,
    matchers    JSONB NOT NULL,
    starts_at   TIMESTAMPTZ NOT NULL,
    ends_at     TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    comment     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX silences_ends ON silences (ends_at);
