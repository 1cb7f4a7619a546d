-- Silences (docs/routing.md): alerts matching an active silence are recorded (action `suppressed`) and page
-- nobody. `matchers` is the JSON array of Alertmanager's API v2 matchers ({name, value, isRegex, isEqual}).
CREATE TABLE silences (
    id          TEXT PRIMARY KEY,
    matchers    TEXT NOT NULL,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    comment     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX silences_ends ON silences (ends_at);
