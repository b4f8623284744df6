//! Artifacts by content: lookup by any hash (prefix) or by path, and where each was
//! seen.

use sqlx::Row;

use super::SqliteStore;
use super::jobs::summary_from_row;
use crate::store::ArtifactStore;
use crate::store::error::{ArtifactLookupError, StoreError};
use crate::store::input::parse_hash_prefix;
use crate::store::model::{Artifact, ArtifactUse};

/// Most uses listed for one artifact (a shared library is read by every job).
const MAX_USES: i64 = 1000;

impl SqliteStore {
    async fn artifact(&self, id: i64) -> sqlx::Result<Artifact> {
        let size: i64 = sqlx::query_scalar("SELECT size FROM artifacts WHERE id = ?")
            .bind(id)
            .fetch_one(self.reader().await)
            .await?;
        let hashes = sqlx::query(
            "SELECT algorithm, digest FROM artifact_hashes WHERE artifact_id = ? \
             ORDER BY algorithm",
        )
        .bind(id)
        .fetch_all(self.reader().await)
        .await?
        .iter()
        .map(super::columns::digest)
        .filter_map(Result::transpose)
        .collect::<sqlx::Result<Vec<_>>>()?;
        let columns = prefixed_summary_columns();
        let uses = sqlx::query(&format!(
            "SELECT f.role AS role, f.path AS file_path, f.pre_image AS file_pre_image, \
                    {columns} \
             FROM job_files f JOIN jobs j ON j.id = f.job_id \
             WHERE f.artifact_id = ? ORDER BY f.id LIMIT ?"
        ))
        .bind(id)
        .bind(MAX_USES)
        .fetch_all(self.reader().await)
        .await?
        .iter()
        .map(use_from_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
        let urls = |table: &'static str| {
            let sql =
                format!("SELECT DISTINCT url FROM {table} WHERE artifact_id = ? ORDER BY url");
            async move {
                sqlx::query_scalar::<_, String>(&sql)
                    .bind(id)
                    .fetch_all(self.reader().await)
                    .await
            }
        };
        Ok(Artifact {
            id,
            size: size.max(0) as u64,
            hashes,
            uses,
            downloaded_from: urls("downloads").await?,
            uploaded_to: urls("uploads").await?,
        })
    }
}

/// The job summary's columns as `j.column`.
fn prefixed_summary_columns() -> String {
    super::jobs::SUMMARY_COLUMNS
        .split(", ")
        .map(|c| format!("j.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn use_from_row(row: &sqlx::sqlite::SqliteRow) -> sqlx::Result<ArtifactUse> {
    Ok(ArtifactUse {
        role: super::columns::role(row, "role")?,
        path: row.try_get("file_path")?,
        pre_image: row.try_get("file_pre_image")?,
        job: summary_from_row(row)?,
    })
}

#[tonic::async_trait]
impl ArtifactStore for SqliteStore {
    /// The artifact whose hash (of any algorithm, or of `algorithm`) starts with `prefix`.
    async fn artifact_by_hash(&self, text: &str) -> Result<Artifact, ArtifactLookupError> {
        let id = self.artifact_id_by_hash(text).await?;
        Ok(self.artifact(id).await?)
    }

    /// The content last recorded at `path`.
    async fn artifact_by_path(&self, path: &[u8]) -> Result<Artifact, ArtifactLookupError> {
        let id = self.artifact_id_by_path(path).await?;
        Ok(self.artifact(id).await?)
    }

    /// The id of the one artifact whose hash starts with the prefix in `text`.
    async fn artifact_id_by_hash(&self, text: &str) -> Result<i64, ArtifactLookupError> {
        let (algorithm, prefix) = parse_hash_prefix(text)?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT artifact_id FROM artifact_hashes \
             WHERE digest >= ?1 AND digest < ?1 || 'g' AND (?2 IS NULL OR algorithm = ?2) \
             LIMIT 2",
        )
        .bind(&prefix)
        .bind(algorithm)
        .fetch_all(self.reader().await)
        .await?;
        match ids.as_slice() {
            [] => Err(ArtifactLookupError::NotFound(text.to_string())),
            [id] => Ok(*id),
            _ => Err(ArtifactLookupError::Ambiguous(text.to_string())),
        }
    }

    /// The id of the content last recorded at `path`.
    async fn artifact_id_by_path(&self, path: &[u8]) -> Result<i64, ArtifactLookupError> {
        // The newest of what jobs recorded there and what `get` saved there.
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT artifact_id FROM ( \
                 SELECT f.artifact_id, j.started_at_ms AS at, f.id AS seq \
                 FROM job_files f JOIN jobs j ON j.id = f.job_id \
                 WHERE f.path = ?1 AND f.artifact_id IS NOT NULL \
                 UNION ALL \
                 SELECT artifact_id, created_at_ms AS at, id AS seq FROM downloads \
                 WHERE path = ?1) \
             ORDER BY at DESC, seq DESC LIMIT 1",
        )
        .bind(path)
        .fetch_optional(self.reader().await)
        .await?;
        match id {
            Some(id) => Ok(id),
            None => Err(ArtifactLookupError::NotFound(
                String::from_utf8_lossy(path).into_owned(),
            )),
        }
    }

    /// The jobs that read `path` as a file of their git repository (not hashed as
    /// data), oldest first.
    async fn repo_file_readers(&self, path: &[u8]) -> Result<Vec<ArtifactUse>, StoreError> {
        let columns = prefixed_summary_columns();
        Ok(sqlx::query(&format!(
            "SELECT f.role AS role, f.path AS file_path, f.pre_image AS file_pre_image, \
                    {columns} \
             FROM job_files f JOIN jobs j ON j.id = f.job_id \
             WHERE f.path = ? AND f.class = 'repo' AND f.role = 'input' ORDER BY f.id LIMIT ?"
        ))
        .bind(path)
        .bind(MAX_USES)
        .fetch_all(self.reader().await)
        .await?
        .iter()
        .map(use_from_row)
        .collect::<sqlx::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TransferStore;

    #[tokio::test]
    async fn a_prefix_shared_by_two_artifacts_is_ambiguous() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("roar.db"))
            .await
            .unwrap();
        for last in [1u8, 2] {
            let mut blake3 = [0xabu8; 32];
            blake3[31] = last;
            let content = crate::hashing::Content { size: 1, blake3 };
            store
                .record_download("file:///x", b"/x", content, "00", last.into())
                .await
                .unwrap();
        }
        let found = store.artifact_id_by_hash("abababab").await;
        assert!(
            matches!(found, Err(ArtifactLookupError::Ambiguous(_))),
            "{found:?}"
        );
        let exact = format!("{}01", "ab".repeat(31));
        assert!(store.artifact_id_by_hash(&exact).await.is_ok());
    }
}
