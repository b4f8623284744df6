//! Turns a finished trace's file accesses into what is stored: each input and output
//! with its content identity, taken from the hash cache when the file is unchanged and
//! hashed otherwise (off the async runtime: hashing reads whole files).

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use crate::hash_algorithms::Digest;
use crate::hash_cache::{CacheEntry, HashCache, HashStats, content_of};
use crate::hashing::Content;
use crate::store::Store;
use crate::tracer::file_ledger::{FileAccess, Role};

/// An input or output ready to be stored.
#[derive(Debug)]
pub struct RecordedFile {
    pub path: Vec<u8>,
    pub named: Option<Vec<u8>>,
    pub role: Role,
    /// None when the content could not be read.
    pub content: Option<Content>,
    /// Digests of the extra algorithms, when the content was read.
    pub extra: Vec<Digest>,
    pub pre_image: bool,
}

/// A job's files with their contents, and what hashing them taught the cache.
#[derive(Debug, Default)]
pub struct HashedFiles {
    pub files: Vec<RecordedFile>,
    pub cache_updates: Vec<(Vec<u8>, CacheEntry)>,
    pub stats: HashStats,
}

impl HashedFiles {
    pub fn count(&self, role: Role) -> usize {
        self.files.iter().filter(|f| f.role == role).count()
    }
}

/// Gives every access its content. Outputs that no longer exist and files that are not
/// regular files (directories, FIFOs, devices) are left out.
pub async fn hash_files(
    cache: &Arc<HashCache>,
    store: &Store,
    accesses: Vec<FileAccess>,
) -> HashedFiles {
    let wanted = accesses
        .iter()
        .filter(|a| a.pre_image.is_none())
        .map(|a| a.path.as_slice());
    let (mut known, missing) = cache.lookup_memory(wanted);
    match store.load_hash_cache(&missing).await {
        Ok(found) => known.extend(found),
        Err(e) => tracing::warn!("hash cache unavailable, hashing everything: {e}"),
    }
    let shared = Arc::clone(cache);
    let hashed = tokio::task::spawn_blocking(move || hash_accesses(&shared, accesses, &known))
        .await
        .unwrap_or_default();
    cache.add_stats(hashed.stats);
    hashed
}

fn hash_accesses(
    cache: &HashCache,
    accesses: Vec<FileAccess>,
    known: &HashMap<Vec<u8>, CacheEntry>,
) -> HashedFiles {
    let mut result = HashedFiles::default();
    for access in accesses {
        let (content, extra, pre_image) = match access.pre_image {
            Some(hashed) => (Some(hashed.content), hashed.extra, true),
            None => match content_of(cache, &access.path, known, &mut result.stats) {
                Ok((entry, fresh)) => {
                    let (content, extra) = (entry.content, entry.extra.clone());
                    if fresh {
                        result.cache_updates.push((access.path.clone(), entry));
                    }
                    (Some(content), extra, false)
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound && access.role == Role::Output => {
                    continue;
                }
                Err(e) => {
                    tracing::warn!("cannot hash {}: {e}", String::from_utf8_lossy(&access.path));
                    (None, Vec::new(), false)
                }
            },
        };
        result.files.push(RecordedFile {
            path: access.path,
            named: access.named,
            role: access.role,
            content,
            extra,
            pre_image,
        });
    }
    result
}
