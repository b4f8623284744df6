//! Which Debian package owns a system file, from dpkg's own database: the `status` file
//! (installed packages and versions) and `info/<package>.list` (their files). Read once
//! and kept until `status` changes; never one `dpkg -S` per file.

use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

use super::Package;
use std::borrow::Cow;

pub struct DpkgIndex {
    /// `status`'s mtime when read: the index is valid while it holds.
    pub status_mtime: Option<SystemTime>,
    packages: Vec<Package>,
    files: HashMap<Vec<u8>, u32>,
}

impl DpkgIndex {
    /// Reads the database under `root` (normally `/var/lib/dpkg`); an absent database
    /// gives an empty index (not a Debian system).
    pub fn read(root: &Path) -> Self {
        let status_path = root.join("status");
        let status_mtime = std::fs::metadata(&status_path)
            .and_then(|m| m.modified())
            .ok();
        let mut index = DpkgIndex {
            status_mtime,
            packages: Vec::new(),
            files: HashMap::new(),
        };
        let Ok(status) = std::fs::read(&status_path) else {
            return index;
        };
        for stanza in status
            .split(|b| *b == b'\n')
            .collect::<Vec<_>>()
            .split(|l| l.is_empty())
        {
            let Some(installed) = Installed::parse(stanza) else {
                continue;
            };
            let id = index.packages.len() as u32;
            let info = root.join("info");
            let list =
                std::fs::read(info.join(format!("{}:{}.list", installed.name, installed.arch)))
                    .or_else(|_| std::fs::read(info.join(format!("{}.list", installed.name))));
            if let Ok(list) = list {
                for line in list.split(|b| *b == b'\n').filter(|l| l.starts_with(b"/")) {
                    index.files.entry(line.to_vec()).or_insert(id);
                }
            }
            index.packages.push(Package {
                ecosystem: Cow::Borrowed("debian"),
                name: installed.name,
                version: installed.version,
            });
        }
        index
    }

    /// The package owning `path`. With merged /usr, dpkg may list `/lib/x` for what is
    /// canonically `/usr/lib/x`, so both spellings are tried.
    pub fn owner(&self, path: &[u8]) -> Option<&Package> {
        let id = self.files.get(path).or_else(|| {
            path.strip_prefix(b"/usr")
                .filter(|rest| rest.starts_with(b"/"))
                .and_then(|rest| self.files.get(rest))
        })?;
        self.packages.get(*id as usize)
    }

    pub fn file_count(&self) -> usize {
        self.files.len()
    }
}

/// One installed package's stanza in `status`.
struct Installed {
    name: String,
    version: String,
    arch: String,
}

impl Installed {
    fn parse(stanza: &[&[u8]]) -> Option<Self> {
        let (mut name, mut version, mut arch, mut installed) = (None, None, None, false);
        for line in stanza {
            let text = String::from_utf8_lossy(line);
            if let Some(value) = text.strip_prefix("Package:") {
                name = Some(value.trim().to_string());
            } else if let Some(value) = text.strip_prefix("Version:") {
                version = Some(value.trim().to_string());
            } else if let Some(value) = text.strip_prefix("Architecture:") {
                arch = Some(value.trim().to_string());
            } else if let Some(value) = text.strip_prefix("Status:") {
                installed = value.trim().ends_with(" installed");
            }
        }
        installed.then_some(())?;
        Some(Self {
            name: name?,
            version: version?,
            arch: arch.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_come_from_the_list_files_of_installed_packages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("info")).unwrap();
        std::fs::write(
            dir.path().join("status"),
            "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\n\n\
             Package: gone\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 1\n\n\
             Package: dash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 0.5.12-2\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("info/libc6:amd64.list"),
            "/.\n/lib/x86_64-linux-gnu/libc.so.6\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("info/dash.list"), "/bin/dash\n").unwrap();
        std::fs::write(dir.path().join("info/gone.list"), "/usr/bin/gone\n").unwrap();
        let index = DpkgIndex::read(dir.path());
        let owner = |p: &str| {
            index
                .owner(p.as_bytes())
                .map(|p| format!("{} {}", p.name, p.version))
        };
        assert_eq!(
            owner("/usr/lib/x86_64-linux-gnu/libc.so.6").as_deref(),
            Some("libc6 2.36-9")
        );
        assert_eq!(owner("/bin/dash").as_deref(), Some("dash 0.5.12-2"));
        assert_eq!(owner("/usr/bin/gone"), None);
        assert!(DpkgIndex::read(&dir.path().join("absent")).file_count() == 0);
    }
}
