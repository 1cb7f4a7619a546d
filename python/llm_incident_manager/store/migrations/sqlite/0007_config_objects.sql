-- Configuration objects managed through the API (docs/routing.md#managing-the-configuration-through-the-api):
-- users, schedules, escalation policies and the routing tree, laid over the configuration file by name. `body`
-- is the object as the file would hold it (JSON).
CREATE TABLE config_objects (
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    body        TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
);
