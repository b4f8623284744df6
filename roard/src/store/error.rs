//! How store operations fail, in the words a caller acts on: whether trying again may
//! help, whether the database refuses writes, and the refusals of each area (a job
//! selector that matches nothing, a step that moved). Each keeps the underlying
//! message; only the SQLite implementation knows where that came from.

use super::input::MIN_PREFIX;

/// A failure of the database itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Busy or locked by another connection, or no connection was free in time: trying
    /// again may succeed.
    #[error("{0}")]
    Busy(String),
    /// A database file was made immutable or append-only (`chattr`): no write can
    /// succeed until that is undone, so roard refuses before SQLite would crash it.
    #[error("{0}")]
    Immutable(String),
    /// Anything else: an unreadable or corrupt database, a full disk, a missing row.
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    /// Whether trying the same operation again may succeed.
    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Busy(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartJobError {
    #[error("there is no step {0} in this project's session; `roarctl dag` shows its steps")]
    UnknownStep(String),
    #[error(transparent)]
    Database(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(
        "'{0}' is not a job: use a job uid (at least 4 hex digits), @N for step N, @BN for \
         build step N, or 'last'"
    )]
    BadSelector(String),
    #[error("no job matches '{0}'; `roarctl log --all` lists the recorded jobs")]
    NotFound(String),
    #[error("'{prefix}' matches {count} jobs; give more digits of the uid")]
    Ambiguous { prefix: String, count: i64 },
    #[error(transparent)]
    Database(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum PopError {
    #[error("this project's session has no steps to remove")]
    Empty,
    #[error("the last step is @{last} now, not @{asked}; run `roarctl dag` and try again")]
    Moved { last: u32, asked: u32 },
    #[error("step @{0} is still running; wait for it to end")]
    Running(u32),
    #[error(transparent)]
    Database(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactLookupError {
    #[error(
        "'{0}' is not a hash prefix: give at least {MIN_PREFIX} hex digits, optionally \
         after 'blake3:' or 'sha256:'"
    )]
    BadPrefix(String),
    #[error("no recorded artifact matches '{0}'")]
    NotFound(String),
    #[error("'{0}' matches several artifacts; give more digits")]
    Ambiguous(String),
    #[error(transparent)]
    Database(#[from] StoreError),
}
