//! `roarctl rerun`: brings the session up to date, as `make` would from what was
//! observed. It re-runs the first stale step (build steps first, then pipeline steps,
//! by number), asks for the DAG again, and goes on until no step is stale: a step
//! whose inputs come out with the same content after an upstream re-run is current
//! again and is skipped. Each re-run is `roarctl run @N`, traced as usual.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;

use crate::commands::run::{self, RunArgs};
use crate::context::Context;
use crate::render::step_label;
use crate::status_error;

#[derive(clap::Args, Debug)]
pub struct RerunArgs {
    /// Print the stale steps and why, and run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Only steps from this one on (`@N`; build steps are then left alone)
    #[arg(long, value_name = "@N")]
    pub from: Option<String>,
    /// Only this step (`@N` or `@BN`), if it is stale
    #[arg(long, value_name = "@N", conflicts_with = "from")]
    pub only: Option<String>,
    /// Go on with the other stale steps after one fails (steps downstream of the
    /// failed one stay stale)
    #[arg(long)]
    pub keep_going: bool,
    /// Re-run even though the git repository has uncommitted changes (as `run
    /// --allow-dirty`)
    #[arg(long)]
    pub allow_dirty: bool,
}

/// A step: its kind and number.
type Step = (pb::JobKind, u32);

/// `@N` → (Run, N), `@BN` → (Build, N).
fn parse_step(text: &str) -> anyhow::Result<Step> {
    let invalid = || {
        anyhow::anyhow!("'{text}' is not a step\nhint: give @N or @BN, as `roarctl dag` shows them")
    };
    let rest = text.strip_prefix('@').ok_or_else(invalid)?;
    let (kind, digits) = match rest.strip_prefix('B') {
        Some(digits) => (pb::JobKind::Build, digits),
        None => (pb::JobKind::Run, rest),
    };
    Ok((kind, digits.parse().map_err(|_| invalid())?))
}

/// The stale steps the options allow, in the order they are re-run, with why.
fn stale_steps(graph: &pb::Graph, args: &RerunArgs) -> anyhow::Result<Vec<(Step, String)>> {
    let from = args.from.as_deref().map(parse_step).transpose()?;
    let only = args.only.as_deref().map(parse_step).transpose()?;
    let mut steps: Vec<(Step, String)> = graph
        .jobs
        .iter()
        .filter(|j| j.stale)
        .filter_map(|j| {
            Some((
                (j.job.as_ref()?.kind(), j.job.as_ref()?.step),
                j.stale_reason.clone(),
            ))
        })
        .filter(|(step, _)| only.is_none_or(|o| o == *step))
        .filter(|((kind, n), _)| from.is_none_or(|(fk, fnum)| *kind == fk && *n >= fnum))
        .collect();
    // Build steps first: pipeline steps run in the environment they make.
    steps.sort_by_key(|((kind, n), _)| (*kind != pb::JobKind::Build, *n));
    Ok(steps)
}

pub async fn rerun(ctx: &Context, args: RerunArgs) -> anyhow::Result<ExitCode> {
    let mut tried: HashSet<Step> = HashSet::new();
    let mut failed: Option<(Step, ExitCode)> = None;
    let mut ran = 0;
    loop {
        let graph = dag(ctx).await?;
        let pending: Vec<(Step, String)> = stale_steps(&graph, &args)?
            .into_iter()
            .filter(|(step, _)| !tried.contains(step))
            .collect();
        if args.dry_run {
            print_plan(&pending);
            return Ok(ExitCode::SUCCESS);
        }
        let Some(((kind, n), reason)) = pending.into_iter().next() else {
            break;
        };
        let label = step_label(kind, n);
        eprintln!("roarctl: re-running {label}: {reason}");
        tried.insert((kind, n));
        ran += 1;
        let code = run::run(ctx, run_args(&label, args.allow_dirty), run_kind(kind)).await?;
        if code != ExitCode::SUCCESS {
            eprintln!("roarctl: {label} failed; the steps after it stay stale");
            failed.get_or_insert(((kind, n), code));
            if !args.keep_going {
                break;
            }
        }
    }
    Ok(report(ran, failed))
}

async fn dag(ctx: &Context) -> anyhow::Result<pb::Graph> {
    let cwd = std::env::current_dir()?.as_os_str().as_bytes().to_vec();
    let mut client = ctx.client().await?;
    Ok(client
        .get_dag(pb::GetDagRequest { cwd })
        .await
        .map_err(status_error)?
        .into_inner())
}

fn run_args(label: &str, allow_dirty: bool) -> RunArgs {
    RunArgs {
        allow_untraced: false,
        allow_dirty,
        keep_failed: false,
        no_fast_path: false,
        reproduces: None,
        reproduces_job: None,
        command: vec![label.into()],
    }
}

fn run_kind(kind: pb::JobKind) -> run::Kind {
    match kind {
        pb::JobKind::Build => run::Kind::Build,
        _ => run::Kind::Run,
    }
}

fn print_plan(pending: &[(Step, String)]) {
    if pending.is_empty() {
        outln!("every step is current: nothing to re-run");
        return;
    }
    outln!("would re-run, in this order (a step whose inputs come out the same is skipped):");
    for ((kind, n), reason) in pending {
        outln!("  {}  {reason}", step_label(*kind, *n));
    }
}

/// The closing line, and the exit status: that of the first step that failed.
fn report(ran: usize, failed: Option<(Step, ExitCode)>) -> ExitCode {
    match failed {
        None if ran == 0 => {
            eprintln!("roarctl: every step is current: nothing to re-run");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("roarctl: re-ran {ran} step(s); every step is current");
            ExitCode::SUCCESS
        }
        Some(((kind, n), code)) => {
            eprintln!(
                "roarctl: re-ran {ran} step(s); {} failed",
                step_label(kind, n)
            );
            code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_parsed_and_bad_ones_named() {
        assert_eq!(parse_step("@3").unwrap(), (pb::JobKind::Run, 3));
        assert_eq!(parse_step("@B2").unwrap(), (pb::JobKind::Build, 2));
        let err = parse_step("3").unwrap_err().to_string();
        assert!(err.contains("'3' is not a step"), "{err}");
    }
}
