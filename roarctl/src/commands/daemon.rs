//! `roarctl daemon start|status|stop`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use roar_proto::pb;
use serde_json::json;

use crate::connection::{self, hello_request};
use crate::context::Context;
use crate::render::{duration, human_size};
use crate::status_error;

#[derive(clap::Subcommand, Debug)]
pub enum DaemonCommand {
    /// Start roard in the background if it is not running
    Start,
    /// Show whether roard runs, its pid, version, uptime and jobs in flight
    /// (exit status 3 when it is not running)
    Status {
        /// Print a JSON object
        #[arg(long)]
        json: bool,
    },
    /// Ask roard to stop; it first waits for the jobs it traces to end
    Stop,
}

/// `systemctl status` uses 3 for "not running"; so do we.
pub const NOT_RUNNING: u8 = 3;

pub async fn daemon(ctx: &Context, command: DaemonCommand) -> anyhow::Result<ExitCode> {
    match command {
        DaemonCommand::Start => start(ctx).await,
        DaemonCommand::Status { json } => status(ctx, json).await,
        DaemonCommand::Stop => stop(ctx).await,
    }
}

/// Starts roard unless one of this build runs (one of another build, idle, is
/// replaced); a stopping daemon cannot be started again until its jobs end.
async fn start(ctx: &Context) -> anyhow::Result<ExitCode> {
    let mut client = connection::connect_or_start(&ctx.socket, true, ctx.quiet).await?;
    let hello = client
        .hello(hello_request())
        .await
        .map_err(status_error)?
        .into_inner();
    if hello.shutting_down {
        bail!(
            "roard {} (pid {}) is stopping once its {} running job(s) end\nhint: run \
             `roarctl daemon start` again then",
            hello.version,
            hello.pid,
            hello.running_jobs
        );
    }
    eprintln!("roard {} running (pid {})", hello.version, hello.pid);
    Ok(ExitCode::SUCCESS)
}

/// Prints that no daemon answers on the socket; the exit status says so too.
fn print_not_running(ctx: &Context, as_json: bool) -> ExitCode {
    if as_json {
        outln!(
            "{}",
            json!({
                "running": false,
                "state": "not running",
                "socket": ctx.socket.display().to_string(),
            })
        );
    } else {
        outln!("roard is not running (socket {})", ctx.socket.display());
    }
    ExitCode::from(NOT_RUNNING)
}

/// `running`, or `stopping` while a stopped daemon waits for its jobs to end.
pub fn state_name(hello: &pb::HelloReply) -> &'static str {
    if hello.shutting_down {
        "stopping"
    } else {
        "running"
    }
}

/// A warning when the daemon is of another build than this roarctl.
pub fn other_build_warning(hello: &pb::HelloReply) -> Option<String> {
    (hello.build_id != roar_proto::BUILD_ID).then(|| {
        format!(
            "warning: roard is another build ({}) than this roarctl ({}): restart it \
             (`roarctl daemon stop`) once its jobs end",
            connection::build_name(&hello.build_id),
            roar_proto::BUILD_ID
        )
    })
}

async fn status(ctx: &Context, as_json: bool) -> anyhow::Result<ExitCode> {
    let hello = match connection::connect(&ctx.socket).await {
        Ok(mut client) => client.hello(hello_request()).await.map_err(status_error)?,
        Err(_) => return Ok(print_not_running(ctx, as_json)),
    };
    let hello: pb::HelloReply = hello.into_inner();
    if as_json {
        let value = json!({
            "running": true,
            "state": state_name(&hello),
            "build_id": hello.build_id,
            "version": hello.version,
            "pid": hello.pid,
            "uid": hello.uid,
            "uptime_ms": hello.uptime_ms,
            "running_jobs": hello.running_jobs,
            "socket": hello.socket,
            "database": hello.database,
            "shutting_down": hello.shutting_down,
            "hash_cache_hits": hello.hash_cache_hits,
            "hash_cache_misses": hello.hash_cache_misses,
            "hashed_bytes": hello.hashed_bytes,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_text(&hello);
    }
    if let Some(warning) = other_build_warning(&hello) {
        eprintln!("roarctl: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The text form of `daemon status`.
fn print_text(hello: &pb::HelloReply) {
    if hello.shutting_down {
        outln!(
            "roard {} stopping ({} job(s) running), pid {}",
            hello.version,
            hello.running_jobs,
            hello.pid
        );
    } else {
        outln!("roard {} running (pid {})", hello.version, hello.pid);
    }
    outln!("build     {}", connection::build_name(&hello.build_id));
    outln!(
        "uptime    {}",
        duration(i64::try_from(hello.uptime_ms).unwrap_or(i64::MAX))
    );
    outln!("jobs      {} running", hello.running_jobs);
    outln!("socket    {}", hello.socket);
    outln!("database  {}", hello.database);
    outln!(
        "hashing   {} file(s) from the cache, {} hashed ({})",
        hello.hash_cache_hits,
        hello.hash_cache_misses,
        human_size(hello.hashed_bytes)
    );
    if hello.shutting_down {
        outln!("stopping  once the running jobs end; new jobs are refused");
    }
}

async fn stop(ctx: &Context) -> anyhow::Result<ExitCode> {
    let Ok(mut client) = connection::connect(&ctx.socket).await else {
        eprintln!("roard is not running");
        return Ok(ExitCode::SUCCESS);
    };
    let reply = client
        .shutdown(pb::ShutdownRequest {})
        .await
        .map_err(status_error)?
        .into_inner();
    drop(client);
    if reply.running_jobs > 0 {
        eprintln!(
            "roard will stop once its {} running job(s) end",
            reply.running_jobs
        );
        return Ok(ExitCode::SUCCESS);
    }
    // Wait until the socket is gone, so a following start cannot race the old daemon.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ctx.socket.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("roard stopped");
    Ok(ExitCode::SUCCESS)
}
