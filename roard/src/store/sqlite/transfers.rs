//! Downloads (sources of lineage, with their URL) and uploads (where artifacts went).

use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::HashMap;

use super::SqliteStore;
use super::files::artifacts_for;
use crate::hashing::Content;
use crate::store::TransferStore;
use crate::store::error::StoreError;
use crate::store::input::UploadRecord;

/// Which way content went through `get` or `put`.
#[derive(Clone, Copy)]
pub(super) enum Transfer {
    Download,
    Upload,
}

impl SqliteStore {
    /// The URLs each of these artifacts was downloaded from, or uploaded to.
    pub(super) async fn transfer_urls(
        &self,
        transfer: Transfer,
        ids: &[i64],
    ) -> sqlx::Result<HashMap<i64, Vec<String>>> {
        let table = match transfer {
            Transfer::Download => "downloads",
            Transfer::Upload => "uploads",
        };
        let mut origins: HashMap<i64, Vec<String>> = HashMap::new();
        for chunk in ids.chunks(500) {
            let mut query = QueryBuilder::<Sqlite>::new(format!(
                "SELECT DISTINCT artifact_id, url FROM {table} WHERE artifact_id IN ("
            ));
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            list.push_unseparated(") ORDER BY id");
            for row in query.build().fetch_all(self.reader().await).await? {
                origins
                    .entry(row.try_get("artifact_id")?)
                    .or_default()
                    .push(row.try_get("url")?);
            }
        }
        Ok(origins)
    }
}

#[tonic::async_trait]
impl TransferStore for SqliteStore {
    /// Records a downloaded file as an artifact (BLAKE3 and SHA-256) that came from `url`.
    async fn record_download(
        &self,
        url: &str,
        path: &[u8],
        content: Content,
        sha256: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        let ids = artifacts_for(&mut tx, std::iter::once(&content)).await?;
        let Some(&id) = ids.get(&content.blake3) else {
            return Err(sqlx::Error::RowNotFound.into());
        };
        sqlx::query(
            "INSERT OR IGNORE INTO artifact_hashes (artifact_id, algorithm, digest) \
             VALUES (?, 'sha256', ?)",
        )
        .bind(id)
        .bind(sha256)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO downloads (artifact_id, url, path, created_at_ms) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(url)
        .bind(path)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        Ok(tx.commit().await?)
    }

    /// Records where artifacts were uploaded, in one transaction.
    async fn record_uploads(
        &self,
        uploads: &[UploadRecord<'_>],
        message: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        let ids = artifacts_for(&mut tx, uploads.iter().map(|u| &u.content)).await?;
        for upload in uploads {
            let Some(&id) = ids.get(&upload.content.blake3) else {
                continue;
            };
            sqlx::query(
                "INSERT INTO uploads (artifact_id, url, path, message, transferred, created_at_ms) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(upload.url)
            .bind(upload.path)
            .bind(message)
            .bind(upload.transferred)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        Ok(tx.commit().await?)
    }
}
