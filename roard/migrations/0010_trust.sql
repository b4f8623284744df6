-- Lineage a user can trust (issue 17).
-- `placed`: 0 for a failed job (non-zero exit or killed) kept out of the steps; it
-- stays in `log` and `show`, and a step's current job is its newest placed one.
-- `reproduces`: the artifact the job's reproduction session reproduces (NULL for an
-- ordinary job); such a job never produces for anyone outside its own session.
-- `reproduces_job`: the uid of the recorded job a reproduction's job re-ran.
ALTER TABLE jobs ADD COLUMN placed INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN reproduces TEXT;
ALTER TABLE jobs ADD COLUMN reproduces_job TEXT;
UPDATE jobs SET reproduces = (SELECT s.reproduces FROM sessions s WHERE s.id = jobs.session_id);
CREATE INDEX jobs_by_reproduced ON jobs (reproduces_job) WHERE reproduces_job IS NOT NULL;

-- The Python interpreter each job ran and the environment it came from.
CREATE TABLE job_environments (
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('venv', 'conda', 'system')),
    root        BLOB    NOT NULL,
    interpreter BLOB    NOT NULL,
    version     TEXT    NOT NULL
);
CREATE INDEX job_environments_by_job ON job_environments (job_id);
