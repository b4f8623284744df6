//! The syscalls that stop a traced job, one table per ABI a task can call in (a
//! 64-bit kernel runs 32-bit and x32 code too, with other numbers), and where their
//! arguments are. Everything not listed here runs at full speed: the seccomp filter lets it
//! through without waking roard.
//!
//! Not listed on purpose: `execve`/`execveat` (what was executed is read at the exec
//! event from `/proc/PID/exe` and the `AT_EXECFN` name the kernel leaves in the new
//! auxiliary vector: one stop per exec instead of two), `chdir`/`fchdir` (relative paths are resolved through
//! `/proc/TID/cwd` at the moment of the call, which is exact even for threads that share
//! or do not share a cwd), `mmap` (a shared writable mapping needs a file opened
//! read-write, and such an open already counts as a read and a write), `mkdir`/`rmdir`
//! (directories carry no content of their own), and `close`
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
    /// open_by_handle_at: open flags in argument `flags`; the file is known only by the
    /// descriptor it returns.
    OpenByHandle {
        flags: usize,
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
    /// link/linkat: the new name `to` is an output, recorded as a hard link of `from`
    /// (by path, or by descriptor with `AT_EMPTY_PATH`); `flags` holds
    /// `AT_SYMLINK_FOLLOW` and `AT_EMPTY_PATH`.
    Link {
        from: PathArg,
        to: PathArg,
        flags: Option<usize>,
    },
    /// symlink/symlinkat: the link made at `link`, pointing to the string in argument
    /// `target` (recorded as a link, not as content).
    Symlink {
        target: usize,
        link: PathArg,
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
    /// io_uring_setup: io_uring performs file operations without syscalls a tracer
    /// sees. By default the filter makes it fail with `ENOSYS`, as container runtimes
    /// do, and programs fall back to ordinary, traced, calls; where the configuration
    /// allows it, it stops, and the record notes the instance as a gap.
    IoUringSetup,
    /// chroot, pivot_root, unshare, setns: the task may now see another root or mount
    /// namespace (see `views`). Rare, and followed to their exit.
    ViewChange,
}

/// One architecture's numbering of the traced syscalls.
pub struct SyscallTable {
    /// For messages: "x86_64", "i386", "x32", "aarch64".
    pub name: &'static str,
    /// `AUDIT_ARCH_*` value the kernel puts in `seccomp_data.arch`.
    pub audit_arch: u32,
    /// A bit every syscall number of this ABI carries (x32's `__X32_SYSCALL_BIT`), 0
    /// for none. It tells x32 from x86_64, which share `audit_arch`.
    pub nr_bit: u32,
    pub entries: &'static [(u32, TracedSyscall)],
}

impl SyscallTable {
    /// The traced syscall with this number (as the kernel reports it, `nr_bit`
    /// included), if it is one.
    pub fn lookup(&self, nr: u64) -> Option<TracedSyscall> {
        let nr = nr & !u64::from(self.nr_bit);
        self.entries
            .iter()
            .find(|(n, _)| u64::from(*n) == nr)
            .map(|(_, s)| *s)
    }
}

/// The table for a task stopped in a syscall of architecture `audit_arch` with number
/// `nr`; None for an architecture roard has no table of (its calls are not decoded,
/// never misread under another numbering).
pub fn table_for(audit_arch: u32, nr: u64) -> Option<&'static SyscallTable> {
    let same_arch = || ABIS.iter().filter(move |t| t.audit_arch == audit_arch);
    same_arch()
        .find(|t| t.nr_bit != 0 && nr & u64::from(t.nr_bit) != 0)
        .or_else(|| same_arch().find(|t| t.nr_bit == 0))
}

/// A name for an `AUDIT_ARCH_*` value, for the record of syscalls no table decodes.
pub fn abi_name(audit_arch: u32) -> String {
    let known = ABIS
        .iter()
        .find(|t| t.audit_arch == audit_arch && t.nr_bit == 0);
    match (known, audit_arch) {
        (Some(table), _) => table.name.to_string(),
        (None, 0x4000_0028) => "arm (32-bit)".to_string(),
        (None, 0x4000_0003) => "i386".to_string(),
        (None, 0xc000_003e) => "x86_64".to_string(),
        (None, 0xc000_00b7) => "aarch64".to_string(),
        (None, other) => format!("audit arch {other:#010x}"),
    }
}

/// `io_uring_setup`: one number (425) on every architecture, from the generic table
/// (i386 included).
const IO_URING_SETUP: u32 = libc::SYS_io_uring_setup as u32;

use PathArg::{At, Cwd};
use TracedSyscall::*;

const AT_0_1: PathArg = At { dirfd: 0, path: 1 };
const AT_2_3: PathArg = At { dirfd: 2, path: 3 };
const AT_1_2: PathArg = At { dirfd: 1, path: 2 };

/// Native x86_64, and x32 with the same (common) numbers plus `__X32_SYSCALL_BIT`.
#[cfg(target_arch = "x86_64")]
#[rustfmt::skip]
const X86_64_ENTRIES: &[(u32, TracedSyscall)] = {
    use libc::*;
    const fn n(nr: c_long) -> u32 { nr as u32 }
    &[
        (n(SYS_open), Open { at: Cwd { path: 0 }, flags: 1 }),
        (n(SYS_openat), Open { at: AT_0_1, flags: 2 }),
        (n(SYS_openat2), OpenHow { at: AT_0_1, how: 2 }),
        (n(SYS_open_by_handle_at), OpenByHandle { flags: 2 }),
        (n(SYS_creat), Creat { at: Cwd { path: 0 } }),
        (n(SYS_rename), Rename { from: Cwd { path: 0 }, to: Cwd { path: 1 }, flags: None }),
        (n(SYS_renameat), Rename { from: AT_0_1, to: AT_2_3, flags: None }),
        (n(SYS_renameat2), Rename { from: AT_0_1, to: AT_2_3, flags: Some(4) }),
        (n(SYS_link), Link { from: Cwd { path: 0 }, to: Cwd { path: 1 }, flags: None }),
        (n(SYS_linkat), Link { from: AT_0_1, to: AT_2_3, flags: Some(4) }),
        (n(SYS_symlink), Symlink { target: 0, link: Cwd { path: 1 } }),
        (n(SYS_symlinkat), Symlink { target: 0, link: AT_1_2 }),
        (n(SYS_unlink), Unlink { at: Cwd { path: 0 }, flags: None }),
        (n(SYS_unlinkat), Unlink { at: AT_0_1, flags: Some(2) }),
        (n(SYS_truncate), Truncate { at: Cwd { path: 0 } }),
        (n(SYS_ftruncate), Ftruncate { fd: 0 }),
        (IO_URING_SETUP, IoUringSetup),
        (n(SYS_chroot), ViewChange),
        (n(SYS_pivot_root), ViewChange),
        (n(SYS_unshare), ViewChange),
        (n(SYS_setns), ViewChange),
    ]
};

/// i386 numbers (the kernel's `arch/x86/entry/syscalls/syscall_32.tbl`): the libc
/// crate of an x86_64 build has no i386 constants, so they are named here.
#[cfg(target_arch = "x86_64")]
mod i386 {
    pub const OPEN: u32 = 5;
    pub const CREAT: u32 = 8;
    pub const LINK: u32 = 9;
    pub const UNLINK: u32 = 10;
    pub const SYMLINK: u32 = 83;
    pub const RENAME: u32 = 38;
    pub const TRUNCATE: u32 = 92;
    pub const FTRUNCATE: u32 = 93;
    pub const TRUNCATE64: u32 = 193;
    pub const FTRUNCATE64: u32 = 194;
    pub const OPENAT: u32 = 295;
    pub const UNLINKAT: u32 = 301;
    pub const RENAMEAT: u32 = 302;
    pub const LINKAT: u32 = 303;
    pub const SYMLINKAT: u32 = 304;
    pub const RENAMEAT2: u32 = 353;
    pub const OPENAT2: u32 = 437;
    pub const OPEN_BY_HANDLE_AT: u32 = 342;
    pub const CHROOT: u32 = 61;
    pub const PIVOT_ROOT: u32 = 217;
    pub const UNSHARE: u32 = 310;
    pub const SETNS: u32 = 346;
}

/// The table of a 32-bit ABI with the classic calls (i386, arm): the same calls with
/// the same argument layout, numbered by the constants of module `$numbers`.
#[rustfmt::skip]
macro_rules! classic_32_bit_entries {
    ($numbers:ident) => {{
        use $numbers::*;
        const ENTRIES: &[(u32, TracedSyscall)] = &[
            (OPEN, Open { at: Cwd { path: 0 }, flags: 1 }),
            (OPENAT, Open { at: AT_0_1, flags: 2 }),
            (OPENAT2, OpenHow { at: AT_0_1, how: 2 }),
            (OPEN_BY_HANDLE_AT, OpenByHandle { flags: 2 }),
            (CREAT, Creat { at: Cwd { path: 0 } }),
            (RENAME, Rename { from: Cwd { path: 0 }, to: Cwd { path: 1 }, flags: None }),
            (RENAMEAT, Rename { from: AT_0_1, to: AT_2_3, flags: None }),
            (RENAMEAT2, Rename { from: AT_0_1, to: AT_2_3, flags: Some(4) }),
            (LINK, Link { from: Cwd { path: 0 }, to: Cwd { path: 1 }, flags: None }),
            (LINKAT, Link { from: AT_0_1, to: AT_2_3, flags: Some(4) }),
            (SYMLINK, Symlink { target: 0, link: Cwd { path: 1 } }),
            (SYMLINKAT, Symlink { target: 0, link: AT_1_2 }),
            (UNLINK, Unlink { at: Cwd { path: 0 }, flags: None }),
            (UNLINKAT, Unlink { at: AT_0_1, flags: Some(2) }),
            (TRUNCATE, Truncate { at: Cwd { path: 0 } }),
            (TRUNCATE64, Truncate { at: Cwd { path: 0 } }),
            (FTRUNCATE, Ftruncate { fd: 0 }),
            (FTRUNCATE64, Ftruncate { fd: 0 }),
            (IO_URING_SETUP, IoUringSetup),
            (CHROOT, ViewChange),
            (PIVOT_ROOT, ViewChange),
            (UNSHARE, ViewChange),
            (SETNS, ViewChange),
        ];
        ENTRIES
    }};
}

#[cfg(target_arch = "x86_64")]
const I386_ENTRIES: &[(u32, TracedSyscall)] = classic_32_bit_entries!(i386);

/// `__X32_SYSCALL_BIT`.
#[cfg(target_arch = "x86_64")]
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Every ABI a task of this machine can make syscalls in, native first.
#[cfg(target_arch = "x86_64")]
pub const ABIS: &[SyscallTable] = &[
    SyscallTable {
        name: "x86_64",
        audit_arch: 0xc000_003e,
        nr_bit: 0,
        entries: X86_64_ENTRIES,
    },
    SyscallTable {
        name: "x32",
        audit_arch: 0xc000_003e,
        nr_bit: X32_SYSCALL_BIT,
        entries: X86_64_ENTRIES,
    },
    SyscallTable {
        name: "i386",
        audit_arch: 0x4000_0003,
        nr_bit: 0,
        entries: I386_ENTRIES,
    },
];

/// 32-bit arm (EABI) numbers, as an aarch64 kernel runs them for compat tasks (the
/// kernel's `arch/arm64/tools/syscall_32.tbl`, which mirrors
/// `arch/arm/tools/syscall.tbl`); the libc crate of an aarch64 build has none.
#[cfg(any(target_arch = "aarch64", test))]
mod arm {
    pub const OPEN: u32 = 5;
    pub const CREAT: u32 = 8;
    pub const LINK: u32 = 9;
    pub const UNLINK: u32 = 10;
    pub const RENAME: u32 = 38;
    pub const CHROOT: u32 = 61;
    pub const SYMLINK: u32 = 83;
    pub const TRUNCATE: u32 = 92;
    pub const FTRUNCATE: u32 = 93;
    pub const TRUNCATE64: u32 = 193;
    pub const FTRUNCATE64: u32 = 194;
    pub const PIVOT_ROOT: u32 = 218;
    pub const OPENAT: u32 = 322;
    pub const UNLINKAT: u32 = 328;
    pub const RENAMEAT: u32 = 329;
    pub const LINKAT: u32 = 330;
    pub const SYMLINKAT: u32 = 331;
    pub const UNSHARE: u32 = 337;
    pub const OPEN_BY_HANDLE_AT: u32 = 371;
    pub const SETNS: u32 = 375;
    pub const RENAMEAT2: u32 = 382;
    pub const OPENAT2: u32 = 437;
}

/// 32-bit arm compat tasks (`AUDIT_ARCH_ARM`).
#[cfg(any(target_arch = "aarch64", test))]
#[rustfmt::skip]
pub const ARM: SyscallTable = SyscallTable {
    name: "arm",
    audit_arch: 0x4000_0028,
    nr_bit: 0,
    entries: classic_32_bit_entries!(arm),
};

/// aarch64 has only the `*at` forms; 32-bit arm tasks, where the kernel runs them,
/// are decoded by their own table.
#[cfg(target_arch = "aarch64")]
#[rustfmt::skip]
pub const ABIS: &[SyscallTable] = &[
    SyscallTable {
        name: "aarch64",
        audit_arch: 0xc000_00b7,
        nr_bit: 0,
        entries: {
            use libc::*;
            const fn n(nr: c_long) -> u32 { nr as u32 }
            &[
                (n(SYS_openat), Open { at: AT_0_1, flags: 2 }),
                (n(SYS_openat2), OpenHow { at: AT_0_1, how: 2 }),
                (n(SYS_open_by_handle_at), OpenByHandle { flags: 2 }),
                (n(SYS_renameat), Rename { from: AT_0_1, to: AT_2_3, flags: None }),
                (n(SYS_renameat2), Rename { from: AT_0_1, to: AT_2_3, flags: Some(4) }),
                (n(SYS_linkat), Link { from: AT_0_1, to: AT_2_3, flags: Some(4) }),
                (n(SYS_symlinkat), Symlink { target: 0, link: AT_1_2 }),
                (n(SYS_unlinkat), Unlink { at: AT_0_1, flags: Some(2) }),
                (n(SYS_truncate), Truncate { at: Cwd { path: 0 } }),
                (n(SYS_ftruncate), Ftruncate { fd: 0 }),
                (IO_URING_SETUP, IoUringSetup),
                (n(SYS_chroot), ViewChange),
                (n(SYS_pivot_root), ViewChange),
                (n(SYS_unshare), ViewChange),
                (n(SYS_setns), ViewChange),
            ]
        },
    },
    ARM,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arm_table_has_its_own_numbers() {
        // arm's openat (322) and renameat2 (382) are other calls, or none, elsewhere.
        assert!(matches!(ARM.lookup(322), Some(Open { .. })));
        assert!(matches!(
            ARM.lookup(382),
            Some(Rename { flags: Some(4), .. })
        ));
        assert!(matches!(
            ARM.lookup(5),
            Some(Open {
                at: Cwd { path: 0 },
                ..
            })
        ));
        assert_eq!(ARM.lookup(85), None, "readlink is not traced");
        // A filter with the arm table traces exactly its entries.
        let program = crate::tracer::seccomp_filter::build(&[ARM], true, None);
        assert!(!program.is_empty());
        assert_eq!(
            abi_name(0x4000_0028).as_str(),
            if cfg!(target_arch = "aarch64") {
                "arm"
            } else {
                "arm (32-bit)"
            }
        );
    }
}
