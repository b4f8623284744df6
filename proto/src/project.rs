//! Which project a directory belongs to: the enclosing git work tree, else the directory
//! itself. Jobs are numbered `@1, @2, …` per project.

use std::path::{Path, PathBuf};

/// The nearest ancestor of `dir` (itself included) that holds `.git`, else `dir`.
pub fn project_root(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|candidate| candidate.join(".git").exists())
        .unwrap_or(dir)
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_enclosing_repository() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join("a/b")).unwrap();
        assert_eq!(project_root(&repo.join("a/b")), repo);
        assert_eq!(project_root(tmp.path()), tmp.path());
    }
}
