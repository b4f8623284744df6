//! The database's size and row counts (`roarctl db`).

use sqlx::Row;

use super::SqliteStore;
use crate::store::model::StoreStats;

impl SqliteStore {
    /// File and page sizes, every table's rows, and the hash cache's extent. Counting
    /// reads every table once: for `roarctl db`, not for any job's path.
    pub(super) async fn store_stats(&self) -> sqlx::Result<StoreStats> {
        let reader = self.reader().await;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(reader)
        .await?;
        let mut tables = Vec::with_capacity(names.len());
        for name in names {
            let quoted = name.replace('"', "\"\"");
            let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{quoted}\""))
                .fetch_one(reader)
                .await?;
            tables.push((name, rows.max(0) as u64));
        }
        let pragma = |name: &'static str| async move {
            let value: i64 = sqlx::query_scalar(&format!("PRAGMA {name}"))
                .fetch_one(reader)
                .await?;
            Ok::<u64, sqlx::Error>(value.max(0) as u64)
        };
        let cache =
            sqlx::query("SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM hash_cache")
                .fetch_one(reader)
                .await?;
        let size = |i: usize| std::fs::metadata(&self.files[i]).map_or(0, |m| m.len());
        Ok(StoreStats {
            file_bytes: size(0),
            log_bytes: size(1),
            page_size: pragma("page_size").await?,
            pages: pragma("page_count").await?,
            free_pages: pragma("freelist_count").await?,
            tables,
            hash_cache_entries: cache.try_get::<i64, _>("n")?.max(0) as u64,
            hash_cache_bytes: cache.try_get::<i64, _>("bytes")?.max(0) as u64,
        })
    }
}
