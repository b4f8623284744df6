-- Jobs and the processes of their traced tree.
-- Byte strings (paths, argv, environment) are BLOBs: Linux names are bytes, not text.
-- argv and env are NUL-separated lists (no element can contain NUL).

CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY,
    uid           TEXT    NOT NULL UNIQUE,
    project       BLOB    NOT NULL,
    step          INTEGER NOT NULL,
    argv          BLOB    NOT NULL,
    cwd           BLOB    NOT NULL,
    env           BLOB    NOT NULL,  -- NAME=VALUE entries, secrets redacted
    hostname      TEXT    NOT NULL,
    user_uid      INTEGER NOT NULL,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER,
    exit_code     INTEGER,
    exit_signal   INTEGER,
    state         TEXT    NOT NULL CHECK (state IN ('running', 'finished', 'interrupted')),
    UNIQUE (project, step)
);

CREATE INDEX jobs_by_start ON jobs (started_at_ms);

CREATE TABLE processes (
    id            INTEGER PRIMARY KEY,
    job_id        INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    pid           INTEGER NOT NULL,
    ppid          INTEGER NOT NULL,
    argv          BLOB    NOT NULL,
    exe           BLOB    NOT NULL,
    cwd           BLOB    NOT NULL,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER,
    exit_code     INTEGER,
    exit_signal   INTEGER
);

CREATE INDEX processes_by_job ON processes (job_id);
