-- The code each job ran. All NULL when the job ran outside a git work tree.
ALTER TABLE jobs ADD COLUMN git_repository TEXT;     -- remote URL, else the work tree path
ALTER TABLE jobs ADD COLUMN git_root BLOB;           -- the work tree
ALTER TABLE jobs ADD COLUMN git_branch TEXT;         -- NULL when HEAD was detached
ALTER TABLE jobs ADD COLUMN git_commit TEXT;         -- NULL before the first commit
ALTER TABLE jobs ADD COLUMN git_dirty_count INTEGER; -- files with uncommitted changes
ALTER TABLE jobs ADD COLUMN git_dirty_paths BLOB;    -- NUL-separated, at most 1000

-- Tags roar created on commits that lineage rests on.
CREATE TABLE git_tags (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL,   -- roar/<first 12 hex of the DAG hash>
    dag_hash  TEXT NOT NULL,
    root      BLOB NOT NULL,   -- the work tree the tag is in
    git_commit TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    UNIQUE (root, name)
);
