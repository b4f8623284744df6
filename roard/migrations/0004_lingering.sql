-- Processes still running when a job's record was closed at the linger bound
-- (0: the record followed every process of the job to its end).
ALTER TABLE jobs ADD COLUMN lingering_processes INTEGER NOT NULL DEFAULT 0;
