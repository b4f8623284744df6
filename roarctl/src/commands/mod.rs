//! One file per subcommand (`session.rs` holds `reset` and `pop`, which both change the
//! active session).

pub mod config;
pub mod daemon;
pub mod dag;
pub mod db;
pub mod diff;
pub mod export;
pub mod get;
pub mod inputs;
pub mod label;
pub mod lineage;
pub mod log;
pub mod put;
pub mod register;
pub mod reproduce;
pub mod rerun;
pub mod run;
pub mod session;
pub mod show;
pub mod status;
pub mod tag;
