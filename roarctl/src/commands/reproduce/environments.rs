//! The Python interpreter each step runs with. With `--setup-python`, every distinct
//! recorded environment (Python version and requirements) gets one fresh virtualenv,
//! shared by the steps that used it, and a step's interpreter path (`.venv/bin/python`,
//! or an absolute path into the recorded venv) is pointed into it. Without it, a step
//! runs the interpreter it names, which must exist.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use roar_proto::pb;

use crate::graph::label;
use crate::render::command_line;
use crate::reproduce_plan::{Plan, Step};

use super::worktrees::Worktrees;

/// Installed by `venv` itself or build tools: never pinned from a recording.
const NOT_REQUIRED: [&str; 3] = ["pip", "setuptools", "wheel"];

/// A fresh virtualenv made for the reproduction.
#[derive(Debug, Clone)]
pub struct FreshVenv {
    pub dir: PathBuf,
}

/// Fresh virtualenvs by (Python version, sorted requirements).
#[derive(Default)]
pub struct Venvs {
    made: BTreeMap<Environment, FreshVenv>,
}

impl Venvs {
    /// The fresh virtualenv for `step`, made on first use; None when the step ran no
    /// recorded Python and used no Python packages (a record made before environments
    /// were recorded has only the packages: any Python version will do).
    pub fn for_step(&mut self, base: &Path, step: &Step) -> anyhow::Result<Option<FreshVenv>> {
        let Some(key) = environment_of(step) else {
            return Ok(None);
        };
        if let Some(venv) = self.made.get(&key) {
            return Ok(Some(venv.clone()));
        }
        // Beside the work trees (named after repositories), never among them.
        let dir = base
            .join(".roar-venvs")
            .join(format!("venv-{}", self.made.len() + 1));
        make_venv(&dir, &key.0, &key.1, step)?;
        let venv = FreshVenv { dir };
        self.made.insert(key, venv.clone());
        Ok(Some(venv))
    }
}

/// A Python environment as a fresh one would be made: the interpreter's version
/// (empty when unknown) and the requirements to install, sorted.
pub type Environment = (String, Vec<String>);

/// A step's environment; None for a step that ran no Python and used no packages.
pub fn environment_of(step: &Step) -> Option<Environment> {
    let version = match primary(step) {
        Some(env) => env.version.clone(),
        None if step.requirements.is_empty() => return None,
        None => String::new(),
    };
    let mut requirements: Vec<String> = step
        .requirements
        .iter()
        .filter(|r| {
            let name = r.split("==").next().unwrap_or_default();
            !NOT_REQUIRED.iter().any(|n| n.eq_ignore_ascii_case(name))
        })
        .cloned()
        .collect();
    requirements.sort();
    Some((version, requirements))
}

/// Writes one `requirements-N.txt` per distinct environment of the plan into `dir`,
/// each headed by the Python version and the steps that used it. Returns the files.
pub fn export_requirements(plan: &Plan, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    // Each environment, with the steps that used it.
    let mut environments: Vec<(Environment, Vec<String>)> = Vec::new();
    for step in &plan.steps {
        let Some(key) = environment_of(step) else {
            continue;
        };
        let name = format!(
            "{} ({})",
            label(&step.job),
            command_line(&step.summary.argv)
        );
        match environments.iter_mut().find(|(k, _)| *k == key) {
            Some((_, users)) => users.push(name),
            None => environments.push((key, vec![name])),
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (n, ((version, requirements), users)) in environments.iter().enumerate() {
        let path = dir.join(format!("requirements-{}.txt", n + 1));
        let python = if version.is_empty() {
            "unknown"
        } else {
            version
        };
        let mut text = format!("# Python {python}, used by {}\n", users.join(", "));
        text.push_str("# written by `roarctl reproduce --export-requirements`\n");
        for requirement in requirements {
            text.push_str(requirement);
            text.push('\n');
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// The environment of the interpreter the step's command names, else its first.
fn primary(step: &Step) -> Option<&pb::PythonEnvironment> {
    let envs = &step.job.environments;
    let first = step.summary.argv.first()?;
    let named = absolute(&step.cwd(), Path::new(OsStr::from_bytes(first)));
    envs.iter()
        .find(|e| Path::new(OsStr::from_bytes(&e.interpreter)) == named)
        .or_else(|| envs.first())
}

/// `python3 -m venv DIR`, with the interpreter matching `version` when there is one,
/// then `pip install` of the requirements (none: `--without-pip`, no network).
fn make_venv(
    dir: &Path,
    version: &str,
    requirements: &[String],
    step: &Step,
) -> anyhow::Result<()> {
    let python = interpreter_for(version, step);
    let mut command = Command::new(&python);
    command.args(["-m", "venv"]);
    if requirements.is_empty() {
        command.arg("--without-pip");
    }
    let status = command
        .arg(dir)
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {python} to make a virtualenv"))?;
    if !status.success() {
        bail!(
            "`{python} -m venv {}` failed ({status})\n\
             hint: on Debian and Ubuntu, install python3-venv",
            dir.display()
        );
    }
    if requirements.is_empty() {
        return Ok(());
    }
    eprintln!(
        "roar: installing {} into {}",
        requirements.join(" "),
        dir.display()
    );
    let status = Command::new(dir.join("bin/python"))
        .args(["-m", "pip", "install", "--quiet"])
        .args(requirements)
        .stdin(Stdio::null())
        .status()
        .context("cannot run pip in the fresh virtualenv")?;
    if !status.success() {
        bail!(
            "pip could not install the recorded packages: {}",
            requirements.join(" ")
        );
    }
    Ok(())
}

/// `python3.11` for a recorded 3.11.x when it runs here, else `python3`; says so when
/// the version will not be the recorded one.
fn interpreter_for(version: &str, step: &Step) -> String {
    let minor: Vec<&str> = version.split('.').take(2).collect();
    let mut candidates = Vec::new();
    if minor.len() == 2 {
        candidates.push(format!("python{}.{}", minor[0], minor[1]));
    }
    candidates.push("python3".to_string());
    for python in candidates {
        let Some(found) = version_of(&python) else {
            continue;
        };
        if !version.is_empty() && found != version {
            eprintln!(
                "roar: note: {} ran Python {version}; its fresh virtualenv gets Python {found} ({python})",
                label(&step.job)
            );
        }
        return python;
    }
    "python3".to_string()
}

/// "3.11.7" from `python --version`; None when it does not run (a pyenv shim for a
/// version that is not selected exits 127).
fn version_of(python: &str) -> Option<String> {
    let output = Command::new(python)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Some(text.trim().strip_prefix("Python ")?.to_string())
}

/// The step's argv with every path into a recorded virtualenv or conda environment
/// (absolute, or relative to its cwd) pointed to the same place in `venv`, and the
/// recorded interpreter itself to the venv's interpreter of that name.
pub fn map_argv(step: &Step, argv: &[OsString], venv: &FreshVenv) -> Vec<OsString> {
    let cwd = step.cwd();
    argv.iter()
        .map(|arg| {
            let path = absolute(&cwd, Path::new(arg));
            for env in &step.job.environments {
                let root = Path::new(OsStr::from_bytes(&env.root));
                let interpreter = Path::new(OsStr::from_bytes(&env.interpreter));
                if env.kind() != pb::EnvironmentKind::System && !root.as_os_str().is_empty() {
                    if let Ok(inside) = path.strip_prefix(root) {
                        return venv.dir.join(inside).into_os_string();
                    }
                } else if path == interpreter
                    && let Some(name) = interpreter.file_name()
                {
                    return venv.dir.join("bin").join(name).into_os_string();
                }
            }
            arg.clone()
        })
        .collect()
}

/// `path` against `cwd`, with `.` and `..` removed lexically (as roard records it).
pub fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    let joined = cwd.join(path);
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Why a step cannot start with the interpreter its command names, checked for every
/// step before the first runs: the interpreter must exist in the reproduction (or be
/// tracked at the step's commit, or be made by a build step first).
pub struct Interpreter<'a> {
    pub step: &'a Step,
    /// argv[0] as it will run.
    pub program: PathBuf,
    /// The step's directory in the reproduction.
    pub cwd: PathBuf,
    pub path_var: OsString,
}

impl Interpreter<'_> {
    /// An error naming the interpreter when it cannot be found; a note when it is the
    /// user's own virtualenv, outside the reproduction.
    pub fn check(
        &self,
        trees: &Worktrees,
        setup_python: bool,
        after_build: bool,
    ) -> anyhow::Result<()> {
        let Some(found) = self.resolve(trees) else {
            if after_build {
                return Ok(());
            }
            let hint = if setup_python || self.step.job.environments.is_empty() {
                "hint: make it part of the repository, or record a build step that makes it"
            } else {
                "hint: pass --setup-python to build a fresh virtualenv for it"
            };
            bail!(
                "cannot run {} ({}): its interpreter {} does not exist in the reproduction\n{hint}",
                label(&self.step.job),
                command_line(&self.step.summary.argv),
                self.program.display()
            );
        };
        if trees.contains(&found) {
            return Ok(());
        }
        for env in self
            .step
            .job
            .environments
            .iter()
            .filter(|e| e.kind() != pb::EnvironmentKind::System)
        {
            let root = Path::new(OsStr::from_bytes(&env.root));
            if found.starts_with(root) {
                eprintln!(
                    "roar: note: {} uses your {} {} as recorded; --setup-python builds a fresh one",
                    label(&self.step.job),
                    if env.kind() == pb::EnvironmentKind::Venv {
                        "virtualenv"
                    } else {
                        "conda environment"
                    },
                    root.display()
                );
            }
        }
        Ok(())
    }

    /// Where argv[0] is: a path (in the work tree, or tracked at the step's commit),
    /// or the first match on PATH.
    fn resolve(&self, trees: &Worktrees) -> Option<PathBuf> {
        if self.program.components().count() > 1 || self.program.is_absolute() {
            let path = absolute(&self.cwd, &self.program);
            return (path.is_file() || trees.tracked_at(self.step, &path)).then_some(path);
        }
        std::env::split_paths(&self.path_var)
            .map(|dir| dir.join(&self.program))
            .find(|candidate| candidate.is_file())
    }
}

/// `PATH` with the venv's `bin` first.
pub fn path_with(venv: &FreshVenv, path_var: &OsStr) -> OsString {
    let mut joined = venv.dir.join("bin").into_os_string();
    if !path_var.is_empty() {
        joined.push(":");
        joined.push(path_var);
    }
    joined
}

/// Raw bytes as a path, for recorded values.
pub fn bytes_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(cwd: &str, argv: &[&str], envs: Vec<pb::PythonEnvironment>) -> Step {
        let summary = pb::JobSummary {
            cwd: cwd.as_bytes().to_vec(),
            argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            ..Default::default()
        };
        Step {
            job: pb::GraphJob {
                job: Some(summary.clone()),
                environments: envs,
                ..Default::default()
            },
            summary,
            git: None,
            requirements: vec!["numpy==1.26.0".into()],
        }
    }

    fn venv_env(root: &str) -> pb::PythonEnvironment {
        pb::PythonEnvironment {
            kind: pb::EnvironmentKind::Venv.into(),
            root: root.as_bytes().to_vec(),
            interpreter: format!("{root}/bin/python").into_bytes(),
            version: "3.11.7".into(),
        }
    }

    #[test]
    fn paths_into_the_recorded_venv_point_into_the_fresh_one() {
        let fresh = FreshVenv {
            dir: PathBuf::from("/cache/r/.roar-venvs/venv-1"),
        };
        let s = step(
            "/w",
            &[".venv/bin/python", "train.py"],
            vec![venv_env("/w/.venv")],
        );
        let argv: Vec<OsString> = [".venv/bin/python", "train.py", "/w/.venv/lib/x"]
            .iter()
            .map(OsString::from)
            .collect();
        let mapped = map_argv(&s, &argv, &fresh);
        assert_eq!(mapped[0], "/cache/r/.roar-venvs/venv-1/bin/python");
        assert_eq!(mapped[1], "train.py");
        assert_eq!(mapped[2], "/cache/r/.roar-venvs/venv-1/lib/x");
    }

    #[test]
    fn a_system_interpreter_named_by_path_is_replaced_by_name() {
        let fresh = FreshVenv {
            dir: PathBuf::from("/f"),
        };
        let system = pb::PythonEnvironment {
            kind: pb::EnvironmentKind::System.into(),
            root: b"/usr".to_vec(),
            interpreter: b"/usr/bin/python3.11".to_vec(),
            version: "3.11.2".into(),
        };
        let s = step("/w", &["/usr/bin/python3.11", "/usr/share/x"], vec![system]);
        let argv: Vec<OsString> = ["/usr/bin/python3.11", "/usr/share/x"]
            .iter()
            .map(OsString::from)
            .collect();
        let mapped = map_argv(&s, &argv, &fresh);
        assert_eq!(mapped[0], "/f/bin/python3.11");
        assert_eq!(
            mapped[1], "/usr/share/x",
            "only the interpreter, not the prefix"
        );
        assert_eq!(
            absolute(Path::new("/w/a"), Path::new("./../b/./c")),
            Path::new("/w/b/c")
        );
    }
}
