//! roarctl's settings from `$XDG_CONFIG_HOME/roar/config.toml` (else
//! `~/.config/roar/config.toml`). A missing file means defaults; a malformed one is an
//! error naming the file, never silently ignored.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub daemon: DaemonConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Start roard when no daemon answers on the socket.
    #[serde(default = "yes")]
    pub autostart: bool,
}

fn yes() -> bool {
    true
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self { autostart: true }
    }
}

pub fn default_path() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|dir| dir.join("roar").join("config.toml"))
}

/// Loads `path`; a file that does not exist gives the defaults.
pub fn load(path: &Path) -> anyhow::Result<Config> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    toml::from_str(&text).with_context(|| format!("invalid configuration in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_gives_defaults_and_keys_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert!(load(&path).unwrap().daemon.autostart);
        std::fs::write(&path, "[daemon]\nautostart = false\n").unwrap();
        assert!(!load(&path).unwrap().daemon.autostart);
    }

    #[test]
    fn malformed_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[daemon\n").unwrap();
        let message = format!("{:#}", load(&path).unwrap_err());
        assert!(message.contains("config.toml"), "{message}");
    }
}
