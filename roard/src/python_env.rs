//! Which Python interpreters a job ran and the environments they came from: a
//! virtualenv (`pyvenv.cfg` beside `bin/`), a conda environment (`conda-meta/`), or the
//! system installation, each with the interpreter's full version. `reproduce` needs
//! this to give a step the same kind of interpreter again; the packages the job used
//! are recorded separately (see `packages`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::packages::{PackageIndex, normalize};
use crate::record::Image;

/// What made a Python environment. In the order of its names, which is how a job's
/// environments have always been sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EnvironmentKind {
    Conda,
    System,
    Venv,
}

impl EnvironmentKind {
    /// The name stored in the database.
    pub fn name(self) -> &'static str {
        match self {
            EnvironmentKind::Conda => "conda",
            EnvironmentKind::System => "system",
            EnvironmentKind::Venv => "venv",
        }
    }

    /// The kind a stored name stands for; None for a name this build does not know.
    pub fn from_name(name: &str) -> Option<EnvironmentKind> {
        [
            EnvironmentKind::Conda,
            EnvironmentKind::System,
            EnvironmentKind::Venv,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PythonEnvironment {
    /// Always known for an environment a job ran in; None when read back from a
    /// database a newer roard wrote, with a kind this build does not know.
    pub kind: Option<EnvironmentKind>,
    pub root: Vec<u8>,
    /// The interpreter as the job named it, made absolute.
    pub interpreter: Vec<u8>,
    /// Such as "3.11.7"; empty when it cannot be told.
    pub version: String,
}

/// The distinct environments of the job's Python processes. `search_path` is the
/// job's `PATH`, which tells where a bare `python3` came from.
pub fn environments(
    images: &[std::sync::Arc<Image>],
    search_path: &[u8],
    packages: &PackageIndex,
) -> Vec<PythonEnvironment> {
    let mut found: Vec<PythonEnvironment> = images
        .iter()
        .filter(|image| is_python(&image.exe))
        .filter_map(|image| {
            let named = named_interpreter(image, search_path)?;
            Some(environment_of(&named, &image.exe, packages))
        })
        .collect();
    found.sort();
    found.dedup_by(|a, b| a.root == b.root && a.interpreter == b.interpreter);
    found
}

/// Whether the image is a Python interpreter (see `environments`).
pub fn is_interpreter(image: &Image) -> bool {
    is_python(&image.exe)
}

/// `python`, `python3`, `python3.11`: the interpreter's file name.
fn is_python(exe: &[u8]) -> bool {
    let name = exe.rsplit(|b| *b == b'/').next().unwrap_or(exe);
    name.strip_prefix(b"python")
        .is_some_and(|rest| rest.iter().all(|b| b.is_ascii_digit() || *b == b'.'))
}

/// argv[0] made absolute (against the process's cwd, or found on `PATH`); the
/// executable itself when argv[0] says nothing useful.
fn named_interpreter(image: &Image, search_path: &[u8]) -> Option<Vec<u8>> {
    let first = image.argv.first().filter(|a| !a.is_empty());
    let named = match first {
        Some(arg) if arg.starts_with(b"/") => arg.clone(),
        Some(arg) if arg.contains(&b'/') => [&image.cwd[..], b"/", arg].concat(),
        Some(arg) => search_path
            .split(|b| *b == b':')
            .filter(|dir| dir.starts_with(b"/"))
            .map(|dir| [dir, b"/", arg].concat())
            .find(|candidate| Path::new(OsStr::from_bytes(candidate)).is_file())
            .unwrap_or_else(|| image.exe.clone()),
        None => image.exe.clone(),
    };
    // Lexically: a venv's `bin/python` is a link to the base interpreter, and the
    // link is what tells the environment.
    (!named.is_empty()).then(|| normalize(&named))
}

fn environment_of(named: &[u8], exe: &[u8], packages: &PackageIndex) -> PythonEnvironment {
    // `<root>/bin/python`: the environment is the directory above `bin`.
    let root = parent(named)
        .and_then(|bin| parent(&bin))
        .unwrap_or_default();
    let at = |name: &str| Path::new(OsStr::from_bytes(&root)).join(name);
    if let Ok(config) = std::fs::read_to_string(at("pyvenv.cfg")) {
        return PythonEnvironment {
            kind: Some(EnvironmentKind::Venv),
            version: venv_version(&config).unwrap_or_else(|| system_version(exe, packages)),
            root,
            interpreter: named.to_vec(),
        };
    }
    if at("conda-meta").is_dir() {
        return PythonEnvironment {
            kind: Some(EnvironmentKind::Conda),
            version: conda_version(&at("conda-meta")).unwrap_or_default(),
            root,
            interpreter: named.to_vec(),
        };
    }
    PythonEnvironment {
        kind: Some(EnvironmentKind::System),
        version: system_version(exe, packages),
        root,
        interpreter: named.to_vec(),
    }
}

fn parent(path: &[u8]) -> Option<Vec<u8>> {
    let end = path.iter().rposition(|b| *b == b'/')?;
    Some(path[..end].to_vec())
}

/// `version = 3.11.7` (venv) or `version_info = 3.11.7.final.0` (virtualenv).
fn venv_version(config: &str) -> Option<String> {
    config.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        let value = value.trim();
        match key.trim() {
            "version" => Some(value.to_string()),
            "version_info" => Some(value.split('.').take(3).collect::<Vec<_>>().join(".")),
            _ => None,
        }
    })
}

/// `conda-meta/python-3.11.7-h955ad1f_0.json`.
fn conda_version(meta: &Path) -> Option<String> {
    std::fs::read_dir(meta).ok()?.flatten().find_map(|entry| {
        let name = entry.file_name().into_string().ok()?;
        let rest = name.strip_prefix("python-")?;
        let version = rest.split('-').next()?;
        version
            .starts_with(|c: char| c.is_ascii_digit())
            .then(|| version.to_string())
    })
}

/// The Debian package that installed the interpreter (`3.11.2-6+deb12u1` gives
/// 3.11.2), else the version in its file name (`python3.11`).
fn system_version(exe: &[u8], packages: &PackageIndex) -> String {
    if let Some(package) = packages.debian_owner(exe) {
        let upstream = package
            .version
            .split_once(':')
            .map_or(package.version.as_str(), |(_, v)| v);
        let upstream = upstream.split(['-', '+', '~']).next().unwrap_or_default();
        if upstream.starts_with(|c: char| c.is_ascii_digit()) {
            return upstream.to_string();
        }
    }
    let name = exe.rsplit(|b| *b == b'/').next().unwrap_or(exe);
    String::from_utf8_lossy(name.strip_prefix(b"python").unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_environment_files() {
        assert_eq!(
            venv_version("home = /usr/bin\nversion = 3.11.7\n").as_deref(),
            Some("3.11.7")
        );
        assert_eq!(
            venv_version("version_info = 3.12.1.final.0\n").as_deref(),
            Some("3.12.1")
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("python-3.10.13-h955ad1f_0.json"), "{}").unwrap();
        std::fs::write(dir.path().join("python-dateutil-2.8.2-py_0.json"), "{}").unwrap();
        assert_eq!(conda_version(dir.path()).as_deref(), Some("3.10.13"));
    }

    #[test]
    fn interpreters_are_recognised_by_name() {
        assert!(is_python(b"/usr/bin/python3.11"));
        assert!(is_python(b"/v/bin/python"));
        assert!(!is_python(b"/usr/bin/python3-config"));
        assert_eq!(
            normalize(b"/w/./.venv/bin/../bin/python"),
            b"/w/.venv/bin/python"
        );
    }

    #[test]
    fn a_virtualenv_is_found_from_the_name_the_job_used() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(".venv");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(root.join("pyvenv.cfg"), "version = 3.11.7\n").unwrap();
        let named = root.join("bin/python");
        let env = environment_of(
            named.as_os_str().as_bytes(),
            b"/usr/bin/python3.11",
            &PackageIndex::new(dir.path().join("no-dpkg")),
        );
        assert_eq!(env.kind.map(EnvironmentKind::name), Some("venv"));
        assert_eq!(env.version, "3.11.7");
        assert_eq!(env.root, root.as_os_str().as_bytes());
    }
}
