//! Tags roar created on commits, kept so a user can see which lineage each anchors.

use super::SqliteStore;
use crate::store::GitTagStore;
use crate::store::error::StoreError;
use crate::store::input::CommitTag;

#[tonic::async_trait]
impl GitTagStore for SqliteStore {
    async fn record_tags(
        &self,
        dag_hash: &str,
        tags: &[CommitTag<'_>],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        for tag in tags {
            sqlx::query(
                "INSERT OR IGNORE INTO git_tags (name, dag_hash, root, git_commit, created_at_ms) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(tag.name)
            .bind(dag_hash)
            .bind(tag.root)
            .bind(tag.commit)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        Ok(tx.commit().await?)
    }
}
