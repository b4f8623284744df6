//! The code a job ran: its git repository (remote URL, else the work tree's path),
//! branch (or detached HEAD), commit, and the tracked files with uncommitted changes.
//! Read with git2 (libgit2), never by running `git`.

use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use git2::{ErrorCode, Repository, Status, StatusOptions};

/// Dirty paths kept in a job's record; beyond this only the count is meaningful.
const MAX_DIRTY_PATHS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitContext {
    /// The `origin` remote's URL (else the first remote's), credentials removed; the
    /// work tree's path when there is no remote.
    pub repository: String,
    /// The work tree's root.
    pub root: PathBuf,
    /// The branch checked out (for a repository without commits, the branch HEAD will
    /// create); None when HEAD is detached.
    pub branch: Option<String>,
    /// The commit checked out; None in a repository without commits.
    pub commit: Option<String>,
    /// Tracked files with uncommitted changes (staged or not), relative to the root;
    /// untracked files too when asked.
    pub dirty_paths: Vec<Vec<u8>>,
    /// How many paths are dirty (the list keeps at most `MAX_DIRTY_PATHS`).
    pub dirty_count: usize,
}

impl GitContext {
    pub fn is_dirty(&self) -> bool {
        self.dirty_count > 0
    }
}

/// The git context of `dir`: None outside a work tree (a bare repository has none).
pub fn inspect(dir: &Path, untracked_is_dirty: bool) -> Result<Option<GitContext>, git2::Error> {
    let repository = match Repository::discover(dir) {
        Ok(repository) => repository,
        Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(root) = repository.workdir().map(Path::to_path_buf) else {
        return Ok(None);
    };
    let (branch, commit) = head(&repository)?;
    let mut options = StatusOptions::new();
    options
        .include_untracked(untracked_is_dirty)
        .recurse_untracked_dirs(untracked_is_dirty)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repository.statuses(Some(&mut options))?;
    let dirty: Vec<Vec<u8>> = statuses
        .iter()
        .filter(|entry| {
            let status = entry.status();
            !status.is_empty()
                && !status.contains(Status::IGNORED)
                && (untracked_is_dirty || status != Status::WT_NEW)
        })
        .map(|entry| entry.path_bytes().to_vec())
        .collect();
    let dirty_count = dirty.len();
    Ok(Some(GitContext {
        repository: repository_name(&repository, &root),
        root: root.canonicalize().unwrap_or(root),
        branch,
        commit,
        dirty_paths: dirty.into_iter().take(MAX_DIRTY_PATHS).collect(),
        dirty_count,
    }))
}

/// The commit HEAD points to in the work tree around `dir`, if there is one: read
/// again when a job ends, to know whether the job made a commit.
pub fn head_commit(dir: &Path) -> Option<String> {
    let repository = Repository::discover(dir).ok()?;
    let commit = repository.head().ok()?.peel_to_commit().ok()?;
    Some(commit.id().to_string())
}

/// Branch (None when detached) and commit (None before the first commit).
fn head(repository: &Repository) -> Result<(Option<String>, Option<String>), git2::Error> {
    match repository.head() {
        Ok(head) => {
            let commit = head.peel_to_commit()?.id().to_string();
            let branch = if repository.head_detached()? {
                None
            } else {
                head.shorthand().map(str::to_string)
            };
            Ok((branch, Some(commit)))
        }
        Err(e) if e.code() == ErrorCode::UnbornBranch => {
            let head = repository.find_reference("HEAD")?;
            let branch = head
                .symbolic_target()
                .map(|target| target.trim_start_matches("refs/heads/").to_string());
            Ok((branch, None))
        }
        Err(e) => Err(e),
    }
}

/// The remote a teammate would clone, without any credentials in it.
fn repository_name(repository: &Repository, root: &Path) -> String {
    let remote = repository.find_remote("origin").ok().or_else(|| {
        let names = repository.remotes().ok()?;
        let first = names.iter().flatten().next()?.to_string();
        repository.find_remote(&first).ok()
    });
    match remote.as_ref().and_then(|r| r.url()) {
        Some(url) => without_credentials(url),
        None => String::from_utf8_lossy(
            &root
                .canonicalize()
                .unwrap_or_else(|_| root.to_path_buf())
                .into_os_string()
                .into_vec(),
        )
        .trim_end_matches('/')
        .to_string(),
    }
}

/// `https://user:token@host/x` → `https://host/x`; scp-like `git@host:x` is kept (the
/// user there is not a secret).
fn without_credentials(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && !userinfo.contains('/')
    {
        return format!("{scheme}://{host}");
    }
    url.to_string()
}

/// A dirty path for messages.
pub fn display_path(path: &[u8]) -> String {
    Path::new(OsStr::from_bytes(path)).display().to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Commits everything in the work tree (a test repository's next commit).
    pub(crate) fn commit_all(repository: &Repository, message: &str) -> git2::Oid {
        let mut index = repository.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = repository.find_tree(index.write_tree().unwrap()).unwrap();
        let signature = git2::Signature::now("t", "t@example.com").unwrap();
        let parents: Vec<git2::Commit> = repository
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        repository
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                message,
                &tree,
                &parents,
            )
            .unwrap()
    }

    #[test]
    fn clean_dirty_detached_and_unborn() {
        let dir = tempfile::tempdir().unwrap();
        let repository = Repository::init(dir.path()).unwrap();
        // No commits yet.
        let context = inspect(dir.path(), false).unwrap().unwrap();
        assert_eq!(context.commit, None);
        assert!(context.branch.is_some());
        assert!(!context.is_dirty());

        std::fs::write(dir.path().join("a.py"), "1").unwrap();
        let first = commit_all(&repository, "one");
        let context = inspect(dir.path(), false).unwrap().unwrap();
        assert_eq!(context.commit, Some(first.to_string()));
        assert!(!context.is_dirty());

        std::fs::write(dir.path().join("untracked.txt"), "u").unwrap();
        assert!(!inspect(dir.path(), false).unwrap().unwrap().is_dirty());
        assert!(inspect(dir.path(), true).unwrap().unwrap().is_dirty());
        std::fs::write(dir.path().join("a.py"), "2").unwrap();
        let context = inspect(dir.path(), false).unwrap().unwrap();
        assert_eq!(context.dirty_paths, vec![b"a.py".to_vec()]);

        repository.set_head_detached(first).unwrap();
        let context = inspect(dir.path(), false).unwrap().unwrap();
        assert_eq!(context.branch, None);

        let outside = tempfile::tempdir().unwrap();
        assert_eq!(inspect(outside.path(), false).unwrap(), None);
    }

    #[test]
    fn remote_credentials_are_dropped() {
        assert_eq!(
            without_credentials("https://ada:s3cret@example.com/x.git"),
            "https://example.com/x.git"
        );
        assert_eq!(
            without_credentials("git@example.com:x.git"),
            "git@example.com:x.git"
        );
    }
}
