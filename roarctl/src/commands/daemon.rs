//! `roarctl daemon start|status|stop`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

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
const NOT_RUNNING: u8 = 3;

pub async fn daemon(ctx: &Context, command: DaemonCommand) -> anyhow::Result<ExitCode> {
    match command {
        DaemonCommand::Start => {
            let mut client = match connection::connect(&ctx.socket).await {
                Ok(client) => client,
                Err(_) => connection::start_daemon(&ctx.socket).await?,
            };
            let hello = client
                .hello(hello_request())
                .await
                .map_err(status_error)?
                .into_inner();
            eprintln!("roard {} running (pid {})", hello.version, hello.pid);
            Ok(ExitCode::SUCCESS)
        }
        DaemonCommand::Status { json } => status(ctx, json).await,
        DaemonCommand::Stop => stop(ctx).await,
    }
}

async fn status(ctx: &Context, as_json: bool) -> anyhow::Result<ExitCode> {
    let hello = match connection::connect(&ctx.socket).await {
        Ok(mut client) => client.hello(hello_request()).await.map_err(status_error)?,
        Err(_) => {
            if as_json {
                outln!(
                    "{}",
                    json!({"running": false, "socket": ctx.socket.display().to_string()})
                );
            } else {
                outln!("roard is not running (socket {})", ctx.socket.display());
            }
            return Ok(ExitCode::from(NOT_RUNNING));
        }
    };
    let hello: pb::HelloReply = hello.into_inner();
    if as_json {
        let value = json!({
            "running": true,
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
        outln!("roard {} running (pid {})", hello.version, hello.pid);
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
            outln!("stopping  once the running jobs end");
        }
    }
    Ok(ExitCode::SUCCESS)
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
