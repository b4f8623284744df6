//! Sessions: each project has one active session, whose jobs are its steps. A reset
//! closes it and opens a new one; closed sessions stay queryable.

use sqlx::{Row, SqliteConnection};

use super::SqliteStore;
use crate::store::SessionStore;
use crate::store::error::{PopError, StoreError};
use crate::store::input::JobKind;
use crate::store::model::{PoppedStep, Session, SessionJob};

/// The project's active session, opened now if it has none. Inside the caller's write
/// transaction, so two first jobs of a project cannot open two sessions.
pub(super) async fn active_session_id(
    conn: &mut SqliteConnection,
    project: &[u8],
    now_ms: i64,
) -> sqlx::Result<i64> {
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT id FROM sessions WHERE project = ? AND active = 1")
            .bind(project)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(id) = existing {
        return Ok(id);
    }
    sqlx::query_scalar(
        "INSERT INTO sessions (project, started_at_ms, active) VALUES (?, ?, 1) RETURNING id",
    )
    .bind(project)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await
}

const SESSION_COLUMNS: &str = "s.id, s.project, s.started_at_ms, s.active, s.reproduces, \
     (SELECT COUNT(*) FROM sessions o WHERE o.project = s.project AND o.id <= s.id) AS number, \
     (SELECT COUNT(DISTINCT step) FROM jobs WHERE session_id = s.id AND kind = 'run' \
        AND placed = 1) AS steps, \
     (SELECT COUNT(DISTINCT step) FROM jobs WHERE session_id = s.id AND kind = 'build' \
        AND placed = 1) AS build_steps, \
     (SELECT COUNT(*) FROM jobs WHERE session_id = s.id) AS jobs";

fn session_from_row(row: &sqlx::sqlite::SqliteRow) -> sqlx::Result<Session> {
    Ok(Session {
        id: row.try_get::<i64, _>("id")?.max(0) as u64,
        project: row.try_get("project")?,
        started_at_ms: row.try_get("started_at_ms")?,
        active: row.try_get("active")?,
        steps: row.try_get("steps")?,
        build_steps: row.try_get("build_steps")?,
        jobs: row.try_get("jobs")?,
        number: row.try_get("number")?,
        reproduces: row.try_get("reproduces")?,
    })
}

#[tonic::async_trait]
impl SessionStore for SqliteStore {
    /// The project's active session; None before its first job.
    async fn active_session(&self, project: &[u8]) -> Result<Option<Session>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.project = ? AND s.active = 1"
        );
        Ok(sqlx::query(&sql)
            .bind(project)
            .fetch_optional(self.reader().await)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()?)
    }

    /// The project's session `number` (1 for its first).
    async fn session_by_number(
        &self,
        project: &[u8],
        number: u32,
    ) -> Result<Option<Session>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.project = ? \
             ORDER BY s.id LIMIT 1 OFFSET ?"
        );
        Ok(sqlx::query(&sql)
            .bind(project)
            .bind(i64::from(number.max(1)) - 1)
            .fetch_optional(self.reader().await)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()?)
    }

    /// Closes the project's active session (if any) and opens a new, empty one.
    async fn reset_session(&self, project: &[u8], now_ms: i64) -> Result<Session, StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query("UPDATE sessions SET active = 0 WHERE project = ? AND active = 1")
            .bind(project)
            .execute(&mut *tx)
            .await?;
        let id = active_session_id(&mut tx, project, now_ms).await?;
        let number: u32 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE project = ?")
            .bind(project)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Session {
            id: id.max(0) as u64,
            project: project.to_vec(),
            started_at_ms: now_ms,
            active: true,
            number,
            ..Session::default()
        })
    }

    /// Every job of a session, oldest first.
    async fn session_jobs(&self, session_id: u64) -> Result<Vec<SessionJob>, StoreError> {
        Ok(
            sqlx::query("SELECT id, kind, step, placed FROM jobs WHERE session_id = ? ORDER BY id")
                .bind(i64::try_from(session_id).unwrap_or(i64::MAX))
                .fetch_all(self.reader().await)
                .await?
                .iter()
                .map(|row| {
                    Ok(SessionJob {
                        id: row.try_get("id")?,
                        build: super::columns::job_kind(row, "kind")? == Some(JobKind::Build),
                        step: row.try_get("step")?,
                        placed: row.try_get("placed")?,
                    })
                })
                .collect::<sqlx::Result<_>>()?,
        )
    }

    /// Deletes every job of the last pipeline step of the project's active session
    /// (their processes, files and package links go with them; artifacts stay, other
    /// jobs may share them). `expected` is the step the user confirmed.
    async fn pop_step(&self, project: &[u8], expected: u32) -> Result<PoppedStep, PopError> {
        let mut tx = self.write_transaction().await?;
        let session: Option<i64> =
            sqlx::query_scalar("SELECT id FROM sessions WHERE project = ? AND active = 1")
                .bind(project)
                .fetch_optional(&mut *tx)
                .await?;
        let last: Option<u32> = match session {
            Some(id) => {
                sqlx::query_scalar(
                    "SELECT MAX(step) FROM jobs WHERE session_id = ? AND kind = 'run' \
                     AND placed = 1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
            }
            None => None,
        };
        let (Some(session), Some(last)) = (session, last) else {
            return Err(PopError::Empty);
        };
        if last != expected {
            return Err(PopError::Moved {
                last,
                asked: expected,
            });
        }
        // The step's first run: what it made was made since then.
        let first_started: i64 = sqlx::query_scalar(
            "SELECT MIN(started_at_ms) FROM jobs WHERE session_id = ? AND kind = 'run' \
             AND step = ?",
        )
        .bind(session)
        .bind(last)
        .fetch_one(&mut *tx)
        .await?;
        let current: (i64, String) = sqlx::query_as(
            "SELECT id, state FROM jobs WHERE session_id = ? AND kind = 'run' AND step = ? \
             AND placed = 1 ORDER BY id DESC LIMIT 1",
        )
        .bind(session)
        .bind(last)
        .fetch_one(&mut *tx)
        .await?;
        if current.1 == "running" {
            return Err(PopError::Running(last));
        }
        let outputs = sqlx::query_as::<_, (Vec<u8>, String)>(
            "SELECT f.path, h.digest FROM job_files f \
             JOIN artifact_hashes h ON h.artifact_id = f.artifact_id AND h.algorithm = 'blake3' \
             WHERE f.job_id = ? AND f.role = 'output' AND f.class = 'artifact'",
        )
        .bind(current.0)
        .fetch_all(&mut *tx)
        .await?;
        let removed =
            sqlx::query("DELETE FROM jobs WHERE session_id = ? AND kind = 'run' AND step = ?")
                .bind(session)
                .bind(last)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(PoppedStep {
            step: last,
            jobs: removed,
            outputs,
            started_at_ms: first_started,
        })
    }
}
