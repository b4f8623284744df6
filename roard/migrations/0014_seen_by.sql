-- Which path of the tracer saw how much of a job (see roard/src/tracer/fast_ring.rs):
-- opens the fast path recorded without a stop, and syscall stops under ptrace. NULL
-- for jobs recorded before the fast path existed.
ALTER TABLE jobs ADD COLUMN fast_path_opens INTEGER;
ALTER TABLE jobs ADD COLUMN ptrace_stops INTEGER;
