-- What jobs read and wrote. An artifact is identified by its content; its hashes are
-- attributes (any number of algorithms may name one artifact), never its identity.

CREATE TABLE artifacts (
    id   INTEGER PRIMARY KEY,
    size INTEGER NOT NULL
);

CREATE TABLE artifact_hashes (
    artifact_id INTEGER NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    algorithm   TEXT    NOT NULL,  -- 'blake3', 'sha256', ...
    digest      TEXT    NOT NULL,  -- lowercase hex
    PRIMARY KEY (algorithm, digest)
);

CREATE INDEX artifact_hashes_by_artifact ON artifact_hashes (artifact_id);

CREATE TABLE job_files (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    role        TEXT    NOT NULL CHECK (role IN ('input', 'output')),
    path        BLOB    NOT NULL,  -- canonical: absolute, symlinks resolved
    named_path  BLOB,              -- as the job named it, when that differs
    -- NULL when the content could not be read (e.g. removed by another process).
    artifact_id INTEGER REFERENCES artifacts (id),
    -- 1 when this input's content was captured before the job changed the file.
    pre_image   INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX job_files_by_job ON job_files (job_id);
CREATE INDEX job_files_by_artifact ON job_files (artifact_id);
