-- Data entering and leaving lineage: `roarctl get` downloads (sources of the DAG, with
-- their URL) and `roarctl put` uploads (where each artifact went).
CREATE TABLE downloads (
    id            INTEGER PRIMARY KEY,
    artifact_id   INTEGER NOT NULL REFERENCES artifacts (id),
    url           TEXT    NOT NULL,
    path          BLOB    NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE INDEX downloads_by_artifact ON downloads (artifact_id);
CREATE INDEX downloads_by_path ON downloads (path);

CREATE TABLE uploads (
    id            INTEGER PRIMARY KEY,
    artifact_id   INTEGER NOT NULL REFERENCES artifacts (id),
    url           TEXT    NOT NULL,
    path          BLOB    NOT NULL,
    message       TEXT    NOT NULL,
    transferred   INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE INDEX uploads_by_artifact ON uploads (artifact_id);
CREATE INDEX uploads_by_url ON uploads (url);

-- A session made by `roarctl reproduce` names the artifact it reproduces.
ALTER TABLE sessions ADD COLUMN reproduces TEXT;
