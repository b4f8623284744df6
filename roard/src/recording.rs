//! Turns a finished trace's file accesses into what is stored: every file gets its class
//! (see `classify`), package and system files name the packages the job used (see
//! `packages`), and the job's data gets its content identity, taken from the hash cache
//! when the file is unchanged and hashed otherwise (off the async runtime: hashing reads
//! whole files).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::classify::{Class, Classifier, RepoFiles, Rules};
use crate::hash_cache::{CacheEntry, HashCache, HashStats, PersistedEntries, content_of};
use crate::packages::{Package, PackageIndex};
use crate::record::{HashedFiles, RecordedFile, Role};
use crate::tracer::file_ledger::FileAccess;

/// How to sort one job's files.
pub struct FileContext {
    pub rules: Rules,
    /// The job's project root: its git repository, if it is one, says which files
    /// are tracked.
    pub project: PathBuf,
}

/// How far hashing has got; read by whoever reports progress while it runs.
#[derive(Debug, Default)]
pub struct HashProgress {
    pub files_done: AtomicU64,
    pub files_total: AtomicU64,
    pub bytes_done: AtomicU64,
    pub bytes_total: AtomicU64,
}

/// A classified access, and whether its content is wanted.
struct Sorted {
    access: FileAccess,
    class: Class,
    hash: bool,
}

/// Classifies every access, notes the packages, and hashes the job's data. Outputs that
/// no longer exist and files that are not regular files (directories, FIFOs, devices)
/// are left out.
pub async fn record_files(
    cache: &Arc<HashCache>,
    packages: &Arc<PackageIndex>,
    persisted: &(impl PersistedEntries + ?Sized),
    accesses: Vec<FileAccess>,
    context: FileContext,
    progress: &Arc<HashProgress>,
) -> HashedFiles {
    let packages = Arc::clone(packages);
    let sorted =
        tokio::task::spawn_blocking(move || classify_accesses(&packages, accesses, &context)).await;
    let Ok((sorted, used_packages)) = sorted else {
        tracing::error!("classifying the job's files failed; its files are not recorded");
        return HashedFiles::default();
    };
    let wanted = sorted
        .iter()
        .filter(|s| s.hash && s.access.pre_image.is_none())
        .map(|s| s.access.path.as_slice());
    let known = cache.known_entries(persisted, wanted).await;
    let (shared, progress) = (Arc::clone(cache), Arc::clone(progress));
    let hashed =
        tokio::task::spawn_blocking(move || hash_sorted(&shared, sorted, &known, &progress)).await;
    let Ok(mut hashed) = hashed else {
        tracing::error!("hashing the job's files failed; its files are not recorded");
        return HashedFiles::default();
    };
    cache.add_stats(hashed.stats);
    hashed.packages = used_packages;
    hashed
}

/// Gives each access its class and notes packages.
fn classify_accesses(
    packages: &PackageIndex,
    accesses: Vec<FileAccess>,
    context: &FileContext,
) -> (Vec<Sorted>, Vec<Package>) {
    let mut classifier = Classifier::new(&context.rules, RepoFiles::open(&context.project));
    let mut resolver = packages.resolver();
    let sorted = accesses
        .into_iter()
        .map(|access| {
            let class = classifier.classify(&access.path);
            resolver.note(&access.path, class);
            // A symlink the job made has no content of its own.
            let hash = access.link_target.is_none()
                && (class == Class::Artifact
                    || (class == Class::Repo && context.rules.track_repo_files));
            Sorted {
                access,
                class,
                hash,
            }
        })
        .collect();
    (sorted, resolver.into_packages())
}

/// Totals the hashing work for progress: the size the cache knows for a file, else
/// what `stat` says (a file to be hashed is read anyway; one the cache serves is not
/// stat'ed twice).
fn total_work(sorted: &[Sorted], known: &HashMap<Vec<u8>, CacheEntry>, progress: &HashProgress) {
    let (mut files, mut bytes) = (0, 0);
    for item in sorted
        .iter()
        .filter(|s| s.hash && s.access.pre_image.is_none())
    {
        files += 1;
        bytes += match known.get(&item.access.path) {
            Some(entry) => entry.content.size,
            None => std::fs::symlink_metadata(Path::new(OsStr::from_bytes(&item.access.path)))
                .map_or(0, |m| m.len()),
        };
    }
    progress.files_total.store(files, Ordering::Relaxed);
    progress.bytes_total.store(bytes, Ordering::Relaxed);
}

/// One file's share of the record: the file (None when it is left out), what the
/// cache learnt, and the counters.
struct FileOutcome {
    file: Option<RecordedFile>,
    cache_update: Option<(Vec<u8>, CacheEntry)>,
    stats: HashStats,
}

/// Below this many files, one thread does it all: starting threads costs more.
const FILES_PER_THREAD: usize = 64;

/// Hashes what needs hashing, files in parallel (a job writing thousands of small
/// files would otherwise leave all but one CPU idle; large files are split across
/// CPUs by BLAKE3 itself), keeping the files in their order.
///
/// Plain scoped threads, not rayon's pool: a file another job is hashing is waited
/// for (single flight), and a rayon worker blocked in that wait could be the one that
/// BLAKE3's own rayon tasks for that very file need.
fn hash_sorted(
    cache: &HashCache,
    sorted: Vec<Sorted>,
    known: &HashMap<Vec<u8>, CacheEntry>,
    progress: &HashProgress,
) -> HashedFiles {
    total_work(&sorted, known, progress);
    let threads = crate::cpus::available()
        .min(sorted.len() / FILES_PER_THREAD)
        .max(1);
    let outcomes: Vec<FileOutcome> = if threads == 1 {
        sorted
            .into_iter()
            .map(|item| record_one(cache, item, known, progress))
            .collect()
    } else {
        // One queue, taken from in order by whichever thread is free.
        let queue = std::sync::Mutex::new(sorted.into_iter().enumerate());
        let mut done: Vec<(usize, FileOutcome)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                            let Some((index, item)) = next else {
                                return mine;
                            };
                            mine.push((index, record_one(cache, item, known, progress)));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| {
                    worker.join().unwrap_or_else(|_| {
                        tracing::error!(
                            "a hashing thread failed; the files it took are not recorded"
                        );
                        Vec::new()
                    })
                })
                .collect()
        });
        done.sort_unstable_by_key(|(index, _)| *index);
        done.into_iter().map(|(_, outcome)| outcome).collect()
    };
    let mut result = HashedFiles::default();
    for outcome in outcomes {
        result.stats.hits += outcome.stats.hits;
        result.stats.misses += outcome.stats.misses;
        result.stats.hashed_bytes += outcome.stats.hashed_bytes;
        result.cache_updates.extend(outcome.cache_update);
        result.files.extend(outcome.file);
    }
    result
}

fn record_one(
    cache: &HashCache,
    Sorted {
        access,
        class,
        hash,
    }: Sorted,
    known: &HashMap<Vec<u8>, CacheEntry>,
    progress: &HashProgress,
) -> FileOutcome {
    let mut outcome = FileOutcome {
        file: None,
        cache_update: None,
        stats: HashStats::default(),
    };
    let (content, extra, pre_image) = match access.pre_image {
        Some(hashed) if hash => (Some(hashed.content), hashed.extra, true),
        Some(_) => (None, Vec::new(), true),
        None if !hash => {
            let meta = std::fs::symlink_metadata(Path::new(OsStr::from_bytes(&access.path)));
            match meta {
                Ok(meta) if meta.is_file() => (None, Vec::new(), false),
                Ok(meta) if meta.is_symlink() && access.link_target.is_some() => {
                    (None, Vec::new(), false)
                }
                // An input that is gone by now was still read.
                Err(_) if access.role == Role::Input => (None, Vec::new(), false),
                // Not a regular file, or an output removed since: nothing to record.
                _ => return outcome,
            }
        }
        None => {
            let hashed = content_of(
                cache,
                &access.path,
                known,
                &mut outcome.stats,
                Some(&progress.bytes_done),
            );
            progress.files_done.fetch_add(1, Ordering::Relaxed);
            match hashed {
                // Not the file the job read: it was replaced since (by something
                // outside the job: the job's own changes leave a pre-image). Its
                // content then is unknown, never the newcomer's.
                Ok((entry, _))
                    if access
                        .identity
                        .is_some_and(|id| id != (entry.stamp.device, entry.stamp.inode)) =>
                {
                    tracing::warn!(
                        "{} was replaced after the job read it; its content is not recorded",
                        String::from_utf8_lossy(&access.path)
                    );
                    (None, Vec::new(), false)
                }
                Ok((entry, fresh)) => {
                    // Bytes hashed here were counted while read; a cache hit reads
                    // nothing, so its bytes count as done now.
                    if outcome.stats.misses == 0 {
                        progress
                            .bytes_done
                            .fetch_add(entry.content.size, Ordering::Relaxed);
                    }
                    let (content, extra) = (entry.content, entry.extra.clone());
                    if fresh {
                        outcome.cache_update = Some((access.path.clone(), entry));
                    }
                    (Some(content), extra, false)
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => return outcome,
                Err(e) if e.kind() == io::ErrorKind::NotFound && access.role == Role::Output => {
                    return outcome;
                }
                Err(e) => {
                    tracing::warn!("cannot hash {}: {e}", String::from_utf8_lossy(&access.path));
                    (None, Vec::new(), false)
                }
            }
        }
    };
    outcome.file = Some(RecordedFile {
        path: access.path,
        named: access.named,
        role: access.role,
        class,
        content,
        extra,
        pre_image,
        link_target: access.link_target,
        hard_link_of: access.hard_link_of,
    });
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::JobEnv;
    use crate::store::HashCacheStore;
    use crate::store::sqlite::SqliteStore;
    use roar_proto::config::FilterConfig;

    /// After a restart of roard its memory is empty: the first job reading a file loads
    /// the file's entry from the database, and the next job must find it in memory.
    #[tokio::test]
    async fn entries_loaded_from_the_database_are_kept_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let data = std::fs::canonicalize(dir.path()).unwrap().join("data.txt");
        std::fs::write(&data, b"some data\n").unwrap();
        // Old enough for its digest to be cached (see hash_cache's racy window).
        std::thread::sleep(std::time::Duration::from_millis(150));
        let path = data.as_os_str().as_bytes().to_vec();
        let store = SqliteStore::open(&dir.path().join("roar.db"))
            .await
            .unwrap();
        let before_restart = HashCache::new(Vec::new());
        let (entry, _) = crate::hash_cache::content_of(
            &before_restart,
            &path,
            &HashMap::new(),
            &mut Default::default(),
            None,
        )
        .unwrap();
        store
            .save_hash_cache(&[(path.clone(), entry.clone())])
            .await
            .unwrap();

        let restarted = Arc::new(HashCache::new(Vec::new()));
        assert_eq!(
            restarted
                .lookup_memory([path.as_slice()].into_iter())
                .1
                .len(),
            1
        );
        let filters = FilterConfig {
            tmp: Vec::new(),
            ..FilterConfig::default()
        };
        let context = FileContext {
            rules: Rules::new(&filters, &JobEnv::default()),
            project: dir.path().to_path_buf(),
        };
        let access = FileAccess {
            path: path.clone(),
            named: None,
            role: Role::Input,
            pre_image: None,
            identity: None,
            link_target: None,
            hard_link_of: None,
        };
        let recorded = record_files(
            &restarted,
            &Arc::new(PackageIndex::default()),
            &store,
            vec![access],
            context,
            &Arc::new(HashProgress::default()),
        )
        .await;
        assert_eq!(recorded.stats.hits, 1, "{recorded:?}");
        let (in_memory, missing) = restarted.lookup_memory([path.as_slice()].into_iter());
        assert!(missing.is_empty());
        assert_eq!(in_memory[&path], entry);
    }
}
