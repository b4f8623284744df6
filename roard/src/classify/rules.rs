//! The `[filters]` configuration turned into byte-path tests, with `~`, `$HOME` and
//! `$TMPDIR` expanded from the job's own environment (not the daemon's: the job's
//! `$TMPDIR` is where the job's scratch files go).

use roar_proto::config::FilterConfig;

/// The parts of a job's environment the rules may name.
#[derive(Debug, Default, Clone)]
pub struct JobEnv {
    pub home: Option<Vec<u8>>,
    pub tmpdir: Option<Vec<u8>>,
}

impl JobEnv {
    /// Picks `HOME` and `TMPDIR` out of `NAME=VALUE`-style pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Self {
        let mut env = Self::default();
        for (name, value) in pairs {
            let value = Some(value.to_vec()).filter(|v| v.starts_with(b"/"));
            match name {
                b"HOME" => env.home = value,
                b"TMPDIR" => env.tmpdir = value,
                _ => {}
            }
        }
        env
    }
}

/// Prefix lists ready for matching.
#[derive(Debug, Clone)]
pub struct Rules {
    system: Vec<Vec<u8>>,
    package: Vec<Vec<u8>>,
    package_dirs: Vec<Vec<u8>>,
    tmp: Vec<Vec<u8>>,
    artifact: Vec<Vec<u8>>,
    pub track_repo_files: bool,
}

impl Rules {
    pub fn new(filters: &FilterConfig, env: &JobEnv) -> Self {
        let prefixes = |items: &[String]| -> Vec<Vec<u8>> {
            items
                .iter()
                .filter_map(|item| expand(item, env))
                .map(|mut p| {
                    while p.len() > 1 && p.ends_with(b"/") {
                        p.pop();
                    }
                    p
                })
                .collect()
        };
        Self {
            system: prefixes(&filters.system),
            package: prefixes(&filters.package),
            package_dirs: filters
                .package_dirs
                .iter()
                .map(|d| d.as_bytes().to_vec())
                .collect(),
            tmp: prefixes(&filters.tmp),
            artifact: prefixes(&filters.artifact),
            track_repo_files: filters.track_repo_files,
        }
    }

    pub fn is_forced_artifact(&self, path: &[u8]) -> bool {
        under_any(path, &self.artifact)
    }

    pub fn is_system(&self, path: &[u8]) -> bool {
        under_any(path, &self.system)
    }

    pub fn is_tmp(&self, path: &[u8]) -> bool {
        under_any(path, &self.tmp)
    }

    /// Package prefixes, package directory names anywhere in the path, and the Python
    /// standard library (`…/lib/pythonX.Y/…`).
    pub fn is_package(&self, path: &[u8]) -> bool {
        if under_any(path, &self.package) {
            return true;
        }
        let mut previous: &[u8] = b"";
        let components: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
        // The last component is the file itself, not a directory.
        let directories = &components[..components.len().saturating_sub(1)];
        for component in directories {
            if self.package_dirs.iter().any(|d| d == component) {
                return true;
            }
            if previous == b"lib" && is_python_version_dir(component) {
                return true;
            }
            previous = component;
        }
        false
    }
}

/// `python3.11`, `python2.7`: the directory of a Python standard library.
pub fn is_python_version_dir(name: &[u8]) -> bool {
    let Some(version) = name.strip_prefix(b"python") else {
        return false;
    };
    let mut parts = version.split(|b| *b == b'.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or_default();
    parts.next().is_none()
        && !major.is_empty()
        && !minor.is_empty()
        && major.iter().chain(minor).all(u8::is_ascii_digit)
}

/// `~/x`, `$HOME/x`, `$TMPDIR/x` with the job's values; None when the variable is unset
/// (the rule then matches nothing).
fn expand(item: &str, env: &JobEnv) -> Option<Vec<u8>> {
    let (variable, rest) = if let Some(rest) = item.strip_prefix('~') {
        (env.home.as_ref(), rest)
    } else if let Some(rest) = item.strip_prefix("$HOME") {
        (env.home.as_ref(), rest)
    } else if let Some(rest) = item.strip_prefix("$TMPDIR") {
        (env.tmpdir.as_ref(), rest)
    } else {
        return Some(item.as_bytes().to_vec()).filter(|p| p.starts_with(b"/"));
    };
    let mut path = variable?.clone();
    path.extend_from_slice(rest.as_bytes());
    Some(path)
}

/// Whether `path` is `prefix` or lies beneath it (whole components only).
fn under_any(path: &[u8], prefixes: &[Vec<u8>]) -> bool {
    prefixes.iter().any(|prefix| {
        prefix.as_slice() == b"/"
            || path
                .strip_prefix(prefix.as_slice())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_components_and_expand_the_job_env() {
        let env = JobEnv::from_pairs([(&b"HOME"[..], &b"/home/ada"[..])]);
        let filters = FilterConfig {
            tmp: vec!["$TMPDIR".into(), "~/scratch/".into()],
            ..FilterConfig::default()
        };
        let rules = Rules::new(&filters, &env);
        assert!(rules.is_tmp(b"/home/ada/scratch/x"));
        assert!(!rules.is_tmp(b"/home/ada/scratchy"));
        assert!(!rules.is_tmp(b"/tmp/x"), "the list replaced the default");
        assert!(rules.is_system(b"/usr"));
        assert!(!rules.is_system(b"/usrx/a"));
    }

    #[test]
    fn python_library_directories() {
        assert!(is_python_version_dir(b"python3.11"));
        assert!(!is_python_version_dir(b"python3"));
        assert!(!is_python_version_dir(b"pythonic.x"));
    }
}
