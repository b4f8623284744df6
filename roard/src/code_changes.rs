//! Which repository files a job read are no longer what they were at the commit it
//! ran at: a committed change (HEAD differs) or an uncommitted one (the working tree
//! differs). This is what makes a step stale from code (see `dag`). Read with git2;
//! an unchanged working-tree file costs a `stat` through git's index, not a read.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use git2::{ObjectType, Oid, Repository, Status, Tree};

/// What became of one file since the job's commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeChange {
    /// Committed since: HEAD holds another version.
    Committed,
    /// Changed in the working tree, not committed.
    Uncommitted,
    /// Removed from the working tree.
    Removed,
}

/// The files among `paths` (absolute, inside `root`) that changed since `commit`;
/// files the commit did not have are left out (they were not code of that commit).
/// Repositories are opened once per root: `cache` lives as long as one DAG request.
pub fn changed_since(
    cache: &mut HashMap<Vec<u8>, Option<Repository>>,
    root: &[u8],
    commit: &str,
    paths: &[Vec<u8>],
) -> Vec<(Vec<u8>, CodeChange)> {
    let repository = cache
        .entry(root.to_vec())
        .or_insert_with(|| Repository::open(Path::new(OsStr::from_bytes(root))).ok());
    let Some(repository) = repository.as_ref() else {
        return Vec::new();
    };
    let Some(then) = tree_of(repository, commit) else {
        return Vec::new();
    };
    let head = repository.head().ok().and_then(|h| h.peel_to_tree().ok());
    let mut changed = Vec::new();
    for path in paths {
        let Some(relative) = path
            .strip_prefix(root)
            .and_then(|rest| rest.strip_prefix(b"/"))
        else {
            continue;
        };
        let relative_path = Path::new(OsStr::from_bytes(relative));
        let Some(recorded) = blob_in(&then, relative_path) else {
            continue;
        };
        let now_committed = head.as_ref().and_then(|t| blob_in(t, relative_path));
        let on_disk = Path::new(OsStr::from_bytes(path));
        let change = if now_committed.is_some_and(|id| id != recorded) {
            Some(CodeChange::Committed)
        } else if !on_disk.exists() {
            Some(CodeChange::Removed)
        } else if differs_on_disk(repository, relative_path, on_disk, recorded, now_committed) {
            Some(CodeChange::Uncommitted)
        } else {
            None
        };
        if let Some(change) = change {
            changed.push((relative.to_vec(), change));
        }
    }
    changed
}

/// Whether the working-tree file differs from the `recorded` blob. When HEAD holds that
/// very blob, git's status answers from its index (a `stat`, the file is read only if
/// its stamp changed); otherwise the file is hashed as a blob.
fn differs_on_disk(
    repository: &Repository,
    relative: &Path,
    on_disk: &Path,
    recorded: Oid,
    at_head: Option<Oid>,
) -> bool {
    let changed = Status::WT_MODIFIED
        | Status::WT_DELETED
        | Status::WT_TYPECHANGE
        | Status::INDEX_MODIFIED
        | Status::INDEX_DELETED
        | Status::INDEX_TYPECHANGE;
    if at_head == Some(recorded)
        && let Ok(status) = repository.status_file(relative)
    {
        return status.intersects(changed);
    }
    Oid::hash_file(ObjectType::Blob, on_disk).is_ok_and(|id| id != recorded)
}

fn tree_of<'r>(repository: &'r Repository, commit: &str) -> Option<Tree<'r>> {
    let id = Oid::from_str(commit).ok()?;
    repository.find_commit(id).ok()?.tree().ok()
}

fn blob_in(tree: &Tree<'_>, path: &Path) -> Option<Oid> {
    let entry = tree.get_path(path).ok()?;
    (entry.kind() == Some(ObjectType::Blob)).then(|| entry.id())
}

/// The git blob ids of a repository file now: in the working tree and at HEAD.
pub fn blob_ids(root: &Path, relative: &Path) -> (Option<String>, Option<String>) {
    let Ok(repository) = Repository::open(root) else {
        return (None, None);
    };
    let worktree = Oid::hash_file(ObjectType::Blob, root.join(relative))
        .ok()
        .map(|id| id.to_string());
    let head = repository
        .head()
        .ok()
        .and_then(|h| h.peel_to_tree().ok())
        .and_then(|tree| blob_in(&tree, relative))
        .map(|id| id.to_string());
    (worktree, head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn commit_all(repository: &Repository, message: &str) -> String {
        crate::git_context::tests::commit_all(repository, message).to_string()
    }

    #[test]
    fn committed_uncommitted_and_unchanged_files() {
        let dir = tempfile::tempdir().unwrap();
        let repository = Repository::init(dir.path()).unwrap();
        for name in ["a.py", "b.py", "c.py"] {
            std::fs::write(dir.path().join(name), "1").unwrap();
        }
        let first = commit_all(&repository, "one");
        std::fs::write(dir.path().join("a.py"), "2").unwrap();
        commit_all(&repository, "two");
        std::fs::write(dir.path().join("b.py"), "3").unwrap();
        let root = dir.path().as_os_str().as_bytes();
        let paths: Vec<Vec<u8>> = ["a.py", "b.py", "c.py", "new.py"]
            .iter()
            .map(|n| dir.path().join(n).as_os_str().as_bytes().to_vec())
            .collect();
        let changed = changed_since(&mut HashMap::new(), root, &first, &paths);
        assert_eq!(
            changed,
            [
                (b"a.py".to_vec(), CodeChange::Committed),
                (b"b.py".to_vec(), CodeChange::Uncommitted)
            ]
        );
    }
}
