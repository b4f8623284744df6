//! Fault injection for the end-to-end tests, compiled into debug builds only: a test
//! names faults in `ROARD_FAULTS` (comma-separated) to prove the daemon's failure paths
//! keep the job unharmed. Release builds ignore the variable.

/// Whether fault `name` was asked for.
pub fn injected(name: &str) -> bool {
    if !cfg!(debug_assertions) {
        return false;
    }
    std::env::var("ROARD_FAULTS").is_ok_and(|faults| faults.split(',').any(|f| f == name))
}
