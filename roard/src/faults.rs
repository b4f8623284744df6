//! Fault injection for the end-to-end tests, compiled into debug builds only: a test
//! names faults in `ROARD_FAULTS` (comma-separated) to prove the daemon's failure paths
//! keep the job unharmed. Release builds ignore the variable.

use std::sync::OnceLock;

/// Whether fault `name` was asked for. The variable is read once: some faults are
/// checked at every traced syscall.
pub fn injected(name: &str) -> bool {
    if !cfg!(debug_assertions) {
        return false;
    }
    static FAULTS: OnceLock<String> = OnceLock::new();
    FAULTS
        .get_or_init(|| std::env::var("ROARD_FAULTS").unwrap_or_default())
        .split(',')
        .any(|f| f == name)
}
