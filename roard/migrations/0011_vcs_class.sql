-- Version-control internals (`.git/`, `.hg/`, `.svn/`, a worktree's `.git` file) get a
-- class of their own, 'vcs': never artifacts. And a symlink the job made is recorded
-- as one: `link_target` holds what it points to (it has no content to hash). SQLite cannot change a CHECK
-- constraint in place, so job_files is rebuilt by the documented procedure
-- (migrations run with foreign keys off, see store/mod.rs), with the same columns
-- and indexes; then files recorded before are reclassified.

CREATE TABLE job_files_new (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    role        TEXT    NOT NULL CHECK (role IN ('input', 'output')),
    path        BLOB    NOT NULL,  -- canonical: absolute, symlinks resolved
    named_path  BLOB,              -- as the job named it, when that differs
    -- NULL when the content could not be read (e.g. removed by another process).
    artifact_id INTEGER REFERENCES artifacts (id),
    -- 1 when this input's content was captured before the job changed the file.
    pre_image   INTEGER NOT NULL DEFAULT 0,
    class       TEXT    NOT NULL DEFAULT 'artifact'
        CHECK (class IN ('artifact', 'repo', 'package', 'system', 'tmp', 'vcs')),
    link_target BLOB
);

INSERT INTO job_files_new (id, job_id, role, path, named_path, artifact_id, pre_image, class)
    SELECT id, job_id, role, path, named_path, artifact_id, pre_image, class FROM job_files;

DROP TABLE job_files;
ALTER TABLE job_files_new RENAME TO job_files;

CREATE INDEX job_files_by_job ON job_files (job_id);
CREATE INDEX job_files_by_artifact_role ON job_files (artifact_id, role, job_id);
CREATE INDEX job_files_by_path ON job_files (path);

-- '/.git/', '/.hg/', '/.svn/' inside the path, or a path ending in '/.git'.
UPDATE job_files SET class = 'vcs'
    WHERE instr(path, X'2F2E6769742F') > 0
       OR instr(path, X'2F2E68672F') > 0
       OR instr(path, X'2F2E73766E2F') > 0
       OR substr(path, -5) = X'2F2E676974';
