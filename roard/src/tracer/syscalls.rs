//! The syscalls that stop a traced job, per architecture. Everything not listed here
//! runs at full speed: the seccomp filter lets it through without waking roard.

/// What roard does when a traced syscall stops the tracee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracedSyscall {
    Execve,
    Execveat,
}

/// One architecture's numbering of the traced syscalls.
pub struct SyscallTable {
    /// `AUDIT_ARCH_*` value the kernel puts in `seccomp_data.arch`.
    pub audit_arch: u32,
    pub entries: &'static [(u32, TracedSyscall)],
}

impl SyscallTable {
    /// The traced syscall with this number, if it is one.
    pub fn lookup(&self, nr: u64) -> Option<TracedSyscall> {
        self.entries
            .iter()
            .find(|(n, _)| u64::from(*n) == nr)
            .map(|(_, s)| *s)
    }
}

#[cfg(target_arch = "x86_64")]
pub const NATIVE: SyscallTable = SyscallTable {
    audit_arch: 0xc000_003e,
    entries: &[(59, TracedSyscall::Execve), (322, TracedSyscall::Execveat)],
};

#[cfg(target_arch = "aarch64")]
pub const NATIVE: SyscallTable = SyscallTable {
    audit_arch: 0xc000_00b7,
    entries: &[(221, TracedSyscall::Execve), (281, TracedSyscall::Execveat)],
};
