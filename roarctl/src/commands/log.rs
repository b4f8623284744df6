//! `roarctl log`: recent jobs of this project (or of all projects).

use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;

use crate::context::Context;
use crate::render::{
    command_line, duration, escape_for_terminal, exit_text, local_time, step_label,
};
use crate::{json, status_error};

#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// Jobs of every project, not only the one containing the current directory
    #[arg(long)]
    pub all: bool,
    /// How many jobs to list (newest first)
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: u32,
    /// Print a JSON array (see README, "JSON output")
    #[arg(long)]
    pub json: bool,
}

pub async fn log(ctx: &Context, args: LogArgs) -> anyhow::Result<ExitCode> {
    let mut client = ctx.client().await?;
    let project_of = if args.all {
        Vec::new()
    } else {
        std::env::current_dir()?.as_os_str().as_bytes().to_vec()
    };
    let jobs = client
        .list_jobs(pb::ListJobsRequest {
            project_of,
            limit: args.limit,
        })
        .await
        .map_err(status_error)?
        .into_inner()
        .jobs;
    if args.json {
        let array: Vec<_> = jobs.iter().map(json::summary).collect();
        outln!("{}", serde_json::to_string_pretty(&array)?);
        return Ok(ExitCode::SUCCESS);
    }
    if jobs.is_empty() {
        eprintln!("no jobs recorded yet; try `roarctl run -- <command>`");
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<12}  {:>5}  {:<19}  {:>8}  {:>7}  COMMAND",
        "UID",
        "STEP",
        "STARTED",
        "DURATION",
        "EXIT"
    );
    for job in &jobs {
        let took = job.ended_at_ms.map_or_else(
            || job.state().name().to_string(),
            |end| duration(end - job.started_at_ms),
        );
        let project = if args.all {
            format!("  [{}]", escape_for_terminal(&job.project))
        } else {
            String::new()
        };
        outln!(
            "{:<12}  {:>5}  {:<19}  {:>8}  {:>7}  {}{}",
            job.uid,
            step_label(job.kind(), job.step),
            local_time(job.started_at_ms),
            took,
            exit_text(job.exit.as_ref()),
            command_line(&job.argv),
            project
        );
    }
    Ok(ExitCode::SUCCESS)
}
