//! The SQLite database that holds every record. roard is its only user: roarctl reads
//! through the daemon, so there is one writer and one schema version in play.

pub mod artifacts;
mod batch;
mod byte_lists;
mod files;
mod git_tags;
mod hash_cache;
pub mod jobs;
pub mod lineage;
mod packages;
pub mod sessions;
pub mod transfers;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::Sqlite;
use sqlx::TransactionManager as _;
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// `$XDG_DATA_HOME/roar/roar.db`, else `~/.local/share/roar/roar.db`.
pub fn default_path() -> PathBuf {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    data_home.join("roar").join("roar.db")
}

/// Handle to the database; cheap to clone.
///
/// Writes go through one connection and take the write lock when their transaction
/// begins (`BEGIN IMMEDIATE`): SQLite allows one writer at a time, and a transaction
/// that reads first and writes later fails with SQLITE_BUSY, without waiting, when
/// another writer got in between. Reads use a small pool of their own.
#[derive(Clone)]
pub struct Store {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to
    /// date with the migrations embedded in this binary.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        // Migrations run with foreign keys off: rebuilding a table (SQLite's way to drop
        // a constraint) drops the old one, which must not cascade to the rows that
        // reference it. Each migration still runs in one transaction.
        let migrator = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().foreign_keys(false))
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        sqlx::migrate!("./migrations")
            .run(&migrator)
            .await
            .with_context(|| format!("cannot migrate the database {}", path.display()))?;
        migrator.close().await;
        // Connections are not pinged before use (`test_before_acquire`): they are local
        // files, not sockets that can go stale, and a ping is one more round trip to
        // the connection's worker thread on every job's path.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            // A connection whose transaction could not be ended (a disk I/O error, a
            // full disk) is closed rather than reused: the next write then starts on a
            // fresh one instead of failing forever.
            .after_release(|conn, _| {
                Box::pin(async move {
                    Ok(
                        <Sqlite as sqlx::Database>::TransactionManager::get_transaction_depth(conn)
                            == 0,
                    )
                })
            })
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options.read_only(true).create_if_missing(false))
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        Ok(Self { writer, reader })
    }

    /// A write transaction that holds SQLite's write lock from its first statement.
    async fn write_transaction(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    /// Flushes and closes every connection (WAL checkpoint happens on last close).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}
