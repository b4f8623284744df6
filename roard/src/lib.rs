//! roard, the per-user roar daemon. See ARCHITECTURE.md for the map.
//!
//! Public are only the modules `main.rs`, the benchmarks and the tests use: the daemon's
//! start, the store (its default path; its SQLite implementation, opened by the
//! benchmarks), hashing and the tracer helper's entry.

mod active_jobs;
mod auth;
mod classify;
mod clock;
mod code_changes;
mod cpus;
pub mod daemon;
mod dag;
mod env_redaction;
mod faults;
mod git_context;
mod git_tags;
pub mod hash_algorithms;
mod hash_cache;
pub mod hashing;
mod job_uid;
mod listener;
pub mod logging;
mod packages;
mod preload_library;
mod python_env;
mod record;
mod recording;
mod sd_notify;
mod service;
mod state;
pub mod store;
pub mod tracer;
