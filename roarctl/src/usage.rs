//! Usage errors: a value the user gave that roarctl cannot use (a malformed hash, an
//! unknown key, a URL of no known scheme). `main` exits 2 for them, as clap does for
//! its own usage errors, so scripts can tell a mistake in the command line from a
//! failure (exit 1).

use std::fmt;

#[derive(Debug)]
pub struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A usage error with this message (`hint:` lines included).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// The same error, marked as a usage error: for checks shared with paths where the
/// value does not come from the command line.
pub fn as_usage(error: anyhow::Error) -> anyhow::Error {
    usage(format!("{error:#}"))
}

/// Whether `error` (or anything it wraps) is a usage error.
pub fn is_usage(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<UsageError>())
}

/// `bail!` for usage errors.
macro_rules! usage_bail {
    ($($arg:tt)*) => {
        return Err($crate::usage::usage(format!($($arg)*)))
    };
}
pub(crate) use usage_bail;
