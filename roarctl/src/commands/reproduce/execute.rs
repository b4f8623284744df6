//! `reproduce --run`: the plan carried out in a reproduction directory. Work trees and
//! sources are put in place first, the interpreters of all steps are checked, then each
//! step runs under `roarctl run` (traced, linked to the job it re-runs) once its
//! recorded inputs are there with their recorded content; at the end every recorded
//! output is compared, and a bit-identical reproduction's directory is removed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use roar_proto::pb;

use crate::context::Context;
use crate::graph::label;
use crate::remote::hash_file;
use crate::render::command_line;
use crate::reproduce_plan::{Origin, Plan, Step};

use super::ReproduceArgs;
use super::environments::{self, FreshVenv, Interpreter, Venvs, bytes_path};
use super::worktrees::Worktrees;

/// How one step will run.
struct Prepared<'a> {
    step: &'a Step,
    argv: Vec<OsString>,
    venv: Option<FreshVenv>,
    path_var: OsString,
}

pub async fn execute(ctx: &Context, plan: &Plan, args: &ReproduceArgs) -> anyhow::Result<ExitCode> {
    let mut trees = Worktrees::create(&plan.target_blake3, plan.target_path.as_deref())?;
    eprintln!("roar: reproducing in {}", trees.base.display());
    let mut ran = 0;
    let result = prepare_and_run(ctx, plan, args, &mut trees, &mut ran).await;
    let reproduced = match result {
        Ok(reproduced) => reproduced,
        // Nothing ran, so nothing is left to look at: the directory goes.
        Err(e) if ran == 0 => {
            if let Err(left) = super::cleanup::remove(&trees.base) {
                eprintln!("roar: note: {left:#}");
            }
            return Err(e);
        }
        Err(e) => {
            eprintln!("roarctl: error: {e:#}");
            false
        }
    };
    if reproduced && !args.keep {
        super::cleanup::remove(&trees.base)?;
        eprintln!(
            "roar: removed the reproduction's work tree(s) ({})",
            trees.base.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "roar: the reproduction is kept in {}{}",
        trees.base.display(),
        if reproduced {
            ""
        } else {
            " (`roarctl reproduce --clean` removes it)"
        }
    );
    Ok(if reproduced {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Everything up to the report; true when the target came out bit-identical. `ran`
/// counts the steps started.
async fn prepare_and_run(
    ctx: &Context,
    plan: &Plan,
    args: &ReproduceArgs,
    trees: &mut Worktrees,
    ran: &mut usize,
) -> anyhow::Result<bool> {
    for step in &plan.steps {
        trees.add(step)?;
    }
    place_sources(ctx, plan, trees).await?;
    let prepared = prepare(plan, args, trees)?;
    for (n, run) in prepared.iter().enumerate() {
        trees.checkout(run.step)?;
        if !check_inputs(plan, run.step, trees, args.allow_dirty) {
            return Ok(false);
        }
        *ran += 1;
        if !run_step(ctx, plan, run, trees, args.step_timeout)? {
            let left = prepared.len() - n - 1;
            if left > 0 {
                eprintln!("roar: stopping: {left} later step(s) not run");
            }
            return Ok(false);
        }
    }
    Ok(report(plan, trees))
}

/// Sources fetched from their URL or copied from a local file into the work trees.
async fn place_sources(ctx: &Context, plan: &Plan, trees: &Worktrees) -> anyhow::Result<()> {
    for source in &plan.sources {
        let Some(step) = plan.steps.iter().find(|s| s.summary.uid == source.reader) else {
            continue;
        };
        let dest = trees.map(step, &source.path);
        if dest == source.path {
            // Outside the repository: the job reads it where it is, and it holds the
            // recorded content (that is how it was found).
            continue;
        }
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        match &source.origin {
            Origin::Url(url) => {
                super::super::get::fetch_verified(ctx, url, &dest, &source.blake3).await?;
            }
            Origin::Local(path) => {
                std::fs::copy(path, &dest)
                    .with_context(|| format!("cannot copy {}", path.display()))?;
                if hash_file(&dest)? != source.blake3 {
                    bail!("{} changed while it was copied; try again", path.display());
                }
            }
            Origin::Missing => bail!("no copy of the source {} is known", source.path.display()),
        }
    }
    Ok(())
}

/// Each step's argv, virtualenv and PATH; fails before the first step runs when a
/// step's interpreter cannot be found.
fn prepare<'a>(
    plan: &'a Plan,
    args: &ReproduceArgs,
    trees: &Worktrees,
) -> anyhow::Result<Vec<Prepared<'a>>> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let mut venvs = Venvs::default();
    let mut prepared = Vec::new();
    let mut after_build = false;
    for step in &plan.steps {
        let venv = if args.setup_python {
            venvs.for_step(&trees.base, step)?
        } else {
            None
        };
        let run = command_for(step, venv, trees, &path_var);
        let Some(program) = run.argv.first() else {
            bail!("{} has no recorded command", label(&step.job));
        };
        Interpreter {
            step,
            program: PathBuf::from(program),
            cwd: trees.map(step, &step.cwd()),
            path_var: run.path_var.clone(),
        }
        .check(trees, args.setup_python, after_build)?;
        after_build |= step.summary.kind() == pb::JobKind::Build;
        prepared.push(run);
    }
    Ok(prepared)
}

/// The step's recorded command pointed into its fresh virtualenv (if any) and, for
/// absolute paths into the repository, into its work tree.
fn command_for<'a>(
    step: &'a Step,
    venv: Option<FreshVenv>,
    trees: &Worktrees,
    path_var: &std::ffi::OsStr,
) -> Prepared<'a> {
    let mut argv: Vec<OsString> = step
        .summary
        .argv
        .iter()
        .map(|a| bytes_path(a).into_os_string())
        .collect();
    let mut step_path = path_var.to_os_string();
    if let Some(fresh) = &venv {
        argv = environments::map_argv(step, &argv, fresh);
        step_path = environments::path_with(fresh, path_var);
    }
    let argv = argv
        .into_iter()
        .map(|a| {
            let path = PathBuf::from(&a);
            if path.is_absolute() {
                trees.map(step, &path).into_os_string()
            } else {
                a
            }
        })
        .collect();
    Prepared {
        step,
        argv,
        venv,
        path_var: step_path,
    }
}

/// Every recorded input of `step` is in place with its recorded content; otherwise
/// says which is not, and which step should have made it. With `--allow-dirty`, the
/// files the step had uncommitted changes to are not checked.
fn check_inputs(plan: &Plan, step: &Step, trees: &Worktrees, allow_dirty: bool) -> bool {
    let dirty = step.dirty_paths();
    for input in &step.job.inputs {
        let recorded = plan.hash_of(input.artifact_id);
        if recorded.is_empty() {
            continue;
        }
        let shown = step.show_path(&input.path);
        if allow_dirty && dirty.contains(&shown) {
            continue;
        }
        let path = trees.map(step, &bytes_path(&input.path));
        let problem = match hash_file(&path) {
            Ok(now) if now == recorded => continue,
            Ok(now) => format!("differs (it is blake3 {} now)", &now[..now.len().min(12)]),
            Err(_) => "is missing".to_string(),
        };
        let blame = match plan.producer_of(step, input.artifact_id) {
            Some(producer) => format!(
                "{} ({}) should have produced it",
                label(&producer.job),
                command_line(&producer.summary.argv)
            ),
            None => "no step of the plan writes it: it is a source".to_string(),
        };
        eprintln!(
            "roar: cannot run {} ({}): its input {shown} (blake3 {}) {problem}; {blame}",
            label(&step.job),
            command_line(&step.summary.argv),
            &recorded[..recorded.len().min(12)]
        );
        return false;
    }
    true
}

/// Runs one step under `roarctl run`, linked to the job it re-runs; false when it
/// failed or ran past `timeout` (said so).
fn run_step(
    ctx: &Context,
    plan: &Plan,
    run: &Prepared,
    trees: &Worktrees,
    timeout: Option<Duration>,
) -> anyhow::Result<bool> {
    let step = run.step;
    let roarctl = std::env::current_exe().context("cannot find roarctl itself")?;
    let cwd = trees.map(step, &step.cwd());
    let mut command = Command::new(&roarctl);
    command.arg(if step.summary.kind() == pb::JobKind::Build {
        "build"
    } else {
        "run"
    });
    if ctx.quiet {
        command.arg("-q");
    }
    command
        .arg(format!("--reproduces=blake3:{}", plan.target_blake3))
        .arg(format!("--reproduces-job={}", step.summary.uid))
        .arg("--")
        .args(&run.argv)
        .current_dir(&cwd)
        .env("PATH", &run.path_var);
    if let Some(venv) = &run.venv {
        command
            .env("VIRTUAL_ENV", &venv.dir)
            .env_remove("PYTHONHOME");
    }
    if timeout.is_some() {
        // A group of its own: the timeout stops the step's whole tree, not roarctl.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", roarctl.display()))?;
    let (status, timed_out) = wait_within(&mut child, timeout)?;
    if status.success() && !timed_out {
        return Ok(true);
    }
    let how = match (timed_out, status.code()) {
        (true, _) => format!(
            "stopped after --step-timeout {}s",
            timeout.map_or(0, |t| t.as_secs())
        ),
        (false, Some(code)) => format!("exit status {code}"),
        (false, None) => status.to_string(),
    };
    eprintln!(
        "roar: {} ({}) failed ({how}) in {}",
        label(&step.job),
        command_line(&step.summary.argv),
        cwd.display()
    );
    Ok(false)
}

/// How long a step stopped for its timeout gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(10);

/// Waits for `child`; past `timeout`, sends its process group (`child` leads one)
/// SIGTERM, then SIGKILL after `TERM_GRACE`. Returns its status and whether it timed
/// out.
fn wait_within(
    child: &mut std::process::Child,
    timeout: Option<Duration>,
) -> anyhow::Result<(std::process::ExitStatus, bool)> {
    let Some(timeout) = timeout else {
        return Ok((child.wait()?, false));
    };
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + timeout;
    let mut signalled: Option<Instant> = None;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status, signalled.is_some()));
        }
        let now = Instant::now();
        match signalled {
            None if now >= deadline => {
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
                signalled = Some(now);
            }
            Some(at) if now >= at + TERM_GRACE => {
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Compares every recorded output with what the reproduction left; true when the
/// target has its recorded content.
fn report(plan: &Plan, trees: &Worktrees) -> bool {
    let mut target_ok = false;
    outln!("outputs:");
    for step in &plan.steps {
        for output in &step.job.outputs {
            let original = bytes_path(&output.path);
            let reproduced = trees.map(step, &original);
            let recorded = plan.hash_of(output.artifact_id);
            let is_target = plan.target_path.as_ref() == Some(&original)
                || (plan.target_path.is_none() && recorded == plan.target_blake3);
            let verdict = verdict(&reproduced, &recorded);
            if is_target && verdict == "identical" {
                target_ok = true;
            }
            outln!(
                "  {}{}  {verdict}",
                reproduced.display(),
                if is_target { "  [target]" } else { "" }
            );
        }
    }
    if target_ok {
        outln!("the target was reproduced bit-identical");
    } else {
        outln!("the target did not come out with its recorded content");
    }
    target_ok
}

fn verdict(reproduced: &Path, recorded: &str) -> String {
    match hash_file(reproduced) {
        Ok(now) if now == recorded => "identical".to_string(),
        Ok(now) => format!(
            "DIFFERS: recorded blake3 {}, reproduced {}",
            &recorded[..recorded.len().min(12)],
            &now[..now.len().min(12)]
        ),
        Err(_) => "MISSING: not produced".to_string(),
    }
}
