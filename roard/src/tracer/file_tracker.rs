//! Decodes the traced file syscalls of a job and feeds their effects to the ledger.
//!
//! A traced syscall stops the tracee at entry (seccomp stop). Paths are resolved there,
//! and pre-images captured, while nothing has happened yet. Syscalls whose effect
//! depends on success are then followed to their exit stop; `execve` is not, because
//! success shows up as a `PTRACE_EVENT_EXEC`.

use std::collections::HashMap;

use nix::unistd::Pid;

use super::file_ledger::{FileAccess, FileLedger};
use super::paths::{absolute, canonical_existing, canonical_name, descriptor_target};
use super::syscalls::{PathArg, TracedSyscall};
use super::tracee_memory::{read_c_string, read_u64};

/// How to resume a tracee stopped at a traced syscall's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Let it run on; the syscall's outcome does not matter.
    Continue,
    /// Stop it again at the syscall's exit to read the result.
    ToExit,
}

/// Pseudo file systems: no content identity, never inputs or outputs.
const PSEUDO_ROOTS: &[&[u8]] = &[b"/proc/", b"/sys/", b"/dev/"];

fn is_pseudo(path: &[u8]) -> bool {
    PSEUDO_ROOTS.iter().any(|root| path.starts_with(root))
}

enum Pending {
    Open {
        flags: u64,
        named: Vec<u8>,
        existed: bool,
    },
    Exec {
        path: Option<Vec<u8>>,
        named: Vec<u8>,
    },
    Rename {
        from: Vec<u8>,
        to: Vec<u8>,
        named_to: Vec<u8>,
        exchange: bool,
    },
    Link {
        to: Vec<u8>,
        named_to: Vec<u8>,
    },
    Unlink {
        path: Vec<u8>,
    },
    Truncate {
        path: Vec<u8>,
        named: Vec<u8>,
    },
}

#[derive(Default)]
pub struct FileTracker {
    ledger: FileLedger,
    /// The syscall each task is in, between its entry and exit stops.
    pending: HashMap<Pid, Pending>,
}

impl FileTracker {
    pub fn on_entry(&mut self, tid: Pid, syscall: TracedSyscall, args: &[u64; 6]) -> Resume {
        use TracedSyscall::*;
        let pending = match syscall {
            Open { at, flags } => return self.open_entry(tid, at, args, args[flags]),
            OpenHow { at, how } => match read_u64(tid, args[how]) {
                Some(flags) => return self.open_entry(tid, at, args, flags),
                None => return Resume::Continue,
            },
            Creat { at } => {
                let flags = (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64;
                return self.open_entry(tid, at, args, flags);
            }
            Exec { at, flags } => {
                let empty_path = flags.is_some_and(|f| args[f] & libc::AT_EMPTY_PATH as u64 != 0);
                let (absolute, named) = resolve(tid, at, args, empty_path);
                let path = absolute.as_deref().and_then(canonical_existing);
                self.pending.insert(tid, Pending::Exec { path, named });
                return Resume::Continue;
            }
            Rename { from, to, flags } => {
                let exchange =
                    flags.is_some_and(|f| args[f] & libc::RENAME_EXCHANGE as u64 != 0);
                let (Some(from), _) = resolve(tid, from, args, false) else {
                    return Resume::Continue;
                };
                let (Some(to), named_to) = resolve(tid, to, args, false) else {
                    return Resume::Continue;
                };
                let (from, to) = (canonical_name(&from), canonical_name(&to));
                self.ledger.before_change(&from, false);
                self.ledger.before_change(&to, false);
                Pending::Rename {
                    from,
                    to,
                    named_to,
                    exchange,
                }
            }
            Link { to, .. } => {
                let (Some(to), named_to) = resolve(tid, to, args, false) else {
                    return Resume::Continue;
                };
                Pending::Link {
                    to: canonical_name(&to),
                    named_to,
                }
            }
            Unlink { at, flags } => {
                if flags.is_some_and(|f| args[f] & libc::AT_REMOVEDIR as u64 != 0) {
                    return Resume::Continue;
                }
                let (Some(path), _) = resolve(tid, at, args, false) else {
                    return Resume::Continue;
                };
                let path = canonical_name(&path);
                self.ledger.before_change(&path, false);
                Pending::Unlink { path }
            }
            Truncate { at } => {
                let (absolute, named) = resolve(tid, at, args, false);
                let Some(path) = absolute.as_deref().and_then(canonical_existing) else {
                    return Resume::Continue;
                };
                self.ledger.before_change(&path, false);
                Pending::Truncate { path, named }
            }
            Ftruncate { fd } => {
                let Some(path) = descriptor_target(tid, args[fd] as i32) else {
                    return Resume::Continue;
                };
                self.ledger.before_change(&path, false);
                Pending::Truncate {
                    path,
                    named: Vec::new(),
                }
            }
        };
        self.pending.insert(tid, pending);
        Resume::ToExit
    }

    fn open_entry(&mut self, tid: Pid, at: PathArg, args: &[u64; 6], flags: u64) -> Resume {
        let flags_int = flags as i32;
        // O_PATH opens read nothing; an O_TMPFILE file has no name until linkat.
        if flags_int & libc::O_PATH != 0 || flags_int & libc::O_TMPFILE == libc::O_TMPFILE {
            return Resume::Continue;
        }
        let access = flags_int & libc::O_ACCMODE;
        let truncates = flags_int & libc::O_TRUNC != 0;
        let writes = access != libc::O_RDONLY || truncates;
        if !writes && flags_int & libc::O_DIRECTORY != 0 {
            return Resume::Continue;
        }
        let (absolute, named) = resolve(tid, at, args, false);
        let mut existed = false;
        if writes && let Some(path) = absolute.as_deref().and_then(canonical_existing) {
            existed = true;
            if !is_pseudo(&path) {
                // Read-write without truncation reads what was there: an input.
                self.ledger
                    .before_change(&path, access == libc::O_RDWR && !truncates);
            }
        }
        self.pending.insert(
            tid,
            Pending::Open {
                flags,
                named,
                existed,
            },
        );
        Resume::ToExit
    }

    /// The syscall `tid` entered returned `result` (`-errno` on failure).
    pub fn on_exit(&mut self, tid: Pid, result: i64) {
        let Some(pending) = self.pending.remove(&tid) else {
            return;
        };
        if result < 0 {
            return;
        }
        match pending {
            Pending::Open {
                flags,
                named,
                existed,
            } => {
                let Some(path) = descriptor_target(tid, result as i32) else {
                    return;
                };
                if is_pseudo(&path) {
                    return;
                }
                let flags = flags as i32;
                let access = flags & libc::O_ACCMODE;
                if access == libc::O_RDONLY && flags & libc::O_TRUNC == 0 {
                    self.ledger.read(&path, &named);
                } else {
                    if access == libc::O_RDWR && flags & libc::O_TRUNC == 0 && existed {
                        self.ledger.read(&path, &named);
                    }
                    self.ledger.wrote(&path, &named);
                }
            }
            Pending::Rename {
                from,
                to,
                named_to,
                exchange,
            } => {
                if exchange {
                    self.ledger.exchanged(&from, &to);
                } else {
                    self.ledger.renamed(&from, &to, &named_to);
                }
            }
            Pending::Link { to, named_to } => self.ledger.wrote(&to, &named_to),
            Pending::Unlink { path } => self.ledger.removed(&path),
            Pending::Truncate { path, named } => self.ledger.wrote(&path, &named),
            Pending::Exec { .. } => {}
        }
    }

    /// `pid` completed an exec started by thread `former_tid`; `exe` is what the kernel
    /// now runs (the interpreter, for a `#!` script).
    pub fn on_exec(&mut self, former_tid: Pid, exe: &[u8]) {
        if let Some(Pending::Exec {
            path: Some(path),
            named,
        }) = self.pending.remove(&former_tid)
            && !is_pseudo(&path)
        {
            self.ledger.read(&path, &named);
        }
        if exe.starts_with(b"/") && !is_pseudo(exe) {
            self.ledger.read(exe, b"");
        }
    }

    /// A task is gone: forget the syscall it was in.
    pub fn on_task_gone(&mut self, tid: Pid) {
        self.pending.remove(&tid);
    }

    pub fn into_accesses(self) -> Vec<FileAccess> {
        self.ledger.into_accesses()
    }
}

/// Reads the path argument and makes it absolute for `tid`. Returns the absolute path
/// (None when it cannot be resolved) and the bytes the job passed.
fn resolve(
    tid: Pid,
    at: PathArg,
    args: &[u64; 6],
    empty_path: bool,
) -> (Option<Vec<u8>>, Vec<u8>) {
    let (dirfd, pointer) = match at {
        PathArg::Cwd { path } => (libc::AT_FDCWD as u64, args[path]),
        PathArg::At { dirfd, path } => (args[dirfd], args[path]),
    };
    let mut named = Vec::new();
    if !read_c_string(tid, pointer, &mut named) && !empty_path {
        return (None, named);
    }
    if named.is_empty() && !empty_path {
        return (None, named);
    }
    (absolute(tid, dirfd, &named), named)
}
