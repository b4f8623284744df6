//! Content identity of a file: its size and BLAKE3 digest.

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

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

/// Hashes the regular file at `path`. Symlinks are not followed (callers pass canonical
/// paths) and anything that is not a regular file is refused, so a job cannot make roard
/// read a FIFO or a device.
pub fn hash_regular_file(path: &Path) -> io::Result<Content> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(&file)?;
    Ok(Content {
        size: hasher.count(),
        blake3: *hasher.finalize().as_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_files_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let content = hash_regular_file(&path).unwrap();
        assert_eq!(content.size, 3);
        assert_eq!(content.blake3_hex(), blake3::hash(b"abc").to_hex().to_string());
        assert!(hash_regular_file(dir.path()).is_err());
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(hash_regular_file(&link).is_err());
    }
}
