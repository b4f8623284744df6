//! `roarctl config list|get|set|unset` and `roarctl env list|set|unset`: the merged
//! configuration with where each value comes from, and edits to one file (the user's
//! by default, `--project` or `--system`), keeping its comments and layout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use roar_proto::config::{self, KEYS, Layers};
use serde_json::json;

use crate::context::Context;
use crate::usage::usage_bail;

/// Which file an edit goes to.
#[derive(clap::Args, Debug)]
pub struct Scope {
    /// The project's file (.roar/config.toml at the repository root)
    #[arg(long, conflicts_with = "system")]
    pub project: bool,
    /// The system file (/etc/roar/config.toml, or ROAR_SYSTEM_CONFIG)
    #[arg(long)]
    pub system: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// Every key with its value, where it comes from, and what it does
    List {
        #[arg(long)]
        json: bool,
    },
    /// One key's value (as TOML)
    Get { key: String },
    /// Set a key (VALUE is TOML: true, 3, "text", ["a", "b"]; bare words are text)
    Set {
        key: String,
        value: String,
        #[command(flatten)]
        scope: Scope,
    },
    /// Remove a key from a file (the next layer's value, or the default, applies)
    Unset {
        key: String,
        #[command(flatten)]
        scope: Scope,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum EnvCommand {
    /// The variables set in every run and build job, and where each is set
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set NAME=VALUE in every run and build job of this user (or project)
    Set {
        name: String,
        value: String,
        #[command(flatten)]
        scope: Scope,
    },
    /// Stop setting NAME
    Unset {
        name: String,
        #[command(flatten)]
        scope: Scope,
    },
}

fn layers(ctx: &Context) -> Layers {
    Layers::standard(
        ctx.user_config.clone(),
        std::env::current_dir().ok().as_deref(),
    )
}

fn file_for(ctx: &Context, scope: &Scope) -> anyhow::Result<PathBuf> {
    if scope.system {
        return Ok(config::system_path());
    }
    if scope.project {
        return Ok(config::project_path(&std::env::current_dir()?));
    }
    ctx.user_config
        .clone()
        .or_else(config::user_path)
        .context("no user configuration file: set HOME or XDG_CONFIG_HOME")
}

pub fn config(ctx: &Context, command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::List { json } => list(ctx, json, |key| !key.starts_with("env.")),
        ConfigCommand::Get { key } => {
            let rows = config::explain(&layers(ctx))?;
            let Some((_, value, _)) = rows.iter().find(|(k, _, _)| *k == key) else {
                usage_bail!("unknown key '{key}'\nhint: `roarctl config list` shows every key");
            };
            outln!("{}", shown(&key, value.clone()));
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Set { key, value, scope } => {
            check_key(&key)?;
            edit(&file_for(ctx, &scope)?, &key, Some(parse_value(&value)))
        }
        ConfigCommand::Unset { key, scope } => {
            check_key(&key)?;
            edit(&file_for(ctx, &scope)?, &key, None)
        }
    }
}

pub fn env(ctx: &Context, command: EnvCommand) -> anyhow::Result<ExitCode> {
    match command {
        EnvCommand::List { json } => list(ctx, json, |key| key.starts_with("env.")),
        EnvCommand::Set { name, value, scope } => {
            check_name(&name)?;
            edit(
                &file_for(ctx, &scope)?,
                &format!("env.{name}"),
                Some(toml_edit::Value::from(value)),
            )
        }
        EnvCommand::Unset { name, scope } => {
            check_name(&name)?;
            edit(&file_for(ctx, &scope)?, &format!("env.{name}"), None)
        }
    }
}

fn list(ctx: &Context, as_json: bool, wanted: impl Fn(&str) -> bool) -> anyhow::Result<ExitCode> {
    let rows = config::explain(&layers(ctx))?;
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|(k, _, _)| wanted(k))
        .map(|(key, value, source)| {
            let value = shown(&key, value);
            (key, value, source)
        })
        .collect();
    let about = |key: &str| {
        KEYS.iter()
            .find(|(k, _)| *k == key)
            .map_or("set in every run and build job", |(_, doc)| doc)
    };
    if as_json {
        let array: Vec<_> = rows
            .iter()
            .map(|(key, value, source)| {
                json!({"key": key, "value": value, "source": source.name(), "about": about(key)})
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&array)?);
        return Ok(ExitCode::SUCCESS);
    }
    for (key, value, source) in &rows {
        let value = if value.is_empty() {
            "(not set)"
        } else {
            value.as_str()
        };
        outln!("{key} = {value}  [{}]", source.name());
        outln!("    {}", about(key));
    }
    Ok(ExitCode::SUCCESS)
}

/// A value as `config list` and `config get` print it: a registry URL without its
/// password (which is never printed).
fn shown(key: &str, value: String) -> String {
    if key == "registry.url" {
        crate::registry::redact(&value)
    } else {
        value
    }
}

fn check_key(key: &str) -> anyhow::Result<()> {
    if KEYS.iter().any(|(k, _)| *k == key) {
        return Ok(());
    }
    if key.starts_with("env.") {
        usage_bail!(
            "'{key}' is a job environment variable, not a key\nhint: use `roarctl env set \
             NAME VALUE` (or `env unset NAME`)"
        );
    }
    usage_bail!("unknown key '{key}'\nhint: `roarctl config list` shows every key")
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        usage_bail!(
            "'{name}' is not a variable name\nhint: use letters, digits and _, not starting \
             with a digit"
        )
    }
}

/// TOML when it parses as a value, else the text itself.
fn parse_value(text: &str) -> toml_edit::Value {
    text.parse::<toml_edit::Value>()
        .unwrap_or_else(|_| toml_edit::Value::from(text))
}

/// Sets (or removes) `key` in `path`, checks the result is a valid configuration file,
/// and replaces the file atomically.
fn edit(path: &Path, key: &str, value: Option<toml_edit::Value>) -> anyhow::Result<ExitCode> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML; fix it first", path.display()))?;
    let (section, name) = key.split_once('.').context("keys are SECTION.NAME")?;
    match value {
        Some(value) => {
            let table = document
                .entry(section)
                .or_insert(toml_edit::table())
                .as_table_mut()
                .with_context(|| format!("[{section}] in {} is not a table", path.display()))?;
            table.insert(name, toml_edit::Item::Value(value));
        }
        None => {
            if let Some(table) = document.get_mut(section).and_then(|t| t.as_table_mut()) {
                table.remove(name);
            }
        }
    }
    let dir = path
        .parent()
        .with_context(|| format!("{} has no directory", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".config-")
        .suffix(".toml")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut temp, document.to_string().as_bytes())?;
    let check = Layers {
        user: Some(temp.path().to_path_buf()),
        ..Layers::default()
    };
    if let Err(e) = config::load(&check) {
        usage_bail!(
            "{}: {} was left unchanged\nhint: README.md, \"Configuration\", gives each \
             key's type",
            e.message,
            path.display()
        );
    }
    temp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(ExitCode::SUCCESS)
}
