//! The ptrace loop of one job: waits for every stop of every task in the tree, updates
//! the process table, resumes the task. Runs on the thread that seized the root. Each
//! status is decoded once into a [`Stop`].

use std::time::Duration;

use nix::errno::Errno;
use nix::unistd::Pid;

use super::fast_ring::Ring;
use super::file_tracker::{FileTracker, Resume};
use super::linger::LingerAlarm;
use super::process_table::ProcessTable;
use super::stops::{NewTask, Stop, event_message, resume, resume_to_syscall_exit};
use super::syscall_info::{self, SyscallStop};
use super::syscalls::{self, table_for};
use super::{Reporter, TraceEvent, TraceOutcome, TraceSettings};
use crate::clock::now_ms;
use crate::record::{Exit, GapKind, SeenBy};

/// Exec progress reaches the client at most this often: a message per exec would make
/// fork-heavy jobs wake the daemon's runtime and the client thousands of times.
const EXEC_EVENT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Everything the loop keeps about one job. A default `Job` does not record: it is
/// what remains once the record was closed at the linger bound.
#[derive(Default)]
struct Job {
    recording: bool,
    processes: ProcessTable,
    files: FileTracker,
    last_exec_event: Option<std::time::Instant>,
    /// The tracee of the stop being handled was resumed already (work that overlaps
    /// its run follows): a failure from here on must not resume it a second time,
    /// which could let it past a later stop unseen, and a signal with it.
    resumed: bool,
    /// The fast path's ring, when the job has one.
    ring: Option<Ring>,
    seen_by: SeenBy,
}

/// Traces until no task of the job remains, or until `linger` after the root process
/// exited, and reports what was seen. In the second case it goes on serving the
/// remaining processes, without recording, until they exit. `ring`: the fast path's,
/// drained before every stop is handled.
pub fn run(root: Pid, reporter: &mut dyn Reporter, settings: TraceSettings, ring: Option<Ring>) {
    let mut job = Job {
        recording: true,
        files: FileTracker::new(settings.extra_algorithms, settings.fast_path),
        ring,
        ..Job::default()
    };
    let linger = settings.linger;
    job.processes.add_root(root, now_ms());
    job.files.views.add_root(root);
    // Whether the outcome is still to be reported (false once sent or abandoned).
    let mut pending = true;
    let mut alarm: Option<LingerAlarm> = None;
    loop {
        if pending && alarm.as_ref().is_some_and(LingerAlarm::expired) {
            pending = false;
            close_at_linger(&mut job, root, reporter);
        }
        let mut status = 0;
        let poll = worth_polling(job.processes.live_processes());
        let tid = wait_for_stop(&mut status, poll, &mut || job.drain_fast_path());
        if tid < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                Errno::ECHILD => break,
                errno => {
                    tracing::error!("waitpid failed while tracing job rooted at {root}: {errno}");
                    break;
                }
            }
        }
        let tid = Pid::from_raw(tid);
        let now = now_ms();
        let stop = Stop::decode(status);
        job.drain_fast_path();
        if let Stop::Gone(exit) = stop {
            let remaining = job.on_gone(tid, exit, now);
            if tid == root
                && let Some(remaining) = remaining
            {
                reporter.event(TraceEvent::RootExited { remaining });
                if remaining > 0 {
                    alarm = Some(LingerAlarm::arm(linger));
                }
            }
        } else {
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                on_stop(&mut job, tid, stop, now, reporter);
                job.close_fast_path_on_new_views();
            }));
            if handled.is_err() {
                // A bug must cost the record, never the job: let this tracee go on and
                // serve the whole tree unrecorded from now on, and tell the recorder
                // at once that the trace is incomplete.
                tracing::error!(
                    "the tracer of the job rooted at {root} failed; serving its processes \
                     unrecorded until they exit"
                );
                if !job.resumed {
                    stop.release(tid);
                }
                job = Job::default();
                if pending {
                    pending = false;
                    reporter.abandon();
                }
            }
        }
    }
    if pending {
        job.drain_fast_path();
        reporter.outcome(job.into_outcome(root, 0));
    }
}

impl Job {
    /// A task is gone: its lane freed and, while recording, its exit noted. The live
    /// processes left, when recording.
    fn on_gone(&mut self, tid: Pid, exit: Exit, now: i64) -> Option<usize> {
        if let Some(ring) = self.ring.as_mut() {
            ring.release_lanes_of(tid.as_raw());
        }
        if !self.recording {
            return None;
        }
        if let Some(image) = self.processes.image_of(tid) {
            self.files.library.image_ended(tid, &image.exe, false);
            self.tell_ring_what_to_skip();
        }
        self.processes.on_exit(tid, exit, now);
        self.files.on_task_gone(tid);
        Some(self.processes.live_processes())
    }

    /// Lists in the ring the programs the library is no longer passed to, when that
    /// changed (see `library_use`).
    fn tell_ring_what_to_skip(&mut self) {
        if let Some(ring) = &self.ring
            && let Some(skipped) = self.files.library.take_changed()
        {
            ring.set_skipped(&skipped);
        }
    }

    /// Takes in what the fast path recorded since the last stop, before that stop is
    /// handled: every record then comes in its place among the stops. Whether there
    /// was any.
    fn drain_fast_path(&mut self) -> bool {
        let Some(ring) = self.ring.as_mut() else {
            return false;
        };
        let (files, seen_by) = (&mut self.files, &mut self.seen_by);
        let before = seen_by.fast_path;
        ring.drain(|record| {
            seen_by.fast_path += 1;
            files.on_fast_record(record);
        });
        seen_by.fast_path != before
    }

    /// Once a task has a root or namespace of its own, every later call of the job
    /// stops (and no exec through the library passes it on): a record's name would be
    /// that task's, read after the fact.
    fn close_fast_path_on_new_views(&self) {
        if let Some(ring) = &self.ring
            && self.files.views.any()
        {
            ring.disable();
        }
    }

    fn into_outcome(self, root: Pid, lingering: usize) -> TraceOutcome {
        let (files, gaps) = self.files.into_accesses();
        TraceOutcome {
            seen_by: self.seen_by,
            root_exit: self.processes.exit_of(root),
            processes: self.processes.into_records(),
            files,
            lingering,
            gaps,
        }
    }
}

/// The linger bound passed with processes still running: the record is closed and
/// reported, and they are served unrecorded from now on (`job` becomes a default one).
fn close_at_linger(job: &mut Job, root: Pid, reporter: &mut dyn Reporter) {
    let lingering = job.processes.live_processes();
    tracing::info!(
        "{lingering} process(es) of the job rooted at {root} still run after the linger \
         bound; closing its record and serving them unrecorded"
    );
    job.drain_fast_path();
    reporter.outcome(std::mem::take(job).into_outcome(root, lingering));
}

/// How long the tracer polls for the next stop before it sleeps in `waitpid`. A
/// tracee in a syscall-heavy stretch stops again within microseconds; catching that
/// stop while still running saves a cross-CPU wake-up each time, which is the larger
/// part of the cost of a stop on virtual machines. Idle jobs cost nothing: the poll
/// gives up after this long. It only pays while a CPU is free: see `worth_polling`.
const POLL_BEFORE_SLEEP: std::time::Duration = std::time::Duration::from_micros(300);

/// Whether polling is likely to use a CPU the job does not need: when the job has no
/// more live processes than there are CPUs. A parallel build keeps every CPU busy, and
/// polling there would take time from the job itself.
fn worth_polling(live_processes: usize) -> bool {
    live_processes <= crate::cpus::available()
}

/// `waitpid(-1, __WALL | __WNOTHREAD)`, first polling briefly when `poll` says so.
/// Between polls, `idle` takes in the fast path's records: that work then runs on the
/// free CPU while the job runs, instead of at the next stop while it waits. Records
/// found keep the poll going.
fn wait_for_stop(status: &mut i32, poll: bool, idle: &mut dyn FnMut() -> bool) -> libc::pid_t {
    let flags = libc::__WALL | libc::__WNOTHREAD;
    let mut deadline = std::time::Instant::now()
        + if poll {
            POLL_BEFORE_SLEEP
        } else {
            Duration::ZERO
        };
    loop {
        // SAFETY: plain syscall with a valid out-pointer.
        let tid = unsafe { libc::waitpid(-1, status, flags | libc::WNOHANG) };
        if tid != 0 {
            return tid;
        }
        if poll && idle() {
            deadline = std::time::Instant::now() + POLL_BEFORE_SLEEP;
        }
        if std::time::Instant::now() >= deadline {
            break;
        }
        // Between polls, give the CPU to any runnable task (often the job's other
        // processes): polling must only use time nobody else wants. It also spaces
        // the polls, each of which takes the task-list lock the tracee's fork, exec
        // and exit need too.
        std::thread::yield_now();
    }
    // SAFETY: as above.
    unsafe { libc::waitpid(-1, status, flags) }
}

fn on_stop(job: &mut Job, tid: Pid, stop: Stop, now: i64, reporter: &mut dyn Reporter) {
    job.resumed = false;
    if !job.recording {
        stop.release(tid);
        return;
    }
    let table = &mut job.processes;
    match stop {
        Stop::SyscallExit => {
            // The exit of a syscall we asked to follow.
            if let Some(SyscallStop::Exit { result }) = syscall_info::read(tid) {
                job.files.on_exit(tid, result);
            }
            resume(tid, 0);
        }
        Stop::Seccomp => on_seccomp_stop(job, tid),
        Stop::Signal(signal) => {
            // Hand the signal on, as if nobody were watching.
            if let Some((parent, thread)) = table.ensure_known(tid, now) {
                job.files.views.on_new_task(parent, tid, thread);
            }
            resume(tid, signal);
        }
        Stop::NewTask(kind) => {
            if let Some(child) = event_message(tid) {
                let child = Pid::from_raw(child as libc::pid_t);
                let maybe_thread = kind == NewTask::Clone;
                // A child whose first stop came first has its view already.
                if let Some(thread) = table.on_new_task(tid, child, maybe_thread, now) {
                    job.files.views.on_new_task(tid, child, thread);
                    if !thread {
                        job.files.library.started_program(table.process_of(tid));
                    }
                }
            }
            resume(tid, 0);
        }
        Stop::Exec => {
            let former = event_message(tid).map_or(tid, |t| Pid::from_raw(t as libc::pid_t));
            if crate::faults::injected("tracer-panic") {
                panic!("injected fault: tracer-panic");
            }
            if let Some(before) = table.image_of(tid) {
                job.files.library.image_ended(tid, &before.exe, true);
            }
            job.files.library.exec_began(tid);
            let image = table.on_exec(tid, former, now);
            job.files.views.on_exec(tid, former);
            job.files.on_exec(tid, &image);
            if job
                .last_exec_event
                .is_none_or(|last| last.elapsed() >= EXEC_EVENT_INTERVAL)
            {
                job.last_exec_event = Some(std::time::Instant::now());
                reporter.event(TraceEvent::Exec { pid: tid, image });
            }
            resume(tid, 0);
        }
        Stop::Event { .. } => {
            // A new task's first stop can come before its creator's fork event: its
            // view must be known before it runs on.
            if let Some((parent, thread)) = table.ensure_known(tid, now) {
                job.files.views.on_new_task(parent, tid, thread);
            }
            // Job control (Ctrl-Z, SIGSTOP) stays stopped until SIGCONT.
            stop.release(tid);
        }
        Stop::OtherEvent | Stop::Gone(_) | Stop::Nothing => stop.release(tid),
    }
}

/// A traced syscall's entry: decoded by its ABI's table, handled, the tracee resumed,
/// then what could wait until it runs again.
fn on_seccomp_stop(job: &mut Job, tid: Pid) {
    let traced = match syscall_info::read(tid) {
        Some(SyscallStop::Entry { arch, nr, args }) => match table_for(arch, nr) {
            Some(table) => table.lookup(nr).map(|syscall| (syscall, args)),
            None => {
                let abi = syscalls::abi_name(arch);
                let gaps = &mut job.files.gaps;
                gaps.note(GapKind::UndecodedSyscalls, tid.as_raw(), abi.as_bytes());
                None
            }
        },
        _ => None,
    };
    if traced.is_some() {
        job.seen_by.ptrace += 1;
    }
    let how = traced.map_or(Resume::Continue, |(syscall, args)| {
        job.files.on_entry(tid, syscall, &args)
    });
    match how {
        Resume::Continue => resume(tid, 0),
        Resume::ToExit => resume_to_syscall_exit(tid),
    }
    job.resumed = true;
    if crate::faults::injected("tracer-panic-after-resume") {
        panic!("injected fault: tracer-panic-after-resume");
    }
    // What could wait until the tracee runs again (see `FileTracker::settle`).
    job.files.settle();
}

/// Serves every remaining tracee, unrecorded, until none is left: the last resort
/// when the recording loop failed outside a stop's handling. Tracees it left stopped
/// are found through `/proc` (their `TracerPid` is this thread) and resumed first.
pub fn serve_until_gone() {
    let me = nix::unistd::gettid().as_raw();
    for tid in super::procfs::tasks_traced_by(me) {
        resume(tid, 0);
    }
    loop {
        let mut status = 0;
        let tid = wait_for_stop(&mut status, false, &mut || false);
        if tid < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                _ => return,
            }
        }
        Stop::decode(status).release(Pid::from_raw(tid));
    }
}
