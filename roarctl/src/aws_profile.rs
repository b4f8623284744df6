//! The AWS shared configuration files, for what the environment does not say:
//! `~/.aws/credentials` (keys) and `~/.aws/config` (region, endpoint), in the profile
//! named by `AWS_PROFILE` (else `default`). Paths follow `AWS_SHARED_CREDENTIALS_FILE`
//! and `AWS_CONFIG_FILE`.

use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Default, Clone)]
pub struct Profile {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

impl Profile {
    pub fn credentials(&self) -> Option<(&str, &str)> {
        Some((
            self.access_key_id.as_deref()?,
            self.secret_access_key.as_deref()?,
        ))
    }
}

/// The active profile from both files; missing files give an empty profile.
pub fn load() -> Profile {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws").join(default))
    };
    let name = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_string());
    let credentials = read(&file("AWS_SHARED_CREDENTIALS_FILE", "credentials"));
    let config = read(&file("AWS_CONFIG_FILE", "config"));
    let keys = credentials.get(&name).cloned().unwrap_or_default();
    // In `config`, profiles other than the default are `[profile NAME]`.
    let settings = config
        .get(&format!("profile {name}"))
        .or_else(|| config.get(&name))
        .cloned()
        .unwrap_or_default();
    Profile {
        access_key_id: keys.get("aws_access_key_id").cloned(),
        secret_access_key: keys.get("aws_secret_access_key").cloned(),
        session_token: keys.get("aws_session_token").cloned(),
        region: settings.get("region").cloned(),
        endpoint_url: settings.get("endpoint_url").cloned(),
    }
}

/// An INI file as sections of key/value pairs.
fn read(path: &std::path::Path) -> HashMap<String, HashMap<String, String>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    parse(&text)
}

fn parse(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            sections
                .entry(current.clone())
                .or_default()
                .insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_keys() {
        let parsed =
            parse("[default]\naws_access_key_id = A\n# c\n[profile x]\nregion=eu-west-1\n");
        assert_eq!(parsed["default"]["aws_access_key_id"], "A");
        assert_eq!(parsed["profile x"]["region"], "eu-west-1");
    }
}
