//! The SQLite database that holds every record: the store's one implementation, and
//! the only module that knows SQL or sqlx. roard is its only user (roarctl reads
//! through the daemon), so there is one writer and one schema version in play.

mod artifacts;
mod attributes;
mod batch;
mod byte_lists;
mod columns;
mod environments;
mod errors;
mod file_rows;
mod files;
mod gaps;
mod git_tags;
mod hash_cache;
mod jobs;
mod labels;
mod lineage;
mod packages;
mod sessions;
mod stats;
mod transfers;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use sqlx::Sqlite;
use sqlx::TransactionManager as _;
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::Upkeep;
use super::error::StoreError;

/// The length of the write-ahead log, in pages, from which a job's end starts a
/// checkpoint (4 MiB: one record of a few thousand files, or those of ~50 small jobs).
const CHECKPOINT_AFTER_FRAMES: u32 = 1000;

/// How many frames (pages) the write-ahead log holds: `mxFrame` of the wal-index
/// header, at offset 16 of the `-shm` file in native byte order (documented in SQLite's
/// "WAL-mode File Format", walformat.html). The log file's size would not do: SQLite
/// reuses the file from its start after a checkpoint, without shrinking it. 0 when the
/// header cannot be read (no checkpoint is then started).
fn log_frames(shm: &Path) -> u32 {
    use std::os::unix::fs::FileExt;
    let mut header = [0u8; 20];
    match std::fs::File::open(shm).and_then(|file| file.read_exact_at(&mut header, 0)) {
        Ok(()) => u32::from_ne_bytes([header[16], header[17], header[18], header[19]]),
        Err(_) => 0,
    }
}

/// Handle to the database; cheap to clone.
///
/// Writes go through one connection and take the write lock when their transaction
/// begins (`BEGIN IMMEDIATE`): SQLite allows one writer at a time, and a transaction
/// that reads first and writes later fails with SQLITE_BUSY, without waiting, when
/// another writer got in between. Reads use a small pool of their own. Both wait for
/// the file rows written behind finished jobs (see `file_rows`).
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    /// Only through [`SqliteStore::reader`].
    readers: SqlitePool,
    write_behind: Arc<file_rows::WriteBehind>,
    /// Only for `checkpoint_in_background`.
    checkpointer: SqlitePool,
    checkpointing: Arc<AtomicBool>,
    /// The database file, its write-ahead log and its shared-memory index.
    files: Arc<[PathBuf; 3]>,
    artifact_ids: Arc<files::ArtifactIds>,
}

impl SqliteStore {
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
            .busy_timeout(Duration::from_secs(30))
            // Checkpoints run in the background (see `checkpoint_in_background`); a
            // commit copies the log itself only if those fell far behind (~80 MiB).
            .pragma("wal_autocheckpoint", "20000");
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
            // A job's record touches index pages all over the database (paths and
            // artifacts recur across jobs): a cache this size (SQLite's default is
            // 2 MiB) keeps them in memory instead of reading them back for each job.
            .connect_with(options.clone().pragma("cache_size", "-32768"))
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        let left = file_rows::write_out_all(&writer).await.with_context(|| {
            format!("cannot write out deferred file rows in {}", path.display())
        })?;
        if left > 0 {
            tracing::info!(
                "wrote out the deferred file rows of {left} job(s) left by the last run"
            );
        }
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options.read_only(true).create_if_missing(false))
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        Ok(Self {
            write_behind: Arc::new(file_rows::WriteBehind::start(writer.clone())),
            writer,
            readers,
            checkpointer,
            checkpointing: Arc::new(AtomicBool::new(false)),
            files: Arc::new(["", "-wal", "-shm"].map(|suffix| {
                let mut name = path.as_os_str().to_os_string();
                name.push(suffix);
                PathBuf::from(name)
            })),
            artifact_ids: Arc::default(),
        })
    }

    /// Refuses to write when a database file was made immutable or append-only
    /// (`chattr`) since it was opened. SQLite writes its shared-memory index through a
    /// memory map; on such a file that write does not fail, it kills the process with
    /// SIGBUS. One `statx` per file, before each write: a clear error instead.
    fn check_writable(&self) -> Result<(), StoreError> {
        match self
            .files
            .iter()
            .find(|file| attributes::immutable_or_append_only(file))
        {
            Some(file) => Err(errors::immutable(file)),
            None => Ok(()),
        }
    }

    /// The pool writes go through, once `check_writable` passed.
    fn writer(&self) -> Result<&SqlitePool, StoreError> {
        self.check_writable()?;
        Ok(&self.writer)
    }

    /// A write transaction that holds SQLite's write lock from its first statement and
    /// sees every finished job's files.
    async fn write_transaction(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.write_behind.settled().await;
        Ok(self.writer()?.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The pool reads go through, once every finished job's files are in place. Never
    /// to be awaited while holding the writer: writing the files out needs it.
    async fn reader(&self) -> &SqlitePool {
        self.write_behind.settled().await;
        &self.readers
    }
}

#[tonic::async_trait]
impl Upkeep for SqliteStore {
    /// Copies the write-ahead log into the database file, in the background and on a
    /// connection of its own. Left to SQLite, the commit that fills the log does it,
    /// and a job's record with thousands of files would wait tens of milliseconds for
    /// it (an fsync included). A passive checkpoint takes no lock writers need; one at
    /// a time, a call while one runs is dropped (the next job's call catches up).
    ///
    /// Only a log of `CHECKPOINT_AFTER_FRAMES` or more is copied: after a checkpoint the
    /// next write starts the log over, and that costs an fsync of its header, paid by
    /// the next job before it can start. Small jobs share that cost, a few dozen each.
    fn checkpoint_in_background(&self) {
        if log_frames(&self.files[2]) < CHECKPOINT_AFTER_FRAMES
            || self.check_writable().is_err()
            || self.checkpointing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let (pool, running) = (self.checkpointer.clone(), Arc::clone(&self.checkpointing));
        tokio::spawn(async move {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::warn!("background WAL checkpoint failed: {e}");
            }
            running.store(false, Ordering::Release);
        });
    }

    async fn stats(&self) -> Result<crate::store::model::StoreStats, StoreError> {
        Ok(self.store_stats().await?)
    }

    /// Flushes and closes every connection (WAL checkpoint happens on last close).
    async fn close(&self) {
        self.write_behind.settled().await;
        self.readers.close().await;
        self.checkpointer.close().await;
        self.writer.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wal-index header is read where SQLite keeps it: frames appear with writes,
    /// and a checkpoint followed by a write starts the count over.
    #[tokio::test]
    async fn log_frames_follows_the_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("roar.db"))
            .await
            .unwrap();
        let shm = store.files[2].clone();
        let write = |n: i64| {
            let pool = store.writer.clone();
            async move {
                sqlx::query("INSERT INTO artifacts (id, size) VALUES (?1, 1)")
                    .bind(n)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        };
        let before = log_frames(&shm);
        for n in 1..=5 {
            write(n).await;
        }
        let grown = log_frames(&shm);
        assert!(grown >= before + 5, "{before} -> {grown}");
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&store.checkpointer)
            .await
            .unwrap();
        write(6).await;
        assert!(log_frames(&shm) < grown, "the log did not start over");
        assert_eq!(log_frames(&dir.path().join("missing-shm")), 0);
    }
}
