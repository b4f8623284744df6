//! Artifacts by content: lookup by any hash (prefix) or by path, and where each was
//! seen.

use roar_proto::pb;
use sqlx::Row;

use super::Store;
use super::jobs::summary_from_row;

/// Shortest hash prefix accepted: shorter ones match too much to be useful.
pub const MIN_PREFIX: usize = 8;

/// Most uses listed for one artifact (a shared library is read by every job).
const MAX_USES: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactLookupError {
    #[error(
        "'{0}' is not a hash prefix: give at least {MIN_PREFIX} hex digits, optionally \
         after 'blake3:' or 'sha256:'"
    )]
    BadPrefix(String),
    #[error("no recorded artifact matches '{0}'")]
    NotFound(String),
    #[error("'{0}' matches several artifacts; give more digits")]
    Ambiguous(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Splits `"algorithm:hex"` or `"hex"`, checking the hex part.
pub fn parse_hash_prefix(text: &str) -> Result<(Option<&str>, String), ArtifactLookupError> {
    let (algorithm, hex) = match text.split_once(':') {
        Some((algorithm, hex)) => (Some(algorithm), hex),
        None => (None, text),
    };
    if hex.len() < MIN_PREFIX || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ArtifactLookupError::BadPrefix(text.to_string()));
    }
    Ok((algorithm, hex.to_ascii_lowercase()))
}

impl Store {
    /// The artifact whose hash (of any algorithm, or of `algorithm`) starts with `prefix`.
    pub async fn artifact_by_hash(&self, text: &str) -> Result<pb::Artifact, ArtifactLookupError> {
        let id = self.artifact_id_by_hash(text).await?;
        Ok(self.artifact(id).await?)
    }

    /// The content last recorded at `path`.
    pub async fn artifact_by_path(&self, path: &[u8]) -> Result<pb::Artifact, ArtifactLookupError> {
        let id = self.artifact_id_by_path(path).await?;
        Ok(self.artifact(id).await?)
    }

    /// The id of the one artifact whose hash starts with the prefix in `text`.
    pub async fn artifact_id_by_hash(&self, text: &str) -> Result<i64, ArtifactLookupError> {
        let (algorithm, prefix) = parse_hash_prefix(text)?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT artifact_id FROM artifact_hashes \
             WHERE digest >= ?1 AND digest < ?1 || 'g' AND (?2 IS NULL OR algorithm = ?2) \
             LIMIT 2",
        )
        .bind(&prefix)
        .bind(algorithm)
        .fetch_all(&self.reader)
        .await?;
        match ids.as_slice() {
            [] => Err(ArtifactLookupError::NotFound(text.to_string())),
            [id] => Ok(*id),
            _ => Err(ArtifactLookupError::Ambiguous(text.to_string())),
        }
    }

    /// The id of the content last recorded at `path`.
    pub async fn artifact_id_by_path(&self, path: &[u8]) -> Result<i64, ArtifactLookupError> {
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
        .fetch_optional(&self.reader)
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
    pub async fn repo_file_readers(&self, path: &[u8]) -> sqlx::Result<Vec<pb::ArtifactUse>> {
        let columns = prefixed_summary_columns();
        sqlx::query(&format!(
            "SELECT f.role AS role, f.path AS file_path, f.pre_image AS file_pre_image, \
                    {columns} \
             FROM job_files f JOIN jobs j ON j.id = f.job_id \
             WHERE f.path = ? AND f.class = 'repo' AND f.role = 'input' ORDER BY f.id LIMIT ?"
        ))
        .bind(path)
        .bind(MAX_USES)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(use_from_row)
        .collect()
    }

    async fn artifact(&self, id: i64) -> sqlx::Result<pb::Artifact> {
        let size: i64 = sqlx::query_scalar("SELECT size FROM artifacts WHERE id = ?")
            .bind(id)
            .fetch_one(&self.reader)
            .await?;
        let hashes = sqlx::query(
            "SELECT algorithm, digest FROM artifact_hashes WHERE artifact_id = ? \
             ORDER BY algorithm",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(super::columns::digest)
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
        .fetch_all(&self.reader)
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
                    .fetch_all(&self.reader)
                    .await
            }
        };
        Ok(pb::Artifact {
            size: size.max(0) as u64,
            hashes,
            uses,
            downloaded_from: urls("downloads").await?,
            uploaded_to: urls("uploads").await?,
            repo_file: None,
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

fn use_from_row(row: &sqlx::sqlite::SqliteRow) -> sqlx::Result<pb::ArtifactUse> {
    Ok(pb::ArtifactUse {
        role: super::columns::role(row, "role")?,
        path: row.try_get("file_path")?,
        pre_image: row.try_get("file_pre_image")?,
        job: Some(summary_from_row(row)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_prefix_shared_by_two_artifacts_is_ambiguous() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("roar.db")).await.unwrap();
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

    #[test]
    fn prefixes_need_eight_hex_digits() {
        assert!(parse_hash_prefix("abcdef0").is_err());
        assert!(parse_hash_prefix("abcdefgh").is_err());
        assert_eq!(
            parse_hash_prefix("ABCDEF01").unwrap(),
            (None, "abcdef01".to_string())
        );
        assert_eq!(
            parse_hash_prefix("sha256:abcdef01").unwrap(),
            (Some("sha256"), "abcdef01".to_string())
        );
    }
}
