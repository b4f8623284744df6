//! `roarctl run -- CMD ARGS...`: run the command exactly as the shell would, traced,
//! as the next step of the project's session (`roarctl build` records a build step;
//! `roarctl run @N [-- EXTRA...]` re-runs step N's command, in its directory).
//!
//! roarctl forks the job itself (see `launch`), asks roard to attach, releases the
//! child, then behaves like a transparent wrapper: Ctrl-C and Ctrl-\ reach the job
//! through the terminal and are ignored here, SIGTERM and SIGHUP are passed on, and
//! roarctl exits with the job's status (128+N for signal N).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::process::ExitCode;

use anyhow::Context as _;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use roar_proto::pb;
use roar_proto::pb::run_event::Event;
use tokio::signal::unix::{SignalKind, signal};
use tonic::Streaming;

use crate::connection::{self, hello_request};
use crate::context::Context;
use crate::launch::{self, ChildFailure, HeldChild, Prepared};
use crate::progress::HashingBar;
use crate::render::{duration, escape_for_terminal, how_it_ended, human_size, step_label};
use crate::status_error;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// When roard cannot trace (ptrace forbidden, daemon unreachable), run the command
    /// anyway, unrecorded, instead of refusing
    #[arg(long)]
    pub allow_untraced: bool,
    /// Run even though the git repository has uncommitted changes to tracked files; the
    /// job is recorded as dirty (not possible when the system configuration enforces
    /// a clean repository)
    #[arg(long)]
    pub allow_dirty: bool,
    /// Place the job as a step even if it fails (exits non-zero or is killed); by
    /// default a failed job is recorded (`log`, `show`) but takes no step
    #[arg(long)]
    pub keep_failed: bool,
    /// Stop the job under ptrace at every traced call, instead of letting the preload
    /// library record its read-only opens and exclusive creations (`tracer.fast_path`)
    #[arg(long)]
    pub no_fast_path: bool,
    /// Set by `roarctl reproduce`: the artifact this run's session reproduces
    #[arg(long, hide = true, value_name = "HASH")]
    pub reproduces: Option<String>,
    /// Set by `roarctl reproduce`: the uid of the recorded job this run re-runs
    #[arg(long, hide = true, value_name = "UID")]
    pub reproduces_job: Option<String>,
    /// The command and its arguments (after `--`)
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<OsString>,
}

/// Pipeline step (`@N`) or build step (`@BN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Run,
    Build,
}

impl Kind {
    fn job_kind(self) -> pb::JobKind {
        match self {
            Kind::Run => pb::JobKind::Run,
            Kind::Build => pb::JobKind::Build,
        }
    }
}

/// What to run: a new command, or an existing step again.
struct Plan {
    command: Vec<OsString>,
    kind: Kind,
    rerun_step: u32,
}

/// `@N` / `@BN` first: the recorded step's command (plus any extra arguments after
/// an optional `--`), run from its recorded directory.
async fn plan(ctx: &Context, args: &RunArgs, kind: Kind) -> anyhow::Result<Plan> {
    let first = args.command[0].to_string_lossy();
    let is_step = first.strip_prefix('@').is_some_and(|rest| {
        let digits = rest.strip_prefix(['B', 'b']).unwrap_or(rest);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if !is_step {
        return Ok(Plan {
            command: args.command.clone(),
            kind,
            rerun_step: 0,
        });
    }
    let cwd = std::env::current_dir()?.into_os_string().into_vec();
    let mut client = ctx.client().await?;
    let job = client
        .get_job(pb::GetJobRequest {
            selector: first.to_string(),
            cwd,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let summary = job
        .summary
        .context("roard returned a job without a summary")?;
    let mut extra = &args.command[1..];
    if extra.first().is_some_and(|a| a == "--") {
        extra = &extra[1..];
    }
    let mut command: Vec<OsString> = summary
        .argv
        .iter()
        .map(|a| OsString::from_vec(a.clone()))
        .collect();
    command.extend(extra.iter().cloned());
    let dir = std::path::PathBuf::from(OsString::from_vec(summary.cwd.clone()));
    std::env::set_current_dir(&dir).with_context(|| {
        format!(
            "step {first} ran in {}, which cannot be entered now",
            dir.display()
        )
    })?;
    Ok(Plan {
        command,
        kind: if summary.kind() == pb::JobKind::Build {
            Kind::Build
        } else {
            Kind::Run
        },
        rerun_step: summary.step,
    })
}

pub async fn run(ctx: &Context, args: RunArgs, kind: Kind) -> anyhow::Result<ExitCode> {
    let plan = plan(ctx, &args, kind).await?;
    let env = job_env(ctx);
    let prepared = match Prepared::new(&plan.command, &env) {
        Ok(prepared) => prepared,
        Err(e) => {
            eprintln!("roarctl: {e}");
            return Ok(ExitCode::from(e.exit_code()));
        }
    };
    let cwd = std::env::current_dir().context(
        "the current directory cannot be read (was it deleted?); cd to an existing directory",
    )?;

    let mut client = match ctx.client().await {
        Ok(client) => client,
        Err(e) if args.allow_untraced => {
            warn(ctx, &format!("{e:#}"));
            return run_untraced(ctx, &prepared).await;
        }
        Err(e) => return Err(e.context("cannot reach roard; nothing was run")),
    };
    let tracer = tracer_pid(&mut client).await?;
    let mut child = launch::fork_held(&prepared, tracer).context("cannot fork the job")?;

    let request = run_request(ctx, &args, &plan, &child, cwd, &env);
    let (stream, attached) = match attach(&mut client, request).await {
        Ok(ok) => ok,
        // A policy refusal (a dirty repository) is the user's own rule at work: never
        // sidestepped by --allow-untraced.
        Err(status) if status.metadata().contains_key(roar_proto::REFUSAL_METADATA) => {
            child.abort();
            eprintln!("roarctl: error: {}\nnothing was run", status.message());
            return Ok(ExitCode::from(2));
        }
        Err(status) if args.allow_untraced => {
            warn(ctx, &format!("not tracing: {}", status.message()));
            child.release(None, &[])?;
            return finish_untraced(ctx, child).await;
        }
        Err(status) => {
            child.abort();
            anyhow::bail!(
                "roard cannot trace this job: {}\nhint: nothing was run; fix the cause above, \
                 or pass --allow-untraced to run it unrecorded",
                status.message()
            );
        }
    };
    child.release(Some(&attached.seccomp_filter), &attached.preload_library)?;
    supervise(ctx, child, stream, attached, plan.kind).await
}

/// The shell's environment, then the configured `[env]` over it.
fn job_env(ctx: &Context) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(name, _)| !ctx.job_env.iter().any(|(n, _)| name == n.as_str()))
        .collect();
    env.extend(
        ctx.job_env
            .iter()
            .map(|(name, value)| (OsString::from(name), OsString::from(value))),
    );
    env
}

/// The pid the held child lets trace it. The daemon's pid comes with the connection;
/// asking is the fallback.
async fn tracer_pid(client: &mut connection::Client) -> anyhow::Result<Pid> {
    Ok(match connection::daemon_pid() {
        Some(pid) => Pid::from_raw(pid),
        None => {
            let hello = client
                .hello(hello_request())
                .await
                .map_err(status_error)?
                .into_inner();
            Pid::from_raw(i32::try_from(hello.pid).unwrap_or(0))
        }
    })
}

/// Everything roard records about the job before it starts: what, where, with which
/// environment and under which rules.
fn run_request(
    ctx: &Context,
    args: &RunArgs,
    plan: &Plan,
    child: &HeldChild,
    cwd: std::path::PathBuf,
    env: &[(OsString, OsString)],
) -> pb::RunRequest {
    pb::RunRequest {
        pid: child.pid.as_raw().unsigned_abs(),
        argv: plan.command.iter().map(|a| a.as_bytes().to_vec()).collect(),
        cwd: cwd.into_os_string().into_vec(),
        env: env
            .iter()
            .map(|(name, value)| pb::EnvVar {
                name: name.as_bytes().to_vec(),
                value: value.as_bytes().to_vec(),
            })
            .collect(),
        user_config: ctx
            .user_config
            .clone()
            .map(|p| p.into_os_string().into_vec())
            .unwrap_or_default(),
        kind: plan.kind.job_kind().into(),
        rerun_step: plan.rerun_step,
        allow_dirty: args.allow_dirty,
        reproduces: args.reproduces.clone().unwrap_or_default(),
        reproduces_job: args.reproduces_job.clone().unwrap_or_default(),
        keep_failed: args.keep_failed,
        no_fast_path: args.no_fast_path,
    }
}

/// Asks roard to attach to the held child; its first message must confirm it, since
/// releasing an untraced child would run the job unrecorded.
async fn attach(
    client: &mut connection::Client,
    request: pb::RunRequest,
) -> Result<(Streaming<pb::RunEvent>, pb::Attached), tonic::Status> {
    let mut stream = client.run(request).await?.into_inner();
    match stream.message().await? {
        Some(pb::RunEvent {
            event: Some(Event::Attached(attached)),
        }) => Ok((stream, attached)),
        _ => Err(tonic::Status::internal("roard did not confirm the attach")),
    }
}

/// Waits for the job as a shell would, while following roard's report of it.
async fn supervise(
    ctx: &Context,
    child: HeldChild,
    mut stream: Streaming<pb::RunEvent>,
    attached: pb::Attached,
    kind: Kind,
) -> anyhow::Result<ExitCode> {
    let pid = child.pid;
    ignore_terminal_signals();
    let forwarder = tokio::spawn(forward_signals(pid));
    let started = tokio::task::spawn_blocking(move || child.exec_outcome());
    let waiter = tokio::task::spawn_blocking(move || launch::wait_exit_code(pid));
    tokio::pin!(waiter);

    if let Ok(Err(failure)) = started.await {
        report_child_failure(failure);
    }

    let mut stream_alive = true;
    let mut remaining_after_root: Option<u32> = None;
    let mut finished: Option<pb::JobFinished> = None;
    let mut bar = HashingBar::new(ctx.quiet);
    let exit_code = loop {
        tokio::select! {
            exit = &mut waiter => break exit??.0,
            message = stream.message(), if stream_alive => {
                stream_alive = on_event(ctx, message, &mut remaining_after_root, &mut finished, &mut bar);
            }
        }
    };
    forwarder.abort();

    // The job's process is gone; the record completes once the whole tree is, unless
    // processes it left behind keep running: then say so rather than wait for them.
    while stream_alive && finished.is_none() && remaining_after_root.unwrap_or(0) == 0 {
        let message = stream.message().await;
        stream_alive = on_event(
            ctx,
            message,
            &mut remaining_after_root,
            &mut finished,
            &mut bar,
        );
    }
    bar.finish();
    if !ctx.quiet {
        let left = (remaining_after_root, stream_alive);
        report_outcome(ctx, finished.as_ref(), left, &attached, kind);
    }
    Ok(ExitCode::from(exit_code))
}

/// The closing summary on stderr: what was recorded, or that processes the job left
/// behind keep the record open (`left`: how many roard counted, and whether the stream
/// still lives to finish the record).
fn report_outcome(
    ctx: &Context,
    finished: Option<&pb::JobFinished>,
    left: (Option<u32>, bool),
    attached: &pb::Attached,
    kind: Kind,
) {
    let (remaining_after_root, stream_alive) = left;
    match (finished, remaining_after_root) {
        (Some(done), _) => {
            let took = done
                .job
                .as_ref()
                .and_then(|j| Some(j.ended_at_ms? - j.started_at_ms))
                .map_or_else(String::new, |ms| format!(" in {}", duration(ms)));
            let place = done
                .job
                .as_ref()
                .map_or_else(|| step_label(kind.job_kind(), attached.step), placement);
            eprintln!(
                "roar: recorded job {} ({place}){took}: {} input(s), {} output(s), {} \
                 package(s), {} process(es); {} file(s) hashed ({}), {} from the hash cache",
                attached.job_uid,
                done.inputs,
                done.outputs,
                done.packages,
                done.processes,
                done.hash_cache_misses,
                human_size(done.hashed_bytes),
                done.hash_cache_hits
            );
            report_files(ctx, &attached.job_uid, done);
        }
        (None, Some(remaining)) if remaining > 0 && stream_alive => eprintln!(
            "roar: job {} left {remaining} process(es) running; they are still traced \
             and the record completes when they exit (roarctl show {})",
            attached.job_uid, attached.job_uid
        ),
        _ => {}
    }
}

/// `@3, exit 0`; for a failed job, how it ended and that it took no step (or that the
/// step it re-ran keeps its current job).
fn placement(job: &pb::JobSummary) -> String {
    let ended = how_it_ended(job.exit.as_ref());
    if job.placed {
        return format!("{}, {ended}", step_label(job.kind(), job.step));
    }
    if job.step > 0 {
        let step = step_label(job.kind(), job.step);
        return format!(
            "{ended}: this re-run of {step} failed, so {step} keeps its current job; \
             --keep-failed would place it"
        );
    }
    format!("{ended}: a failed run takes no step; --keep-failed places it")
}

/// The job's inputs and outputs (path, short hash, size) and warnings, on stderr, as
/// the `Finished` message lists them: no second request, so nothing waits for the
/// record's file rows to be written out.
fn report_files(ctx: &Context, uid: &str, done: &pb::JobFinished) {
    let summary = done.job.as_ref();
    let base = summary.map(|s| s.cwd.as_slice()).unwrap_or_default();
    let directions = [
        ("<-", &done.listed_inputs, done.inputs),
        ("->", &done.listed_outputs, done.outputs),
    ];
    for (arrow, listed, total) in directions {
        for file in listed {
            let path = file
                .path
                .strip_prefix(base)
                .and_then(|p| p.strip_prefix(b"/"))
                .unwrap_or(&file.path);
            let short = roar_proto::vocabulary::blake3(&file.hashes).map_or("-", |hex| &hex[..12]);
            eprintln!(
                "  {arrow} {}  {short}  {}",
                escape_for_terminal(path),
                file.size.map_or_else(|| "-".to_string(), human_size)
            );
        }
        let more = (total as usize).saturating_sub(listed.len());
        if more > 0 {
            eprintln!("  {arrow} … and {more} more (roarctl show {uid})");
        }
    }
    if let Some(git) = summary.and_then(|s| s.git.as_ref())
        && git.dirty_count > 0
    {
        warn(
            ctx,
            &format!(
                "ran with {} uncommitted change(s) in {} (--allow-dirty): recorded as dirty",
                git.dirty_count, git.repository
            ),
        );
    }
    for gap in &done.gaps {
        warn(ctx, &format!("not seen: {}", crate::render::gap_text(gap)));
    }
    if summary.is_some_and(|s| s.state() == pb::JobState::Interrupted) {
        warn(
            ctx,
            "the trace was interrupted: provenance for this run is incomplete",
        );
    }
}

/// Handles one message of the run stream; returns whether the stream is still usable.
fn on_event(
    ctx: &Context,
    message: Result<Option<pb::RunEvent>, tonic::Status>,
    remaining_after_root: &mut Option<u32>,
    finished: &mut Option<pb::JobFinished>,
    bar: &mut HashingBar,
) -> bool {
    match message {
        Ok(Some(pb::RunEvent { event: Some(event) })) => {
            match event {
                Event::RootExited(root) => *remaining_after_root = Some(root.remaining),
                Event::Finished(done) => {
                    *finished = Some(done);
                    return false;
                }
                Event::HashProgress(progress) => bar.update(&progress),
                Event::Exec(_) | Event::Attached(_) => {}
            }
            true
        }
        Ok(Some(_)) => true,
        Ok(None) => false,
        Err(status) => {
            warn(
                ctx,
                &format!(
                    "provenance for this run is incomplete: {}",
                    status.message()
                ),
            );
            false
        }
    }
}

/// The terminal sends Ctrl-C and Ctrl-\ to the whole foreground process group, job
/// included; roarctl must outlive the job to report its status, as a shell does.
fn ignore_terminal_signals() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory-safety impact.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
}

/// Signals aimed at roarctl alone (kill, a closing terminal) are meant for the job.
async fn forward_signals(pid: Pid) {
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    loop {
        let forwarded = tokio::select! {
            _ = term.recv() => Signal::SIGTERM,
            _ = hup.recv() => Signal::SIGHUP,
        };
        let _ = kill(pid, forwarded);
    }
}

fn report_child_failure(failure: ChildFailure) {
    match failure {
        ChildFailure::Exec(errno) => eprintln!("roarctl: cannot execute the command: {errno}"),
        ChildFailure::Seccomp(errno) => eprintln!(
            "roarctl: cannot install the seccomp filter ({errno}); the command was not run"
        ),
    }
}

fn warn(ctx: &Context, message: &str) {
    if !ctx.quiet {
        eprintln!(
            "roarctl: warning: {}",
            escape_for_terminal(message.as_bytes())
        );
    }
}

async fn run_untraced(ctx: &Context, prepared: &Prepared) -> anyhow::Result<ExitCode> {
    let mut child = launch::fork_held(prepared, Pid::from_raw(0)).context("cannot fork the job")?;
    child.release(None, &[])?;
    finish_untraced(ctx, child).await
}

async fn finish_untraced(ctx: &Context, child: HeldChild) -> anyhow::Result<ExitCode> {
    warn(ctx, "running untraced: this run is not recorded");
    let pid = child.pid;
    ignore_terminal_signals();
    let forwarder = tokio::spawn(forward_signals(pid));
    if let Ok(Err(failure)) = tokio::task::spawn_blocking(move || child.exec_outcome()).await {
        report_child_failure(failure);
    }
    let (code, _) = tokio::task::spawn_blocking(move || launch::wait_exit_code(pid)).await??;
    forwarder.abort();
    Ok(ExitCode::from(code))
}
