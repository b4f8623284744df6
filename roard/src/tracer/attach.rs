//! `PTRACE_SEIZE` of the job's first process, and a clear explanation when the kernel
//! refuses it.

use nix::errno::Errno;
use nix::sys::ptrace::{self, Options};
use nix::unistd::Pid;

/// Follow the whole tree and stop on traced syscalls. Deliberately *not*
/// `PTRACE_O_EXITKILL`: if roard dies, the user's job runs on.
pub fn trace_options() -> Options {
    Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACECLONE
        | Options::PTRACE_O_TRACEEXEC
        | Options::PTRACE_O_TRACESECCOMP
        | Options::PTRACE_O_TRACESYSGOOD
}

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("process {0} does not exist (it exited before roard could attach)")]
    NoSuchProcess(Pid),
    #[error("ptrace is not permitted here: {cause}")]
    NotPermitted { cause: String },
    /// Neither a tracer helper process nor (as the fallback) a tracer thread could be
    /// started, or it ended before attaching.
    #[error("cannot start a tracer: {0}")]
    NoTracer(String),
    #[error("PTRACE_SEIZE of {pid} failed: {errno}")]
    Other { pid: Pid, errno: Errno },
}

/// Seizes `pid` from the calling thread, which becomes its tracer: every later ptrace
/// request for this job must come from the same thread.
pub fn seize(pid: Pid) -> Result<(), AttachError> {
    ptrace::seize(pid, trace_options()).map_err(|errno| match errno {
        Errno::ESRCH => AttachError::NoSuchProcess(pid),
        Errno::EPERM | Errno::EACCES => AttachError::NotPermitted {
            cause: explain_eperm(pid),
        },
        errno => AttachError::Other { pid, errno },
    })
}

/// Names the most likely reason the kernel said no.
fn explain_eperm(pid: Pid) -> String {
    if let Some(tracer) = super::procfs::tracer_of(pid) {
        let name = super::procfs::argv(tracer)
            .first()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .unwrap_or_else(|| "another program".into());
        return format!(
            "the job's process is already traced by {name} (pid {tracer}); a process has \
             one tracer, so roar cannot record a command run under strace, gdb or another \
             roar"
        );
    }
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u8>().ok());
    match scope {
        Some(2) => "kernel.yama.ptrace_scope is 2 (admin-only attach); roard would need \
                    CAP_SYS_PTRACE. Ask an administrator to set it to 1 \
                    (sysctl kernel.yama.ptrace_scope=1)"
            .into(),
        Some(3) => "kernel.yama.ptrace_scope is 3 (ptrace disabled until reboot); roar \
                    cannot trace on this machine"
            .into(),
        _ => "the kernel refused PTRACE_SEIZE (EPERM). Inside a container, ptrace is often \
              blocked by the seccomp or AppArmor profile: run the container with \
              --cap-add SYS_PTRACE or a profile that allows ptrace"
            .into(),
    }
}
