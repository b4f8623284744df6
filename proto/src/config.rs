//! Configuration, from up to three TOML files merged key by key, later ones winning:
//! the system file (`/etc/roar/config.toml`), the user's file
//! (`$XDG_CONFIG_HOME/roar/config.toml`) and the project's (`.roar/config.toml` at the
//! project root). Both binaries read the same files through this module, so a key means
//! the same thing to roarctl and to roard.
//!
//! A missing file is an empty layer; a malformed one, or one with an unknown key, is an
//! error naming the file: a typo must never be silently ignored.

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every key roar understands. Each section documents its defaults in README.md,
/// "Configuration".
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub daemon: DaemonConfig,
    pub hash: HashConfig,
    pub filters: FilterConfig,
    pub git: GitConfig,
    pub registry: RegistryConfig,
    pub tracer: TracerConfig,
    pub labels: LabelConfig,
    pub policy: PolicyConfig,
    /// Variables set in the environment of every `run` and `build` job (recorded with
    /// the job), over what the shell passes.
    pub env: BTreeMap<String, String>,
}

/// Labels (`roarctl label`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LabelConfig {
    /// Keys set as inherited unless `label set --no-inherit` says otherwise: what a
    /// dataset's terms of use say must follow everything made from it.
    pub inherit: Vec<String>,
}

impl Default for LabelConfig {
    fn default() -> Self {
        let keys = ["license", "contains_pii", "classification", "jurisdiction"];
        Self {
            inherit: keys.iter().map(|k| k.to_string()).collect(),
        }
    }
}

/// What may leave this machine.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Labels, as `key=value`, that `put` and `register` refuse to publish, on the
    /// artifact itself or inherited from upstream.
    pub refuse_put: Vec<String>,
}

/// The team's shared lineage registry (PostgreSQL).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// `postgres://user:password@host/database`; `ROAR_REGISTRY_URL` overrides it.
    pub url: Option<String>,
}

/// How jobs are traced.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TracerConfig {
    /// Record the opens that cannot change content (read-only opens, exclusive
    /// creations) in the job's processes, through the preload library, instead of
    /// stopping them: `true` (default) or `false`. What the library does not see still
    /// stops under ptrace.
    pub fast_path: bool,
    /// What a job's `io_uring_setup` gets: `"refuse"` (default) makes it fail with
    /// ENOSYS, as container runtimes do, so programs use ordinary (traced) calls;
    /// `"allow"` lets it succeed, and the job's record notes that what the ring did
    /// was not seen.
    pub io_uring: IoUringPolicy,
}

impl Default for TracerConfig {
    fn default() -> Self {
        Self {
            fast_path: true,
            io_uring: IoUringPolicy::default(),
        }
    }
}

/// `tracer.io_uring`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IoUringPolicy {
    #[default]
    Refuse,
    Allow,
}

/// The clean-repository policy.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GitConfig {
    /// Refuse to trace a job whose repository has uncommitted changes to tracked
    /// files. `true` (default) or `false`; `"enforce"` in the system file makes it
    /// `true` for everyone, with no way to override it.
    pub require_clean: RequireClean,
    /// Count untracked files as uncommitted changes too.
    pub untracked_is_dirty: bool,
}

impl Default for GitConfig {
    fn default() -> Self {
        Self {
            require_clean: RequireClean::Flag(true),
            untracked_is_dirty: false,
        }
    }
}

/// `true`, `false` or `"enforce"`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum RequireClean {
    Flag(bool),
    Policy(Enforce),
}

/// The only string `git.require_clean` accepts.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Enforce {
    Enforce,
}

impl RequireClean {
    /// Whether a clean repository is required at all.
    pub fn required(self) -> bool {
        !matches!(self, RequireClean::Flag(false))
    }

    /// Whether `--allow-dirty` may lift the requirement.
    pub fn enforced(self) -> bool {
        matches!(self, RequireClean::Policy(Enforce::Enforce))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Start roard when no daemon answers on the socket.
    pub autostart: bool,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self { autostart: true }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HashConfig {
    /// Algorithms computed for every artifact; BLAKE3 is always among them. Read by
    /// roard at start-up (its hash cache is shared by every job), so only the system
    /// and user files can set it.
    pub algorithms: Vec<String>,
}

impl Default for HashConfig {
    fn default() -> Self {
        Self {
            algorithms: vec!["blake3".to_string()],
        }
    }
}

/// How the files a job touched are sorted into classes. Each list replaces its
/// built-in default when set. Entries are path prefixes (whole components: `/usr`
/// covers `/usr/bin/x`, not `/usrx`); `~` and `$HOME`/`$TMPDIR` expand with the job's
/// environment.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Operating-system paths: never data.
    pub system: Vec<String>,
    /// Prefixes whose files belong to installed packages (besides the directories
    /// named in `package_dirs`, virtualenvs, conda environments and the Python
    /// standard library, which are recognised wherever they are).
    pub package: Vec<String>,
    /// Directory names that mark packages wherever they appear in a path.
    pub package_dirs: Vec<String>,
    /// Scratch space: ignored.
    pub tmp: Vec<String>,
    /// Prefixes always treated as artifacts, whatever the other rules say.
    pub artifact: Vec<String>,
    /// Hash files tracked by git in the job's repository as artifacts too (they are
    /// anchored by the commit otherwise).
    pub track_repo_files: bool,
}

impl Default for FilterConfig {
    fn default() -> Self {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        Self {
            system: list(&[
                "/usr",
                "/etc",
                "/proc",
                "/sys",
                "/dev",
                "/run",
                "/lib",
                "/lib32",
                "/lib64",
                "/libx32",
                "/bin",
                "/sbin",
                "/boot",
                "/var/lib",
                "/var/cache",
                "/var/log",
                "/var/run",
                "/nix/store",
                "/snap",
            ]),
            package: list(&[
                "~/.cargo/registry",
                "~/.cargo/git",
                "~/.rustup",
                "~/.cache/pip",
                "~/.local/lib",
                "~/.npm",
                "~/.pyenv",
                "/opt/conda",
            ]),
            package_dirs: list(&["site-packages", "dist-packages", "node_modules"]),
            tmp: list(&["/tmp", "/var/tmp", "$TMPDIR"]),
            artifact: Vec::new(),
            track_repo_files: false,
        }
    }
}

/// Every key, its default as TOML, and what it does: the one place keys are documented
/// for `roarctl config list` (README, "Configuration", says the same).
pub const KEYS: &[(&str, &str)] = &[
    ("daemon.autostart", "start roard when no daemon answers"),
    (
        "hash.algorithms",
        "digests of every artifact besides BLAKE3's identity (read by roard at start-up, system and user files only)",
    ),
    (
        "git.require_clean",
        "refuse jobs in a repository with uncommitted changes: true, false, or \"enforce\" (system file: cannot be overridden)",
    ),
    (
        "git.untracked_is_dirty",
        "count untracked files as uncommitted changes",
    ),
    (
        "filters.system",
        "path prefixes of the operating system: not data",
    ),
    (
        "filters.package",
        "path prefixes of installed packages: recorded as package + version",
    ),
    (
        "filters.package_dirs",
        "directory names that mark packages anywhere in a path",
    ),
    ("filters.tmp", "path prefixes of scratch space: ignored"),
    (
        "filters.artifact",
        "path prefixes always treated as data, whatever else matches",
    ),
    (
        "filters.track_repo_files",
        "hash files tracked by git as artifacts too",
    ),
    (
        "labels.inherit",
        "label keys that every artifact downstream carries unless `label set --no-inherit`",
    ),
    (
        "policy.refuse_put",
        "labels (key=value) that put and register refuse to publish, own or inherited",
    ),
    (
        "registry.url",
        "the team registry's PostgreSQL URL (no default; ROAR_REGISTRY_URL overrides it)",
    ),
];

/// Which layer set a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Default,
    System,
    User,
    Project,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::System => "system",
            Source::User => "user",
            Source::Project => "project",
        }
    }
}

/// The effective value of every key (and of every `env.NAME`) as TOML text, with the
/// layer it comes from.
pub fn explain(layers: &Layers) -> Result<Vec<(String, String, Source)>, ConfigError> {
    let config = load(layers)?;
    let effective = toml::Table::try_from(&config).map_err(|e| ConfigError {
        path: PathBuf::new(),
        message: e.to_string(),
    })?;
    let mut tables = Vec::new();
    for (source, path) in [
        (Source::System, &layers.system),
        (Source::User, &layers.user),
        (Source::Project, &layers.project),
    ] {
        if let Some(path) = path
            && let Some(table) = read_table(path)?
        {
            tables.push((source, table));
        }
    }
    let lookup = |table: &toml::Table, key: &str| -> Option<toml::Value> {
        let mut value = toml::Value::Table(table.clone());
        for part in key.split('.') {
            value = value.get(part)?.clone();
        }
        Some(value)
    };
    let source_of = |key: &str| -> Source {
        if key == "git.require_clean"
            && config.git.require_clean.enforced()
            && let Some((_, system)) = tables.iter().find(|(s, _)| *s == Source::System)
            && lookup(system, key).is_some()
        {
            return Source::System;
        }
        tables
            .iter()
            .rev()
            .find(|(_, table)| lookup(table, key).is_some())
            .map_or(Source::Default, |(source, _)| *source)
    };
    let mut rows = Vec::new();
    let mut keys: Vec<String> = KEYS.iter().map(|(k, _)| k.to_string()).collect();
    keys.extend(config.env.keys().map(|name| format!("env.{name}")));
    for key in keys {
        let value = lookup(&effective, &key).map_or_else(String::new, |v| v.to_string());
        let source = source_of(&key);
        rows.push((key, value, source));
    }
    Ok(rows)
}

/// A configuration file that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration in {}: {message}", path.display())]
pub struct ConfigError {
    pub path: PathBuf,
    pub message: String,
}

/// Where the layers come from, lowest precedence first.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    pub system: Option<PathBuf>,
    pub user: Option<PathBuf>,
    pub project: Option<PathBuf>,
}

impl Layers {
    /// The standard files for a job or command in `dir`: the system file, `user` (the
    /// user's file, when the caller already knows it) or the default one, and the
    /// project's.
    pub fn standard(user: Option<PathBuf>, dir: Option<&Path>) -> Self {
        Self {
            system: Some(system_path()),
            user: user.or_else(user_path),
            project: dir.map(project_path),
        }
    }

    fn in_order(&self) -> impl Iterator<Item = &Path> {
        [&self.system, &self.user, &self.project]
            .into_iter()
            .filter_map(|p| p.as_deref())
    }
}

/// The organisation-wide file: `/etc/roar/config.toml`, or `ROAR_SYSTEM_CONFIG`.
pub fn system_path() -> PathBuf {
    std::env::var_os("ROAR_SYSTEM_CONFIG")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/etc/roar/config.toml"), PathBuf::from)
}

/// The user's file: `ROAR_CONFIG`, else `$XDG_CONFIG_HOME/roar/config.toml`, else
/// `~/.config/roar/config.toml`.
pub fn user_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ROAR_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|dir| dir.join("roar").join("config.toml"))
}

/// The project's file: `.roar/config.toml` at the root of the project holding `dir`.
pub fn project_path(dir: &Path) -> PathBuf {
    crate::project::project_root(dir)
        .join(".roar")
        .join("config.toml")
}

/// Reads and merges the layers. Each file is checked on its own first, so an error
/// names the file that holds the mistake.
pub fn load(layers: &Layers) -> Result<Config, ConfigError> {
    let mut merged = toml::Table::new();
    let mut enforced = false;
    for path in layers.in_order() {
        let table = match read_table(path) {
            Ok(Some(table)) => table,
            Ok(None) => continue,
            // A working directory the user may not read (a shell can still run
            // commands there): its project file cannot be known, so it does not apply.
            Err(_) if Some(path) == layers.project.as_deref() && unreadable_dir(path) => {
                continue;
            }
            Err(e) => return Err(e),
        };
        Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        // An organisation's "enforce" is final: later layers cannot lift it.
        if Some(path) == layers.system.as_deref() {
            enforced = table
                .get("git")
                .and_then(|git| git.get("require_clean"))
                .and_then(|v| v.as_str())
                == Some("enforce");
        }
        merge(&mut merged, table);
    }
    if enforced && let Some(toml::Value::Table(git)) = merged.get_mut("git") {
        git.insert(
            "require_clean".into(),
            toml::Value::String("enforce".into()),
        );
    }
    Config::deserialize(toml::Value::Table(merged)).map_err(|e| ConfigError {
        path: layers
            .in_order()
            .last()
            .map_or_else(PathBuf::new, Path::to_path_buf),
        message: e.to_string(),
    })
}

/// Whether `path`'s directory (or one above it) cannot be searched by this user.
fn unreadable_dir(path: &Path) -> bool {
    path.ancestors().skip(1).any(|dir| {
        std::fs::metadata(dir.join("."))
            .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
    })
}

/// One layer's table, None when the file does not exist.
pub fn read_table(path: &Path) -> Result<Option<toml::Table>, ConfigError> {
    let error = |message: String| ConfigError {
        path: path.to_path_buf(),
        message,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(error(format!("cannot read it: {e}"))),
    };
    text.parse::<toml::Table>()
        .map(Some)
        .map_err(|e| error(e.to_string()))
}

/// Key-by-key merge: tables merge recursively, any other value replaces the old one.
fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(old)), toml::Value::Table(new)) => merge(old, new),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn missing_files_give_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let layers = Layers {
            system: Some(dir.path().join("none.toml")),
            ..Layers::default()
        };
        assert_eq!(load(&layers).unwrap(), Config::default());
    }

    #[test]
    fn later_layers_win_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let layers = Layers {
            system: Some(write(
                dir.path(),
                "system.toml",
                "[daemon]\nautostart = false\n[filters]\ntmp = [\"/scratch\"]\n",
            )),
            user: Some(write(
                dir.path(),
                "user.toml",
                "[filters]\ntrack_repo_files = true\n",
            )),
            project: Some(write(
                dir.path(),
                "project.toml",
                "[filters]\ntmp = [\"/project-scratch\"]\n",
            )),
        };
        let config = load(&layers).unwrap();
        assert!(!config.daemon.autostart);
        assert!(config.filters.track_repo_files);
        assert_eq!(config.filters.tmp, ["/project-scratch"]);
        assert_eq!(config.filters.system, FilterConfig::default().system);
    }

    #[test]
    fn an_enforced_clean_repository_cannot_be_lifted() {
        let dir = tempfile::tempdir().unwrap();
        let layers = Layers {
            system: Some(write(
                dir.path(),
                "system.toml",
                "[git]\nrequire_clean = \"enforce\"\n",
            )),
            user: Some(write(
                dir.path(),
                "user.toml",
                "[git]\nrequire_clean = false\n",
            )),
            project: None,
        };
        let git = load(&layers).unwrap().git;
        assert!(git.require_clean.required() && git.require_clean.enforced());
        // Only the system file may enforce; elsewhere it is as good as `true`.
        let layers = Layers {
            system: None,
            user: Some(write(
                dir.path(),
                "user2.toml",
                "[git]\nrequire_clean = \"enforce\"\n",
            )),
            project: Some(write(
                dir.path(),
                "project.toml",
                "[git]\nrequire_clean = false\n",
            )),
        };
        assert!(!load(&layers).unwrap().git.require_clean.required());
        let layers = Layers {
            user: Some(write(
                dir.path(),
                "bad.toml",
                "[git]\nrequire_clean = \"yes\"\n",
            )),
            ..Layers::default()
        };
        assert!(load(&layers).is_err());
    }

    #[test]
    fn mistakes_name_their_file() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("syntax.toml", "[daemon\n"),
            ("unknown.toml", "[filters]\ntmpp = []\n"),
            ("type.toml", "[filters]\ntmp = \"/x\"\n"),
        ] {
            let layers = Layers {
                user: Some(write(dir.path(), name, text)),
                ..Layers::default()
            };
            let message = load(&layers).unwrap_err().to_string();
            assert!(message.contains(name), "{message}");
        }
    }
}
