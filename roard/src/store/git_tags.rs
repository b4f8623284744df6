//! Tags roar created on commits, kept so a user can see which lineage each anchors.

use roar_proto::pb;

use super::Store;

impl Store {
    pub async fn record_tags(&self, reply: &pb::TagLineageReply, now_ms: i64) -> sqlx::Result<()> {
        let mut tx = self.write_transaction().await?;
        for tag in &reply.tags {
            sqlx::query(
                "INSERT OR IGNORE INTO git_tags (name, dag_hash, root, git_commit, created_at_ms) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&tag.name)
            .bind(&reply.dag_hash)
            .bind(&tag.root)
            .bind(&tag.commit)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
}
