//! `roarctl status`: the daemon, this project's active session, and the hash cache.

use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;
use serde_json::json;

use crate::connection::hello_request;
use crate::context::Context;
use crate::render::{duration, escape_for_terminal, human_size, local_time};
use crate::{json, status_error};

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Print a JSON object (see README, "JSON output")
    #[arg(long)]
    pub json: bool,
}

pub async fn status(ctx: &Context, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?.as_os_str().as_bytes().to_vec();
    let mut client = ctx.client().await?;
    let hello = client
        .hello(hello_request())
        .await
        .map_err(status_error)?
        .into_inner();
    let session = match client.get_session(pb::GetSessionRequest { cwd }).await {
        Ok(session) => Some(session.into_inner()),
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => return Err(status_error(status)),
    };
    if args.json {
        let value = json!({
            "daemon": {
                "version": hello.version,
                "pid": hello.pid,
                "uptime_ms": hello.uptime_ms,
                "running_jobs": hello.running_jobs,
                "database": hello.database,
                "socket": hello.socket,
                "shutting_down": hello.shutting_down,
            },
            "session": session.as_ref().map(json::session),
            "hash_cache": {
                "hits": hello.hash_cache_hits,
                "misses": hello.hash_cache_misses,
                "hashed_bytes": hello.hashed_bytes,
            },
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "roard {} (pid {}), up {}, {} job(s) running{}",
        hello.version,
        hello.pid,
        duration(i64::try_from(hello.uptime_ms).unwrap_or(i64::MAX)),
        hello.running_jobs,
        if hello.shutting_down {
            ", shutting down"
        } else {
            ""
        }
    );
    outln!("database {}", hello.database);
    match &session {
        Some(s) => outln!(
            "session  {} of {}, started {}: {} step(s), {} build step(s), {} job(s)",
            s.id,
            escape_for_terminal(&s.project),
            local_time(s.started_at_ms),
            s.steps,
            s.build_steps,
            s.jobs
        ),
        None => outln!("session  none yet for this project (`roarctl run` starts one)"),
    }
    if let Some(s) = session.as_ref().filter(|s| !s.reproduces.is_empty()) {
        outln!("         a reproduction of {}", s.reproduces);
    }
    outln!(
        "hashing  {} file(s) from the cache, {} hashed ({})",
        hello.hash_cache_hits,
        hello.hash_cache_misses,
        human_size(hello.hashed_bytes)
    );
    Ok(ExitCode::SUCCESS)
}
