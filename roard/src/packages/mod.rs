//! Which installed packages a job used: each package or system file it touched is traced
//! back to the distribution that owns it (Python dist-info/egg-info, the dpkg database,
//! the cargo registry, node_modules). The indexes behind this are read once and shared
//! by every job in roard; each is re-read only when its source changes.

mod dpkg;
mod python;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::classify::Class;
use dpkg::DpkgIndex;
use python::SiteIndex;
pub(crate) use python::normalize;

/// An installed package, as a job records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Package {
    /// "python", "debian", "cargo" or "npm" (owned only when read back from the
    /// database, which may hold an ecosystem a newer roard knows).
    pub ecosystem: Cow<'static, str>,
    pub name: String,
    pub version: String,
}

/// The shared indexes.
pub struct PackageIndex {
    dpkg_root: PathBuf,
    dpkg: Mutex<Option<Arc<DpkgIndex>>>,
    sites: Mutex<HashMap<Vec<u8>, Arc<SiteIndex>>>,
}

impl Default for PackageIndex {
    fn default() -> Self {
        Self::new(PathBuf::from("/var/lib/dpkg"))
    }
}

impl PackageIndex {
    pub fn new(dpkg_root: PathBuf) -> Self {
        Self {
            dpkg_root,
            dpkg: Mutex::new(None),
            sites: Mutex::new(HashMap::new()),
        }
    }

    /// A resolver for one job: it checks each index's freshness once, then answers
    /// from it for every file of the job.
    pub fn resolver(&self) -> Resolver<'_> {
        Resolver {
            index: self,
            dpkg: None,
            sites: HashMap::new(),
            npm: HashMap::new(),
            found: BTreeSet::new(),
        }
    }

    /// The Debian package that installed `path`, if any.
    pub fn debian_owner(&self, path: &[u8]) -> Option<Package> {
        self.dpkg().owner(path).cloned()
    }

    fn dpkg(&self) -> Arc<DpkgIndex> {
        let mut cached = self.dpkg.lock().unwrap_or_else(|e| e.into_inner());
        let mtime = std::fs::metadata(self.dpkg_root.join("status"))
            .and_then(|m| m.modified())
            .ok();
        match cached.as_ref() {
            Some(index) if index.status_mtime == mtime => Arc::clone(index),
            _ => {
                let started = std::time::Instant::now();
                let index = Arc::new(DpkgIndex::read(&self.dpkg_root));
                tracing::debug!(
                    "read the dpkg database: {} files in {} ms",
                    index.file_count(),
                    started.elapsed().as_millis()
                );
                *cached = Some(Arc::clone(&index));
                index
            }
        }
    }

    fn site(&self, site: &[u8]) -> Arc<SiteIndex> {
        let mtime_ns = std::fs::metadata(Path::new(OsStr::from_bytes(site)))
            .map(|m| m.mtime() * 1_000_000_000 + m.mtime_nsec())
            .unwrap_or(0);
        let mut sites = self.sites.lock().unwrap_or_else(|e| e.into_inner());
        match sites.get(site) {
            Some(index) if index.mtime_ns == mtime_ns => Arc::clone(index),
            _ => {
                let index = Arc::new(SiteIndex::read(site, mtime_ns));
                sites.insert(site.to_vec(), Arc::clone(&index));
                index
            }
        }
    }
}

/// Collects the packages of one job.
pub struct Resolver<'a> {
    index: &'a PackageIndex,
    dpkg: Option<Arc<DpkgIndex>>,
    sites: HashMap<Vec<u8>, Arc<SiteIndex>>,
    npm: HashMap<Vec<u8>, Option<Package>>,
    found: BTreeSet<Package>,
}

impl Resolver<'_> {
    /// Notes the package owning a file of class `class`, if one can be told.
    pub fn note(&mut self, path: &[u8], class: Class) {
        if read_at_every_start(path) {
            return;
        }
        let package = match class {
            Class::System => self.debian(path),
            Class::Package => self
                .python(path)
                .or_else(|| cargo(path))
                .or_else(|| self.npm(path))
                .or_else(|| self.debian(path))
                .or_else(|| python_stdlib(path)),
            Class::Artifact | Class::Repo | Class::Tmp | Class::Vcs => None,
        };
        if let Some(package) = package {
            self.found.insert(package);
        }
    }

    /// Every package noted, sorted.
    pub fn into_packages(self) -> Vec<Package> {
        self.found.into_iter().collect()
    }

    fn debian(&mut self, path: &[u8]) -> Option<Package> {
        let index = self.dpkg.get_or_insert_with(|| self.index.dpkg());
        index.owner(path).cloned()
    }

    fn python(&mut self, path: &[u8]) -> Option<Package> {
        let end = site_dir_end(path)?;
        let site = &path[..end];
        let index = match self.sites.get(site) {
            Some(index) => Arc::clone(index),
            None => {
                let index = self.index.site(site);
                self.sites.insert(site.to_vec(), Arc::clone(&index));
                index
            }
        };
        index.owner(site, path).cloned()
    }

    /// `node_modules/NAME/…` or `node_modules/@SCOPE/NAME/…`: the version from that
    /// directory's `package.json`.
    fn npm(&mut self, path: &[u8]) -> Option<Package> {
        let marker = b"/node_modules/";
        let start = path.windows(marker.len()).rposition(|w| w == marker)? + marker.len();
        let rest = &path[start..];
        let mut parts = rest.split(|b| *b == b'/');
        let first = parts.next()?;
        let name_len = if first.starts_with(b"@") {
            first.len() + 1 + parts.next()?.len()
        } else {
            first.len()
        };
        let dir = &path[..start + name_len];
        self.npm
            .entry(dir.to_vec())
            .or_insert_with(|| read_package_json(dir))
            .clone()
    }
}

/// Files every Python interpreter reads at start-up whatever the job imports: the
/// `.pth` files of a site directory and the `_distutils_hack` that setuptools' `.pth`
/// loads. They do not make their owner (setuptools, an editable install) a package
/// the job used.
fn read_at_every_start(path: &[u8]) -> bool {
    let Some(end) = site_dir_end(path) else {
        return false;
    };
    let relative = path[end..].strip_prefix(b"/").unwrap_or_default();
    (relative.ends_with(b".pth") && !relative.contains(&b'/'))
        || relative.starts_with(b"_distutils_hack/")
}

/// Where the last `site-packages` or `dist-packages` component of `path` ends.
fn site_dir_end(path: &[u8]) -> Option<usize> {
    let mut end = None;
    let mut offset = 0;
    for component in path.split(|b| *b == b'/') {
        let next = offset + component.len();
        if (component == b"site-packages" || component == b"dist-packages") && next < path.len() {
            end = Some(next);
        }
        offset = next + 1;
    }
    end
}

/// `~/.cargo/registry/src/INDEX/NAME-VERSION/…`.
fn cargo(path: &[u8]) -> Option<Package> {
    let marker = b"/registry/src/";
    let start = path.windows(marker.len()).position(|w| w == marker)? + marker.len();
    let mut parts = path[start..].split(|b| *b == b'/');
    let _index = parts.next()?;
    let crate_dir = std::str::from_utf8(parts.next()?).ok()?;
    // Names may hold `-` and digits (`md-5`); the version is what follows the first
    // `-` that starts `DIGITS.DIGITS`.
    let split = crate_dir.match_indices('-').map(|(i, _)| i).find(|&i| {
        let mut numbers = crate_dir[i + 1..].split('.');
        let is_number = |s: Option<&str>| {
            s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        };
        is_number(numbers.next()) && is_number(numbers.next())
    })?;
    Some(Package {
        ecosystem: Cow::Borrowed("cargo"),
        name: crate_dir[..split].to_string(),
        version: crate_dir[split + 1..].to_string(),
    })
}

/// The interpreter's own library (`…/lib/python3.11/…`, outside site-packages) when no
/// system package owns it: recorded as `python` at that version.
fn python_stdlib(path: &[u8]) -> Option<Package> {
    let mut previous: &[u8] = b"";
    for component in path.split(|b| *b == b'/') {
        if previous == b"lib" && crate::classify::is_python_version_dir(component) {
            return Some(Package {
                ecosystem: Cow::Borrowed("python"),
                name: "python".to_string(),
                version: String::from_utf8_lossy(&component[b"python".len()..]).into_owned(),
            });
        }
        previous = component;
    }
    None
}

fn read_package_json(dir: &[u8]) -> Option<Package> {
    let text = std::fs::read(Path::new(OsStr::from_bytes(dir)).join("package.json")).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
    Some(Package {
        ecosystem: Cow::Borrowed("npm"),
        name: json.get("name")?.as_str()?.to_string(),
        version: json.get("version")?.as_str()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_up_hooks_are_not_package_use() {
        let site = b"/v/lib/python3.11/site-packages";
        assert!(read_at_every_start(
            &[site, &b"/distutils-precedence.pth"[..]].concat()
        ));
        assert!(read_at_every_start(
            &[site, &b"/_distutils_hack/__init__.py"[..]].concat()
        ));
        assert!(!read_at_every_start(
            &[site, &b"/setuptools/__init__.py"[..]].concat()
        ));
        assert!(!read_at_every_start(b"/w/notes.pth"));
    }

    #[test]
    fn cargo_and_stdlib_paths() {
        let cases = [
            (
                "/h/.cargo/registry/src/index.crates.io-6f17d22bba15001f/md-5-0.10.6/src/lib.rs",
                "md-5 0.10.6",
            ),
            (
                "/h/.cargo/registry/src/i/tokio-1.0.0-alpha.1/x.rs",
                "tokio 1.0.0-alpha.1",
            ),
        ];
        for (path, expected) in cases {
            let package = cargo(path.as_bytes()).unwrap();
            assert_eq!(format!("{} {}", package.name, package.version), expected);
        }
        let stdlib = python_stdlib(b"/opt/py/lib/python3.12/json/__init__.py").unwrap();
        assert_eq!(
            (stdlib.name.as_str(), stdlib.version.as_str()),
            ("python", "3.12")
        );
    }

    #[test]
    fn npm_versions_come_from_package_json() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("web/node_modules/@scope/left-pad");
        std::fs::create_dir_all(module.join("lib")).unwrap();
        std::fs::write(
            module.join("package.json"),
            r#"{"name": "@scope/left-pad", "version": "1.3.0"}"#,
        )
        .unwrap();
        let index = PackageIndex::new(dir.path().join("no-dpkg"));
        let mut resolver = index.resolver();
        resolver.note(
            module.join("lib/index.js").as_os_str().as_bytes(),
            Class::Package,
        );
        let packages = resolver.into_packages();
        assert_eq!(packages.len(), 1);
        assert_eq!(
            (packages[0].name.as_str(), packages[0].version.as_str()),
            ("@scope/left-pad", "1.3.0")
        );
    }
}
