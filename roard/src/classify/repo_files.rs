//! Which files git tracks in the job's repository, read from the index with git2 (no
//! `git` process). Tracked files are anchored by the commit the job ran at, so they are
//! not data unless `filters.track_repo_files` asks for it.

use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

pub struct RepoFiles {
    /// The work tree, canonical, with a trailing `/`.
    workdir: Vec<u8>,
    index: git2::Index,
}

impl RepoFiles {
    /// The repository whose work tree is `root`; None when `root` is not one (or its
    /// index cannot be read: then no file counts as tracked).
    pub fn open(root: &Path) -> Option<Self> {
        let repository = git2::Repository::open(root).ok()?;
        let workdir = repository.workdir()?.canonicalize().ok()?;
        let index = repository.index().ok()?;
        let mut workdir = workdir.into_os_string().into_vec();
        if !workdir.ends_with(b"/") {
            workdir.push(b'/');
        }
        Some(Self { workdir, index })
    }

    /// Whether the canonical `path` is a file in the index (at stage 0: not in conflict).
    pub fn tracks(&self, path: &[u8]) -> bool {
        let Some(relative) = path.strip_prefix(self.workdir.as_slice()) else {
            return false;
        };
        if relative.starts_with(b".git/") {
            return false;
        }
        self.index
            .get_path(Path::new(OsStr::from_bytes(relative)), 0)
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracked_files_are_those_in_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let repository = git2::Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("tracked.py"), "print(1)\n").unwrap();
        std::fs::write(dir.path().join("data.csv"), "a\n").unwrap();
        let mut index = repository.index().unwrap();
        index.add_path(Path::new("tracked.py")).unwrap();
        index.write().unwrap();
        let files = RepoFiles::open(dir.path()).unwrap();
        let root = dir.path().canonicalize().unwrap();
        let bytes = |name: &str| root.join(name).into_os_string().into_vec();
        assert!(files.tracks(&bytes("tracked.py")));
        assert!(!files.tracks(&bytes("data.csv")));
        assert!(RepoFiles::open(&root.join("missing")).is_none());
    }
}
