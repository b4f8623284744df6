//! The ptrace supervisor. Each job gets its own tracer: ptrace requests must come from
//! the thread that attached, and a tracer per job lets jobs from many shells be traced
//! at once without one slow job delaying another's stops. The tracer runs in a helper
//! process (see `helper`) so that it outlives roard if roard is killed; a thread of
//! roard is the fallback when no helper can be started.

mod attach;
mod event_loop;
pub mod fast_ring;
pub mod file_ledger;
mod file_tracker;
pub mod gaps;
pub mod helper;
mod library_use;
pub mod linger;
pub(crate) mod paths;
pub mod process_table;
mod procfs;
pub mod seccomp_filter;
mod stops;
mod syscall_info;
pub mod syscalls;
mod tracee_memory;
mod views;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot};

use crate::hash_algorithms::HashAlgorithm;

use crate::record::TraceGap;
use crate::record::{Exit, Image, ProcessRecord, SeenBy};
pub use attach::AttachError;
use file_ledger::FileAccess;
pub use helper::SpareRefill;

/// Progress the tracer reports while the job runs.
#[derive(Debug)]
pub enum TraceEvent {
    Exec {
        pid: Pid,
        image: Arc<Image>,
    },
    /// The root process exited; `remaining` processes of the tree still run.
    RootExited {
        remaining: usize,
    },
}

/// Everything the tracer saw, once no task of the job remains.
#[derive(Debug)]
pub struct TraceOutcome {
    pub processes: Vec<ProcessRecord>,
    /// Inputs and outputs, pre-images already captured.
    pub files: Vec<FileAccess>,
    /// Processes still running when the record was closed at the linger bound.
    pub lingering: usize,
    pub root_exit: Option<Exit>,
    /// What the trace could not see (see [`gaps`]).
    pub gaps: Vec<TraceGap>,
    /// Which path saw how much.
    pub seen_by: SeenBy,
}

/// How a job is traced.
pub struct TraceSettings {
    /// How long processes that outlive the root are recorded (see [`linger`]).
    pub linger: Duration,
    /// Digests that pre-images carry besides BLAKE3.
    pub extra_algorithms: Vec<&'static dyn HashAlgorithm>,
    /// The fast path's preload library, when the job may use it: the tracer then
    /// makes the ring its processes record into (and never counts the library itself
    /// among the job's inputs).
    pub fast_path: Option<std::path::PathBuf>,
}

/// Where a tracer sends what it sees: straight to the job's recorder (the tracer
/// thread) or through the helper's pipe (see `helper`). Neither ever blocks the tracer.
pub(crate) trait Reporter {
    /// Progress while the job runs.
    fn event(&mut self, event: TraceEvent);
    /// The record; called at most once, after every event it covers.
    fn outcome(&mut self, outcome: TraceOutcome);
    /// The tracer failed and no outcome will come: the recorder should know now.
    fn abandon(&mut self);
}

/// The tracer thread's reporter: the recorder's own channels.
struct ChannelReporter {
    events: mpsc::UnboundedSender<TraceEvent>,
    outcome: Option<oneshot::Sender<TraceOutcome>>,
}

impl Reporter for ChannelReporter {
    fn event(&mut self, event: TraceEvent) {
        let _ = self.events.send(event);
    }

    fn outcome(&mut self, outcome: TraceOutcome) {
        if let Some(sender) = self.outcome.take() {
            let _ = sender.send(outcome);
        }
    }

    fn abandon(&mut self) {
        // Dropping the sender tells the recorder the trace is incomplete.
        self.outcome = None;
    }
}

/// A job being traced.
pub struct Tracing {
    pub events: mpsc::UnboundedReceiver<TraceEvent>,
    pub outcome: oneshot::Receiver<TraceOutcome>,
    /// Whether the job's ring exists: only then may its processes load the library.
    pub fast_path: bool,
}

/// Attaches to `root` (forked by roarctl, blocked before exec) from a tracer helper
/// process, or a tracer thread when no helper can be started. Returns once the attach
/// succeeded or failed.
pub async fn trace(root: Pid, settings: TraceSettings) -> Result<Tracing, AttachError> {
    match helper::spawn(root, &settings).await {
        Err(AttachError::NoTracer(why)) => {
            tracing::warn!("no tracer helper ({why}); tracing job {root} from roard itself");
            trace_in_thread(root, settings).await
        }
        other => other,
    }
}

/// The in-process tracer: a thread of roard (dies with roard).
async fn trace_in_thread(root: Pid, settings: TraceSettings) -> Result<Tracing, AttachError> {
    let (attached_tx, attached_rx) = oneshot::channel();
    let (event_tx, events) = mpsc::unbounded_channel();
    let (outcome_tx, outcome) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("tracer-{root}"))
        .spawn(move || {
            if let Err(e) = attach::seize(root) {
                let _ = attached_tx.send(Err(e));
                return;
            }
            let _ = attached_tx.send(Ok(()));
            // The fast path needs a ring at a fixed descriptor of its own process: a
            // thread of roard has none to give.
            // A panic must not end this thread: its tracees would be detached under
            // their seccomp filter, and their traced syscalls would start failing.
            let mut reporter = ChannelReporter {
                events: event_tx,
                outcome: Some(outcome_tx),
            };
            let traced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                event_loop::run(root, &mut reporter, settings, None);
            }));
            reporter.abandon();
            if traced.is_err() {
                tracing::error!(
                    "the tracer of the job rooted at {root} failed; serving its processes \
                     unrecorded until they exit"
                );
                event_loop::serve_until_gone();
            }
        })
        .map_err(|e| AttachError::NoTracer(e.to_string()))?;
    attached_rx
        .await
        .map_err(|_| AttachError::NoTracer("tracer thread ended before attaching".into()))??;
    Ok(Tracing {
        events,
        outcome,
        fast_path: false,
    })
}

/// The parent of `pid`, from `/proc`.
pub fn parent_of(pid: Pid) -> Option<Pid> {
    procfs::ppid(pid)
}

/// The seccomp program for every ABI a task of this machine can use (see
/// [`seccomp_filter`]); `refuse_io_uring` makes `io_uring_setup` fail with `ENOSYS`,
/// `fast_path` lets the fast path's stub through.
pub fn native_seccomp_filter(refuse_io_uring: bool, fast_path: bool) -> Vec<u8> {
    let ip = fast_path.then_some(fast_ring::STUB_RETURN_ADDR);
    seccomp_filter::build(syscalls::ABIS, refuse_io_uring, ip)
}
