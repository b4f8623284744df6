//! The one place sqlx's errors become the store's: what SQLite said, sorted by what a
//! caller can do about it.

use std::path::Path;

use crate::store::error::{ArtifactLookupError, LookupError, PopError, StartJobError, StoreError};

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), with or without extended codes.
fn busy_code(code: &str) -> bool {
    code.parse::<i32>()
        .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let busy = match &error {
            sqlx::Error::PoolTimedOut => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| busy_code(&code)),
            _ => false,
        };
        if busy {
            StoreError::Busy(error.to_string())
        } else {
            StoreError::Other(error.to_string())
        }
    }
}

/// The refusal to write to `file`, worded as it always was (an I/O error of sqlx's).
pub(super) fn immutable(file: &Path) -> StoreError {
    let refusal = sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "{} is immutable or append-only (see lsattr); roard cannot write to it",
            file.display()
        ),
    ));
    StoreError::Immutable(refusal.to_string())
}

/// An sqlx error inside an operation that fails with an area's own error type.
macro_rules! database_variant {
    ($($area:ty),*) => {$(
        impl From<sqlx::Error> for $area {
            fn from(error: sqlx::Error) -> Self {
                Self::Database(error.into())
            }
        }
    )*};
}

database_variant!(LookupError, ArtifactLookupError, StartJobError, PopError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_locked_and_timed_out_are_worth_a_retry() {
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_busy());
        assert!(busy_code("5") && busy_code("6") && busy_code("261") && busy_code("517"));
        assert!(!busy_code("1") && !busy_code("19") && !busy_code("SQLITE"));
        let other = StoreError::from(sqlx::Error::RowNotFound);
        assert!(matches!(other, StoreError::Other(_)), "{other:?}");
        assert_eq!(other.to_string(), sqlx::Error::RowNotFound.to_string());
    }

    #[test]
    fn an_immutable_file_is_refused_by_name() {
        let refusal = immutable(Path::new("/d/roar.db-shm"));
        assert!(matches!(refusal, StoreError::Immutable(_)), "{refusal:?}");
        assert!(!refusal.is_busy());
        assert!(
            refusal
                .to_string()
                .contains("/d/roar.db-shm is immutable or append-only"),
            "{refusal}"
        );
    }

    /// A real SQLITE_BUSY, from a second writer while the first holds the lock.
    #[tokio::test]
    async fn a_locked_database_reads_as_busy() {
        use sqlx::ConnectOptions as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roar.db");
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .busy_timeout(std::time::Duration::ZERO);
        let mut first = options.connect().await.unwrap();
        let mut second = options.connect().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut first)
            .await
            .unwrap();
        let error = sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut second)
            .await
            .unwrap_err();
        assert!(StoreError::from(error).is_busy());
    }
}
