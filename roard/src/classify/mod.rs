//! Sorts the files a job touched into exactly one class each, so only the job's real
//! data is hashed and shown as inputs and outputs:
//!
//! - **artifact**: the job's data (the default; also whatever `filters.artifact` names);
//! - **package**: installed software (site-packages, virtualenvs, conda environments,
//!   the Python standard library, node_modules, the cargo registry…): recorded as
//!   package + version by [`crate::packages`], not as data;
//! - **system**: the operating system (/usr, /etc, /proc…);
//! - **tmp**: scratch space (/tmp, /var/tmp, `$TMPDIR`);
//! - **repo**: files tracked by git in the job's repository, anchored by the commit.
//!
//! The rules come from the `[filters]` configuration; the order above (after the
//! `artifact` override) is the order they are tried in, so a virtualenv under /tmp is a
//! package and a site-packages directory under /usr is too.

mod repo_files;
mod rules;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use repo_files::RepoFiles;
pub use rules::{JobEnv, Rules, is_python_version_dir};

/// What a file is to the job that touched it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Artifact,
    Repo,
    Package,
    System,
    Tmp,
    /// A version-control system's own files (`.git/`, `.hg/`, `.svn/`, a worktree's
    /// `.git` file): what `git commit` writes is the repository's bookkeeping, not
    /// the job's output.
    Vcs,
}

impl Class {
    pub const ALL: [Class; 6] = [
        Class::Artifact,
        Class::Repo,
        Class::Package,
        Class::System,
        Class::Tmp,
        Class::Vcs,
    ];

    /// The class a stored name stands for; None for a name this build does not know.
    pub fn from_name(name: &str) -> Option<Class> {
        Self::ALL.into_iter().find(|class| class.name() == name)
    }

    /// The name stored in the database and shown to users.
    pub fn name(self) -> &'static str {
        match self {
            Class::Artifact => "artifact",
            Class::Repo => "repo",
            Class::Package => "package",
            Class::System => "system",
            Class::Tmp => "tmp",
            Class::Vcs => "vcs",
        }
    }

    /// Files of this class are the job's data: listed without `--all`.
    pub fn is_data(self) -> bool {
        matches!(self, Class::Artifact | Class::Repo)
    }
}

/// Classifies the files of one job: the rules, the job's repository, and what it has
/// learnt about directories (whether one is a virtualenv or conda environment root).
pub struct Classifier<'a> {
    rules: &'a Rules,
    repo: Option<RepoFiles>,
    environment_roots: HashMap<Vec<u8>, bool>,
}

impl<'a> Classifier<'a> {
    pub fn new(rules: &'a Rules, repo: Option<RepoFiles>) -> Self {
        Self {
            rules,
            repo,
            environment_roots: HashMap::new(),
        }
    }

    pub fn classify(&mut self, path: &[u8]) -> Class {
        if is_vcs_internal(path) {
            return Class::Vcs;
        }
        if self.rules.is_forced_artifact(path) {
            return Class::Artifact;
        }
        if self.rules.is_package(path) || self.inside_environment(path) {
            return Class::Package;
        }
        if self.rules.is_system(path) {
            return Class::System;
        }
        if self.rules.is_tmp(path) {
            return Class::Tmp;
        }
        if self.repo.as_ref().is_some_and(|repo| repo.tracks(path)) {
            return Class::Repo;
        }
        Class::Artifact
    }

    /// Whether an ancestor directory of `path` is a Python virtualenv (`pyvenv.cfg`) or
    /// a conda environment (`conda-meta/`). Each directory is looked at once per job.
    fn inside_environment(&mut self, path: &[u8]) -> bool {
        let mut dir = parent(path);
        while let Some(current) = dir {
            if current.len() <= 1 {
                return false;
            }
            let is_root = *self
                .environment_roots
                .entry(current.to_vec())
                .or_insert_with(|| is_environment_root(current));
            if is_root {
                return true;
            }
            dir = parent(current);
        }
        false
    }
}

/// Whether a component of `path` (or its last one, for a worktree's `.git` file) is a
/// version-control directory.
fn is_vcs_internal(path: &[u8]) -> bool {
    let mut components = path.split(|b| *b == b'/').peekable();
    while let Some(component) = components.next() {
        let last = components.peek().is_none();
        if matches!(component, b".git" | b".hg" | b".svn") && (!last || component == b".git") {
            return true;
        }
    }
    false
}

fn parent(path: &[u8]) -> Option<&[u8]> {
    let slash = path.iter().rposition(|b| *b == b'/')?;
    Some(&path[..slash.max(1)]).filter(|p| p.len() < path.len())
}

fn is_environment_root(dir: &[u8]) -> bool {
    let dir = Path::new(OsStr::from_bytes(dir));
    dir.join("pyvenv.cfg").is_file() || dir.join("conda-meta").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;
    use roar_proto::config::FilterConfig;

    fn rules() -> Rules {
        Rules::new(
            &FilterConfig::default(),
            &JobEnv {
                home: Some(b"/home/ada".to_vec()),
                tmpdir: Some(b"/scratch/ada".to_vec()),
            },
        )
    }

    #[test]
    fn default_rules_sort_paths() {
        let rules = rules();
        let mut classifier = Classifier::new(&rules, None);
        let cases: &[(&str, Class)] = &[
            ("/usr/bin/python3.11", Class::System),
            ("/usr/lib/python3.11/json/__init__.py", Class::Package),
            (
                "/usr/lib/python3/dist-packages/yaml/__init__.py",
                Class::Package,
            ),
            ("/etc/passwd", Class::System),
            ("/proc/self/status", Class::System),
            ("/usrdata/x.csv", Class::Artifact),
            ("/tmp/x", Class::Tmp),
            ("/scratch/ada/run/x", Class::Tmp),
            (
                "/tmp/venv/lib/python3.11/site-packages/a.py",
                Class::Package,
            ),
            (
                "/home/ada/.cargo/registry/src/index/serde-1.0.0/src/lib.rs",
                Class::Package,
            ),
            (
                "/home/ada/web/node_modules/left-pad/index.js",
                Class::Package,
            ),
            ("/home/ada/project/data.csv", Class::Artifact),
        ];
        for (path, class) in cases {
            assert_eq!(classifier.classify(path.as_bytes()), *class, "{path}");
        }
    }

    #[test]
    fn environments_are_recognised_by_their_marker_files() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("project/.venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        let conda = dir.path().join("conda");
        std::fs::create_dir_all(conda.join("conda-meta")).unwrap();
        let rules = Rules::new(
            &FilterConfig {
                tmp: Vec::new(),
                ..FilterConfig::default()
            },
            &JobEnv::default(),
        );
        let mut classifier = Classifier::new(&rules, None);
        let class = |c: &mut Classifier, p: &Path| c.classify(p.as_os_str().as_bytes());
        assert_eq!(
            class(&mut classifier, &venv.join("bin/python")),
            Class::Package
        );
        assert_eq!(
            class(&mut classifier, &conda.join("lib/libz.so")),
            Class::Package
        );
        assert_eq!(
            class(&mut classifier, &dir.path().join("project/data.csv")),
            Class::Artifact
        );
    }

    #[test]
    fn version_control_internals_are_their_own_class() {
        let rules = rules();
        let mut classifier = Classifier::new(&rules, None);
        for path in [
            "/home/ada/project/.git/objects/ab/cdef",
            "/home/ada/project/.git/COMMIT_EDITMSG",
            "/home/ada/worktree/.git",
            "/home/ada/hg/.hg/store/data",
            "/home/ada/svn/.svn/wc.db",
        ] {
            assert_eq!(classifier.classify(path.as_bytes()), Class::Vcs, "{path}");
        }
        for path in [
            "/home/ada/project/.gitignore",
            "/home/ada/project/x.git/a",
            "/w/.svn",
        ] {
            assert_eq!(
                classifier.classify(path.as_bytes()),
                Class::Artifact,
                "{path}"
            );
        }
    }

    #[test]
    fn the_artifact_list_wins() {
        let rules = Rules::new(
            &FilterConfig {
                artifact: vec!["/tmp/keep".into()],
                ..FilterConfig::default()
            },
            &JobEnv::default(),
        );
        let mut classifier = Classifier::new(&rules, None);
        assert_eq!(classifier.classify(b"/tmp/keep/out.csv"), Class::Artifact);
        assert_eq!(classifier.classify(b"/tmp/other"), Class::Tmp);
    }
}
