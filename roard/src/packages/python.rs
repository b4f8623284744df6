//! Which Python distribution owns a file in a site-packages directory, from the
//! metadata pip and Debian leave there: `*.dist-info/RECORD` and `METADATA`, or
//! `*.egg-info/installed-files.txt`, `top_level.txt` and `PKG-INFO`. A directory is
//! read once and kept until its mtime changes (installing, upgrading or removing a
//! distribution adds or removes a metadata directory there, which changes it).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::Package;
use std::borrow::Cow;

/// What one site-packages directory holds.
#[derive(Debug, Default)]
pub struct SiteIndex {
    /// The directory's mtime when it was read: the index is valid while it holds.
    pub mtime_ns: i64,
    distributions: Vec<Package>,
    /// Absolute path of every file a RECORD or installed-files.txt lists.
    files: HashMap<Vec<u8>, usize>,
    /// Top-level module or package names (the first component under the site
    /// directory), for files no list names (bytecode compiled later, data files).
    top_level: HashMap<Vec<u8>, usize>,
}

impl SiteIndex {
    /// Reads every distribution's metadata in `site` (an absolute directory path).
    pub fn read(site: &[u8], mtime_ns: i64) -> Self {
        let mut index = SiteIndex {
            mtime_ns,
            ..SiteIndex::default()
        };
        let Ok(entries) = std::fs::read_dir(Path::new(OsStr::from_bytes(site))) else {
            return index;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.as_bytes();
            let dir = [site, b"/", name].concat();
            if name.ends_with(b".dist-info") {
                index.add_dist_info(site, &dir);
            } else if name.ends_with(b".egg-info") {
                index.add_egg_info(site, &dir);
            }
        }
        index
    }

    /// The distribution owning `path`, a file under this site directory.
    pub fn owner(&self, site: &[u8], path: &[u8]) -> Option<&Package> {
        if let Some(&i) = self.files.get(path) {
            return self.distributions.get(i);
        }
        let relative = path.strip_prefix(site)?.strip_prefix(b"/")?;
        let first = relative.split(|b| *b == b'/').next()?;
        let module = first.strip_suffix(b".py").unwrap_or(first);
        let i = self
            .top_level
            .get(module)
            .or_else(|| self.top_level.get(first))?;
        self.distributions.get(*i)
    }

    fn add_dist_info(&mut self, site: &[u8], dir: &[u8]) {
        let Some(package) = read_metadata(&[dir, b"/METADATA"].concat()) else {
            return;
        };
        let i = self.push(package);
        if let Ok(record) = std::fs::read(Path::new(OsStr::from_bytes(&[dir, b"/RECORD"].concat())))
        {
            for line in record.split(|b| *b == b'\n') {
                if let Some(relative) = first_csv_field(line) {
                    self.add_file(site, relative, i);
                }
            }
        }
        self.add_top_level(&[dir, b"/top_level.txt"].concat(), i);
    }

    fn add_egg_info(&mut self, site: &[u8], path: &[u8]) {
        let fs_path = Path::new(OsStr::from_bytes(path));
        if fs_path.is_file() {
            // A single-file egg-info (distutils) is the PKG-INFO itself.
            if let Some(package) = read_metadata(path) {
                let i = self.push(package);
                let stem = file_stem(path, b".egg-info");
                self.top_level.insert(stem.to_vec(), i);
            }
            return;
        }
        let Some(package) = read_metadata(&[path, b"/PKG-INFO"].concat()) else {
            return;
        };
        let i = self.push(package);
        if let Ok(list) = std::fs::read(fs_path.join("installed-files.txt")) {
            for line in list.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let relative = [&path[site.len() + 1..], b"/", line].concat();
                self.add_file(site, &relative, i);
            }
        }
        self.add_top_level(&[path, b"/top_level.txt"].concat(), i);
    }

    fn push(&mut self, package: Package) -> usize {
        self.distributions.push(package);
        self.distributions.len() - 1
    }

    fn add_file(&mut self, site: &[u8], relative: &[u8], i: usize) {
        let absolute = normalize(&[site, b"/", relative].concat());
        if let Some(inside) = absolute
            .strip_prefix(site)
            .and_then(|r| r.strip_prefix(b"/"))
            && let Some(first) = inside.split(|b| *b == b'/').next()
            && !first.ends_with(b".dist-info")
            && !first.ends_with(b".egg-info")
            && first != b"__pycache__"
            && inside.contains(&b'/')
        {
            self.top_level.entry(first.to_vec()).or_insert(i);
        }
        self.files.insert(absolute, i);
    }

    fn add_top_level(&mut self, path: &[u8], i: usize) {
        if let Ok(text) = std::fs::read(Path::new(OsStr::from_bytes(path))) {
            for name in text
                .split(|b| *b == b'\n')
                .map(trim)
                .filter(|n| !n.is_empty())
            {
                self.top_level.entry(name.to_vec()).or_insert(i);
            }
        }
    }
}

/// `Name:` and `Version:` from a METADATA or PKG-INFO file (RFC 822 headers).
fn read_metadata(path: &[u8]) -> Option<Package> {
    let text = std::fs::read(Path::new(OsStr::from_bytes(path))).ok()?;
    let (mut name, mut version) = (None, None);
    for line in text.split(|b| *b == b'\n') {
        let line = trim(line);
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix(b"Name:") {
            name = Some(String::from_utf8_lossy(trim(value)).into_owned());
        } else if let Some(value) = line.strip_prefix(b"Version:") {
            version = Some(String::from_utf8_lossy(trim(value)).into_owned());
        }
    }
    Some(Package {
        ecosystem: Cow::Borrowed("python"),
        name: name?,
        version: version?,
    })
}

/// The path column of a RECORD line (CSV: quoted when it holds a comma).
fn first_csv_field(line: &[u8]) -> Option<&[u8]> {
    let line = trim(line);
    if line.is_empty() {
        return None;
    }
    if let Some(quoted) = line.strip_prefix(b"\"") {
        let end = quoted.iter().position(|b| *b == b'"')?;
        return Some(&quoted[..end]);
    }
    line.split(|b| *b == b',').next()
}

/// Resolves `.` and `..` lexically (RECORD names scripts as `../../../bin/x`).
pub(crate) fn normalize(path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for part in parts {
        out.push(b'/');
        out.extend_from_slice(part);
    }
    out
}

fn file_stem<'a>(path: &'a [u8], suffix: &[u8]) -> &'a [u8] {
    let name = path.rsplit(|b| *b == b'/').next().unwrap_or(path);
    let stem = name.strip_suffix(suffix).unwrap_or(name);
    // `PyYAML-6.0.egg-info` → `PyYAML`.
    stem.split(|b| *b == b'-').next().unwrap_or(stem)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(s), Some(e)) => &bytes[s..=e],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_come_from_record_and_top_level() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("lib/python3.11/site-packages");
        let info = site.join("mypkg-1.2.3.dist-info");
        std::fs::create_dir_all(&info).unwrap();
        std::fs::create_dir_all(site.join("mypkg")).unwrap();
        std::fs::write(
            info.join("METADATA"),
            "Metadata-Version: 2.1\nName: mypkg\nVersion: 1.2.3\n\nName: not-a-header\n",
        )
        .unwrap();
        std::fs::write(
            info.join("RECORD"),
            "mypkg/__init__.py,sha256=x,10\n\"mypkg/a,b.py\",,\n../../../bin/mytool,,\n",
        )
        .unwrap();
        let egg = site.join("PyYAML-6.0.egg-info");
        std::fs::create_dir_all(&egg).unwrap();
        std::fs::write(egg.join("PKG-INFO"), "Name: PyYAML\nVersion: 6.0\n").unwrap();
        std::fs::write(egg.join("top_level.txt"), "yaml\n_yaml\n").unwrap();

        let site_bytes = site.as_os_str().as_bytes();
        let index = SiteIndex::read(site_bytes, 0);
        let owner = |relative: &str| {
            let path = [site_bytes, b"/", relative.as_bytes()].concat();
            index
                .owner(site_bytes, &normalize(&path))
                .map(|p| format!("{} {}", p.name, p.version))
        };
        assert_eq!(owner("mypkg/__init__.py").as_deref(), Some("mypkg 1.2.3"));
        assert_eq!(owner("mypkg/a,b.py").as_deref(), Some("mypkg 1.2.3"));
        assert_eq!(
            owner("mypkg/__pycache__/x.cpython-311.pyc").as_deref(),
            Some("mypkg 1.2.3")
        );
        assert_eq!(owner("../../../bin/mytool").as_deref(), Some("mypkg 1.2.3"));
        assert_eq!(owner("yaml/loader.py").as_deref(), Some("PyYAML 6.0"));
        assert_eq!(owner("unknown/x.py"), None);
    }
}
