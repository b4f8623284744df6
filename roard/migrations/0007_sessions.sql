-- Sessions and steps. Each project has one active session; its jobs are steps `@N`
-- (kind 'run') and `@BN` (kind 'build'); re-running a step adds a job with the same
-- step number, the newest being the step's current job. The jobs table is rebuilt to
-- drop its old UNIQUE (project, step), following SQLite's documented procedure for
-- schema changes: migrations run on a connection with foreign keys off (see
-- store/mod.rs), so dropping the old table does not cascade to its children.

CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    project       BLOB    NOT NULL,
    started_at_ms INTEGER NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1
);

CREATE UNIQUE INDEX sessions_one_active ON sessions (project) WHERE active = 1;

INSERT INTO sessions (project, started_at_ms)
    SELECT project, MIN(started_at_ms) FROM jobs GROUP BY project;

CREATE TABLE jobs_new (
    id                  INTEGER PRIMARY KEY,
    uid                 TEXT    NOT NULL UNIQUE,
    project             BLOB    NOT NULL,
    session_id          INTEGER NOT NULL REFERENCES sessions (id),
    kind                TEXT    NOT NULL CHECK (kind IN ('run', 'build')),
    step                INTEGER NOT NULL,
    argv                BLOB    NOT NULL,
    cwd                 BLOB    NOT NULL,
    env                 BLOB    NOT NULL,  -- NAME=VALUE entries, secrets redacted
    hostname            TEXT    NOT NULL,
    user_uid            INTEGER NOT NULL,
    started_at_ms       INTEGER NOT NULL,
    ended_at_ms         INTEGER,
    exit_code           INTEGER,
    exit_signal         INTEGER,
    state               TEXT    NOT NULL CHECK (state IN ('running', 'finished', 'interrupted')),
    lingering_processes INTEGER NOT NULL DEFAULT 0
);

INSERT INTO jobs_new
    SELECT j.id, j.uid, j.project, s.id, 'run', j.step, j.argv, j.cwd, j.env, j.hostname,
           j.user_uid, j.started_at_ms, j.ended_at_ms, j.exit_code, j.exit_signal, j.state,
           j.lingering_processes
    FROM jobs j JOIN sessions s ON s.project = j.project;

DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;

CREATE INDEX jobs_by_start ON jobs (started_at_ms);
CREATE INDEX jobs_by_project ON jobs (project, started_at_ms);
CREATE INDEX jobs_by_step ON jobs (session_id, kind, step);
-- Lineage walks: who wrote or read this content.
CREATE INDEX job_files_by_artifact_role ON job_files (artifact_id, role, job_id);
DROP INDEX job_files_by_artifact;
-- `show PATH`, `lineage PATH`: the content last recorded at a path.
CREATE INDEX job_files_by_path ON job_files (path);
