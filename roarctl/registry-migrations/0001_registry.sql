-- The team registry: lineage published by `roarctl register`, merged by content
-- identity. Every insert is idempotent (ON CONFLICT DO NOTHING), so registering the
-- same lineage twice, or overlapping lineage from two users at once, adds each job
-- and artifact exactly once. Edges are not stored: as locally, they follow from which
-- job wrote and read which content.

CREATE TABLE artifacts (
    id     BIGSERIAL PRIMARY KEY,
    blake3 TEXT      NOT NULL UNIQUE,
    size   BIGINT    NOT NULL
);

CREATE TABLE artifact_hashes (
    artifact_id BIGINT NOT NULL REFERENCES artifacts (id),
    algorithm   TEXT   NOT NULL,
    digest      TEXT   NOT NULL,
    PRIMARY KEY (algorithm, digest)
);

CREATE INDEX artifact_hashes_by_artifact ON artifact_hashes (artifact_id);
-- Prefix look-ups (`digest LIKE 'abc%'`) by any algorithm.
CREATE INDEX artifact_hashes_by_digest ON artifact_hashes (digest text_pattern_ops);

-- URLs content was downloaded from (`roarctl get`).
CREATE TABLE origins (
    artifact_id BIGINT NOT NULL REFERENCES artifacts (id),
    url         TEXT   NOT NULL,
    PRIMARY KEY (artifact_id, url)
);

CREATE TABLE jobs (
    id              BIGSERIAL PRIMARY KEY,
    uid             TEXT    NOT NULL UNIQUE,
    registered_by   TEXT    NOT NULL,  -- user@host of the first registration
    project         BYTEA   NOT NULL,
    kind            TEXT    NOT NULL,
    step            INTEGER NOT NULL,
    argv            BYTEA   NOT NULL,  -- NUL-separated
    cwd             BYTEA   NOT NULL,
    started_at_ms   BIGINT  NOT NULL,
    ended_at_ms     BIGINT,
    exit_code       INTEGER,
    exit_signal     INTEGER,
    state           TEXT    NOT NULL,
    git_repository  TEXT,
    git_root        BYTEA,
    git_branch      TEXT,
    git_commit      TEXT,
    git_dirty_count INTEGER,
    registered_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE job_files (
    job_id      BIGINT  NOT NULL REFERENCES jobs (id),
    role        TEXT    NOT NULL CHECK (role IN ('input', 'output')),
    path        BYTEA   NOT NULL,
    artifact_id BIGINT  NOT NULL REFERENCES artifacts (id),
    pre_image   BOOLEAN NOT NULL,
    PRIMARY KEY (job_id, role, path)
);

CREATE INDEX job_files_by_artifact ON job_files (artifact_id, role);

CREATE TABLE packages (
    id        BIGSERIAL PRIMARY KEY,
    ecosystem TEXT NOT NULL,
    name      TEXT NOT NULL,
    version   TEXT NOT NULL,
    UNIQUE (ecosystem, name, version)
);

CREATE TABLE job_packages (
    job_id     BIGINT NOT NULL REFERENCES jobs (id),
    package_id BIGINT NOT NULL REFERENCES packages (id),
    PRIMARY KEY (job_id, package_id)
);

-- Each registered sub-DAG, by its DAG hash (the same as the commit tags' name).
CREATE TABLE registrations (
    dag_hash      TEXT PRIMARY KEY,
    registered_by TEXT NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
