//! Logs go to stderr through `tracing`: journald picks them up under systemd, and
//! roarctl redirects them to a log file when it auto-starts the daemon.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the subscriber; `ROARD_LOG` (same syntax as `RUST_LOG`) sets the filter.
pub fn init() {
    let filter = EnvFilter::try_from_env("ROARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // journald adds its own timestamps; a terminal or log file wants ours.
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    if under_journald {
        builder.without_time().init();
    } else {
        builder.init();
    }
}
