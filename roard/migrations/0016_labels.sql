-- Labels on jobs, artifacts and sessions (see roard/src/store/sqlite/labels.rs). Every
-- change is a row, never updated: the newest row of a (owner, key) is its value now,
-- and a row with a NULL value removed the key. `inherit` marks a label that every
-- artifact downstream carries.
CREATE TABLE labels (
    id         INTEGER PRIMARY KEY,
    owner_kind TEXT    NOT NULL CHECK (owner_kind IN ('job', 'artifact', 'session')),
    owner_id   INTEGER NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT,
    inherit    INTEGER NOT NULL DEFAULT 0,
    set_by     TEXT    NOT NULL,
    set_at_ms  INTEGER NOT NULL
);
CREATE INDEX labels_by_owner ON labels (owner_kind, owner_id, key, id);

-- Publications that went ahead against `policy.refuse_put`, with the reason given.
CREATE TABLE policy_overrides (
    id          INTEGER PRIMARY KEY,
    artifact_id INTEGER NOT NULL REFERENCES artifacts (id),
    action      TEXT    NOT NULL,
    destination TEXT    NOT NULL,
    rule        TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    set_by      TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL
);
CREATE INDEX policy_overrides_by_artifact ON policy_overrides (artifact_id);
