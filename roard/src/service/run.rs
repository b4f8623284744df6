//! `Run`: attach to the child roarctl forked, record the job, stream its progress.
//!
//! The job is never spawned here: roarctl forks it (so it keeps the user's terminal,
//! environment, limits and process group) and holds it before exec while roard seizes
//! it. See ARCHITECTURE.md, "Launching a traced job".

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use nix::unistd::Pid;
use roar_proto::config;
use roar_proto::pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::classify::{Class, JobEnv, Rules};
use crate::clock::now_ms;
use crate::git_context::{self, GitContext};
use crate::job_uid::new_job_uid;
use crate::python_env;
use crate::record::Role;
use crate::recording::{self, FileContext, HashProgress};
use crate::state::DaemonState;
use crate::store::error::StartJobError;
use crate::store::input::{JobEnd, JobKind, NewJob, Placement};
use crate::tracer::{self, AttachError, TraceEvent, Tracing};
use roar_proto::project::project_root;

type EventSender = mpsc::Sender<Result<pb::RunEvent, Status>>;

/// Progress events buffered per client; when a client lags, progress is dropped (the
/// record itself never is).
const EVENT_BUFFER: usize = 256;

/// How often hashing progress is reported.
const PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

pub async fn run(
    state: Arc<DaemonState>,
    peer_pid: Option<i32>,
    request: pb::RunRequest,
) -> Result<ReceiverStream<Result<pb::RunEvent, Status>>, Status> {
    if state.is_shutting_down() {
        return Err(Status::unavailable(
            "roard is shutting down and takes no new jobs; run the command again in a moment",
        ));
    }
    let pid = validate(&request, peer_pid)?;
    let cwd = Path::new(std::ffi::OsStr::from_bytes(&request.cwd));
    let (file_context, git_config, tracer_config) = job_settings(&request, cwd)?;
    let git = code_state(cwd, &git_config, request.allow_dirty).await?;

    let job = state.active_jobs.enter();
    let uid = new_job_uid();
    let project = file_context.project.as_os_str().as_bytes().to_vec();
    let env = redacted_env(&state, &request);
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let new_job = NewJob {
        uid: &uid,
        project: &project,
        argv: &request.argv,
        cwd: &request.cwd,
        env: &env,
        hostname: &hostname,
        user_uid: nix::unistd::geteuid().as_raw(),
        started_at_ms: now_ms(),
        kind: job_kind(&request)?,
        rerun_step: (request.rerun_step > 0).then_some(request.rerun_step),
        git: git.as_ref(),
        reproduces: Some(request.reproduces.as_str()).filter(|r| !r.is_empty()),
        reproduces_job: Some(request.reproduces_job.as_str()).filter(|r| !r.is_empty()),
    };
    let spare_refill = tracer::SpareRefill;
    let fast_path = state
        .fast_path_library
        .clone()
        .filter(|_| tracer_config.fast_path && !request.no_fast_path);
    let (tracing, placement) = attach_and_place(&state, pid, &new_job, fast_path.clone()).await?;
    tracing::info!(
        "job {uid} ({}) attached to pid {pid}",
        new_job.kind.step_label(placement.step)
    );

    let (sender, receiver) = mpsc::channel(EVENT_BUFFER);
    let refuse_io_uring = tracer_config.io_uring == config::IoUringPolicy::Refuse;
    let library = fast_path.filter(|_| tracing.fast_path);
    let attached = attached_event(&uid, placement.step, refuse_io_uring, library.as_deref());
    let _ = sender.try_send(Ok(attached));
    let job_settings = JobSettings {
        files: file_context,
        search_path: search_path(&request.env),
        keep_failed: request.keep_failed,
        cwd: cwd.to_path_buf(),
        start_commit: git.as_ref().and_then(|g| g.commit.clone()),
    };
    // The guard moves into the task: the job counts as active until its record is stored.
    tokio::spawn(async move {
        record(
            &state,
            &uid,
            placement.job_id,
            tracing,
            job_settings,
            sender,
        )
        .await;
        // The next job's tracer, started now that this one's record is stored, and
        // the log of that record copied into the database, off the job's path.
        drop(spare_refill);
        state.store.checkpoint_in_background();
        drop(job);
    });
    Ok(ReceiverStream::new(receiver))
}

/// The job's environment as recorded: `NAME=value`, secrets redacted.
fn redacted_env(state: &DaemonState, request: &pb::RunRequest) -> Vec<Vec<u8>> {
    request
        .env
        .iter()
        .map(|var| {
            [
                &var.name[..],
                b"=",
                state.redactor.redact(&var.name, &var.value),
            ]
            .concat()
        })
        .collect()
}

/// A pipeline step unless the request asks for a build step.
fn job_kind(request: &pb::RunRequest) -> Result<JobKind, Status> {
    match pb::JobKind::try_from(request.kind).map(pb::JobKind::or_run) {
        Ok(pb::JobKind::Build) => Ok(JobKind::Build),
        Ok(_) => Ok(JobKind::Run),
        Err(_) => Err(Status::invalid_argument(format!(
            "unknown job kind {}: a pipeline step or a build step",
            request.kind
        ))),
    }
}

/// Attaches the tracer and writes the job's first row, together: the command runs only
/// once both succeeded. If the row cannot be written, the tracer still follows the
/// (held) child until roarctl, seeing the error, kills it before it ever execs the
/// user's command; if the attach fails, the row goes again.
async fn attach_and_place(
    state: &DaemonState,
    pid: Pid,
    new_job: &NewJob<'_>,
    fast_path: Option<PathBuf>,
) -> Result<(Tracing, Placement), Status> {
    let settings = tracer::TraceSettings {
        linger: state.linger,
        extra_algorithms: state.hash_cache.extra_algorithms().to_vec(),
        fast_path,
    };
    let (tracing, placement) =
        tokio::join!(tracer::trace(pid, settings), state.store.start_job(new_job));
    let tracing = match tracing {
        Ok(tracing) => tracing,
        Err(e) => {
            if let Ok(placement) = &placement
                && let Err(e) = state.store.discard_job(placement.job_id).await
            {
                tracing::warn!(
                    "cannot remove the record of job {}, never run: {e}",
                    new_job.uid
                );
            }
            return Err(match e {
                AttachError::NotPermitted { .. } => Status::failed_precondition(e.to_string()),
                AttachError::NoSuchProcess(_) => Status::not_found(e.to_string()),
                _ => Status::internal(e.to_string()),
            });
        }
    };
    let placement = placement.map_err(|e| match e {
        StartJobError::UnknownStep(_) => Status::not_found(e.to_string()),
        StartJobError::Database(_) => Status::unavailable(format!(
            "cannot record the job in {}: {e}",
            state.database.display()
        )),
    })?;
    Ok((tracing, placement))
}

/// The first event of the stream: the job's uid and step, the seccomp filter the
/// child installs before it execs, and the fast path's library when it has one.
fn attached_event(
    uid: &str,
    step: u32,
    refuse_io_uring: bool,
    library: Option<&Path>,
) -> pb::RunEvent {
    pb::RunEvent {
        event: Some(pb::run_event::Event::Attached(pb::Attached {
            job_uid: uid.to_string(),
            seccomp_filter: tracer::native_seccomp_filter(refuse_io_uring, library.is_some()),
            step,
            preload_library: library.map_or_else(Vec::new, |p| p.as_os_str().as_bytes().to_vec()),
        })),
    }
}

/// Checks what the tracer will act on. Only the process that forked the child may ask
/// for it to be traced: a request naming any other process is refused.
pub(super) fn validate(request: &pb::RunRequest, peer_pid: Option<i32>) -> Result<Pid, Status> {
    let pid = i32::try_from(request.pid)
        .ok()
        .filter(|pid| *pid > 1)
        .map(Pid::from_raw)
        .ok_or_else(|| Status::invalid_argument(format!("invalid pid {}", request.pid)))?;
    if request.argv.is_empty() {
        return Err(Status::invalid_argument("empty command: nothing to run"));
    }
    if !request.cwd.starts_with(b"/") {
        return Err(Status::invalid_argument(
            "the working directory must be an absolute path",
        ));
    }
    let parent = tracer::parent_of(pid);
    if peer_pid.is_none() || parent.map(Pid::as_raw) != peer_pid {
        return Err(Status::permission_denied(format!(
            "process {pid} is not a child of the requesting process; roard only traces \
             the child roarctl forked for the job"
        )));
    }
    Ok(pid)
}

/// How the job's files will be classified: the `[filters]` of the merged configuration
/// (system, the user's file roarctl used, the project's) and the job's environment.
/// A broken configuration file refuses the job before anything runs.
fn job_settings(
    request: &pb::RunRequest,
    cwd: &Path,
) -> Result<(FileContext, config::GitConfig, config::TracerConfig), Status> {
    let user_config = (!request.user_config.is_empty())
        .then(|| PathBuf::from(std::ffi::OsStr::from_bytes(&request.user_config)));
    let layers = config::Layers::standard(user_config, Some(cwd));
    let config = config::load(&layers).map_err(|e| {
        Status::invalid_argument(format!(
            "{e}\nhint: fix or remove the file; README.md, \"Configuration\", lists every key"
        ))
    })?;
    let env = JobEnv::from_pairs(
        request
            .env
            .iter()
            .map(|var| (var.name.as_slice(), var.value.as_slice())),
    );
    let context = FileContext {
        rules: Rules::new(&config.filters, &env),
        project: project_root(cwd),
    };
    Ok((context, config.git, config.tracer))
}

/// The job's git context, and the clean-repository policy applied to it: a job in a
/// repository with uncommitted changes to tracked files is refused (the code it runs
/// would be anchored nowhere) unless the configuration allows it, or `--allow-dirty`
/// does and no system configuration enforces the policy.
async fn code_state(
    cwd: &Path,
    config: &config::GitConfig,
    allow_dirty: bool,
) -> Result<Option<GitContext>, Status> {
    let (dir, untracked) = (cwd.to_path_buf(), config.untracked_is_dirty);
    let inspected = tokio::task::spawn_blocking(move || git_context::inspect(&dir, untracked))
        .await
        .map_err(|e| Status::internal(format!("cannot inspect the git repository: {e}")))?;
    let git = inspected.map_err(|e| {
        Status::failed_precondition(format!(
            "cannot read the git repository around {}: {}\nhint: fix the repository, or \
             run the command outside it",
            cwd.display(),
            e.message()
        ))
    })?;
    let Some(context) = &git else {
        return Ok(git);
    };
    let policy = config.require_clean;
    if !context.is_dirty() || !policy.required() || (allow_dirty && !policy.enforced()) {
        return Ok(git);
    }
    const SHOWN: usize = 5;
    let mut message = format!(
        "the repository {} has uncommitted changes, so the code this job would run is not \
         anchored to any commit:",
        context.root.display()
    );
    for path in context.dirty_paths.iter().take(SHOWN) {
        message.push_str(&format!("\n  {}", git_context::display_path(path)));
    }
    if context.dirty_count > SHOWN {
        message.push_str(&format!("\n  … and {} more", context.dirty_count - SHOWN));
    }
    if policy.enforced() {
        message.push_str(
            "\nhint: commit or stash the changes (`git commit`, `git stash`); the system \
             configuration enforces a clean repository (git.require_clean = \"enforce\"), \
             so --allow-dirty cannot override it",
        );
    } else {
        message.push_str(
            "\nhint: commit or stash the changes (`git commit`, `git stash`), or pass \
             --allow-dirty to run anyway and record the job as dirty",
        );
    }
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert(
        roar_proto::REFUSAL_METADATA,
        tonic::metadata::MetadataValue::from_static("dirty-repository"),
    );
    Err(Status::with_metadata(
        tonic::Code::FailedPrecondition,
        message,
        metadata,
    ))
}

/// What recording a job needs besides its trace.
struct JobSettings {
    files: FileContext,
    /// The job's `PATH`: where a bare `python3` came from.
    search_path: Vec<u8>,
    keep_failed: bool,
    /// Where it ran and the commit checked out then: HEAD moved if the job committed.
    cwd: PathBuf,
    start_commit: Option<String>,
}

/// The value of `PATH` in the job's environment (empty if unset).
fn search_path(env: &[pb::EnvVar]) -> Vec<u8> {
    env.iter()
        .rev()
        .find(|var| var.name == b"PATH")
        .map(|var| var.value.clone())
        .unwrap_or_default()
}

/// Forwards progress until the trace ends, then stores the record and reports it.
async fn record(
    state: &DaemonState,
    uid: &str,
    job_id: i64,
    tracing: Tracing,
    settings: JobSettings,
    sender: EventSender,
) {
    let Some(outcome) = await_outcome(state, uid, tracing, &sender).await else {
        return;
    };
    tracing::info!(
        "job {uid}: {} open(s) recorded by the fast path, {} syscall stop(s) under ptrace",
        outcome.seen_by.fast_path,
        outcome.seen_by.ptrace
    );
    for gap in &outcome.gaps {
        tracing::warn!(
            "job {uid}: not seen by the trace: {} (pid {}, {} time(s)): {}",
            gap.kind.name(),
            gap.pid,
            gap.count,
            String::from_utf8_lossy(&gap.detail)
        );
    }
    let trace_ended = std::time::Instant::now();
    let progress = Arc::new(HashProgress::default());
    let recording = recording::record_files(
        &state.hash_cache,
        &state.packages,
        state.store.as_ref(),
        outcome.files,
        settings.files,
        &progress,
    );
    let files = report_progress(recording, &progress, &sender).await;
    let hashed = std::time::Instant::now();
    let (environments, head) = read_after_trace(
        state,
        &outcome.processes,
        &files,
        settings.search_path,
        settings.cwd,
    )
    .await;
    let commit_made = head.filter(|now| settings.start_commit.as_ref() != Some(now));
    let end = JobEnd {
        processes: &outcome.processes,
        files: &files,
        root_exit: outcome.root_exit,
        lingering: outcome.lingering,
        ended_at_ms: now_ms(),
        keep_failed: settings.keep_failed,
        environments: &environments,
        commit_made: commit_made.as_deref(),
        gaps: &outcome.gaps,
        seen_by: outcome.seen_by,
    };
    let summary = match state.store.finish_job(job_id, &end).await {
        Ok(summary) => summary,
        Err(e) => {
            tracing::error!("cannot store job {uid}: {e}");
            let _ = sender
                .send(Err(Status::unavailable(format!(
                    "the job ran to its end, but its record could not be stored: {e}"
                ))))
                .await;
            return;
        }
    };
    let took = (hashed - trace_ended, hashed.elapsed());
    let finished = finished_event(
        uid,
        summary.into(),
        &outcome.processes,
        &outcome.gaps,
        &files,
        took,
    );
    let _ = sender.send(Ok(finished)).await;
}

/// Forwards the tracer's progress to the client until the outcome arrives. The outcome
/// can arrive while the tracer still runs (the linger bound closed the record): then
/// forwarding stops. Pending events go first (`biased`), so `RootExited` always
/// precedes `Finished`. None when the tracer ended without an outcome: the job is then
/// marked interrupted and the client told.
async fn await_outcome(
    state: &DaemonState,
    uid: &str,
    tracing: Tracing,
    sender: &EventSender,
) -> Option<tracer::TraceOutcome> {
    let Tracing {
        mut events,
        outcome: mut outcome_receiver,
        ..
    } = tracing;
    let outcome = loop {
        tokio::select! {
            biased;
            event = events.recv() => match event {
                Some(event) => forward(sender, event).await,
                None => break (&mut outcome_receiver).await,
            },
            outcome = &mut outcome_receiver => break outcome,
        }
    };
    if outcome.is_err() {
        tracing::error!("tracer of job {uid} ended without a result; marking it interrupted");
        if let Err(e) = state.store.mark_job_interrupted(uid, now_ms()).await {
            tracing::error!("cannot mark job {uid} interrupted: {e}");
        }
        let _ = sender
            .send(Err(Status::internal(
                "the tracer stopped unexpectedly; provenance of this run is incomplete",
            )))
            .await;
    }
    outcome.ok()
}

/// The last event of the stream, logged too: what was recorded and what it cost
/// (`took`: hashing, then storing).
fn finished_event(
    uid: &str,
    summary: pb::JobSummary,
    processes: &[crate::record::ProcessRecord],
    gaps: &[crate::record::TraceGap],
    files: &crate::record::HashedFiles,
    took: (std::time::Duration, std::time::Duration),
) -> pb::RunEvent {
    let (inputs, outputs) = (
        files.count_data(Role::Input),
        files.count_data(Role::Output),
    );
    let process_count = processes.len();
    let listed = |role| {
        files
            .first_data(role, roar_proto::FINISHED_FILES_LISTED)
            .map(pb::FileRecord::from)
            .collect()
    };
    tracing::info!(
        "job {uid} finished: {process_count} processes, {inputs} inputs, {outputs} outputs; \
         {} files from the hash cache, {} hashed ({} bytes) in {} us; stored in {} ms",
        files.stats.hits,
        files.stats.misses,
        files.stats.hashed_bytes,
        took.0.as_micros(),
        took.1.as_millis()
    );
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    pb::RunEvent {
        event: Some(pb::run_event::Event::Finished(pb::JobFinished {
            job: Some(summary),
            processes: count(process_count),
            inputs: count(inputs),
            outputs: count(outputs),
            hash_cache_hits: files.stats.hits,
            hash_cache_misses: files.stats.misses,
            hashed_bytes: files.stats.hashed_bytes,
            packages: count(files.packages.len()),
            ignored_files: count(files.count_ignored()),
            listed_inputs: listed(Role::Input),
            listed_outputs: listed(Role::Output),
            gaps: gaps.iter().map(pb::TraceGap::from).collect(),
        })),
    }
}

/// What the record needs read from disk once the trace ended: the environments of the
/// job's Python interpreters and, when it wrote version-control files (only then can
/// it have moved HEAD), the commit HEAD points to now. Most jobs need neither, and then
/// no blocking thread is asked for.
async fn read_after_trace(
    state: &DaemonState,
    processes: &[crate::record::ProcessRecord],
    files: &crate::record::HashedFiles,
    search_path: Vec<u8>,
    cwd: PathBuf,
) -> (Vec<python_env::PythonEnvironment>, Option<String>) {
    let images: Vec<_> = processes
        .iter()
        .filter(|p| python_env::is_interpreter(&p.image))
        .map(|p| Arc::clone(&p.image))
        .collect();
    let wrote_git = files
        .files
        .iter()
        .any(|f| f.role == Role::Output && f.class == Class::Vcs);
    if images.is_empty() && !wrote_git {
        return (Vec::new(), None);
    }
    let packages = Arc::clone(&state.packages);
    tokio::task::spawn_blocking(move || {
        let environments = python_env::environments(&images, &search_path, &packages);
        let head = wrote_git.then(|| git_context::head_commit(&cwd)).flatten();
        (environments, head)
    })
    .await
    .unwrap_or_default()
}

/// Awaits `work`, telling the client how hashing progresses every 100 ms meanwhile
/// (roarctl decides whether that is worth a progress bar).
async fn report_progress<T>(
    work: impl Future<Output = T>,
    progress: &HashProgress,
    sender: &EventSender,
) -> T {
    // The first report is due one interval from now. (Awaiting an interval's immediate
    // first tick would not do: it waits for the timer driver's next turn, up to a
    // millisecond added to every job.)
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + PROGRESS_INTERVAL,
        PROGRESS_INTERVAL,
    );
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticker.tick() => {
                let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
                let event = pb::run_event::Event::HashProgress(pb::HashProgress {
                    files_done: load(&progress.files_done),
                    files_total: load(&progress.files_total),
                    bytes_done: load(&progress.bytes_done),
                    bytes_total: load(&progress.bytes_total),
                });
                // Progress only: dropped rather than waited for when the client lags.
                let _ = sender.try_send(Ok(pb::RunEvent { event: Some(event) }));
            }
        }
    }
}

/// Passes one tracer event on to the client.
async fn forward(sender: &EventSender, event: TraceEvent) {
    match event {
        TraceEvent::Exec { pid, image } => {
            let exec = pb::run_event::Event::Exec(pb::ProcessExec {
                pid: pid.as_raw().unsigned_abs(),
                argv: image.argv.clone(),
                exe: image.exe.clone(),
            });
            // Progress only: dropped rather than waited for when the client lags.
            let _ = sender.try_send(Ok(pb::RunEvent { event: Some(exec) }));
        }
        TraceEvent::RootExited { remaining } => {
            let root_exited = pb::run_event::Event::RootExited(pb::RootExited {
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            });
            // roarctl decides from this whether to wait for the record: never dropped.
            let _ = sender
                .send(Ok(pb::RunEvent {
                    event: Some(root_exited),
                }))
                .await;
        }
    }
}
