//! What a `waitpid` status means, decoded once into a [`Stop`] that the recording loop
//! and the unrecorded path both match on, and the ptrace requests that resume a task,
//! each result checked.
//!
//! Statuses are decoded from raw values rather than through nix's `WaitStatus`,
//! which cannot represent real-time signals: a multi-threaded tracee receiving one
//! must still be resumed with it.

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::record::Exit;

/// How a new task was made (`PTRACE_EVENT_FORK`, `_VFORK`, `_CLONE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewTask {
    Fork,
    Vfork,
    /// A clone: a thread, or a process made with `clone`/`clone3`.
    Clone,
}

/// One stop or end of a traced task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The task is gone: it exited or was killed.
    Gone(Exit),
    /// At the entry of a syscall the seccomp filter traces.
    Seccomp,
    /// At the exit of a syscall it was resumed into with `PTRACE_SYSCALL`.
    SyscallExit,
    /// A signal is about to be delivered: hand it on.
    Signal(i32),
    /// It made a new task (its id from `PTRACE_GETEVENTMSG`).
    NewTask(NewTask),
    /// It completed an exec.
    Exec,
    /// `PTRACE_EVENT_STOP`: a group-stop (job control) when `signal` is a stopping
    /// signal, else the first stop of a new task or an interrupt.
    Event { signal: i32 },
    /// Any other ptrace event (`PTRACE_EVENT_EXIT`, …), resumed as it is.
    OtherEvent,
    /// Stopped, continued, or otherwise nothing roard acts on.
    Nothing,
}

impl Stop {
    pub fn decode(status: i32) -> Stop {
        if libc::WIFEXITED(status) {
            return Stop::Gone(Exit::Code(libc::WEXITSTATUS(status)));
        }
        if libc::WIFSIGNALED(status) {
            return Stop::Gone(Exit::Signal(libc::WTERMSIG(status)));
        }
        if !libc::WIFSTOPPED(status) {
            return Stop::Nothing;
        }
        let signal = libc::WSTOPSIG(status);
        match status >> 16 {
            0 if signal == libc::SIGTRAP | 0x80 => Stop::SyscallExit,
            0 => Stop::Signal(signal),
            libc::PTRACE_EVENT_SECCOMP => Stop::Seccomp,
            libc::PTRACE_EVENT_FORK => Stop::NewTask(NewTask::Fork),
            libc::PTRACE_EVENT_VFORK => Stop::NewTask(NewTask::Vfork),
            libc::PTRACE_EVENT_CLONE => Stop::NewTask(NewTask::Clone),
            libc::PTRACE_EVENT_EXEC => Stop::Exec,
            libc::PTRACE_EVENT_STOP => Stop::Event { signal },
            _ => Stop::OtherEvent,
        }
    }

    /// Whether this is a group-stop: the task stays stopped (until `SIGCONT`) without
    /// being held in a ptrace-stop the shell could not see.
    pub fn is_group_stop(self) -> bool {
        matches!(
            self,
            Stop::Event {
                signal: libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
            }
        )
    }

    /// Lets a task go on as if untraced: signals passed on, group-stops kept. The
    /// unrecorded path does only this; the recording loop does it after recording.
    pub fn release(self, tid: Pid) {
        match self {
            Stop::Gone(_) | Stop::Nothing => {}
            Stop::Signal(signal) => resume(tid, signal),
            _ if self.is_group_stop() => listen(tid),
            _ => resume(tid, 0),
        }
    }
}

/// `PTRACE_GETEVENTMSG`: the new task's id after a fork/clone event, the former
/// thread id after an exec.
pub fn event_message(tid: Pid) -> Option<u64> {
    let mut message: libc::c_ulong = 0;
    // SAFETY: PTRACE_GETEVENTMSG writes one unsigned long to the pointer.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_GETEVENTMSG,
            tid.as_raw(),
            std::ptr::null_mut::<libc::c_void>(),
            &mut message as *mut libc::c_ulong,
        )
    };
    checked(rc, "PTRACE_GETEVENTMSG", tid).then_some(message)
}

/// Resumes a stopped tracee, delivering `signal` (0 for none).
pub fn resume(tid: Pid, signal: i32) {
    // SAFETY: PTRACE_CONT takes no pointers; the signal travels in `data`.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_CONT,
            tid.as_raw(),
            std::ptr::null_mut::<libc::c_void>(),
            signal as libc::c_long,
        )
    };
    checked(rc, "PTRACE_CONT", tid);
}

/// Resumes a tracee stopped at a syscall's entry so that it stops again at its exit.
pub fn resume_to_syscall_exit(tid: Pid) {
    // SAFETY: PTRACE_SYSCALL takes no pointers.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_SYSCALL,
            tid.as_raw(),
            std::ptr::null_mut::<libc::c_void>(),
            0 as libc::c_long,
        )
    };
    checked(rc, "PTRACE_SYSCALL", tid);
}

/// Leaves a task in its group-stop, reporting when it continues.
fn listen(tid: Pid) {
    // SAFETY: PTRACE_LISTEN takes no pointers.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_LISTEN,
            tid.as_raw(),
            std::ptr::null_mut::<libc::c_void>(),
            0 as libc::c_long,
        )
    };
    checked(rc, "PTRACE_LISTEN", tid);
}

/// Whether a ptrace request succeeded. A tracee killed meanwhile (ESRCH) is normal:
/// its end is reported by the next `waitpid`. Anything else is a bug worth a log line,
/// never a reason to stop serving the job.
fn checked(rc: libc::c_long, request: &str, tid: Pid) -> bool {
    if rc != -1 {
        return true;
    }
    match Errno::last() {
        Errno::ESRCH => {}
        errno => tracing::warn!("{request} on task {tid} failed: {errno}"),
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stop status as the kernel builds it: `0x7f | signal << 8 | event << 16`.
    fn stopped(signal: i32, event: i32) -> i32 {
        0x7f | (signal << 8) | (event << 16)
    }

    #[test]
    fn statuses_decode_to_stops() {
        assert_eq!(Stop::decode(3 << 8), Stop::Gone(Exit::Code(3)));
        assert_eq!(
            Stop::decode(libc::SIGKILL),
            Stop::Gone(Exit::Signal(libc::SIGKILL))
        );
        assert_eq!(
            Stop::decode(stopped(libc::SIGTRAP | 0x80, 0)),
            Stop::SyscallExit
        );
        assert_eq!(
            Stop::decode(stopped(libc::SIGUSR1, 0)),
            Stop::Signal(libc::SIGUSR1)
        );
        // Real-time signals survive (nix's WaitStatus cannot carry them).
        let rt = libc::SIGRTMIN() + 3;
        assert_eq!(Stop::decode(stopped(rt, 0)), Stop::Signal(rt));
        let seccomp = stopped(libc::SIGTRAP, libc::PTRACE_EVENT_SECCOMP);
        assert_eq!(Stop::decode(seccomp), Stop::Seccomp);
        let clone = stopped(libc::SIGTRAP, libc::PTRACE_EVENT_CLONE);
        assert_eq!(Stop::decode(clone), Stop::NewTask(NewTask::Clone));
        assert_eq!(
            Stop::decode(stopped(libc::SIGTRAP, libc::PTRACE_EVENT_EXEC)),
            Stop::Exec
        );
        let group = Stop::decode(stopped(libc::SIGTSTP, libc::PTRACE_EVENT_STOP));
        assert!(group.is_group_stop());
        let interrupt = Stop::decode(stopped(libc::SIGTRAP, libc::PTRACE_EVENT_STOP));
        assert!(!interrupt.is_group_stop());
    }
}
