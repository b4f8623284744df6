//! `roarctl status`: the daemon, this project's active session, and the hash cache.

use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;
use serde_json::json;

use crate::connection::{self, hello_request};
use crate::context::Context;
use crate::render::{duration, escape_bytes, escape_for_terminal, human_size, local_time};
use crate::{json, status_error};

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Print a JSON object (see README, "JSON output")
    #[arg(long)]
    pub json: bool,
}

/// Reports on the daemon, never starts it: with none running it says so and exits 3,
/// as `daemon status` does (the session is kept by roard, so it cannot be shown).
pub async fn status(ctx: &Context, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?.as_os_str().as_bytes().to_vec();
    let Ok(mut client) = connection::connect(&ctx.socket).await else {
        return Ok(not_running(ctx, &cwd, args.json));
    };
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
    if let Some(warning) = super::daemon::other_build_warning(&hello) {
        eprintln!("roarctl: {warning}");
    }
    if args.json {
        let value = json!({
            "daemon": {
                "running": true,
                "state": super::daemon::state_name(&hello),
                "build_id": hello.build_id,
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
            s.number,
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

/// What `status` can say without a daemon: that none runs, and the project it would
/// report on.
fn not_running(ctx: &Context, cwd: &[u8], as_json: bool) -> ExitCode {
    let dir = std::path::Path::new(std::ffi::OsStr::from_bytes(cwd));
    let project = roar_proto::project::project_root(dir);
    let project = project.as_os_str().as_bytes();
    if as_json {
        let value = json!({
            "daemon": {
                "running": false,
                "state": "not running",
                "socket": ctx.socket.display().to_string(),
            },
            "project": escape_bytes(project),
            "session": null,
            "hash_cache": null,
        });
        outln!("{value:#}");
    } else {
        outln!("roard is not running (socket {})", ctx.socket.display());
        outln!(
            "project  {}: its session is kept by roard (`roarctl daemon start` starts it)",
            escape_for_terminal(project)
        );
    }
    ExitCode::from(super::daemon::NOT_RUNNING)
}
