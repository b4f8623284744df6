//! Content identity of a file: its size and BLAKE3 digest, computed the way b3sum does
//! (memory-mapped and multi-threaded for large files, buffered reads for small ones),
//! with a check that the file did not change while it was read.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::hash_algorithms::{Digest, Digester, HashAlgorithm};

/// Files at least this large are memory-mapped and hashed on all cores.
const PARALLEL_THRESHOLD: u64 = 4 << 20;

/// A memory-mapped file is hashed in slices of this size, reporting progress after each.
const PROGRESS_SLICE: usize = 64 << 20;

/// What a file held at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Content {
    pub size: u64,
    pub blake3: [u8; 32],
}

impl Content {
    pub fn blake3_hex(&self) -> String {
        blake3::Hash::from_bytes(self.blake3).to_hex().to_string()
    }
}

/// The metadata that changes whenever a file's content can have changed: the hash
/// cache's validity key. ctime cannot be set from user space, so a forged mtime
/// (`touch -d`) still changes the stamp; a file replaced by rename has a new inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub device: u64,
    pub inode: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl FileStamp {
    pub fn of(meta: &Metadata) -> Self {
        Self {
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        }
    }
}

/// A file's content and the stamp it had while being read.
#[derive(Debug, Clone)]
pub struct Hashed {
    pub content: Content,
    pub stamp: FileStamp,
    /// Digests of the extra algorithms asked for, in the order asked.
    pub extra: Vec<Digest>,
}

/// Hashes the regular file at `path`. Symlinks are not followed (callers pass canonical
/// paths) and anything that is not a regular file is refused, so a job cannot make roard
/// read a FIFO or a device. A file that changes while it is read is read again, up to
/// three times; after that the error says so. `progress`, when given, counts the bytes
/// read as they are read (a large file moves a progress bar while it is hashed).
pub fn hash_regular_file(
    path: &Path,
    extra: &[&dyn HashAlgorithm],
    progress: Option<&AtomicU64>,
) -> io::Result<Hashed> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    for _ in 0..3 {
        let before = file.metadata()?;
        if !before.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let (content, digests) = hash_open_file(&file, before.size(), extra, progress)?;
        let after = file.metadata()?;
        let stamp = FileStamp::of(&before);
        if stamp == FileStamp::of(&after) && content.size == before.size() {
            return Ok(Hashed {
                content,
                stamp,
                extra: digests,
            });
        }
    }
    Err(io::Error::other(
        "the file kept changing while it was being hashed",
    ))
}

/// BLAKE3 and the extra digests in one pass over the file.
fn hash_open_file(
    file: &File,
    size: u64,
    extra: &[&dyn HashAlgorithm],
    progress: Option<&AtomicU64>,
) -> io::Result<(Content, Vec<Digest>)> {
    let advance = |n: usize| {
        if let Some(progress) = progress {
            progress.fetch_add(n as u64, Ordering::Relaxed);
        }
    };
    let mut hasher = blake3::Hasher::new();
    let mut digesters: Vec<Box<dyn Digester>> = extra.iter().map(|a| a.start()).collect();
    if size >= PARALLEL_THRESHOLD {
        // SAFETY: the mapping is read-only and dropped before returning; a concurrent
        // writer can change the bytes under us, which the stamp check above detects
        // (truncation would raise SIGBUS: the caller only maps files it just checked).
        let map = unsafe { memmap2::Mmap::map(file)? };
        // Slices large enough for the threads to stay busy, small enough for progress.
        for slice in map.chunks(PROGRESS_SLICE) {
            hasher.update_rayon(slice);
            for digester in &mut digesters {
                digester.update(slice);
            }
            advance(slice.len());
        }
    } else {
        let mut reader = file;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buffer[..n]);
            for digester in &mut digesters {
                digester.update(&buffer[..n]);
            }
            advance(n);
        }
    }
    let content = Content {
        size: hasher.count(),
        blake3: *hasher.finalize().as_bytes(),
    };
    let digests = extra
        .iter()
        .zip(digesters)
        .map(|(algorithm, digester)| Digest {
            algorithm: algorithm.name(),
            bytes: digester.finish(),
        })
        .collect();
    Ok((content, digests))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_files_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let sha256 = crate::hash_algorithms::by_name("sha256").unwrap();
        let hashed = hash_regular_file(&path, &[sha256], None).unwrap();
        assert_eq!(hashed.content.size, 3);
        assert_eq!(
            hashed.extra[0].hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hashed.content.blake3_hex(),
            blake3::hash(b"abc").to_hex().to_string()
        );
        assert!(hash_regular_file(dir.path(), &[], None).is_err());
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(hash_regular_file(&link, &[], None).is_err());
    }

    #[test]
    fn large_files_hash_the_same_in_parallel() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let data: Vec<u8> = (0..(PARALLEL_THRESHOLD as usize + 12345))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let hashed = hash_regular_file(&path, &[], None).unwrap();
        assert_eq!(hashed.content.blake3, *blake3::hash(&data).as_bytes());
        assert_eq!(hashed.content.size, data.len() as u64);
    }
}
