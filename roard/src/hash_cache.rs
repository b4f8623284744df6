//! One hash cache for every job of the daemon: an unchanged file is never hashed twice,
//! across jobs, sessions and daemon restarts.
//!
//! An entry maps a canonical path to the stamp the file had when it was hashed
//! (device, inode, size, mtime and ctime in nanoseconds) and the content found. It is
//! used only while the file's current stamp is identical. Entries are kept in memory for
//! the hot set and persisted in SQLite (`hash_cache` table) with each job's record.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::hash_algorithms::{Digest, HashAlgorithm};
use crate::hashing::{Content, FileStamp, Hashed, hash_regular_file};

/// Entries kept in memory; past this the map starts over (the database still has all).
const MEMORY_ENTRIES: usize = 200_000;

/// A file whose ctime is this close to the moment it was hashed may still be written
/// within the same timestamp tick without changing its stamp: such a digest is used
/// for the record but not cached.
const RACY_WINDOW_NS: i64 = 100_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub stamp: FileStamp,
    pub content: Content,
    /// Digests of the extra algorithms (see `crate::hash_algorithms`).
    pub extra: Vec<Digest>,
}

/// Hashing work done for one job.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HashStats {
    pub hits: u64,
    pub misses: u64,
    pub hashed_bytes: u64,
}

/// Where the cache's entries outlive the daemon (the store); the cache itself knows
/// nothing of databases.
pub trait PersistedEntries {
    /// The stored entries for `paths` (those it has).
    fn load(
        &self,
        paths: &[Vec<u8>],
    ) -> impl std::future::Future<Output = Result<HashMap<Vec<u8>, CacheEntry>, String>> + Send;
}

#[derive(Default)]
pub struct HashCache {
    /// Algorithms computed besides BLAKE3; an entry lacking one of them is not used.
    extra_algorithms: Vec<&'static dyn HashAlgorithm>,
    memory: Mutex<HashMap<Vec<u8>, CacheEntry>>,
    /// Files being hashed right now, so that concurrent jobs needing the same digest
    /// wait for one hashing instead of reading the file again (single flight).
    in_flight: Mutex<HashMap<Vec<u8>, Arc<Flight>>>,
    hits: AtomicU64,
    misses: AtomicU64,
    hashed_bytes: AtomicU64,
}

impl HashCache {
    /// A cache whose digests include `extra_algorithms` besides BLAKE3.
    pub fn new(extra_algorithms: Vec<&'static dyn HashAlgorithm>) -> Self {
        Self {
            extra_algorithms,
            ..Self::default()
        }
    }

    pub fn extra_algorithms(&self) -> &[&'static dyn HashAlgorithm] {
        &self.extra_algorithms
    }

    /// Whether `entry` describes the file with this stamp and has every digest needed.
    fn serves(&self, entry: &CacheEntry, stamp: FileStamp) -> bool {
        entry.stamp == stamp
            && self
                .extra_algorithms
                .iter()
                .all(|a| entry.extra.iter().any(|d| d.algorithm == a.name()))
    }

    /// The entries known for `paths`: from memory, then, for the rest, from where they
    /// are persisted (remembered in memory from then on). An unreadable store costs
    /// only hashing: the files are hashed as if never seen.
    pub async fn known_entries<'a>(
        &self,
        persisted: &(impl PersistedEntries + ?Sized),
        paths: impl Iterator<Item = &'a [u8]>,
    ) -> HashMap<Vec<u8>, CacheEntry> {
        let (mut known, missing) = self.lookup_memory(paths);
        if missing.is_empty() {
            return known;
        }
        match persisted.load(&missing).await {
            Ok(found) => {
                self.remember(found.iter().map(|(path, entry)| (path.as_slice(), entry)));
                known.extend(found);
            }
            Err(e) => tracing::warn!("hash cache unavailable, hashing everything: {e}"),
        }
        known
    }

    /// Entries held in memory for `paths`; the rest are returned as misses.
    pub(crate) fn lookup_memory<'a>(
        &self,
        paths: impl Iterator<Item = &'a [u8]>,
    ) -> (HashMap<Vec<u8>, CacheEntry>, Vec<Vec<u8>>) {
        let memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        for path in paths {
            match memory.get(path) {
                Some(entry) => {
                    found.insert(path.to_vec(), entry.clone());
                }
                None => missing.push(path.to_vec()),
            }
        }
        (found, missing)
    }

    /// Keeps entries in memory: fresh ones (persisted with the job's record), and those
    /// a job had to load from the database, so that the next job reading the same
    /// files after a restart of roard finds them here instead of querying again.
    pub fn remember<'a>(&self, entries: impl ExactSizeIterator<Item = (&'a [u8], &'a CacheEntry)>) {
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        if memory.len() + entries.len() > MEMORY_ENTRIES {
            memory.clear();
        }
        for (path, entry) in entries {
            memory.insert(path.to_vec(), entry.clone());
        }
    }

    pub fn add_stats(&self, stats: HashStats) {
        self.hits.fetch_add(stats.hits, Ordering::Relaxed);
        self.misses.fetch_add(stats.misses, Ordering::Relaxed);
        self.hashed_bytes
            .fetch_add(stats.hashed_bytes, Ordering::Relaxed);
    }

    /// Totals since the daemon started.
    pub fn stats(&self) -> HashStats {
        HashStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            hashed_bytes: self.hashed_bytes.load(Ordering::Relaxed),
        }
    }
}

/// One hashing in progress; waiters block on `done` until the result is set.
#[derive(Default)]
struct Flight {
    result: Mutex<Option<Option<Hashed>>>,
    done: Condvar,
}

impl HashCache {
    /// Hashes `path` once for every caller that asks at the same time. The result is
    /// used by a waiter only if the file's stamp is still the one it saw.
    fn hash_once(
        &self,
        path: &[u8],
        stamp_now: FileStamp,
        progress: Option<&AtomicU64>,
    ) -> io::Result<(Hashed, bool)> {
        let (flight, leader) = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            match in_flight.get(path) {
                Some(flight) => (Arc::clone(flight), false),
                None => {
                    let flight = Arc::new(Flight::default());
                    in_flight.insert(path.to_vec(), Arc::clone(&flight));
                    (flight, true)
                }
            }
        };
        let fs_path = Path::new(OsStr::from_bytes(path));
        if leader {
            let hashed = hash_regular_file(fs_path, &self.extra_algorithms, progress);
            *flight.result.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(hashed.as_ref().ok().cloned());
            flight.done.notify_all();
            self.in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(path);
            return hashed.map(|h| (h, true));
        }
        let mut result = flight.result.lock().unwrap_or_else(|e| e.into_inner());
        while result.is_none() {
            result = flight.done.wait(result).unwrap_or_else(|e| e.into_inner());
        }
        match &*result {
            Some(Some(hashed)) if hashed.stamp == stamp_now => Ok((hashed.clone(), false)),
            _ => {
                drop(result);
                hash_regular_file(fs_path, &self.extra_algorithms, progress).map(|h| (h, true))
            }
        }
    }
}

/// The content (and extra digests) of `path`, from `known` when its stamp still
/// matches, else by hashing (once across concurrent jobs). Returns them and, when they
/// were hashed and are safe to cache, whether the entry is fresh. Bytes read count
/// into `progress`.
pub fn content_of(
    cache: &HashCache,
    path: &[u8],
    known: &HashMap<Vec<u8>, CacheEntry>,
    stats: &mut HashStats,
    progress: Option<&AtomicU64>,
) -> io::Result<(CacheEntry, bool)> {
    let fs_path = Path::new(OsStr::from_bytes(path));
    let meta = std::fs::symlink_metadata(fs_path)?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let stamp_now = FileStamp::of(&meta);
    // `known` was loaded when this job's hashing began; the memory map also has what
    // concurrent jobs hashed since.
    let remembered = || {
        let memory = cache.memory.lock().unwrap_or_else(|e| e.into_inner());
        memory.get(path).cloned()
    };
    if let Some(entry) = known.get(path).cloned().or_else(remembered)
        && cache.serves(&entry, stamp_now)
    {
        stats.hits += 1;
        return Ok((entry, false));
    }
    let started = now_ns();
    let (
        Hashed {
            content,
            stamp,
            extra,
        },
        hashed_here,
    ) = cache.hash_once(path, stamp_now, progress)?;
    if hashed_here {
        stats.misses += 1;
        stats.hashed_bytes += content.size;
    } else {
        stats.hits += 1;
    }
    let entry = CacheEntry {
        stamp,
        content,
        extra,
    };
    let racy = started - stamp.ctime_ns < RACY_WINDOW_NS;
    if !racy {
        cache.remember(std::iter::once((path, &entry)));
    }
    Ok((entry, !racy))
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn age(path: &Path) {
        // Make the file's timestamps old enough to be cacheable.
        std::thread::sleep(std::time::Duration::from_millis(150));
        let _ = path;
    }

    #[test]
    fn an_unchanged_file_is_hashed_once_and_changes_are_caught() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data");
        std::fs::write(&file, b"one").unwrap();
        age(&file);
        let path = file.as_os_str().as_bytes();
        let mut stats = HashStats::default();
        let mut known = HashMap::new();
        let cache = HashCache::default();
        let (first, fresh) = content_of(&cache, path, &known, &mut stats, None).unwrap();
        assert!(fresh, "old enough to cache");
        known.insert(path.to_vec(), first.clone());
        let (second, fresh) = content_of(&cache, path, &known, &mut stats, None).unwrap();
        assert_eq!(first, second);
        assert!(!fresh);
        assert_eq!((stats.hits, stats.misses), (1, 1));

        // Same size, mtime forged back: ctime still moves, so it is hashed again.
        let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::write(&file, b"two").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let (third, _) = content_of(&cache, path, &known, &mut stats, None).unwrap();
        assert_ne!(third, first);
        assert_eq!(third.content.blake3, *blake3::hash(b"two").as_bytes());
    }

    #[test]
    fn freshly_written_files_are_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fresh");
        std::fs::write(&file, b"x").unwrap();
        let mut stats = HashStats::default();
        let (_, fresh) = content_of(
            &HashCache::default(),
            file.as_os_str().as_bytes(),
            &HashMap::new(),
            &mut stats,
            None,
        )
        .unwrap();
        assert!(!fresh);
    }
}
