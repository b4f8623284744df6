//! Each job's tracer runs in a helper process (`roard --trace-helper`, the same
//! binary), not in a thread of the daemon: if roard dies, even by SIGKILL, the helper
//! keeps serving the job's stops until the job ends, so the job's traced system calls
//! never fail with ENOSYS. The helper reports to roard over its stdout (see `wire`);
//! once roard is gone its writes fail and it just goes on serving, unrecorded.
//!
//! Starting a process costs milliseconds, more than a short job itself, so roard keeps
//! one helper started ahead of time (the spare): it waits on its stdin for the job to
//! trace. The next spare is started once a job's record is stored (see
//! `service::run`), when the CPUs have least else to do: starting one while a job
//! starts or is being recorded would take a CPU from it.

use std::io::BufReader;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::Mutex;

use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot};

use super::attach::{self, AttachError};
use super::wire::{Frame, read_assignment, read_frame, write_assignment, write_frame};
use super::{Reporter, TraceEvent, TraceOutcome, TraceSettings, Tracing, event_loop, fast_ring};

/// The flag that turns roard into a tracer helper.
pub const FLAG: &str = "--trace-helper";

/// A started helper waiting for its job on `stdin`.
struct Helper {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

/// The helper started ahead of time; `None` while one is being started or when none
/// can be (the binary is gone from disk, say).
static SPARE: Mutex<Option<Helper>> = Mutex::new(None);

/// Starts a spare helper in the background, unless one is waiting already.
pub fn prepare_spare() {
    let spawned = std::thread::Builder::new()
        .name("tracer-spare".into())
        .spawn(|| {
            if SPARE.lock().is_ok_and(|spare| spare.is_some()) {
                return;
            }
            let helper = match start() {
                Ok(helper) => helper,
                Err(e) => {
                    tracing::warn!("cannot start a spare tracer helper: {e}");
                    return;
                }
            };
            let surplus = match SPARE.lock() {
                Ok(mut spare) if spare.is_none() => spare.replace(helper),
                _ => Some(helper),
            };
            if let Some(surplus) = surplus {
                surplus.discard();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start a spare tracer helper: {e}");
    }
}

/// Starts the next spare when dropped. `service::run` holds one for each job from the
/// moment the job may take the spare until the job is done with: its record stored,
/// or the job refused. Every way a job ends then leaves a spare behind, started when
/// the job no longer needs the CPUs.
pub struct SpareRefill;

impl Drop for SpareRefill {
    fn drop(&mut self) {
        prepare_spare();
    }
}

/// Lets the spare go (at shutdown): it exits when its stdin closes.
pub fn discard_spare() {
    let spare = SPARE.lock().ok().and_then(|mut spare| spare.take());
    if let Some(helper) = spare {
        helper.discard();
    }
}

/// Starts a helper process that waits for its job.
fn start() -> Result<Helper, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find roard's own binary: {e}"))?;
    let mut child = Command::new(exe)
        .arg(FLAG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start a tracer helper: {e}"))?;
    match (child.stdin.take(), child.stdout.take()) {
        (Some(stdin), Some(stdout)) => Ok(Helper {
            child,
            stdin,
            stdout,
        }),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Err("the tracer helper has no pipes".into())
        }
    }
}

impl Helper {
    /// Closes its pipes (it then exits: a helper whose reports can no longer be read
    /// must not block writing them) and reaps it.
    fn discard(self) {
        let Helper {
            mut child,
            stdin,
            stdout,
        } = self;
        drop(stdin);
        drop(stdout);
        let _ = child.wait();
    }

    /// Tells the helper which job to trace, and how.
    fn assign(&mut self, root: Pid, settings: &TraceSettings) -> std::io::Result<()> {
        write_assignment(&mut self.stdin, root, settings)
    }
}

/// Has a helper attach to `root` (the spare if there is one) and returns once it
/// attached (or failed to).
pub async fn spawn(root: Pid, settings: &TraceSettings) -> Result<Tracing, AttachError> {
    let spare = SPARE.lock().ok().and_then(|mut spare| spare.take());
    let start_fresh = || -> Result<Helper, AttachError> {
        let mut helper = start().map_err(AttachError::NoTracer)?;
        if let Err(e) = helper.assign(root, settings) {
            helper.discard();
            return Err(AttachError::NoTracer(format!(
                "cannot reach the tracer helper: {e}"
            )));
        }
        Ok(helper)
    };
    // A spare that died meanwhile cannot take the job: it is reaped, and a fresh
    // helper is tried once.
    let mut helper = match spare {
        Some(mut helper) => match helper.assign(root, settings) {
            Ok(()) => helper,
            Err(e) => {
                tracing::warn!("the spare tracer helper is gone ({e}); starting another");
                helper.discard();
                start_fresh()?
            }
        },
        None => start_fresh()?,
    };
    let (attached_tx, attached_rx) = oneshot::channel();
    let (event_tx, events) = mpsc::unbounded_channel();
    let (outcome_tx, outcome) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("tracer-reader-{root}"))
        .spawn(move || {
            let mut input = BufReader::new(&mut helper.stdout);
            let mut attached = Some(attached_tx);
            let mut outcome_tx = Some(outcome_tx);
            loop {
                match read_frame(&mut input) {
                    Ok(Some(Frame::Attached(result))) => {
                        if let Some(tx) = attached.take() {
                            let _ = tx.send(result);
                        }
                    }
                    Ok(Some(Frame::Event(event))) => {
                        let _ = event_tx.send(event);
                    }
                    Ok(Some(Frame::Outcome(result))) => {
                        if let Some(tx) = outcome_tx.take() {
                            let _ = tx.send(result);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!("lost the tracer helper of job {root}: {e}");
                        break;
                    }
                }
            }
            // Dropping the senders tells the job's recorder how things ended.
            drop(event_tx);
            drop(outcome_tx);
            drop(attached);
            helper.discard();
        })
        .map_err(|e| AttachError::NoTracer(e.to_string()))?;
    let fast_path = attached_rx
        .await
        .map_err(|_| AttachError::NoTracer("the tracer helper ended before attaching".into()))??;
    Ok(Tracing {
        events,
        outcome,
        fast_path,
    })
}

/// The helper's whole life: wait for the job, attach, trace, report; then exit.
pub fn main() -> ExitCode {
    let (root, settings) = match read_assignment(&mut std::io::stdin().lock()) {
        Ok(Some(assignment)) => assignment,
        // roard let this spare go, or is gone: nothing to trace.
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roard: a tracer helper could not read its job on stdin: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    // The ring must exist before the job's first exec, which follows the attach report.
    let ring = settings
        .fast_path
        .as_ref()
        .and_then(|_| fast_ring::Ring::create());
    let attached = attach::seize(root).map(|()| ring.is_some());
    let failed = attached.is_err();
    if write_frame(&mut out, &Frame::Attached(attached)).is_err() || failed {
        return ExitCode::FAILURE;
    }
    drop(out);
    // The relay writes the tracer's frames in the order they were sent, blocking on
    // the pipe so that the tracer never does. Once roard is gone its writes fail; it
    // then only drains, and the tracer goes on serving the job.
    let (frame_tx, frame_rx) = std::sync::mpsc::channel::<Frame>();
    let relay = std::thread::spawn(move || {
        let mut out = std::io::stdout().lock();
        let mut connected = true;
        for frame in frame_rx {
            if connected && write_frame(&mut out, &frame).is_err() {
                connected = false;
            }
        }
    });
    let mut reporter = FrameReporter(Some(frame_tx));
    let traced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        event_loop::run(root, &mut reporter, settings, ring);
    }));
    reporter.abandon();
    if traced.is_err() {
        tracing::error!(
            "the tracer of the job rooted at {root} failed; serving its processes unrecorded \
             until they exit"
        );
        event_loop::serve_until_gone();
    }
    let _ = relay.join();
    ExitCode::SUCCESS
}

/// The helper's reporter: frames for the relay thread.
struct FrameReporter(Option<std::sync::mpsc::Sender<Frame>>);

impl Reporter for FrameReporter {
    fn event(&mut self, event: TraceEvent) {
        if let Some(frames) = &self.0 {
            let _ = frames.send(Frame::Event(event));
        }
    }

    fn outcome(&mut self, outcome: TraceOutcome) {
        if let Some(frames) = &self.0 {
            let _ = frames.send(Frame::Outcome(outcome));
        }
    }

    fn abandon(&mut self) {
        // Closing the channel ends the relay; roard sees the pipe close when this
        // process exits, after serving the job.
        self.0 = None;
    }
}
