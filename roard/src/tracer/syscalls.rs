//! The syscalls that stop a traced job, per architecture, and where their arguments
//! are. Everything not listed here runs at full speed: the seccomp filter lets it
//! through without waking roard.
//!
//! Not listed on purpose: `execve`/`execveat` (what was executed is read at the exec
//! event from `/proc/PID/exe` and the `AT_EXECFN` name the kernel leaves in the new
//! auxiliary vector: one stop per exec instead of two), `chdir`/`fchdir` (relative paths are resolved through
//! `/proc/TID/cwd` at the moment of the call, which is exact even for threads that share
//! or do not share a cwd), `mmap` (a shared writable mapping needs a file opened
//! read-write, and such an open already counts as a read and a write), `mkdir`/`rmdir`
//! and `symlink` (directories and symlinks carry no content of their own), and `close`
//! or `dup` (descriptors are resolved through `/proc/TID/fd` when they are used).

/// Where a syscall names a file: a directory descriptor (or `AT_FDCWD`) plus a path
/// pointer in the tracee, or the descriptor itself when `AT_EMPTY_PATH` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathArg {
    /// Path pointer in argument `path`, relative to the cwd.
    Cwd { path: usize },
    /// Path pointer in argument `path`, relative to the descriptor in argument `dirfd`.
    At { dirfd: usize, path: usize },
}

/// How a traced syscall's arguments are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracedSyscall {
    /// open/openat: open flags in argument `flags`.
    Open {
        at: PathArg,
        flags: usize,
    },
    /// openat2: flags inside the `struct open_how` pointed to by argument `how`.
    OpenHow {
        at: PathArg,
        how: usize,
    },
    /// creat: `O_CREAT | O_WRONLY | O_TRUNC`.
    Creat {
        at: PathArg,
    },
    /// rename/renameat/renameat2; `flags` holds `RENAME_EXCHANGE`.
    Rename {
        from: PathArg,
        to: PathArg,
        flags: Option<usize>,
    },
    /// link/linkat: only the new name matters (it is an output); the source, by path
    /// or by descriptor, is left as it was.
    Link {
        to: PathArg,
    },
    /// unlink/unlinkat; `flags` holds `AT_REMOVEDIR`.
    Unlink {
        at: PathArg,
        flags: Option<usize>,
    },
    Truncate {
        at: PathArg,
    },
    /// ftruncate: the descriptor in argument `fd`.
    Ftruncate {
        fd: usize,
    },
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

use PathArg::{At, Cwd};
use TracedSyscall::*;

const AT_0_1: PathArg = At { dirfd: 0, path: 1 };
const AT_2_3: PathArg = At { dirfd: 2, path: 3 };

#[cfg(target_arch = "x86_64")]
#[rustfmt::skip]
pub const NATIVE: SyscallTable = SyscallTable {
    audit_arch: 0xc000_003e,
    entries: &[
        (2, Open { at: Cwd { path: 0 }, flags: 1 }),
        (257, Open { at: AT_0_1, flags: 2 }),
        (437, OpenHow { at: AT_0_1, how: 2 }),
        (85, Creat { at: Cwd { path: 0 } }),
        (82, Rename { from: Cwd { path: 0 }, to: Cwd { path: 1 }, flags: None }),
        (264, Rename { from: AT_0_1, to: AT_2_3, flags: None }),
        (316, Rename { from: AT_0_1, to: AT_2_3, flags: Some(4) }),
        (86, Link { to: Cwd { path: 1 } }),
        (265, Link { to: AT_2_3 }),
        (87, Unlink { at: Cwd { path: 0 }, flags: None }),
        (263, Unlink { at: AT_0_1, flags: Some(2) }),
        (76, Truncate { at: Cwd { path: 0 } }),
        (77, Ftruncate { fd: 0 }),
    ],
};

/// aarch64 has only the `*at` forms.
#[cfg(target_arch = "aarch64")]
#[rustfmt::skip]
pub const NATIVE: SyscallTable = SyscallTable {
    audit_arch: 0xc000_00b7,
    entries: &[
        (56, Open { at: AT_0_1, flags: 2 }),
        (437, OpenHow { at: AT_0_1, how: 2 }),
        (38, Rename { from: AT_0_1, to: AT_2_3, flags: None }),
        (276, Rename { from: AT_0_1, to: AT_2_3, flags: Some(4) }),
        (37, Link { to: AT_2_3 }),
        (35, Unlink { at: AT_0_1, flags: Some(2) }),
        (45, Truncate { at: Cwd { path: 0 } }),
        (46, Ftruncate { fd: 0 }),
    ],
};
