//! The record model: what the tracer and the recording produce and the store consumes.
//! Neither side depends on the other; both speak these types.

use std::sync::Arc;

use nix::unistd::Pid;

use crate::classify::Class;
use crate::hash_algorithms::Digest;
use crate::hash_cache::{CacheEntry, HashStats};
use crate::hashing::Content;
use crate::packages::Package;

/// Whether a job read a file or wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Input,
    Output,
}

impl Role {
    /// The name stored in the database.
    pub fn name(self) -> &'static str {
        match self {
            Role::Input => "input",
            Role::Output => "output",
        }
    }

    /// The role a stored name stands for; None for a name this build does not know.
    pub fn from_name(name: &str) -> Option<Role> {
        [Role::Input, Role::Output]
            .into_iter()
            .find(|role| role.name() == name)
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// What a process is running: shared between a parent and its forked children until
/// one of them execs, so fork-heavy jobs do not copy argv per process.
#[derive(Debug, Default, Clone)]
pub struct Image {
    pub argv: Vec<Vec<u8>>,
    pub exe: Vec<u8>,
    pub cwd: Vec<u8>,
}

#[derive(Debug)]
pub struct ProcessRecord {
    pub pid: Pid,
    pub ppid: Pid,
    /// What it ran last.
    pub image: Arc<Image>,
    /// What it executed before that, oldest first (a process may exec several times:
    /// a wrapper that execs the real program).
    pub earlier: Vec<Arc<Image>>,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub exit: Option<Exit>,
}

/// Why part of a job was not seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GapKind {
    /// Syscalls of an ABI roard has no table for (`detail`: the audit arch).
    UndecodedSyscalls,
    /// A program executed from something without a path: a memfd, a deleted file, a
    /// descriptor (`detail`: what `/proc/PID/exe` names, and its BLAKE3 when read).
    ExecWithoutPath,
    /// A file opened by handle (`open_by_handle_at`) whose name could not be read.
    OpenByHandle,
    /// An io_uring instance, allowed by configuration: operations submitted through it
    /// make no syscall the tracer sees.
    IoUring,
    /// A file named in a mount namespace or root whose host path cannot be told
    /// (`detail`: the name as the task saw it).
    ForeignNamespace,
}

impl GapKind {
    pub const ALL: [GapKind; 5] = [
        GapKind::UndecodedSyscalls,
        GapKind::ExecWithoutPath,
        GapKind::OpenByHandle,
        GapKind::IoUring,
        GapKind::ForeignNamespace,
    ];

    /// The name stored in the database.
    pub fn name(self) -> &'static str {
        match self {
            GapKind::UndecodedSyscalls => "undecoded_syscalls",
            GapKind::ExecWithoutPath => "exec_without_path",
            GapKind::OpenByHandle => "open_by_handle",
            GapKind::IoUring => "io_uring",
            GapKind::ForeignNamespace => "foreign_namespace",
        }
    }

    pub fn from_name(name: &str) -> Option<GapKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// One gap: what was missed, by which process, how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceGap {
    pub kind: GapKind,
    /// 0 for the gaps merged once a job had too many distinct ones.
    pub pid: i32,
    pub detail: Vec<u8>,
    pub count: u64,
}

/// An input or output ready to be stored.
#[derive(Debug)]
pub struct RecordedFile {
    pub path: Vec<u8>,
    pub named: Option<Vec<u8>>,
    pub role: Role,
    pub class: Class,
    /// None when the file is not hashed (not data) or its content could not be read.
    pub content: Option<Content>,
    /// Digests of the extra algorithms, when the content was read.
    pub extra: Vec<Digest>,
    pub pre_image: bool,
    /// A symlink the job made: what it points to.
    pub link_target: Option<Vec<u8>>,
    /// A hard link the job made: the name it links to.
    pub hard_link_of: Option<Vec<u8>>,
}

/// A job's files with their classes and contents, the packages it used, and what
/// hashing taught the cache.
#[derive(Debug, Default)]
pub struct HashedFiles {
    pub files: Vec<RecordedFile>,
    pub packages: Vec<Package>,
    pub cache_updates: Vec<(Vec<u8>, CacheEntry)>,
    pub stats: HashStats,
}

impl HashedFiles {
    /// Inputs or outputs that are the job's data (shown without `--all`).
    pub fn count_data(&self, role: Role) -> usize {
        self.files
            .iter()
            .filter(|f| f.role == role && f.class.is_data())
            .count()
    }

    /// The first `n` inputs or outputs that are the job's data, in recording order.
    pub fn first_data(&self, role: Role, n: usize) -> impl Iterator<Item = &RecordedFile> {
        self.files
            .iter()
            .filter(move |f| f.role == role && f.class.is_data())
            .take(n)
    }

    /// Files recorded but not data: system, package and scratch files.
    pub fn count_ignored(&self) -> usize {
        self.files.iter().filter(|f| !f.class.is_data()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in GapKind::ALL {
            assert_eq!(GapKind::from_name(kind.name()), Some(kind));
        }
        for role in [Role::Input, Role::Output] {
            assert_eq!(Role::from_name(role.name()), Some(role));
        }
        assert_eq!(Role::from_name("pre-image"), None);
    }
}

/// How many of a job's file events each path of the tracer saw: opens recorded by the
/// fast path without a stop, and syscall stops taken under ptrace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeenBy {
    pub fast_path: u64,
    pub ptrace: u64,
}
