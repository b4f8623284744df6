//! The store's seam: every record roard keeps goes through the traits here, one per
//! area, and [`Store`] is all of them. Callers hold an `Arc<dyn Store>` and see only
//! these traits, the inputs ([`input`]), the model returned ([`model`]) and the
//! errors ([`error`]); SQLite ([`sqlite`]) is one implementation, and a second backend
//! is one more module beside it (see ARCHITECTURE.md).

pub mod error;
pub mod input;
pub mod model;
pub mod sqlite;

use std::collections::HashMap;
use std::path::PathBuf;

use crate::hash_cache::{CacheEntry, PersistedEntries};
use crate::hashing::Content;
use error::{ArtifactLookupError, LookupError, PopError, StartJobError, StoreError};
use input::{CommitTag, JobEnd, JobSelector, LabelChange, NewJob, Placement, Start, UploadRecord};
use model::{
    Artifact, ArtifactUse, GraphArtifact, Job, JobNode, JobSummary, Label, LabelOwner,
    PolicyOverride, PoppedStep, Session, SessionJob,
};

/// `$XDG_DATA_HOME/roar/roar.db`, else `~/.local/share/roar/roar.db`.
pub fn default_path() -> PathBuf {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    data_home.join("roar").join("roar.db")
}

/// Jobs and their processes: written when a job starts and when its trace ends.
#[tonic::async_trait]
pub trait JobStore {
    /// Records a job as running in its project's active session (opened if needed),
    /// as the next step of its kind or as a re-run of an existing step.
    async fn start_job(&self, job: &NewJob<'_>) -> Result<Placement, StartJobError>;
    /// Stores the trace of a finished job, all of it or nothing; returns the job's
    /// summary as stored.
    async fn finish_job(&self, job_id: i64, end: &JobEnd<'_>) -> Result<JobSummary, StoreError>;
    /// Removes the row of a job that never ran (the tracer could not attach).
    async fn discard_job(&self, job_id: i64) -> Result<(), StoreError>;
    /// A job whose trace ended without a result (its tracer failed).
    async fn mark_job_interrupted(&self, uid: &str, ended_at_ms: i64) -> Result<(), StoreError>;
    /// Jobs left `running` by a daemon that died; returns how many.
    async fn mark_running_jobs_interrupted(&self) -> Result<u64, StoreError>;
    /// Newest jobs first, optionally of one project only.
    async fn list_jobs(
        &self,
        project: Option<&[u8]>,
        limit: u32,
    ) -> Result<Vec<JobSummary>, StoreError>;
    /// The job a selector names (`original` as the user wrote it, for messages); `@N`
    /// and `last` are resolved within `project`.
    async fn find_job(
        &self,
        selector: &JobSelector<'_>,
        original: &str,
        project: &[u8],
    ) -> Result<Job, LookupError>;
    /// The id of the job with this uid.
    async fn job_id(&self, uid: &str) -> Result<Option<i64>, StoreError>;
}

/// Sessions: each project has one active session, whose jobs are its steps.
#[tonic::async_trait]
pub trait SessionStore {
    /// The project's active session; None before its first job.
    async fn active_session(&self, project: &[u8]) -> Result<Option<Session>, StoreError>;
    /// The project's session `number` (1 for its first); None if it has fewer.
    async fn session_by_number(
        &self,
        project: &[u8],
        number: u32,
    ) -> Result<Option<Session>, StoreError>;
    /// Closes the project's active session (if any) and opens a new, empty one.
    async fn reset_session(&self, project: &[u8], now_ms: i64) -> Result<Session, StoreError>;
    /// Every job of a session, oldest first.
    async fn session_jobs(&self, session_id: u64) -> Result<Vec<SessionJob>, StoreError>;
    /// Deletes every job of the last pipeline step of the project's active session,
    /// if that step is `expected` (the one the user confirmed).
    async fn pop_step(&self, project: &[u8], expected: u32) -> Result<PoppedStep, PopError>;
}

/// Artifacts by content: lookup by hash prefix or path, and where each was seen.
#[tonic::async_trait]
pub trait ArtifactStore {
    /// The artifact whose hash (of any algorithm, or of the one named) starts with
    /// the prefix in `text`.
    async fn artifact_by_hash(&self, text: &str) -> Result<Artifact, ArtifactLookupError>;
    /// The content last recorded at `path`.
    async fn artifact_by_path(&self, path: &[u8]) -> Result<Artifact, ArtifactLookupError>;
    /// The id of the one artifact whose hash starts with the prefix in `text`.
    async fn artifact_id_by_hash(&self, text: &str) -> Result<i64, ArtifactLookupError>;
    /// The id of the content last recorded at `path`.
    async fn artifact_id_by_path(&self, path: &[u8]) -> Result<i64, ArtifactLookupError>;
    /// The jobs that read `path` as a file of their git repository, oldest first.
    async fn repo_file_readers(&self, path: &[u8]) -> Result<Vec<ArtifactUse>, StoreError>;
}

/// Lineage from content: which jobs made what other jobs read.
#[tonic::async_trait]
pub trait LineageStore {
    /// The jobs upstream (or downstream) of `start`, up to `depth` job levels (0: no
    /// limit), each with its depth and its data files, in order of their start.
    async fn lineage(
        &self,
        start: Start,
        downstream: bool,
        depth: u32,
    ) -> Result<Vec<JobNode>, StoreError>;
    /// Jobs by id with their data files, in no particular order.
    async fn job_nodes(&self, ids: &[i64]) -> Result<Vec<JobNode>, StoreError>;
    /// Artifacts by id with their sizes, hashes and origins, in order of their ids.
    async fn graph_artifacts(&self, ids: &[i64]) -> Result<Vec<GraphArtifact>, StoreError>;
    /// The repository files each of these jobs read, hashed or not.
    async fn repo_inputs(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<Vec<u8>>>, StoreError>;
}

/// Downloads (sources of lineage) and uploads (where artifacts went).
#[tonic::async_trait]
pub trait TransferStore {
    /// Records a downloaded file as an artifact (BLAKE3 and SHA-256) from `url`.
    async fn record_download(
        &self,
        url: &str,
        path: &[u8],
        content: Content,
        sha256: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Records where artifacts were uploaded, all or none.
    async fn record_uploads(
        &self,
        uploads: &[UploadRecord<'_>],
        message: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;
}

/// The hash cache's entries that outlive the daemon.
#[tonic::async_trait]
pub trait HashCacheStore {
    /// Stored entries for `paths` (those it has).
    async fn load_hash_cache(
        &self,
        paths: &[Vec<u8>],
    ) -> Result<HashMap<Vec<u8>, CacheEntry>, StoreError>;
    /// Persists fresh cache entries learnt outside a job's record.
    async fn save_hash_cache(&self, entries: &[(Vec<u8>, CacheEntry)]) -> Result<(), StoreError>;
}

/// Tags roar created on commits.
#[tonic::async_trait]
pub trait GitTagStore {
    /// Remembers the tags that anchor the sub-DAG `dag_hash`.
    async fn record_tags(
        &self,
        dag_hash: &str,
        tags: &[CommitTag<'_>],
        now_ms: i64,
    ) -> Result<(), StoreError>;
}

/// Labels on jobs, artifacts and sessions, every change kept with who made it and
/// when; and the publications that went ahead against the label policy.
#[tonic::async_trait]
pub trait LabelStore {
    /// Applies `changes` to `owner`'s labels in one transaction; returns its labels
    /// after them.
    async fn change_labels(
        &self,
        owner: LabelOwner,
        changes: &[LabelChange],
        by: &str,
        now_ms: i64,
    ) -> Result<Vec<Label>, StoreError>;
    /// `owner`'s labels now, by key; with `history`, every change, oldest first.
    async fn labels(&self, owner: LabelOwner, history: bool) -> Result<Vec<Label>, StoreError>;
    /// The labels now of each of `owners` that has any.
    async fn current_labels(
        &self,
        owners: &[LabelOwner],
    ) -> Result<HashMap<LabelOwner, Vec<Label>>, StoreError>;
    /// Remembers that `artifact_id` was published against the policy, and why.
    async fn record_policy_override(
        &self,
        artifact_id: i64,
        record: &PolicyOverride,
    ) -> Result<(), StoreError>;
    /// Every override recorded for `artifact_id`, oldest first.
    async fn policy_overrides(&self, artifact_id: i64) -> Result<Vec<PolicyOverride>, StoreError>;
}

/// Upkeep of the database itself, outside any one record.
#[tonic::async_trait]
pub trait Upkeep {
    /// Lets the backend tidy up after a job's record (SQLite: copy its write-ahead log
    /// into the database) without making anyone wait.
    fn checkpoint_in_background(&self);
    /// Flushes and closes every connection.
    async fn close(&self);
    /// How big the store is and what it holds.
    async fn stats(&self) -> Result<model::StoreStats, StoreError>;
}

/// `Store`, every area at once, and its one implementation: whatever implements them
/// all (listed once, so an area added is added to both).
macro_rules! every_area {
    ($($area:ident),*) => {
        /// Everything roard keeps: what `DaemonState` holds, as `Arc<dyn Store>`.
        pub trait Store: $($area +)* Send + Sync {}

        impl<T: $($area +)* Send + Sync> Store for T {}
    };
}

every_area!(
    JobStore,
    SessionStore,
    ArtifactStore,
    LineageStore,
    TransferStore,
    HashCacheStore,
    GitTagStore,
    LabelStore,
    Upkeep
);

/// The hash cache reads its persisted entries through any store.
impl<S: HashCacheStore + Sync + ?Sized> PersistedEntries for S {
    async fn load(&self, paths: &[Vec<u8>]) -> Result<HashMap<Vec<u8>, CacheEntry>, String> {
        self.load_hash_cache(paths).await.map_err(|e| e.to_string())
    }
}
