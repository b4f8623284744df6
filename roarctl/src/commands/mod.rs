//! One file per subcommand.

pub mod daemon;
pub mod log;
pub mod run;
pub mod show;
