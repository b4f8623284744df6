-- What a process executed before its last program (a wrapper that execs the real
-- one, a shell's `exec`), oldest first. The process is named by its job, pid and
-- start time, as `processes` rows are written in one batch without their ids.
CREATE TABLE process_images (
    job_id                INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    pid                   INTEGER NOT NULL,
    process_started_at_ms INTEGER NOT NULL,
    seq                   INTEGER NOT NULL,
    argv                  BLOB    NOT NULL,
    exe                   BLOB    NOT NULL,
    cwd                   BLOB    NOT NULL
);
CREATE INDEX process_images_by_job ON process_images (job_id);

-- The commit a job made: HEAD of its repository when it ended, where that moved
-- during the job (`git commit` inside it); NULL otherwise.
ALTER TABLE jobs ADD COLUMN commit_made TEXT;
