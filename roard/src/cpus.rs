//! How many CPUs roard may use, asked once. `std::thread::available_parallelism`
//! reads the cgroup's CPU quota from /proc and /sys on every call (about fifteen
//! system calls), and both the tracer and the hashing of every job want the answer.

use std::sync::OnceLock;

/// The CPUs available to roard (its affinity and cgroup quota), at least 1.
pub fn available() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
