-- What the trace of a job could not see (see roard/src/tracer/gaps.rs): one row per
-- kind, process and detail, repeats counted.
CREATE TABLE trace_gaps (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind   TEXT    NOT NULL,
    pid    INTEGER NOT NULL,
    detail BLOB    NOT NULL,
    count  INTEGER NOT NULL
);
CREATE INDEX trace_gaps_by_job ON trace_gaps (job_id);

-- For an output that is a hard link the job made: the name it links to.
ALTER TABLE job_files ADD COLUMN hard_link_of BLOB;
