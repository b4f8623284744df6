//! Inputs and outputs of jobs, and the artifacts (content identities) they point at.

use roar_proto::pb;
use sqlx::{Row, Sqlite, SqliteConnection};

use super::Store;
use crate::artifacts::RecordedFile;
use crate::hashing::Content;
use crate::tracer::file_ledger::Role;

/// The artifact with this content, created on first sight. BLAKE3 is the identity
/// lookup today; further algorithms attach more rows to the same artifact.
async fn artifact_for(conn: &mut SqliteConnection, content: &Content) -> sqlx::Result<i64> {
    let digest = content.blake3_hex();
    let existing: Option<i64> = sqlx::query_scalar(
        "SELECT artifact_id FROM artifact_hashes WHERE algorithm = 'blake3' AND digest = ?",
    )
    .bind(&digest)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id: i64 = sqlx::query_scalar("INSERT INTO artifacts (size) VALUES (?) RETURNING id")
        .bind(i64::try_from(content.size).unwrap_or(i64::MAX))
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO artifact_hashes (artifact_id, algorithm, digest) VALUES (?, 'blake3', ?)",
    )
    .bind(id)
    .bind(&digest)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Stores a job's files inside the caller's transaction.
pub(super) async fn insert_job_files(
    conn: &mut SqliteConnection,
    job_id: i64,
    files: &[RecordedFile],
) -> sqlx::Result<()> {
    for file in files {
        let artifact = match &file.content {
            Some(content) => Some(artifact_for(conn, content).await?),
            None => None,
        };
        let role = match file.role {
            Role::Input => "input",
            Role::Output => "output",
        };
        sqlx::query(
            "INSERT INTO job_files (job_id, role, path, named_path, artifact_id, pre_image) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(job_id)
        .bind(role)
        .bind(&file.path)
        .bind(file.named.as_deref())
        .bind(artifact)
        .bind(file.pre_image)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// A job's inputs and outputs, in recording order.
    pub(super) async fn job_files(
        &self,
        job_id: i64,
    ) -> sqlx::Result<(Vec<pb::FileRecord>, Vec<pb::FileRecord>)> {
        let rows = sqlx::query::<Sqlite>(
            "SELECT f.id, f.role, f.path, f.named_path, f.pre_image, a.size, h.algorithm, \
                    h.digest \
             FROM job_files f \
             LEFT JOIN artifacts a ON a.id = f.artifact_id \
             LEFT JOIN artifact_hashes h ON h.artifact_id = a.id \
             WHERE f.job_id = ? ORDER BY f.id, h.algorithm",
        )
        .bind(job_id)
        .fetch_all(&self.reader)
        .await?;
        let (mut inputs, mut outputs): (Vec<pb::FileRecord>, Vec<pb::FileRecord>) =
            (Vec::new(), Vec::new());
        let mut last_id = None;
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let hash = match (
                row.try_get::<Option<String>, _>("algorithm")?,
                row.try_get::<Option<String>, _>("digest")?,
            ) {
                (Some(algorithm), Some(hex)) => Some(pb::Digest { algorithm, hex }),
                _ => None,
            };
            let role: String = row.try_get("role")?;
            let list = if role == "input" {
                &mut inputs
            } else {
                &mut outputs
            };
            if last_id == Some(id) {
                if let (Some(record), Some(hash)) = (list.last_mut(), hash) {
                    record.hashes.push(hash);
                }
                continue;
            }
            last_id = Some(id);
            list.push(pb::FileRecord {
                path: row.try_get("path")?,
                named_path: row
                    .try_get::<Option<Vec<u8>>, _>("named_path")?
                    .unwrap_or_default(),
                size: row
                    .try_get::<Option<i64>, _>("size")?
                    .map(|s| s.max(0) as u64),
                hashes: hash.into_iter().collect(),
                pre_image: row.try_get("pre_image")?,
            });
        }
        Ok((inputs, outputs))
    }
}
