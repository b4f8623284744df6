//! Where a reproduction runs: one shared clone per user repository, kept under
//! `$XDG_CACHE_HOME/roar/clones/` and brought up to date with `git fetch`, and for
//! each reproduction one `git worktree` per repository in its own directory under
//! `$XDG_CACHE_HOME/roar/reproductions/`. Every step of a repository runs in the same
//! work tree, checked out at that step's commit, so the untracked outputs of earlier
//! steps stay where later steps read them. The user's working tree is never touched.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::reproduce_plan::Step;

/// The file in a reproduction's directory that says what it reproduces and which
/// shared clone each work tree belongs to (read by `--list` and `--clean`).
pub const RECORD: &str = "reproduction.json";

/// `$XDG_CACHE_HOME/roar` (else `~/.cache/roar`). Not under /tmp: scratch space is
/// not data to roar, and a reproduction's outputs are.
pub fn cache_dir() -> anyhow::Result<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|dir| dir.join("roar"))
        .context("neither XDG_CACHE_HOME nor HOME is set: nowhere to put the reproduction")
}

/// The directory holding every reproduction.
pub fn reproductions_dir() -> anyhow::Result<PathBuf> {
    Ok(cache_dir()?.join("reproductions"))
}

/// One work tree of the reproduction.
struct Tree {
    clone: PathBuf,
    dir: PathBuf,
    /// The commit checked out now.
    commit: String,
}

/// The work trees of one reproduction, by the user's repository root.
pub struct Worktrees {
    pub base: PathBuf,
    trees: BTreeMap<PathBuf, Tree>,
    target: serde_json::Value,
}

impl Worktrees {
    /// A new reproduction directory named after the target's hash.
    pub fn create(target_blake3: &str, target_path: Option<&Path>) -> anyhow::Result<Self> {
        let parent = reproductions_dir()?;
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let base = tempfile::Builder::new()
            .prefix(&format!(
                "{}-",
                &target_blake3[..target_blake3.len().min(12)]
            ))
            .tempdir_in(&parent)
            .with_context(|| format!("cannot create a directory in {}", parent.display()))?
            .keep();
        let worktrees = Worktrees {
            base,
            trees: BTreeMap::new(),
            target: json!({
                "blake3": target_blake3,
                "path": target_path.map(|p| p.display().to_string()),
            }),
        };
        worktrees.write_record()?;
        Ok(worktrees)
    }

    /// Adds the work tree of `step`'s repository (once per repository), at its commit.
    pub fn add(&mut self, step: &Step) -> anyhow::Result<()> {
        let (Some(root), Some(context)) = (step.root(), step.git.as_ref()) else {
            return Ok(());
        };
        if self.trees.contains_key(&root) {
            return Ok(());
        }
        let clone = shared_clone(&root)?;
        has_commit(&clone, &root, &context.commit)?;
        let name = root
            .file_name()
            .map_or_else(|| "repo".into(), |n| n.to_string_lossy().into_owned());
        let mut dir = self.base.join(&name);
        for n in 2.. {
            if !dir.exists() {
                break;
            }
            dir = self.base.join(format!("{name}-{n}"));
        }
        git(
            Some(&clone),
            &["worktree", "add", "--quiet", "--detach"],
            &[dir.as_os_str(), context.commit.as_ref()],
        )?;
        self.trees.insert(
            root,
            Tree {
                clone,
                dir,
                commit: context.commit.clone(),
            },
        );
        self.write_record()
    }

    /// Checks out `step`'s commit in its repository's work tree; untracked files (the
    /// outputs of earlier steps, the sources) stay in place.
    pub fn checkout(&mut self, step: &Step) -> anyhow::Result<()> {
        let (Some(root), Some(git)) = (step.root(), step.git.as_ref()) else {
            return Ok(());
        };
        let tree = self
            .trees
            .get_mut(&root)
            .with_context(|| format!("no work tree was made for {}", root.display()))?;
        if tree.commit != git.commit {
            git_in(&tree.dir, &["checkout", "--detach", "--quiet", &git.commit]).with_context(
                || format!("cannot check out {} in {}", git.commit, tree.dir.display()),
            )?;
            tree.commit = git.commit.clone();
        }
        Ok(())
    }

    /// Where a path of the user's repository is in this reproduction; a path outside
    /// the step's repository is used where it is.
    pub fn map(&self, step: &Step, path: &Path) -> PathBuf {
        let Some(root) = step.root() else {
            return path.to_path_buf();
        };
        match (self.trees.get(&root), path.strip_prefix(&root)) {
            (Some(tree), Ok(relative)) => tree.dir.join(relative),
            _ => path.to_path_buf(),
        }
    }

    /// Whether `path` (already mapped) lies in one of the work trees.
    pub fn contains(&self, path: &Path) -> bool {
        path.starts_with(&self.base)
    }

    /// Whether `path` (in the work tree) is tracked at `step`'s commit: it will be
    /// there once that step's commit is checked out.
    pub fn tracked_at(&self, step: &Step, path: &Path) -> bool {
        let (Some(root), Some(git)) = (step.root(), step.git.as_ref()) else {
            return false;
        };
        let Some(tree) = self.trees.get(&root) else {
            return false;
        };
        let Ok(relative) = path.strip_prefix(&tree.dir) else {
            return false;
        };
        let spec = format!("{}:{}", git.commit, relative.display());
        git_in(&tree.dir, &["cat-file", "-e", &spec]).is_ok()
    }

    /// Notes the target and each work tree with its clone, for `--list` and `--clean`.
    fn write_record(&self) -> anyhow::Result<()> {
        let trees: Vec<_> = self
            .trees
            .values()
            .map(|t| json!({"clone": t.clone.display().to_string(), "dir": t.dir.display().to_string()}))
            .collect();
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let record = json!({"target": self.target, "created_at": created, "worktrees": trees});
        let path = self.base.join(RECORD);
        std::fs::write(&path, serde_json::to_vec_pretty(&record)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// The shared clone of `root` (`git clone --shared --no-checkout`, made once and
/// fetched into when reused), named after the repository and a hash of its path.
fn shared_clone(root: &Path) -> anyhow::Result<PathBuf> {
    let name = root
        .file_name()
        .map_or_else(|| "repo".into(), |n| n.to_string_lossy().into_owned());
    let id = blake3::hash(root.as_os_str().as_bytes()).to_hex();
    let clone = cache_dir()?
        .join("clones")
        .join(format!("{name}-{}", &id[..12]));
    if clone.join("HEAD").exists() || clone.join(".git").exists() {
        // The clone shares the repository's objects, so a failed fetch only means
        // stale refs; a commit that is really gone is caught by `has_commit`.
        let fetched = git(
            Some(&clone),
            &["fetch", "--quiet", "--no-tags"],
            &[
                root.as_os_str(),
                "+refs/heads/*:refs/remotes/origin/*".as_ref(),
            ],
        );
        if let Err(e) = fetched {
            eprintln!(
                "roar: note: cannot update the shared clone {}: {e:#}",
                clone.display()
            );
        }
        return Ok(clone);
    }
    if let Some(parent) = clone.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    git(
        None,
        &["clone", "--quiet", "--shared", "--no-checkout"],
        &[root.as_os_str(), clone.as_os_str()],
    )
    .with_context(|| format!("cannot clone {}", root.display()))?;
    Ok(clone)
}

/// Fails with a clear message when the recorded commit is gone from the repository.
fn has_commit(clone: &Path, root: &Path, commit: &str) -> anyhow::Result<()> {
    let spec = format!("{commit}^{{commit}}");
    if git_in(clone, &["cat-file", "-e", &spec]).is_err() {
        bail!(
            "the recorded commit {commit} is not in {} any more\n\
             hint: fetch or restore it there (was it rebased or amended away?)",
            root.display()
        );
    }
    Ok(())
}

/// Removes one work tree from its shared clone; a clone that is gone is skipped.
pub fn remove_worktree(clone: &Path, dir: &Path) {
    if clone.exists() {
        let _ = git(
            Some(clone),
            &["worktree", "remove", "--force"],
            &[dir.as_os_str()],
        );
    }
}

/// Forgets work trees whose directories are gone.
pub fn prune(clone: &Path) {
    if clone.exists() {
        let _ = git_in(clone, &["worktree", "prune"]);
    }
}

fn git_in(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    git(Some(dir), args, &[])
}

fn git(dir: Option<&Path>, args: &[&str], paths: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    let output = command
        .args(args)
        .args(paths)
        .stdin(Stdio::null())
        .output()
        .context("cannot run git")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
