//! Persistence of the hash cache (see `crate::hash_cache`).

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row, Sqlite};

use super::SqliteStore;
use super::batch::Batch;
use crate::hash_algorithms::{Digest, by_name};
use crate::hash_cache::CacheEntry;
use crate::hashing::{Content, FileStamp};
use crate::store::HashCacheStore;
use crate::store::error::StoreError;

const ROWS_PER_STATEMENT: usize = 1000;

/// `algorithm:hex,algorithm:hex`.
fn encode_extra(digests: &[Digest]) -> String {
    digests
        .iter()
        .map(|d| format!("{}:{}", d.algorithm, d.hex()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The inverse of `encode_extra`; entries of algorithms this build does not know, or
/// that do not parse, are dropped (the cache then just misses).
fn decode_extra(text: &str) -> Vec<Digest> {
    text.split(',')
        .filter_map(|item| {
            let (name, hex) = item.split_once(':')?;
            by_name(name)?;
            Digest::from_stored(name, hex)
        })
        .collect()
}

/// Adds fresh cache entries to `batch` (replacing older ones for the same paths).
pub(super) fn push_hash_cache<'a>(batch: &mut Batch<'a>, entries: &'a [(Vec<u8>, CacheEntry)]) {
    for chunk in entries.chunks(ROWS_PER_STATEMENT) {
        let query = batch.statement(
            "INSERT INTO hash_cache (path, device, inode, size, mtime_ns, ctime_ns, blake3, \
                                     extra) ",
        );
        query.push_values(chunk, |mut row, (path, entry)| {
            row.push_bind(path.as_slice())
                .push_bind(entry.stamp.device as i64)
                .push_bind(entry.stamp.inode as i64)
                .push_bind(entry.stamp.size as i64)
                .push_bind(entry.stamp.mtime_ns)
                .push_bind(entry.stamp.ctime_ns)
                .push_bind(entry.content.blake3.as_slice())
                .push_bind(encode_extra(&entry.extra));
        });
        query.push(
            " ON CONFLICT (path) DO UPDATE SET device = excluded.device, \
             inode = excluded.inode, size = excluded.size, mtime_ns = excluded.mtime_ns, \
             ctime_ns = excluded.ctime_ns, blake3 = excluded.blake3, extra = excluded.extra",
        );
    }
}

#[tonic::async_trait]
impl HashCacheStore for SqliteStore {
    /// Stored entries for `paths`.
    async fn load_hash_cache(
        &self,
        paths: &[Vec<u8>],
    ) -> Result<HashMap<Vec<u8>, CacheEntry>, StoreError> {
        let mut found = HashMap::new();
        for chunk in paths.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT path, device, inode, size, mtime_ns, ctime_ns, blake3, extra \
                 FROM hash_cache \
                 WHERE path IN (",
            );
            let mut list = query.separated(", ");
            for path in chunk {
                list.push_bind(path.as_slice());
            }
            query.push(")");
            for row in query.build().fetch_all(self.reader().await).await? {
                let digest: Vec<u8> = row.try_get("blake3")?;
                let Ok(blake3) = <[u8; 32]>::try_from(digest.as_slice()) else {
                    continue;
                };
                let size = row.try_get::<i64, _>("size")?.max(0) as u64;
                found.insert(
                    row.try_get("path")?,
                    CacheEntry {
                        stamp: FileStamp {
                            device: row.try_get::<i64, _>("device")? as u64,
                            inode: row.try_get::<i64, _>("inode")? as u64,
                            size,
                            mtime_ns: row.try_get("mtime_ns")?,
                            ctime_ns: row.try_get("ctime_ns")?,
                        },
                        content: Content { size, blake3 },
                        extra: decode_extra(&row.try_get::<String, _>("extra")?),
                    },
                );
            }
        }
        Ok(found)
    }

    /// Persists fresh cache entries learnt outside a job's record.
    async fn save_hash_cache(&self, entries: &[(Vec<u8>, CacheEntry)]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_transaction().await?;
        let mut batch = Batch::new();
        push_hash_cache(&mut batch, entries);
        batch.run(&mut tx).await?;
        Ok(tx.commit().await?)
    }
}
