//! Decodes the traced file syscalls of a job and feeds their effects to the ledger.
//!
//! A traced syscall stops the tracee at entry (seccomp stop). Paths are resolved there,
//! and pre-images captured, while nothing has happened yet. Syscalls whose effect
//! depends on success are then followed to their exit stop; `execve` is not, because
//! success shows up as a `PTRACE_EVENT_EXEC`.

use super::library_use::LibraryUse;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::unistd::Pid;

use super::fast_ring::{FastKind, FastRecord};
use super::file_ledger::{FileAccess, FileLedger};
use super::gaps::Gaps;
use super::paths::{
    absolute, canonical_existing, canonical_name, descriptor_target, symlink_target,
};
use super::procfs;
use super::syscalls::{PathArg, TracedSyscall};
use super::tracee_memory::{read_c_string, read_u64s};
use super::views::{InView, Views};
use crate::hash_algorithms::HashAlgorithm;
use crate::record::Image;
use crate::record::{GapKind, TraceGap};

/// Which name a path argument means for a task in another view (see `views`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// The name itself (rename, unlink, link act on it).
    Name,
    /// What it points to, a symlink as last component followed (open, exec).
    Followed,
    /// As `Followed`, for a call that fails unless the file exists (a read).
    Existing,
    /// As `Name`, or the descriptor itself when the name is empty (`AT_EMPTY_PATH`).
    Descriptor,
}
use Naming::{Descriptor, Existing, Followed, Name};

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
    Rename {
        from: Vec<u8>,
        to: Vec<u8>,
        named_to: Vec<u8>,
        exchange: bool,
    },
    Link {
        /// The name linked to; None for a file with no name (`O_TMPFILE`).
        from: Option<Vec<u8>>,
        to: Vec<u8>,
        named_to: Vec<u8>,
    },
    Symlink {
        link: Vec<u8>,
        named: Vec<u8>,
        target: Vec<u8>,
    },
    /// An `openat2` with `RESOLVE_*` flags, or an `open_by_handle_at`: the file is the
    /// descriptor it returns.
    OpenedByKernel(Opened),
    Unlink {
        path: Vec<u8>,
    },
    Truncate {
        path: Vec<u8>,
        named: Vec<u8>,
    },
    /// An io_uring instance the configuration lets the job set up.
    IoUringSetup,
    /// chroot, pivot_root, unshare, setns.
    ViewChange,
}

#[derive(Default)]
pub struct FileTracker {
    ledger: FileLedger,
    /// The syscall each task is in, between its entry and exit stops.
    pending: HashMap<Pid, Pending>,
    /// Absolute names already opened for reading with success. Opening one again adds
    /// nothing to the ledger, so such an open is let through without an exit stop
    /// (the dynamic loader opens the same libraries in every process). Cleared by any
    /// change the job makes to the namespace or to file contents.
    known_reads: HashSet<Vec<u8>>,
    name_buffer: Vec<u8>,
    /// An open whose name is resolved but whose checks wait for `settle`.
    unsettled: Option<Unsettled>,
    /// What the trace could not see.
    pub gaps: Gaps,
    /// Tasks whose root or mount namespace is not roard's.
    pub views: Views,
    /// The fast path's preload library: ld.so opens it in every process, and it is
    /// roar's, not the job's.
    preload_library: Option<Vec<u8>>,
    /// Which programs the library pays for (told of loads and opens here, of execs,
    /// forks and exits by the event loop).
    pub library: LibraryUse,
}

/// An open the kernel resolved, as its entry left it.
struct Opened {
    /// The name the job passed (empty for a handle).
    named: Vec<u8>,
    reads: bool,
    writes: bool,
    by_handle: bool,
}

/// What an open's entry leaves for `settle`.
enum Unsettled {
    /// A read-only open: does the file exist, may it be read, what is its name.
    Read {
        absolute: Vec<u8>,
        named: Vec<u8>,
        no_follow: bool,
    },
    /// An open that creates a file that did not exist: may its directory be written,
    /// what is its canonical name. The name may be a dangling symlink: the kernel
    /// creates the file it points to, unless `refuses_link` (`O_EXCL`, `O_NOFOLLOW`).
    Create {
        absolute: Vec<u8>,
        named: Vec<u8>,
        refuses_link: bool,
    },
}

impl FileTracker {
    /// A tracker whose pre-images also carry `extra_algorithms` digests, in a job whose
    /// processes may load `preload_library`.
    pub fn new(
        extra_algorithms: Vec<&'static dyn HashAlgorithm>,
        preload_library: Option<std::path::PathBuf>,
    ) -> Self {
        Self {
            ledger: FileLedger::new(extra_algorithms),
            views: Views::new(),
            preload_library: preload_library.map(|p| p.into_os_string().into_vec()),
            ..Self::default()
        }
    }

    /// An open the fast path recorded (see `fast_ring`). The kernel's answer is known:
    /// the open succeeded, and the file it opened is named by its descriptor's link,
    /// read right after the call (canonical, as a stop would make it). So the record
    /// is taken as it is, even where the file is gone by now.
    pub fn on_fast_record(&mut self, record: FastRecord) {
        self.library.fast_open(Pid::from_raw(record.tid));
        // The descriptor's name could not be read (too long, or refused by a filter of
        // the job's own): an absolute name is the next best, as a stop would use it.
        let opened = record.opened.or_else(|| {
            let fallback = record
                .named
                .starts_with(b"/")
                .then(|| canonical_existing(&record.named));
            if fallback.is_none() {
                tracing::warn!(
                    "the fast path recorded an open of {} by {} without the opened file's name",
                    String::from_utf8_lossy(&record.named),
                    record.tid
                );
            }
            fallback.flatten()
        });
        let Some(mut opened) = opened else {
            return;
        };
        // A file unlinked (by another task) between the open and the record.
        if let Some(name) = opened.strip_suffix(b" (deleted)") {
            opened.truncate(name.len());
        }
        if !opened.starts_with(b"/")
            || is_pseudo(&opened)
            || self.preload_library.as_ref() == Some(&opened)
        {
            return;
        }
        match record.kind {
            FastKind::Read => self.ledger.read(&opened, &record.named),
            FastKind::Create => {
                self.known_reads.clear();
                self.ledger.wrote(&opened, &record.named);
            }
        }
    }

    pub fn on_entry(&mut self, tid: Pid, syscall: TracedSyscall, args: &[u64; 6]) -> Resume {
        use TracedSyscall::*;
        let pending = match syscall {
            Open { at, flags } => return self.open_entry(tid, at, args, args[flags]),
            Creat { at } => {
                let flags = (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64;
                return self.open_entry(tid, at, args, flags);
            }
            OpenHow { at, how } => return self.openat2_entry(tid, at, args, how),
            OpenByHandle { flags } => by_handle_entry(args[flags] as i32),
            Rename { from, to, flags } => {
                let exchange = flags.is_some_and(|f| args[f] & libc::RENAME_EXCHANGE as u64 != 0);
                self.rename_entry(tid, (from, to), args, exchange)
            }
            Link { from, to, flags } => {
                self.link_entry(tid, (from, to), args, flags.map_or(0, |f| args[f] as i32))
            }
            Symlink { target, link } => self.symlink_entry(tid, args[target], link, args),
            Unlink { at, flags } => {
                if flags.is_some_and(|f| args[f] & libc::AT_REMOVEDIR as u64 != 0) {
                    return Resume::Continue;
                }
                self.unlink_entry(tid, at, args)
            }
            Truncate { at } => self.truncate_entry(tid, at, args),
            Ftruncate { fd } => {
                let path = self.descriptor(tid, args[fd] as i32);
                path.map(|path| self.truncated(path, Vec::new()))
            }
            IoUringSetup => Some(Pending::IoUringSetup),
            ViewChange => Some(Pending::ViewChange),
        };
        self.follow_to_exit(tid, pending)
    }

    /// A syscall whose effect depends on its success is followed to its exit stop,
    /// where `pending` tells what to do with the result.
    fn follow_to_exit(&mut self, tid: Pid, pending: Option<Pending>) -> Resume {
        match pending {
            Some(pending) => {
                self.pending.insert(tid, pending);
                Resume::ToExit
            }
            None => Resume::Continue,
        }
    }

    /// `struct open_how { flags, mode, resolve }`, read in one request: RESOLVE_* flags
    /// change how the kernel walks the name, so only its answer (the descriptor) tells.
    fn openat2_entry(&mut self, tid: Pid, at: PathArg, args: &[u64; 6], how: usize) -> Resume {
        let Some([flags, _, resolve]) = read_u64s::<3>(tid, args[how]) else {
            return Resume::Continue;
        };
        if resolve == 0 {
            return self.open_entry(tid, at, args, flags);
        }
        let pending = self.resolved_open_entry(tid, at, args, flags);
        self.follow_to_exit(tid, pending)
    }

    /// A rename (or exchange): both names are captured first if the job read them.
    fn rename_entry(
        &mut self,
        tid: Pid,
        (from, to): (PathArg, PathArg),
        args: &[u64; 6],
        exchange: bool,
    ) -> Option<Pending> {
        let from = canonical_name(&self.resolve(tid, from, args, Name).0?);
        let (to, named_to) = self.resolve(tid, to, args, Name);
        let to = canonical_name(&to?);
        self.ledger.before_change(&from, false);
        self.ledger.before_change(&to, false);
        Some(Pending::Rename {
            from,
            to,
            named_to,
            exchange,
        })
    }

    /// A hard link: the new name, and the name (if any) of the file it links to.
    fn link_entry(
        &mut self,
        tid: Pid,
        (from, to): (PathArg, PathArg),
        args: &[u64; 6],
        flags: i32,
    ) -> Option<Pending> {
        let (to, named_to) = self.resolve(tid, to, args, Name);
        let to = canonical_name(&to?);
        let how = if flags & libc::AT_EMPTY_PATH != 0 {
            Descriptor
        } else if flags & libc::AT_SYMLINK_FOLLOW != 0 {
            Followed
        } else {
            Name
        };
        let from = self.resolve(tid, from, args, how).0.and_then(|from| {
            if flags & libc::AT_SYMLINK_FOLLOW != 0 {
                canonical_existing(&from)
            } else {
                Some(canonical_name(&from))
            }
        });
        // A descriptor of an unnamed file reads "/tmp/#123 (deleted)".
        let from = from.filter(|from| !from.ends_with(b" (deleted)"));
        Some(Pending::Link { from, to, named_to })
    }

    /// A symlink: its name, and the target text as the job wrote it.
    fn symlink_entry(
        &mut self,
        tid: Pid,
        target: u64,
        link: PathArg,
        args: &[u64; 6],
    ) -> Option<Pending> {
        let mut text = Vec::new();
        if !read_c_string(tid, target, &mut text) {
            return None;
        }
        let (link, named) = self.resolve(tid, link, args, Name);
        Some(Pending::Symlink {
            link: canonical_name(&link?),
            named,
            target: text,
        })
    }

    /// An unlink: the file is captured first if the job read it.
    fn unlink_entry(&mut self, tid: Pid, at: PathArg, args: &[u64; 6]) -> Option<Pending> {
        let path = canonical_name(&self.resolve(tid, at, args, Name).0?);
        self.ledger.before_change(&path, false);
        Some(Pending::Unlink { path })
    }

    /// A truncate by name: the file is captured first if the job read it.
    fn truncate_entry(&mut self, tid: Pid, at: PathArg, args: &[u64; 6]) -> Option<Pending> {
        let (absolute, named) = self.resolve(tid, at, args, Followed);
        let path = absolute.as_deref().and_then(canonical_existing)?;
        Some(self.truncated(path, named))
    }

    /// A truncate of `path` (by name or descriptor), its content captured first.
    fn truncated(&mut self, path: Vec<u8>, named: Vec<u8>) -> Pending {
        self.ledger.before_change(&path, false);
        Pending::Truncate { path, named }
    }

    /// An `openat2` whose `RESOLVE_*` flags may make the kernel resolve the name
    /// otherwise than a plain walk (`RESOLVE_IN_ROOT`, `RESOLVE_NO_SYMLINKS`…): decided
    /// at its exit from the descriptor it returned. A file it may change is captured
    /// first where a plain walk finds it (where the two differ the call fails, or the
    /// file is another one, and the capture is not used).
    fn resolved_open_entry(
        &mut self,
        tid: Pid,
        at: PathArg,
        args: &[u64; 6],
        flags: u64,
    ) -> Option<Pending> {
        let flags = flags as i32;
        if flags & libc::O_PATH != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE {
            return None;
        }
        let access = flags & libc::O_ACCMODE;
        let truncates = flags & libc::O_TRUNC != 0;
        let writes = access != libc::O_RDONLY || truncates;
        let (absolute, named) = self.resolve(tid, at, args, Followed);
        let existing = absolute.as_deref().and_then(canonical_existing);
        // Read-write without truncation reads what was there before.
        let reads = !writes || (access == libc::O_RDWR && !truncates && existing.is_some());
        if writes && let Some(path) = existing {
            self.ledger.before_change(&path, reads);
        }
        Some(Pending::OpenedByKernel(Opened {
            named,
            reads,
            writes,
            by_handle: false,
        }))
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
        let (dirfd, pointer) = path_pointer(at, args);
        // The name is read into a buffer kept across calls: a repeated read costs no
        // allocation at all.
        let mut named = std::mem::take(&mut self.name_buffer);
        if read_c_string(tid, pointer, &mut named) {
            if writes {
                self.write_entry(tid, dirfd, &named, flags_int);
            } else {
                self.read_entry(tid, dirfd, &named, flags_int & libc::O_NOFOLLOW != 0);
            }
        }
        self.name_buffer = named;
        Resume::Continue
    }

    /// An open for writing, decided at its entry like a read (see `read_entry`): an
    /// existing file counts when the job's user may write it, a new one when its
    /// directory lets the user create it. The pre-image of an input is captured here,
    /// before the kernel truncates or hands out a writable descriptor.
    fn write_entry(&mut self, tid: Pid, dirfd: u64, named: &[u8], flags: i32) {
        // O_EXCL and O_NOFOLLOW refuse a symlink as last component: its name is meant.
        let how = if flags & (libc::O_EXCL | libc::O_NOFOLLOW) != 0 {
            Name
        } else {
            Followed
        };
        let Some(absolute) = self.absolute(tid, dirfd, named, how) else {
            return;
        };
        let access = flags & libc::O_ACCMODE;
        let reads_too = access == libc::O_RDWR && flags & libc::O_TRUNC == 0;
        // Whether the file exists must be known before the kernel creates it; the rest
        // of a creation's checks can wait for `settle` (one `stat` while the tracee
        // waits instead of two canonicalisations).
        if !exists(&absolute) {
            if flags & libc::O_CREAT != 0 {
                self.unsettled = Some(Unsettled::Create {
                    absolute,
                    named: named.to_vec(),
                    refuses_link: flags & (libc::O_EXCL | libc::O_NOFOLLOW) != 0,
                });
            }
            return;
        }
        let path = match canonical_existing(&absolute) {
            Some(path) => {
                let exclusive =
                    flags & (libc::O_CREAT | libc::O_EXCL) == libc::O_CREAT | libc::O_EXCL;
                let mode = if access == libc::O_RDWR {
                    libc::R_OK | libc::W_OK
                } else {
                    libc::W_OK
                };
                if exclusive || !has_access(&absolute, mode) || is_pseudo(&path) {
                    return;
                }
                self.ledger.before_change(&path, reads_too);
                if reads_too {
                    self.ledger.read(&path, named);
                }
                path
            }
            None => {
                let path = canonical_name(&absolute);
                if flags & libc::O_CREAT == 0
                    || !parent_dir(&path)
                        .is_some_and(|dir| has_access(dir, libc::W_OK | libc::X_OK))
                    || is_pseudo(&path)
                {
                    return;
                }
                path
            }
        };
        self.known_reads.clear();
        self.ledger.wrote(&path, named);
    }

    /// A read-only open, decided at its entry: the file is read when, at this moment,
    /// the name resolves (for this task's cwd or directory descriptor) to an existing
    /// file the job's user may read, which is exactly when the kernel's open succeeds
    /// (roard runs as that user). This saves the exit stop, which is the larger part
    /// of the cost of tracing reads.
    fn read_entry(&mut self, tid: Pid, dirfd: u64, named: &[u8], no_follow: bool) {
        // ld.so loading the fast path's library, in every process: roar's, not the job's.
        if self.preload_library.as_deref() == Some(named) {
            self.library.loaded(tid);
            return;
        }
        self.library.traced_read(tid);
        // A task in another view means other files by the same names.
        let own_view = self.views.of(tid).is_none();
        if own_view && self.known_reads.contains(named) {
            return;
        }
        let how = if no_follow { Name } else { Existing };
        let Some(absolute) = self.absolute(tid, dirfd, named, how) else {
            return;
        };
        // A relative name is remembered by the absolute name it had for this task, so
        // a loop over files of the cwd also takes the short way.
        if own_view && self.known_reads.contains(&absolute) {
            return;
        }
        self.unsettled = Some(Unsettled::Read {
            absolute,
            named: named.to_vec(),
            no_follow,
        });
    }

    /// Finishes the open an entry left unsettled: for a read, whether the file exists
    /// and may be read, and its canonical name; for a creation, whether its directory
    /// may be written, and its canonical name. Called once the tracee was resumed, so
    /// that this work overlaps the job instead of stopping it, and before any other
    /// stop is handled: the open itself changes nothing these checks see, and every
    /// change the job could make to the name (rename, unlink, an open that truncates)
    /// is a traced syscall whose stop comes after this. The event loop calls it after
    /// every resume of a seccomp stop, so nothing is left unsettled at any other stop.
    pub fn settle(&mut self) {
        match self.unsettled.take() {
            None => {}
            Some(Unsettled::Read {
                absolute,
                named,
                no_follow,
            }) => {
                if !is_readable(&absolute, no_follow) {
                    return;
                }
                let Some(path) = canonical_existing(&absolute) else {
                    return;
                };
                if is_pseudo(&path) || self.preload_library.as_ref() == Some(&path) {
                    return;
                }
                self.ledger.read(&path, &named);
                self.known_reads.insert(absolute);
            }
            Some(Unsettled::Create {
                absolute,
                named,
                refuses_link,
            }) => {
                let name = canonical_name(&absolute);
                let path = match symlink_target(&name) {
                    None => name,
                    Some(_) if refuses_link => return,
                    Some(target) => target,
                };
                if !parent_dir(&path).is_some_and(|dir| has_access(dir, libc::W_OK | libc::X_OK))
                    || is_pseudo(&path)
                {
                    return;
                }
                self.known_reads.clear();
                self.ledger.wrote(&path, &named);
            }
        }
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
            Pending::Rename {
                from,
                to,
                named_to,
                exchange,
            } => self.renamed(&from, &to, &named_to, exchange),
            Pending::Link { from, to, named_to } => {
                self.known_reads.clear();
                self.ledger.hard_linked(&to, &named_to, from);
            }
            Pending::Symlink {
                link,
                named,
                target,
            } => {
                self.known_reads.clear();
                self.ledger.symlinked(&link, &named, target);
            }
            Pending::OpenedByKernel(opened) => self.opened_by_kernel(tid, result, opened),
            Pending::Unlink { path } => {
                self.known_reads.clear();
                self.ledger.removed(&path);
            }
            Pending::Truncate { path, named } => {
                self.known_reads.clear();
                self.ledger.wrote(&path, &named);
            }
            Pending::IoUringSetup => self.gaps.note(GapKind::IoUring, tid.as_raw(), b""),
            Pending::ViewChange => {
                self.known_reads.clear();
                self.views.refresh(tid);
            }
        }
    }

    /// A rename succeeded. A directory carries what the job wrote below it (one
    /// `lstat` tells).
    fn renamed(&mut self, from: &[u8], to: &[u8], named_to: &[u8], exchange: bool) {
        self.known_reads.clear();
        let is_dir = |path: &[u8]| {
            std::fs::symlink_metadata(OsStr::from_bytes(path)).is_ok_and(|m| m.is_dir())
        };
        let dir = is_dir(to);
        if exchange {
            self.ledger.exchanged(from, to, dir || is_dir(from));
        } else {
            self.ledger.renamed(from, to, named_to, dir);
        }
    }

    /// An open whose file is the descriptor `result` the kernel returned (`openat2`
    /// with `RESOLVE_*` flags, `open_by_handle_at`).
    fn opened_by_kernel(&mut self, tid: Pid, result: i64, opened: Opened) {
        let target = i32::try_from(result)
            .ok()
            .and_then(|fd| self.descriptor(tid, fd))
            .filter(|path| !path.ends_with(b" (deleted)"));
        let Some(path) = target else {
            if opened.by_handle {
                self.gaps.note(GapKind::OpenByHandle, tid.as_raw(), b"");
            }
            return;
        };
        if is_pseudo(&path) {
            return;
        }
        if opened.reads {
            self.ledger.read(&path, &opened.named);
        }
        if opened.writes {
            self.known_reads.clear();
            self.ledger.wrote(&path, &opened.named);
        }
    }

    /// `pid` completed an exec. What ran is read from the new image, so exec needs no
    /// syscall stop of its own: `exe` is the file the kernel now runs (the interpreter,
    /// for a `#!` script), and the `AT_EXECFN` entry of the new auxiliary vector holds
    /// the name the caller passed to execve, which for a script is the script.
    pub fn on_exec(&mut self, pid: Pid, image: &Image) {
        let exe = match self.views.of(pid).map(|view| view.proc_link(pid, "exe")) {
            None => image.exe.clone(),
            Some(InView::Host(exe)) => exe,
            Some(InView::NoHostPath(name)) => {
                self.gaps
                    .note(GapKind::ForeignNamespace, pid.as_raw(), &name);
                Vec::new()
            }
            Some(InView::Nothing) => Vec::new(),
        };
        if is_without_path(&image.exe) {
            self.exec_without_path(pid, &image.exe);
        } else if exe.starts_with(b"/") && !is_pseudo(&exe) {
            self.ledger.read(&exe, b"");
        }
        let mut named = Vec::new();
        let Some(address) = procfs::exec_fn_address(pid) else {
            return;
        };
        if !read_c_string(pid, address, &mut named) || named.is_empty() {
            return;
        }
        // execveat names its file "/dev/fd/N[/path]"; in roard that would be roard's
        // own descriptor table.
        let lookup = match named.strip_prefix(b"/dev/fd/") {
            Some(rest) => [format!("/proc/{pid}/fd/").as_bytes(), rest].concat(),
            None => named.clone(),
        };
        let Some(absolute) = self.absolute(pid, libc::AT_FDCWD as u64, &lookup, Followed) else {
            return;
        };
        if let Some(path) = canonical_existing(&absolute)
            && path != exe
            && !is_pseudo(&path)
        {
            self.ledger.read(&path, &named);
            // A `#!` chain: every script between this one and the program that runs
            // was read by the kernel on the job's behalf.
            for script in self.interpreter_scripts(pid, &path, &exe) {
                self.ledger.read(&script, b"");
            }
        }
    }

    /// `pid` runs a program that has no name to record as an input (a memfd, a file
    /// deleted since): a gap of the record, with the program's BLAKE3 read through
    /// `/proc/PID/exe`, which still opens it.
    fn exec_without_path(&mut self, pid: Pid, exe: &[u8]) {
        let digest = std::fs::File::open(format!("/proc/{pid}/exe")).and_then(|file| {
            blake3::Hasher::new()
                .update_reader(file)
                .map(|h| h.finalize())
        });
        let detail = match digest {
            Ok(digest) => [exe, b" blake3:", digest.to_hex().as_bytes()].concat(),
            Err(_) => exe.to_vec(),
        };
        self.gaps
            .note(GapKind::ExecWithoutPath, pid.as_raw(), &detail);
    }

    /// A task is gone: forget the syscall it was in.
    pub fn on_task_gone(&mut self, tid: Pid) {
        self.pending.remove(&tid);
        self.views.on_task_gone(tid);
        self.library.task_gone(tid);
    }

    /// The absolute name `named` (relative to `dirfd` of `tid`) has for roard: as the
    /// task sees it, or, for a task in another root or mount namespace, the host's
    /// name of what it denotes there (see `views`; a file without one is a gap).
    fn absolute(&mut self, tid: Pid, dirfd: u64, named: &[u8], how: Naming) -> Option<Vec<u8>> {
        let Some(view) = self.views.of(tid) else {
            return absolute(tid, dirfd, named);
        };
        let in_view = match how {
            Descriptor if named.is_empty() => return self.descriptor(tid, dirfd as i32),
            Followed => view.resolve(tid, dirfd, named, true, false),
            Existing => view.resolve(tid, dirfd, named, true, true),
            Name | Descriptor => view.resolve(tid, dirfd, named, false, false),
        };
        match in_view {
            InView::Host(path) => Some(path),
            InView::NoHostPath(name) => {
                self.gaps
                    .note(GapKind::ForeignNamespace, tid.as_raw(), &name);
                None
            }
            InView::Nothing => None,
        }
    }

    /// The file descriptor `fd` of `tid` refers to, named on the host.
    fn descriptor(&mut self, tid: Pid, fd: i32) -> Option<Vec<u8>> {
        let Some(view) = self.views.of(tid) else {
            return descriptor_target(tid, fd);
        };
        match view.proc_link(tid, &format!("fd/{fd}")) {
            InView::Host(path) => Some(path),
            InView::NoHostPath(name) => {
                self.gaps
                    .note(GapKind::ForeignNamespace, tid.as_raw(), &name);
                None
            }
            InView::Nothing => None,
        }
    }

    /// Reads the path argument and makes it absolute for `tid`. Returns the absolute
    /// path (None when it cannot be resolved) and the bytes the job passed.
    fn resolve(
        &mut self,
        tid: Pid,
        at: PathArg,
        args: &[u64; 6],
        how: Naming,
    ) -> (Option<Vec<u8>>, Vec<u8>) {
        let (dirfd, pointer) = path_pointer(at, args);
        let empty_path = how == Descriptor;
        let mut named = Vec::new();
        if !read_c_string(tid, pointer, &mut named) && !empty_path {
            return (None, named);
        }
        if named.is_empty() && !empty_path {
            return (None, named);
        }
        (self.absolute(tid, dirfd, &named, how), named)
    }

    /// The interpreters named along a `#!` chain that starts at `script`, up to (not
    /// including) `exe`, the program that finally ran: the scripts in the middle.
    fn interpreter_scripts(&mut self, pid: Pid, script: &[u8], exe: &[u8]) -> Vec<Vec<u8>> {
        let mut chain = Vec::new();
        let mut current = script.to_vec();
        for _ in 0..MAX_SCRIPT_LEVELS {
            let Some(interpreter) = shebang_interpreter(&current) else {
                break;
            };
            let Some(path) = self
                .absolute(pid, libc::AT_FDCWD as u64, &interpreter, Followed)
                .and_then(|absolute| canonical_existing(&absolute))
            else {
                break;
            };
            if path == exe || is_pseudo(&path) || chain.contains(&path) {
                break;
            }
            chain.push(path.clone());
            current = path;
        }
        chain
    }

    /// The inputs and outputs, and the gaps of the trace.
    pub fn into_accesses(mut self) -> (Vec<FileAccess>, Vec<TraceGap>) {
        self.settle();
        (self.ledger.into_accesses(), self.gaps.into_list())
    }
}

/// An `open_by_handle_at`: the file is known only by the descriptor it returns.
fn by_handle_entry(flags: i32) -> Option<Pending> {
    if flags & libc::O_PATH != 0 {
        return None;
    }
    let (access, truncates) = (flags & libc::O_ACCMODE, flags & libc::O_TRUNC != 0);
    let writes = access != libc::O_RDONLY || truncates;
    Some(Pending::OpenedByKernel(Opened {
        named: Vec::new(),
        reads: !writes || (access == libc::O_RDWR && !truncates),
        writes,
        by_handle: true,
    }))
}

/// Whether `/proc/PID/exe` names no file one could read again: a memfd
/// (`/memfd:name (deleted)`), a file deleted since, anything not absolute.
fn is_without_path(exe: &[u8]) -> bool {
    // An empty name: the process died before its exe could be read; nothing ran
    // that roard could name either way.
    !exe.is_empty() && (!exe.starts_with(b"/") || (exe.ends_with(b" (deleted)") && !exists(exe)))
}

/// The kernel follows at most this many `#!` levels (`BINPRM_MAX_RECURSION` + 1).
const MAX_SCRIPT_LEVELS: usize = 5;

/// The interpreter a `#!` line names (its first word), if `path` starts with one.
fn shebang_interpreter(path: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let mut file = std::fs::File::open(OsStr::from_bytes(path)).ok()?;
    let read = file.read(&mut head).ok()?;
    let line = head[..read].strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
    line.split(|b| *b == b' ' || *b == b'\t')
        .find(|word| !word.is_empty())
        .map(<[u8]>::to_vec)
}

/// Whether the job's user has `mode` (R_OK, W_OK, X_OK) on `path` now.
fn has_access(path: &[u8], mode: i32) -> bool {
    let Ok(path) = std::ffi::CString::new(path) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path; faccessat only reads it.
    unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), mode, libc::AT_EACCESS) == 0 }
}

/// Whether `path` names an existing file now, symlinks followed (as `open` does).
fn exists(path: &[u8]) -> bool {
    has_access(path, libc::F_OK)
}

/// Whether an `open(path, O_RDONLY)` by the job's user would succeed now.
fn is_readable(path: &[u8], no_follow: bool) -> bool {
    if !has_access(path, libc::R_OK) {
        return false;
    }
    // O_NOFOLLOW fails on a symlink even when its target is readable.
    !no_follow
        || std::fs::symlink_metadata(std::ffi::OsStr::from_bytes(path))
            .is_ok_and(|meta| !meta.file_type().is_symlink())
}

/// The directory part of an absolute path.
fn parent_dir(path: &[u8]) -> Option<&[u8]> {
    let slash = path.iter().rposition(|b| *b == b'/')?;
    Some(if slash == 0 { b"/" } else { &path[..slash] })
}

/// The directory descriptor and path pointer a syscall's arguments name.
fn path_pointer(at: PathArg, args: &[u64; 6]) -> (u64, u64) {
    match at {
        PathArg::Cwd { path } => (libc::AT_FDCWD as u64, args[path]),
        PathArg::At { dirfd, path } => (args[dirfd], args[path]),
    }
}
