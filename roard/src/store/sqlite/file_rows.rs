//! A finished job's file rows (`job_files`), and for a large job, writing them behind
//! its record. Each of a job's thousands of rows lands on another page of the
//! `job_files` indexes (by path, by artifact), and writing those pages was most of the
//! time between a large job's end and its `Finished` message. So for a list of
//! `DEFER_FROM_ROWS` or more, the record's transaction stores the rows as one encoded
//! value in `deferred_job_files`, a few sequential pages, and a background task moves
//! them into `job_files` right after. A short list goes straight in: deferring it
//! would only add a transaction.
//!
//! Nothing reads a half-written state: every read and every write transaction of the
//! store first waits until the rows deferred before it began are written out
//! ([`WriteBehind::settled`]), so a query sees a job's files as soon as it sees the
//! job finished. Rows a daemon left deferred when it stopped are written out when the
//! database is next opened ([`write_out_all`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use prost::Message as _;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, watch};

use super::batch::Batch;
use crate::record::RecordedFile;

/// From how many rows a job's files are written behind its record.
const DEFER_FROM_ROWS: usize = 256;

/// One `job_files` row, artifact id resolved.
#[derive(Clone, PartialEq, prost::Message)]
struct FileRow {
    #[prost(string, tag = "1")]
    role: String,
    #[prost(string, tag = "2")]
    class: String,
    #[prost(bytes = "vec", tag = "3")]
    path: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "4")]
    named_path: Option<Vec<u8>>,
    #[prost(int64, optional, tag = "5")]
    artifact_id: Option<i64>,
    #[prost(bool, tag = "6")]
    pre_image: bool,
    #[prost(bytes = "vec", optional, tag = "7")]
    link_target: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "8")]
    hard_link_of: Option<Vec<u8>>,
}

/// A job's rows, in recording order (the order `job_files` keeps them in).
#[derive(Clone, PartialEq, prost::Message)]
struct FileRows {
    #[prost(message, repeated, tag = "1")]
    files: Vec<FileRow>,
}

/// Adds a job's file rows to `batch`, or for a long list the statement that keeps
/// them for writing out behind the record (the caller then queues that with
/// [`WriteBehind::write_out`]); `artifacts` must hold the id of every content among
/// them. Returns whether the rows were deferred.
pub(super) fn push_job_files(
    batch: &mut Batch<'_>,
    job_id: i64,
    files: &[RecordedFile],
    artifacts: &HashMap<[u8; 32], i64>,
) -> bool {
    let rows = files
        .iter()
        .map(|file| FileRow {
            role: file.role.name().to_string(),
            class: file.class.name().to_string(),
            path: file.path.clone(),
            named_path: file.named.clone(),
            artifact_id: file.content.and_then(|c| artifacts.get(&c.blake3).copied()),
            pre_image: file.pre_image,
            link_target: file.link_target.clone(),
            hard_link_of: file.hard_link_of.clone(),
        })
        .collect::<Vec<_>>();
    if rows.len() < DEFER_FROM_ROWS {
        push_rows(batch, job_id, rows);
        return false;
    }
    let body = FileRows { files: rows }.encode_to_vec();
    batch
        .statement("INSERT INTO deferred_job_files (job_id, body) VALUES (")
        .push_bind(job_id)
        .push(", ")
        .push_bind(body)
        .push(")");
    true
}

/// Adds `rows` to `batch`, many per statement.
fn push_rows(batch: &mut Batch<'_>, job_id: i64, rows: Vec<FileRow>) {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk = rows.by_ref().take(super::files::ROWS_PER_STATEMENT);
        batch
            .statement(
                "INSERT INTO job_files (job_id, role, class, path, named_path, artifact_id, \
                                        pre_image, link_target, hard_link_of) ",
            )
            .push_values(chunk, |mut row, file| {
                row.push_bind(job_id)
                    .push_bind(file.role)
                    .push_bind(file.class)
                    .push_bind(file.path)
                    .push_bind(file.named_path)
                    .push_bind(file.artifact_id)
                    .push_bind(file.pre_image)
                    .push_bind(file.link_target)
                    .push_bind(file.hard_link_of);
            });
    }
}

/// Moves a job's deferred rows into `job_files`, in one transaction. Nothing to do
/// when the job has none (its record failed to store, or it was deleted since).
async fn write_out(writer: &SqlitePool, job_id: i64) -> Result<(), sqlx::Error> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let body: Option<Vec<u8>> =
        sqlx::query_scalar("DELETE FROM deferred_job_files WHERE job_id = ? RETURNING body")
            .bind(job_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(body) = body else {
        return Ok(());
    };
    let rows = FileRows::decode(body.as_slice()).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let mut batch = Batch::new();
    push_rows(&mut batch, job_id, rows.files);
    batch.run(&mut tx).await?;
    tx.commit().await
}

/// Writes out every job's deferred rows, oldest first: the rows a daemon that stopped
/// (or failed to write them) left behind. Rows that cannot be written out are logged
/// and left where they are: they must not keep the daemon from starting. Returns how
/// many jobs' rows were written out.
pub(super) async fn write_out_all(writer: &SqlitePool) -> Result<u64, sqlx::Error> {
    let jobs: Vec<i64> =
        sqlx::query_scalar("SELECT job_id FROM deferred_job_files ORDER BY job_id")
            .fetch_all(writer)
            .await?;
    let mut written = 0;
    for &job_id in &jobs {
        match write_out(writer, job_id).await {
            Ok(()) => written += 1,
            Err(e) => tracing::error!(
                "cannot write out the deferred file rows of job {job_id}: {e}; they stay \
                 in deferred_job_files"
            ),
        }
    }
    Ok(written)
}

/// The order of deferred writes, and the task that performs them one by one.
pub(super) struct WriteBehind {
    /// Deferrals announced so far (each gets the next number).
    announced: AtomicU64,
    /// The highest number up to which every deferral is written out (or was found to
    /// have nothing to write).
    settled: watch::Sender<u64>,
    jobs: mpsc::UnboundedSender<(u64, i64)>,
}

impl WriteBehind {
    /// Starts the task that writes deferred rows through `writer`.
    pub fn start(writer: SqlitePool) -> Self {
        let (settled, _) = watch::channel(0);
        let (jobs, mut queue) = mpsc::unbounded_channel::<(u64, i64)>();
        let progress = settled.clone();
        tokio::spawn(async move {
            // Numbers can arrive out of order (two jobs ending at once): the settled
            // mark moves only over a run of consecutive finished ones.
            let mut finished = BTreeSet::new();
            let mut upto = 0;
            // Jobs whose rows could not be written out (a full disk): tried again with
            // each later job, and at the next start.
            let mut stuck: Vec<i64> = Vec::new();
            while let Some((number, job_id)) = queue.recv().await {
                stuck.push(job_id);
                let mut still_stuck = Vec::new();
                for job_id in stuck.drain(..) {
                    if let Err(e) = write_out(&writer, job_id).await {
                        tracing::error!(
                            "cannot write out the file rows of job {job_id}: {e}; they stay \
                             in deferred_job_files, tried again after the next job and \
                             when roard next starts"
                        );
                        still_stuck.push(job_id);
                    }
                }
                stuck = still_stuck;
                finished.insert(number);
                while finished.remove(&(upto + 1)) {
                    upto += 1;
                }
                progress.send_replace(upto);
            }
        });
        Self {
            announced: AtomicU64::new(0),
            settled,
            jobs,
        }
    }

    /// Announces a deferral, before the transaction that stores its rows commits, so
    /// that a read beginning after that commit waits for the rows. Every announcement
    /// must be followed by [`WriteBehind::write_out`], whether the commit worked or not.
    pub fn announce(&self) -> u64 {
        self.announced.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Queues the writing out of `job_id`'s deferred rows, announced as `number`.
    pub fn write_out(&self, number: u64, job_id: i64) {
        if self.jobs.send((number, job_id)).is_err() {
            // The task is gone (the runtime is shutting down): the rows stay deferred
            // and are written out at the next start; waiters must not hang on them.
            self.settled.send_modify(|upto| *upto = (*upto).max(number));
        }
    }

    /// Waits until every deferral announced before this call is written out.
    pub async fn settled(&self) {
        let wanted = self.announced.load(Ordering::Acquire);
        if *self.settled.borrow() >= wanted {
            return;
        }
        let mut progress = self.settled.subscribe();
        // The sender lives as long as `self`: waiting cannot fail while it is borrowed.
        let _ = progress.wait_for(|&done| done >= wanted).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Class;
    use crate::record::{Exit, HashedFiles, Role};
    use crate::store::input::{JobEnd, JobSelector, NewJob};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{JobStore, Upkeep};

    fn file(path: &str, role: Role) -> RecordedFile {
        RecordedFile {
            path: path.as_bytes().to_vec(),
            named: None,
            role,
            class: Class::Artifact,
            content: None,
            extra: Vec::new(),
            pre_image: false,
            link_target: None,
            hard_link_of: None,
        }
    }

    async fn start(store: &SqliteStore, uid: &str) -> i64 {
        store
            .start_job(&NewJob::step(uid, b"/p"))
            .await
            .unwrap()
            .job_id
    }

    /// Runs `batch` as a daemon would have left it (no writing out), closes the store
    /// and opens the database again.
    async fn run_and_reopen(
        store: SqliteStore,
        batch: Batch<'_>,
        path: &std::path::Path,
    ) -> SqliteStore {
        let mut conn = store.writer.acquire().await.unwrap();
        batch.run(&mut conn).await.unwrap();
        drop(conn);
        store.close().await;
        SqliteStore::open(path).await.unwrap()
    }

    fn paths(files: &[crate::store::model::FileRecord]) -> Vec<&[u8]> {
        files.iter().map(|f| f.path.as_slice()).collect()
    }

    /// The read right after a job's record sees all its files, in recording order,
    /// though they were written behind it; nothing stays deferred.
    #[tokio::test]
    async fn a_read_after_a_record_sees_the_files_written_behind_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("roar.db"))
            .await
            .unwrap();
        for round in 0..3 {
            let job_id = start(&store, &format!("aaaa0000000{round}")).await;
            let files = HashedFiles {
                files: (0..2500)
                    .map(|i| file(&format!("/p/in/{i}"), Role::Input))
                    .chain([file("/p/out", Role::Output)])
                    .collect(),
                ..HashedFiles::default()
            };
            let end = JobEnd::ended(&files, Exit::Code(0));
            store.finish_job(job_id, &end).await.unwrap();
            let job = store
                .find_job(&JobSelector::Last, "last", b"/p")
                .await
                .unwrap();
            assert_eq!(job.inputs.len(), 2500);
            assert_eq!(job.inputs[1234].path, b"/p/in/1234");
            assert_eq!(paths(&job.outputs), [b"/p/out".as_slice()]);
        }
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deferred_job_files")
            .fetch_one(store.reader().await)
            .await
            .unwrap();
        assert_eq!(left, 0);
    }

    /// Rows still deferred when a daemon stopped are written out when the database is
    /// next opened, before anything can read it.
    #[tokio::test]
    async fn rows_left_deferred_are_written_out_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roar.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let job_id = start(&store, "bbbb00000001").await;
        let files: Vec<RecordedFile> = (0..DEFER_FROM_ROWS)
            .map(|i| file(&format!("/p/a{i}"), Role::Input))
            .chain([file("/p/b", Role::Output)])
            .collect();
        let mut batch = Batch::new();
        assert!(push_job_files(&mut batch, job_id, &files, &HashMap::new()));
        let reopened = run_and_reopen(store, batch, &path).await;
        let job = reopened
            .find_job(&JobSelector::Last, "last", b"/p")
            .await
            .unwrap();
        assert_eq!(job.inputs.len(), DEFER_FROM_ROWS);
        assert_eq!(job.inputs[7].path, b"/p/a7");
        assert_eq!(paths(&job.outputs), [b"/p/b".as_slice()]);
    }

    /// A deferred row that cannot be decoded is left alone and logged; the daemon
    /// still starts, and the other jobs' rows are written out.
    #[tokio::test]
    async fn an_unreadable_deferred_row_does_not_keep_the_store_from_opening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roar.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let broken = start(&store, "cccc00000001").await;
        let good = start(&store, "cccc00000002").await;
        let files: Vec<RecordedFile> = (0..DEFER_FROM_ROWS)
            .map(|i| file(&format!("/p/g{i}"), Role::Input))
            .collect();
        let mut batch = Batch::new();
        push_job_files(&mut batch, good, &files, &HashMap::new());
        batch
            .statement("INSERT INTO deferred_job_files (job_id, body) VALUES (")
            .push_bind(broken)
            .push(", x'ffffffff')");
        let reopened = run_and_reopen(store, batch, &path).await;
        let job = reopened
            .find_job(&JobSelector::Last, "last", b"/p")
            .await
            .unwrap();
        assert_eq!(job.summary.uid, "cccc00000002");
        assert_eq!(job.inputs.len(), DEFER_FROM_ROWS);
        let left: Vec<i64> = sqlx::query_scalar("SELECT job_id FROM deferred_job_files")
            .fetch_all(reopened.reader().await)
            .await
            .unwrap();
        assert_eq!(left, [broken]);
    }

    #[test]
    fn deferred_rows_round_trip_through_their_encoding() {
        let rows = FileRows {
            files: vec![FileRow {
                role: "input".into(),
                class: "artifact".into(),
                path: b"/p/in\xff.csv".to_vec(),
                named_path: Some(b"in.csv".to_vec()),
                artifact_id: Some(7),
                pre_image: true,
                link_target: None,
                hard_link_of: Some(b"/p/other".to_vec()),
            }],
        };
        let decoded = FileRows::decode(rows.encode_to_vec().as_slice());
        assert_eq!(decoded.ok(), Some(rows));
    }
}
