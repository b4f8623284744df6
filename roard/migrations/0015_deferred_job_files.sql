-- A finished job's file rows, kept as one encoded row until they are written into
-- job_files in the background (see roard/src/store/sqlite/file_rows.rs). A row
-- left here by a daemon that stopped first is written out when roard next opens the
-- database. Deleting the job deletes its pending rows with it.
CREATE TABLE deferred_job_files (
    job_id INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    body BLOB NOT NULL
);
