-- Every file a job touched has one class; only 'artifact' (and 'repo' when
-- filters.track_repo_files is on) files carry an artifact. Rows recorded before
-- classification existed were all treated as data.
ALTER TABLE job_files ADD COLUMN class TEXT NOT NULL DEFAULT 'artifact'
    CHECK (class IN ('artifact', 'repo', 'package', 'system', 'tmp'));

-- Installed packages, each stored once, and which jobs used them.
CREATE TABLE packages (
    id        INTEGER PRIMARY KEY,
    ecosystem TEXT NOT NULL,  -- 'python', 'debian', 'cargo', 'npm'
    name      TEXT NOT NULL,
    version   TEXT NOT NULL,
    UNIQUE (ecosystem, name, version)
);

CREATE TABLE job_packages (
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    package_id INTEGER NOT NULL REFERENCES packages (id),
    PRIMARY KEY (job_id, package_id)
) WITHOUT ROWID;

CREATE INDEX job_packages_by_package ON job_packages (package_id);
