//! `roarctl reset` (a new session for this project) and `roarctl pop` (remove the last
//! step).

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;

use crate::context::Context;
use crate::graph::label;
use crate::render::{command_line, escape_for_terminal};
use crate::status_error;

#[derive(clap::Args, Debug)]
pub struct PopArgs {
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Also delete the files the step wrote (only those that still hold what it wrote)
    #[arg(long)]
    pub delete_outputs: bool,
}

pub async fn reset(ctx: &Context) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?.as_os_str().as_bytes().to_vec();
    let mut client = ctx.client().await?;
    let previous = client
        .get_session(pb::GetSessionRequest { cwd: cwd.clone() })
        .await
        .ok()
        .map(|s| s.into_inner());
    let session = client
        .reset_session(pb::ResetSessionRequest { cwd })
        .await
        .map_err(status_error)?
        .into_inner();
    if !ctx.quiet {
        match previous {
            Some(old) => eprintln!(
                "roar: started session {} of {}; session {} ({} step(s)) stays queryable",
                session.number,
                escape_for_terminal(&session.project),
                old.number,
                old.steps
            ),
            None => eprintln!(
                "roar: started session {} of {}",
                session.number,
                escape_for_terminal(&session.project)
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn pop(ctx: &Context, args: PopArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?.as_os_str().as_bytes().to_vec();
    let mut client = ctx.client().await?;
    let dag = client
        .get_dag(pb::GetDagRequest { cwd: cwd.clone() })
        .await
        .map_err(status_error)?
        .into_inner();
    let Some(last) = dag
        .jobs
        .iter()
        .filter(|j| j.job.as_ref().is_some_and(|s| s.kind() == pb::JobKind::Run))
        .max_by_key(|j| j.job.as_ref().map_or(0, |s| s.step))
    else {
        anyhow::bail!("this project's session has no steps to remove");
    };
    let Some(summary) = &last.job else {
        anyhow::bail!("roard returned a step without its job");
    };
    if !args.yes {
        let question = format!(
            "remove step {} ({}){}? [y/N] ",
            label(last),
            command_line(&summary.argv),
            if args.delete_outputs {
                format!(" and delete its {} output file(s)", last.outputs.len())
            } else {
                String::new()
            }
        );
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "roarctl: error: would {}\nhint: pass -y to confirm",
                question.trim_end_matches("? [y/N] ")
            );
            return Ok(ExitCode::from(2));
        }
        eprint!("{question}");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("roar: nothing removed");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let reply = client
        .pop_step(pb::PopStepRequest {
            cwd,
            step: summary.step,
            delete_outputs: args.delete_outputs,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if !ctx.quiet {
        eprintln!(
            "roar: removed step @{} ({} job(s)); {} output file(s) deleted",
            reply.step,
            reply.jobs_removed,
            reply.deleted.len()
        );
        for kept in &reply.kept {
            eprintln!(
                "roar: kept {}: it changed since the step wrote it",
                escape_for_terminal(kept)
            );
        }
        for kept in &reply.kept_existing {
            eprintln!(
                "roar: kept {}: it existed before the step ran (the step changed it, it did \
                 not make it)",
                escape_for_terminal(kept)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
