//! `reproduce --list` and `reproduce --clean [--older-than D]`: the reproduction
//! directories kept under `$XDG_CACHE_HOME/roar/reproductions/` (a failed or `--keep`
//! reproduction stays for inspection), their size, age and target, and their removal:
//! each work tree is removed from its shared clone, and the directory itself even when
//! that clone is gone.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::render::human_size;

use super::worktrees::{self, RECORD};

/// One kept reproduction.
struct Kept {
    dir: PathBuf,
    size: u64,
    age: Duration,
    /// The target's blake3 (hex) and path, as recorded.
    target: Value,
    /// (shared clone, work tree) pairs.
    trees: Vec<(PathBuf, PathBuf)>,
}

impl Kept {
    fn read(dir: &Path) -> Self {
        let record: Value = std::fs::read(dir.join(RECORD))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Value::Null);
        let now = SystemTime::now();
        let created = record["created_at"]
            .as_u64()
            .map(|s| UNIX_EPOCH + Duration::from_secs(s))
            .or_else(|| std::fs::metadata(dir).and_then(|m| m.modified()).ok())
            .unwrap_or(now);
        let trees = record["worktrees"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                Some((
                    PathBuf::from(t["clone"].as_str()?),
                    PathBuf::from(t["dir"].as_str()?),
                ))
            })
            .collect();
        Kept {
            dir: dir.to_path_buf(),
            size: size_of(dir),
            age: now.duration_since(created).unwrap_or_default(),
            target: record["target"].clone(),
            trees,
        }
    }

    fn target_text(&self) -> String {
        let hash = self.target["blake3"].as_str().unwrap_or("?");
        let hash = &hash[..hash.len().min(12)];
        match self.target["path"].as_str() {
            Some(path) => format!("blake3:{hash} ({path})"),
            None => format!("blake3:{hash}"),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "path": self.dir.display().to_string(),
            "size": self.size,
            "age_seconds": self.age.as_secs(),
            "target": self.target,
        })
    }
}

/// Every kept reproduction, oldest first.
fn kept() -> anyhow::Result<Vec<Kept>> {
    let parent = worktrees::reproductions_dir()?;
    let entries = match std::fs::read_dir(&parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", parent.display())),
    };
    let mut found: Vec<Kept> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| Kept::read(&e.path()))
        .collect();
    found.sort_by_key(|k| std::cmp::Reverse(k.age));
    Ok(found)
}

pub fn list(json_output: bool) -> anyhow::Result<ExitCode> {
    let found = kept()?;
    if json_output {
        let items: Vec<Value> = found.iter().map(Kept::to_json).collect();
        outln!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(ExitCode::SUCCESS);
    }
    if found.is_empty() {
        outln!("no reproductions are kept");
    }
    for k in &found {
        outln!(
            "{}  {}  {} old  {}",
            k.dir.display(),
            human_size(k.size),
            age(k.age),
            k.target_text()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes the kept reproductions (those older than `older_than`, if given).
pub fn clean(older_than: Option<&str>, json_output: bool) -> anyhow::Result<ExitCode> {
    let bound = older_than.map(parse_duration).transpose()?;
    let mut removed = Vec::new();
    for k in kept()? {
        if bound.is_some_and(|b| k.age < b) {
            continue;
        }
        remove_kept(&k)?;
        removed.push(k);
    }
    let freed: u64 = removed.iter().map(|k| k.size).sum();
    if json_output {
        let items: Vec<Value> = removed.iter().map(Kept::to_json).collect();
        let out = json!({"removed": items, "freed": freed});
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    for k in &removed {
        outln!(
            "removed {}  {}  {}",
            k.dir.display(),
            human_size(k.size),
            k.target_text()
        );
    }
    outln!(
        "{} reproduction(s) removed, {} freed",
        removed.len(),
        human_size(freed)
    );
    Ok(ExitCode::SUCCESS)
}

/// Removes one reproduction directory and its work trees.
pub fn remove(dir: &Path) -> anyhow::Result<()> {
    remove_kept(&Kept::read(dir))
}

fn remove_kept(k: &Kept) -> anyhow::Result<()> {
    for (clone, tree) in &k.trees {
        worktrees::remove_worktree(clone, tree);
    }
    match std::fs::remove_dir_all(&k.dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", k.dir.display())),
    }
    for (clone, _) in &k.trees {
        worktrees::prune(clone);
    }
    Ok(())
}

/// Bytes of the files under `dir`, symlinks not followed.
fn size_of(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size_of(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// "45s", "12m", "3h", "7d".
fn age(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// `30m`, `12h`, `7d` (also `s` and `w`).
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(unit_at);
    let seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => 0,
    };
    match digits.parse::<u64>() {
        Ok(n) if seconds > 0 => Ok(Duration::from_secs(n.saturating_mul(seconds))),
        _ => {
            bail!("cannot read the duration '{text}'\nhint: give a number and a unit: 30m, 12h, 7d")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_have_a_number_and_a_unit() {
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("1y").is_err());
        assert_eq!(age(Duration::from_secs(7200)), "2h");
    }
}
