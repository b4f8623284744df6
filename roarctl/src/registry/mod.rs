//! The team registry: lineage published to a shared PostgreSQL database, so anyone can
//! look an artifact up by any of its hashes and see how it was made. The local SQLite
//! store stays the default; the registry is used only when a command asks for it.
//!
//! `publish.rs` writes a sub-DAG (idempotently); `lookup.rs` reads artifacts and
//! lineage back as the same `Graph` the local store gives, so every view and
//! `reproduce` work unchanged on it.

mod lookup;
mod publish;

use std::os::unix::ffi::OsStrExt;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

pub use lookup::Registry;
pub use publish::publish;

use roar_proto::pb::get_lineage_request::Target;

/// The registry's artifact a command-line target names: a hash prefix, or a local
/// file (looked up by its BLAKE3).
pub async fn artifact_for(registry: &Registry, target: &Target) -> anyhow::Result<i64> {
    match target {
        Target::Hash(prefix) => registry.artifact_id(prefix).await,
        Target::Path(path) => {
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
            let hex = crate::remote::hash_file(path)?;
            registry.artifact_id(&format!("blake3:{hex}")).await
        }
        Target::Job(_) => {
            crate::usage::usage_bail!(
                "the registry is searched by artifact, not by job\nhint: give a hash prefix \
                 or a file"
            )
        }
    }
}

/// Connects to the configured registry.
pub async fn open(configured: Option<&str>) -> anyhow::Result<Registry> {
    let url = url(configured)?;
    Ok(Registry {
        pool: connect(&url).await?,
    })
}

/// The registry's URL: `ROAR_REGISTRY_URL`, else `registry.url`.
pub fn url(configured: Option<&str>) -> anyhow::Result<String> {
    std::env::var("ROAR_REGISTRY_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| configured.map(str::to_string))
        .context(
            "no registry configured\nhint: `roarctl config set registry.url \
             postgres://user@host/db`, or set ROAR_REGISTRY_URL",
        )
}

/// Connects and brings the registry's schema up to date (concurrent first uses are
/// safe: sqlx serialises migrations with an advisory lock).
pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("'{}' is not a PostgreSQL URL", redact(url)))?;
    let unreachable = || {
        format!(
            "cannot reach the registry at {}\nhint: check registry.url and that the server \
             is up; nothing was changed, locally or there",
            redact(url)
        )
    };
    // One direct connection first: a refused or failing server is reported at once (a
    // pool would retry until its timeout).
    let probe = tokio::time::timeout(
        Duration::from_secs(10),
        <sqlx::PgConnection as sqlx::Connection>::connect_with(&options),
    )
    .await
    .map_err(|_| anyhow::anyhow!("{}: no answer in 10 s", unreachable()))?
    .with_context(unreachable)?;
    sqlx::Connection::close(probe).await.ok();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(unreachable)?;
    sqlx::migrate!("./registry-migrations")
        .run(&pool)
        .await
        .context("cannot prepare the registry's tables")?;
    Ok(pool)
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}
