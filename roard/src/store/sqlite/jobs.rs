//! Jobs and their processes: written when a job starts and when its trace ends, read by
//! `log` and `show`.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::batch::Batch;
use super::byte_lists;
use crate::git_context::GitContext;
use crate::record::{Exit, Image, ProcessRecord, SeenBy};
use crate::store::JobStore;
use crate::store::error::{LookupError, StartJobError, StoreError};
use crate::store::input::{JobEnd, JobSelector, NewJob, Placement, failed};
use crate::store::model::{EnvVar, Job, JobState, JobSummary, Process};

pub(super) const SUMMARY_COLUMNS: &str = "id, uid, project, session_id, kind, step, argv, cwd, \
     started_at_ms, ended_at_ms, exit_code, exit_signal, state, lingering_processes, \
     git_repository, git_root, git_branch, git_commit, git_dirty_count, git_dirty_paths, \
     placed, reproduces, reproduces_job, commit_made";

impl SqliteStore {
    /// The row of the job a selector names; a uid prefix two jobs share is ambiguous.
    async fn job_row(
        &self,
        selector: &JobSelector<'_>,
        original: &str,
        project: &[u8],
    ) -> Result<SqliteRow, LookupError> {
        let sql = match selector {
            JobSelector::Last => format!(
                "SELECT {SUMMARY_COLUMNS}, env, hostname, user_uid, fast_path_opens, ptrace_stops FROM jobs WHERE project = ?1 \
                 ORDER BY started_at_ms DESC, id DESC LIMIT 1"
            ),
            JobSelector::Step(..) => format!(
                "SELECT {SUMMARY_COLUMNS}, env, hostname, user_uid, fast_path_opens, ptrace_stops FROM jobs \
                 WHERE session_id = (SELECT id FROM sessions WHERE project = ?1 AND active = 1) \
                   AND kind = ?4 AND step = ?2 AND placed = 1 ORDER BY id DESC LIMIT 1"
            ),
            JobSelector::UidPrefix(_) => format!(
                "SELECT {SUMMARY_COLUMNS}, env, hostname, user_uid, fast_path_opens, ptrace_stops FROM jobs \
                 WHERE uid >= ?3 AND uid < ?3 || 'g' ORDER BY uid LIMIT 2"
            ),
        };
        let (step, prefix, kind) = match selector {
            JobSelector::Step(kind, n) => (*n, String::new(), kind.name()),
            JobSelector::UidPrefix(p) => (0, p.to_ascii_lowercase(), ""),
            JobSelector::Last => (0, String::new(), ""),
        };
        let mut rows = sqlx::query(&sql)
            .bind(project)
            .bind(step)
            .bind(&prefix)
            .bind(kind)
            .fetch_all(self.reader().await)
            .await?;
        match (selector, rows.len()) {
            (_, 0) => Err(LookupError::NotFound(original.to_string())),
            (JobSelector::UidPrefix(_), 2..) => {
                let count: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM jobs WHERE uid >= ?1 AND uid < ?1 || 'g'",
                )
                .bind(&prefix)
                .fetch_one(self.reader().await)
                .await?;
                Err(LookupError::Ambiguous {
                    prefix: original.to_string(),
                    count,
                })
            }
            _ => Ok(rows.swap_remove(0)),
        }
    }
}

/// The environment as stored, `NAME=value` entries, split at the first `=`.
fn env_from_column(column: &[u8]) -> Vec<EnvVar> {
    byte_lists::split(column)
        .into_iter()
        .map(|entry| {
            let split = entry.iter().position(|b| *b == b'=').unwrap_or(entry.len());
            EnvVar {
                name: entry[..split].to_vec(),
                value: entry.get(split + 1..).unwrap_or_default().to_vec(),
            }
        })
        .collect()
}

/// Inserts the job's row into its project's active session: at `job.rerun_step`, or
/// as the next step of its kind. None when the project has no active session.
async fn insert_job(
    conn: impl sqlx::SqliteExecutor<'_>,
    job: &NewJob<'_>,
) -> sqlx::Result<Option<Placement>> {
    let git = job.git;
    let rows: Vec<(i64, i64, u32)> = sqlx::query_as(
        "INSERT INTO jobs (uid, project, session_id, kind, step, argv, cwd, env, hostname, \
                           user_uid, started_at_ms, state, git_repository, git_root, \
                           git_branch, git_commit, git_dirty_count, git_dirty_paths, \
                           reproduces, reproduces_job) \
         SELECT ?1, ?2, s.id, ?3, \
                COALESCE(?16, (SELECT COALESCE(MAX(step), 0) + 1 FROM jobs \
                               WHERE session_id = s.id AND kind = ?3)), \
                ?4, ?5, ?6, ?7, ?8, ?9, 'running', ?10, ?11, ?12, ?13, ?14, ?15, ?17, ?18 \
         FROM sessions s WHERE s.project = ?2 AND s.active = 1 \
         RETURNING id, session_id, step",
    )
    .bind(job.uid)
    .bind(job.project)
    .bind(job.kind.name())
    .bind(byte_lists::join(job.argv))
    .bind(job.cwd)
    .bind(byte_lists::join(job.env))
    .bind(job.hostname)
    .bind(job.user_uid)
    .bind(job.started_at_ms)
    .bind(git.map(|g| g.repository.as_str()))
    .bind(git.map(|g| g.root.as_os_str().as_bytes()))
    .bind(git.and_then(|g| g.branch.as_deref()))
    .bind(git.and_then(|g| g.commit.as_deref()))
    .bind(git.map(|g| i64::try_from(g.dirty_count).unwrap_or(i64::MAX)))
    .bind(git.map(|g| byte_lists::join(&g.dirty_paths)))
    .bind(job.rerun_step)
    .bind(job.reproduces)
    .bind(job.reproduces_job)
    // Stepped to the end, not just to the returned row: outside a transaction the
    // implicit commit happens there, and a failure to commit (a read-only database)
    // must surface, not be lost when the statement is dropped.
    .fetch_all(conn)
    .await?;
    Ok(rows.first().map(|&(job_id, session_id, step)| Placement {
        job_id,
        session_id,
        step,
    }))
}

/// Rows of `process_images` for what the processes executed before their last image.
/// Adds a job's processes to `batch`, many rows per statement.
fn push_processes<'a>(batch: &mut Batch<'a>, job_id: i64, processes: &'a [ProcessRecord]) {
    for chunk in processes.chunks(500) {
        batch
            .statement(
                "INSERT INTO processes (job_id, pid, ppid, argv, exe, cwd, started_at_ms, \
                                        ended_at_ms, exit_code, exit_signal) ",
            )
            .push_values(chunk, |mut row, process| {
                let (code, signal) = exit_columns(process.exit);
                row.push_bind(job_id)
                    .push_bind(process.pid.as_raw())
                    .push_bind(process.ppid.as_raw())
                    .push_bind(byte_lists::join(&process.image.argv))
                    .push_bind(process.image.exe.as_slice())
                    .push_bind(process.image.cwd.as_slice())
                    .push_bind(process.started_at_ms)
                    .push_bind(process.ended_at_ms)
                    .push_bind(code)
                    .push_bind(signal);
            });
    }
}

fn push_earlier_images<'a>(batch: &mut Batch<'a>, job_id: i64, processes: &'a [ProcessRecord]) {
    let rows: Vec<(&ProcessRecord, usize, &Image)> = processes
        .iter()
        .flat_map(|p| {
            p.earlier
                .iter()
                .enumerate()
                .map(move |(seq, image)| (p, seq, &**image))
        })
        .collect();
    for chunk in rows.chunks(500) {
        batch
            .statement(
                "INSERT INTO process_images (job_id, pid, process_started_at_ms, seq, argv, \
                 exe, cwd) ",
            )
            .push_values(chunk.to_vec(), |mut row, (process, seq, image)| {
                row.push_bind(job_id)
                    .push_bind(process.pid.as_raw())
                    .push_bind(process.started_at_ms)
                    .push_bind(i64::try_from(seq).unwrap_or(i64::MAX))
                    .push_bind(byte_lists::join(&image.argv))
                    .push_bind(image.exe.clone())
                    .push_bind(image.cwd.clone());
            });
    }
}

impl SqliteStore {
    /// Attaches to each process what it executed before its last image.
    async fn with_earlier_images(
        &self,
        job_id: i64,
        mut processes: Vec<Process>,
    ) -> sqlx::Result<Vec<Process>> {
        let rows = sqlx::query(
            "SELECT pid, process_started_at_ms, argv, exe, cwd FROM process_images \
             WHERE job_id = ? ORDER BY rowid",
        )
        .bind(job_id)
        .fetch_all(self.reader().await)
        .await?;
        for row in rows {
            let (pid, started): (u32, i64) =
                (row.try_get("pid")?, row.try_get("process_started_at_ms")?);
            if let Some(process) = processes
                .iter_mut()
                .find(|p| p.pid == pid && p.started_at_ms == started)
            {
                process.earlier.push(image_from_row(&row)?);
            }
        }
        Ok(processes)
    }
}

/// The statements of a finished job's record, in `batch`: its processes, gaps, files,
/// packages, environments, the hash cache's news, and last the job's row, whose
/// summary is then the batch's last returned row. Returns whether the file rows are
/// deferred (see `file_rows`).
fn push_job_end<'a>(
    batch: &mut Batch<'a>,
    job_id: i64,
    end: &JobEnd<'a>,
    artifacts: &std::collections::HashMap<[u8; 32], i64>,
) -> bool {
    let JobEnd {
        processes,
        files,
        root_exit,
        lingering,
        ended_at_ms,
        keep_failed,
        environments,
        commit_made,
        gaps,
        seen_by,
    } = *end;
    push_processes(batch, job_id, processes);
    push_earlier_images(batch, job_id, processes);
    super::gaps::push_trace_gaps(batch, job_id, gaps);
    let deferred = super::file_rows::push_job_files(batch, job_id, &files.files, artifacts);
    super::files::push_extra_hashes(batch, &files.files, artifacts);
    super::packages::push_job_packages(batch, job_id, &files.packages);
    super::environments::push_job_environments(batch, job_id, environments);
    super::hash_cache::push_hash_cache(batch, &files.cache_updates);
    let (code, signal) = exit_columns(root_exit);
    let placed = keep_failed || !failed(root_exit);
    let state = if root_exit.is_some() {
        JobState::Finished
    } else {
        JobState::Interrupted
    };
    let update = batch.statement("UPDATE jobs SET ended_at_ms = ");
    update.push_bind(ended_at_ms);
    update.push(", exit_code = ").push_bind(code);
    update.push(", exit_signal = ").push_bind(signal);
    update.push(", state = ").push_bind(state.name());
    update
        .push(", lingering_processes = ")
        .push_bind(i64::try_from(lingering).unwrap_or(i64::MAX));
    update.push(", placed = ").push_bind(placed);
    update.push(", commit_made = ").push_bind(commit_made);
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    update
        .push(", fast_path_opens = ")
        .push_bind(count(seen_by.fast_path));
    update
        .push(", ptrace_stops = ")
        .push_bind(count(seen_by.ptrace));
    if !placed {
        // A new command that failed frees its step; a re-run keeps the number of
        // the step it re-ran, whose current job stays the one before.
        update.push(
            ", step = CASE WHEN EXISTS (SELECT 1 FROM jobs o WHERE o.session_id = \
             jobs.session_id AND o.kind = jobs.kind AND o.step = jobs.step \
             AND o.id <> jobs.id AND o.placed = 1) THEN step ELSE 0 END",
        );
    }
    update.push(" WHERE id = ").push_bind(job_id);
    update.push(" RETURNING ").push(SUMMARY_COLUMNS);
    deferred
}

fn exit_columns(exit: Option<Exit>) -> (Option<i32>, Option<i32>) {
    match exit {
        Some(Exit::Code(code)) => (Some(code), None),
        Some(Exit::Signal(signal)) => (None, Some(signal)),
        None => (None, None),
    }
}

fn exit_from_row(row: &SqliteRow) -> sqlx::Result<Option<Exit>> {
    let code: Option<i32> = row.try_get("exit_code")?;
    let signal: Option<i32> = row.try_get("exit_signal")?;
    Ok(match (code, signal) {
        (Some(code), _) => Some(Exit::Code(code)),
        (None, Some(signal)) => Some(Exit::Signal(signal)),
        (None, None) => None,
    })
}

pub(super) fn summary_from_row(row: &SqliteRow) -> sqlx::Result<JobSummary> {
    Ok(JobSummary {
        uid: row.try_get("uid")?,
        project: row.try_get("project")?,
        step: row.try_get("step")?,
        kind: super::columns::job_kind(row, "kind")?,
        session_id: row.try_get::<i64, _>("session_id")?.max(0) as u64,
        git: git_from_row(row)?,
        argv: byte_lists::split(&row.try_get::<Vec<u8>, _>("argv")?),
        cwd: row.try_get("cwd")?,
        started_at_ms: row.try_get("started_at_ms")?,
        ended_at_ms: row.try_get("ended_at_ms")?,
        exit: exit_from_row(row)?,
        state: super::columns::job_state(row, "state")?,
        lingering_processes: row.try_get("lingering_processes")?,
        placed: row.try_get("placed")?,
        reproduces: row.try_get("reproduces")?,
        reproduces_job: row.try_get("reproduces_job")?,
        commit_made: row.try_get("commit_made")?,
    })
}

fn git_from_row(row: &SqliteRow) -> sqlx::Result<Option<GitContext>> {
    let Some(repository) = row.try_get::<Option<String>, _>("git_repository")? else {
        return Ok(None);
    };
    let root = row
        .try_get::<Option<Vec<u8>>, _>("git_root")?
        .unwrap_or_default();
    Ok(Some(GitContext {
        repository,
        root: PathBuf::from(OsString::from_vec(root)),
        branch: row.try_get("git_branch")?,
        commit: row.try_get("git_commit")?,
        // A count that does not fit (negative) reads as the most there can be.
        dirty_count: row
            .try_get::<Option<i64>, _>("git_dirty_count")?
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        dirty_paths: row
            .try_get::<Option<Vec<u8>>, _>("git_dirty_paths")?
            .map(|list| byte_lists::split(&list))
            .unwrap_or_default(),
    }))
}

/// An image from a row's `argv`, `exe` and `cwd` columns.
fn image_from_row(row: &SqliteRow) -> sqlx::Result<Image> {
    Ok(Image {
        argv: byte_lists::split(&row.try_get::<Vec<u8>, _>("argv")?),
        exe: row.try_get("exe")?,
        cwd: row.try_get("cwd")?,
    })
}

fn process_from_row(row: &SqliteRow) -> sqlx::Result<Process> {
    Ok(Process {
        pid: row.try_get("pid")?,
        ppid: row.try_get("ppid")?,
        image: image_from_row(row)?,
        started_at_ms: row.try_get("started_at_ms")?,
        ended_at_ms: row.try_get("ended_at_ms")?,
        exit: exit_from_row(row)?,
        earlier: Vec::new(),
    })
}

#[tonic::async_trait]
impl JobStore for SqliteStore {
    /// Records a job as running in its project's active session (opened if needed),
    /// as the next step of its kind or as a re-run of an existing step.
    async fn start_job(&self, job: &NewJob<'_>) -> Result<Placement, StartJobError> {
        // The common case, one statement (atomic on its own: no transaction around
        // it); it places nothing when the project has no active session yet.
        if job.rerun_step.is_none()
            && job.reproduces.is_none()
            && let Some(placement) = insert_job(self.writer()?, job).await?
        {
            return Ok(placement);
        }
        let mut tx = self.write_transaction().await?;
        let session_id =
            super::sessions::active_session_id(&mut tx, job.project, job.started_at_ms).await?;
        if let Some(target) = job.reproduces {
            sqlx::query("UPDATE sessions SET reproduces = ? WHERE id = ? AND reproduces IS NULL")
                .bind(target)
                .bind(session_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(step) = job.rerun_step {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM jobs WHERE session_id = ? AND kind = ? AND step = ? AND placed = 1 \
                 LIMIT 1",
            )
            .bind(session_id)
            .bind(job.kind.name())
            .bind(step)
            .fetch_optional(&mut *tx)
            .await?;
            if exists.is_none() {
                return Err(StartJobError::UnknownStep(job.kind.step_label(step)));
            }
        }
        let placement = insert_job(&mut *tx, job)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        tx.commit().await?;
        Ok(placement)
    }

    /// Stores the trace of a finished job in one transaction: either the whole record
    /// lands or the job stays `running` (and becomes `interrupted` at next start-up).
    /// Returns the job's summary as stored (read in the same transaction: no second
    /// connection on the way to the client).
    /// A failed job (see [`failed`]) is kept out of the steps unless `keep_failed`: it
    /// re-ran a step, that step keeps its current job; it was a new command, it takes
    /// no step (step 0).
    async fn finish_job(&self, job_id: i64, end: &JobEnd<'_>) -> Result<JobSummary, StoreError> {
        // Content ids first (remembered, else looked up or created); then the rest of
        // the record as one batch. When every id is remembered (a job over known
        // data), the transaction is that batch alone: one hand-off.
        let (mut artifacts, unknown) = self
            .artifact_ids
            .split(end.files.files.iter().filter_map(|f| f.content.as_ref()));
        // A long file list is written behind the record (see `file_rows`): its
        // deferral is announced before the commit, while this transaction holds the
        // writer, and its writing out queued after, whether the commit worked or not.
        let mut deferral = None;
        let committed = if unknown.is_empty() {
            let mut conn = self.writer()?.acquire().await?;
            let mut batch = Batch::transaction();
            if push_job_end(&mut batch, job_id, end, &artifacts) {
                deferral = Some(self.write_behind.announce());
            }
            batch.commit(&mut conn).await
        } else {
            let mut tx = self.write_transaction().await?;
            async {
                artifacts.extend(super::files::artifacts_for(&mut tx, unknown.into_iter()).await?);
                let mut batch = Batch::new();
                if push_job_end(&mut batch, job_id, end, &artifacts) {
                    deferral = Some(self.write_behind.announce());
                }
                let rows = batch.run(&mut tx).await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(rows)
            }
            .await
        };
        if let Some(number) = deferral {
            self.write_behind.write_out(number, job_id);
        }
        let rows = committed?;
        let summary = summary_from_row(rows.last().ok_or(sqlx::Error::RowNotFound)?)?;
        self.artifact_ids.remember(&artifacts);
        Ok(summary)
    }

    /// Removes the row of a job that never ran (the tracer could not attach).
    async fn discard_job(&self, job_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM jobs WHERE id = ? AND state = 'running'")
            .bind(job_id)
            .execute(self.writer()?)
            .await?;
        Ok(())
    }

    /// A job whose trace ended without a result (its tracer failed).
    async fn mark_job_interrupted(&self, uid: &str, ended_at_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'interrupted', ended_at_ms = ? \
             WHERE uid = ? AND state = 'running'",
        )
        .bind(ended_at_ms)
        .bind(uid)
        .execute(self.writer()?)
        .await?;
        Ok(())
    }

    /// Jobs left `running` by a daemon that died cannot be traced any more.
    async fn mark_running_jobs_interrupted(&self) -> Result<u64, StoreError> {
        let result = sqlx::query("UPDATE jobs SET state = 'interrupted' WHERE state = 'running'")
            .execute(self.writer()?)
            .await?;
        Ok(result.rows_affected())
    }

    /// Newest jobs first, optionally of one project only.
    async fn list_jobs(
        &self,
        project: Option<&[u8]>,
        limit: u32,
    ) -> Result<Vec<JobSummary>, StoreError> {
        // Two statements rather than `?1 IS NULL OR project = ?1`, which would keep
        // SQLite from using the (project, started_at_ms) index.
        let rows = match project {
            Some(project) => {
                let sql = format!(
                    "SELECT {SUMMARY_COLUMNS} FROM jobs WHERE project = ?1 \
                     ORDER BY started_at_ms DESC, id DESC LIMIT ?2"
                );
                sqlx::query(&sql)
                    .bind(project)
                    .bind(limit)
                    .fetch_all(self.reader().await)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {SUMMARY_COLUMNS} FROM jobs \
                     ORDER BY started_at_ms DESC, id DESC LIMIT ?1"
                );
                sqlx::query(&sql)
                    .bind(limit)
                    .fetch_all(self.reader().await)
                    .await?
            }
        };
        Ok(rows
            .iter()
            .map(summary_from_row)
            .collect::<sqlx::Result<_>>()?)
    }

    /// The job a selector names; `@N` and `last` are resolved within `project`.
    async fn find_job(
        &self,
        selector: &JobSelector<'_>,
        original: &str,
        project: &[u8],
    ) -> Result<Job, LookupError> {
        let row = self.job_row(selector, original, project).await?;
        let job_id: i64 = row.try_get("id")?;
        let processes = sqlx::query(
            "SELECT pid, ppid, argv, exe, cwd, started_at_ms, ended_at_ms, exit_code, \
                    exit_signal FROM processes WHERE job_id = ? ORDER BY id",
        )
        .bind(job_id)
        .fetch_all(self.reader().await)
        .await?
        .iter()
        .map(process_from_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
        let processes = self.with_earlier_images(job_id, processes).await?;
        let (inputs, outputs) = self.job_files(job_id).await?;
        let packages = self.job_packages(job_id).await?;
        let summary = summary_from_row(&row)?;
        let environments = self
            .environments_of_jobs(&[job_id])
            .await?
            .remove(&job_id)
            .unwrap_or_default();
        let reproductions = self
            .reproductions_of(&[summary.uid.as_str()])
            .await?
            .remove(&summary.uid)
            .unwrap_or_default();
        let gaps = self.trace_gaps(job_id).await?;
        let seen_by = match (
            row.try_get::<Option<i64>, _>("fast_path_opens")?,
            row.try_get::<Option<i64>, _>("ptrace_stops")?,
        ) {
            (Some(fast), Some(ptrace)) => Some(SeenBy {
                fast_path: u64::try_from(fast).unwrap_or(0),
                ptrace: u64::try_from(ptrace).unwrap_or(0),
            }),
            _ => None,
        };
        Ok(Job {
            summary,
            gaps,
            seen_by,
            environments,
            reproductions,
            processes,
            env: env_from_column(&row.try_get::<Vec<u8>, _>("env")?),
            hostname: row.try_get("hostname")?,
            user_uid: row.try_get("user_uid")?,
            inputs,
            outputs,
            packages,
        })
    }

    /// The id of the job with this uid.
    async fn job_id(&self, uid: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM jobs WHERE uid = ?")
            .bind(uid)
            .fetch_optional(self.reader().await)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::HashedFiles;
    use crate::store::SessionStore;
    use crate::store::input::JobKind;

    #[tokio::test]
    async fn a_job_round_trips_and_steps_count_per_project() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("roar.db"))
            .await
            .unwrap();
        let argv = vec![b"echo".to_vec(), vec![0xff, b' ', b'\n']];
        let env = vec![b"A=1=2".to_vec()];
        let job = |uid, project| NewJob {
            argv: &argv,
            cwd: b"/w",
            env: &env,
            ..NewJob::step(uid, project)
        };
        assert_eq!(
            store
                .start_job(&job("aaaa00000001", b"/p"))
                .await
                .unwrap()
                .step,
            1
        );
        // The project's second job takes the one-statement path (its session exists).
        let second = store.start_job(&job("aaaa00000002", b"/p")).await.unwrap();
        assert_eq!(second.step, 2);
        assert_eq!(
            store
                .start_job(&job("bbbb00000001", b"/q"))
                .await
                .unwrap()
                .step,
            1
        );
        let files = HashedFiles::default();
        let end = JobEnd::ended(&files, Exit::Signal(15));
        let stored = store.finish_job(second.job_id, &end).await.unwrap();
        assert_eq!(stored.uid, "aaaa00000002");
        // Killed: recorded, but it takes no step.
        assert_eq!(stored.step, 0);
        assert!(!stored.placed);
        assert_eq!(stored.state, Some(JobState::Finished));
        assert_eq!(stored.ended_at_ms, Some(5));

        let last = store
            .find_job(&JobSelector::Last, "last", b"/p")
            .await
            .unwrap();
        let summary = last.summary;
        assert_eq!(summary.uid, "aaaa00000002");
        assert_eq!(summary.argv, argv);
        assert_eq!(summary.state, Some(JobState::Finished));
        assert_eq!(summary.exit, Some(Exit::Signal(15)));
        assert_eq!(last.env[0].name, b"A");
        assert_eq!(last.env[0].value, b"1=2");

        let err = store
            .find_job(&JobSelector::UidPrefix("aaaa"), "aaaa", b"/p")
            .await
            .unwrap_err();
        assert!(matches!(err, LookupError::Ambiguous { count: 2, .. }));
        assert_eq!(store.mark_running_jobs_interrupted().await.unwrap(), 2);
        assert_eq!(store.list_jobs(None, 10).await.unwrap().len(), 3);
        assert_eq!(store.list_jobs(Some(b"/q"), 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_rerun_leaves_the_step_its_current_job() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("roar.db"))
            .await
            .unwrap();
        let argv = vec![b"train".to_vec()];
        let job = |uid, rerun_step| NewJob {
            argv: &argv,
            rerun_step,
            ..NewJob::step(uid, b"/p")
        };
        let files = HashedFiles::default();
        let end = |exit, keep_failed| JobEnd {
            ended_at_ms: 2,
            keep_failed,
            ..JobEnd::ended(&files, exit)
        };
        let first = store.start_job(&job("cccc00000001", None)).await.unwrap();
        store
            .finish_job(first.job_id, &end(Exit::Code(0), false))
            .await
            .unwrap();
        let rerun = store
            .start_job(&job("cccc00000002", Some(1)))
            .await
            .unwrap();
        let failed = store
            .finish_job(rerun.job_id, &end(Exit::Code(1), false))
            .await
            .unwrap();
        assert_eq!((failed.step, failed.placed), (1, false));
        let current = store
            .find_job(&JobSelector::Step(JobKind::Run, 1), "@1", b"/p")
            .await
            .unwrap();
        assert_eq!(current.summary.uid, "cccc00000001");
        // Kept on request: it becomes the step's current job.
        let kept = store
            .start_job(&job("cccc00000003", Some(1)))
            .await
            .unwrap();
        store
            .finish_job(kept.job_id, &end(Exit::Code(1), true))
            .await
            .unwrap();
        let current = store
            .find_job(&JobSelector::Step(JobKind::Run, 1), "@1", b"/p")
            .await
            .unwrap();
        assert_eq!(current.summary.uid, "cccc00000003");
        let session = store.active_session(b"/p").await.unwrap().unwrap();
        assert_eq!((session.steps, session.jobs, session.number), (1, 3, 1));
    }
}
