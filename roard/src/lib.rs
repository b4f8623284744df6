//! roard, the per-user roar daemon. See ARCHITECTURE.md for the map.

pub mod active_jobs;
pub mod auth;
pub mod classify;
pub mod clock;
pub mod code_changes;
pub mod cpus;
pub mod daemon;
pub mod dag;
pub mod env_redaction;
pub mod faults;
pub mod git_context;
pub mod git_tags;
pub mod hash_algorithms;
pub mod hash_cache;
pub mod hashing;
pub mod job_uid;
pub mod listener;
pub mod logging;
pub mod packages;
pub mod python_env;
pub mod recording;
pub mod sd_notify;
pub mod service;
pub mod state;
pub mod store;
pub mod tracer;
