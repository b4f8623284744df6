//! Tasks that see another file system than roard: a chroot, a mount namespace of their
//! own (`unshare -m`, bubblewrap, podman started inside a job), or both. Such a task's
//! names mean something else than roard's: `/data/in.csv` in a chroot at `/srv/jail`
//! is `/srv/jail/data/in.csv` on the host, and a bind mount inside a namespace makes
//! one directory appear at another name.
//!
//! A task's *view* is its root directory, held open (`/proc/TID/root`). Names are
//! resolved through it with `openat2(RESOLVE_IN_ROOT)`, which walks them exactly as
//! the kernel does for that task (absolute symlinks and `..` stay inside its root,
//! and its namespace's mounts are crossed), and the file found is named as roard sees
//! it: by `/proc/self/fd`, checked against the file's device and inode, else mapped
//! through the mount it lies on (`mountinfo` of both namespaces). A file with no name
//! on the host (a tmpfs mounted inside the namespace) has no host path: the caller
//! records a gap.
//!
//! Tasks in roard's own view, all of them in most jobs, have no entry here and cost one
//! `readlink` of `/proc/TID/ns/mnt` per new process.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use nix::unistd::Pid;

use super::paths::is_at_fdcwd;
use super::procfs;

/// What a name a task used denotes on the host.
#[derive(Debug, PartialEq, Eq)]
pub enum InView {
    /// The host's absolute name for it.
    Host(Vec<u8>),
    /// It exists but has no name on the host: the name as the task saw it.
    NoHostPath(Vec<u8>),
    /// Nothing the record needs: the name resolves to nothing (the call fails in the
    /// task too), or to a pseudo file system.
    Nothing,
}

/// One task's root, when it is not roard's.
#[derive(Debug)]
pub struct View {
    /// None when roard could not open it (out of descriptors, say): then no name of
    /// the task has a host path roard can trust.
    root: Option<OwnedFd>,
    /// `/proc/TID/root` as roard reads it (the host path of a chroot), to express the
    /// task's cwd below its root.
    root_text: Vec<u8>,
    /// Whether names can be walked from the root (`openat2` exists: Linux 5.6). Without
    /// it no name of this task has a host path roard can trust: each is a gap.
    walks: bool,
}

/// Symlinks the kernel follows before it gives up (`ELOOP`).
const MAX_SYMLINKS: usize = 40;

/// The views of a job's tasks that do not share roard's.
#[derive(Debug, Default)]
pub struct Views {
    /// roard's own mount namespace (`mnt:[4026531841]`).
    host_ns: Vec<u8>,
    by_task: HashMap<Pid, Arc<View>>,
}

impl Views {
    pub fn new() -> Self {
        Self {
            host_ns: procfs::link(Pid::this(), "ns/mnt"),
            by_task: HashMap::new(),
        }
    }

    /// The view of `tid`, when it differs from roard's.
    pub fn of(&self, tid: Pid) -> Option<&View> {
        if self.by_task.is_empty() {
            return None;
        }
        self.by_task.get(&tid).map(Arc::as_ref)
    }

    /// Whether any task of the job has a view of its own.
    pub fn any(&self) -> bool {
        !self.by_task.is_empty()
    }

    /// The job's first process: seen in whatever view roarctl's child has.
    pub fn add_root(&mut self, root: Pid) {
        self.refresh_task(root);
    }

    /// A new task: a thread shares its creator's view; a process starts with its
    /// parent's root, in the parent's namespace unless it was cloned into a new one.
    pub fn on_new_task(&mut self, parent: Pid, child: Pid, thread: bool) {
        match self.by_task.get(&parent).cloned() {
            Some(view) if thread => {
                self.by_task.insert(child, view);
            }
            Some(_) => self.refresh_task(child),
            None if thread => {}
            None => {
                // A reused id must not keep the view of the task that had it.
                self.by_task.remove(&child);
                if procfs::link(child, "ns/mnt") != self.host_ns {
                    self.refresh_task(child);
                }
            }
        }
    }

    /// A non-leader thread exec'd: the process goes on under the leader's id.
    pub fn on_exec(&mut self, pid: Pid, former_tid: Pid) {
        if former_tid != pid
            && let Some(view) = self.by_task.remove(&former_tid)
        {
            self.by_task.insert(pid, view);
        }
    }

    /// `tid` changed its root or namespace (chroot, pivot_root, unshare, setns): the
    /// tasks of its thread group (which share a root) are looked at again, and so is
    /// every task already in another view (a `pivot_root` moves the root of every task
    /// of its namespace that was at the old root).
    pub fn refresh(&mut self, tid: Pid) {
        let group = procfs::tgid(tid).unwrap_or(tid);
        let mut tasks: Vec<Pid> = std::fs::read_dir(format!("/proc/{group}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|task| task.file_name().to_str()?.parse().ok())
            .map(Pid::from_raw)
            .collect();
        tasks.push(tid);
        tasks.extend(self.by_task.keys().copied());
        tasks.sort_unstable();
        tasks.dedup();
        for task in tasks {
            self.refresh_task(task);
        }
    }

    pub fn on_task_gone(&mut self, tid: Pid) {
        if !self.by_task.is_empty() {
            self.by_task.remove(&tid);
        }
    }

    fn refresh_task(&mut self, tid: Pid) {
        let root_text = procfs::link(tid, "root");
        // In roard's own view, or gone already (its root cannot be read).
        if root_text.is_empty()
            || (root_text == b"/" && procfs::link(tid, "ns/mnt") == self.host_ns)
        {
            self.by_task.remove(&tid);
            return;
        }
        tracing::debug!(
            "task {tid} sees another file system (root {})",
            String::from_utf8_lossy(&root_text)
        );
        let mut view = View {
            root: open_path(&format!("/proc/{tid}/root")),
            root_text,
            walks: true,
        };
        view.walks = view.open_in_root(b"/", libc::O_DIRECTORY).is_some();
        if !view.walks {
            tracing::warn!("cannot walk names from the root of task {tid}: its files are gaps");
        }
        self.by_task.insert(tid, Arc::new(view));
    }
}

impl View {
    /// What `named`, relative to `dirfd` of `tid`, denotes. With `follow`, a symlink
    /// as last component is followed (as open and exec do); without, the name itself
    /// is meant (rename, unlink, link act on it).
    /// `existing`: the file must exist for the call to succeed (a read): a name that
    /// resolves to nothing is then no gap, whatever its directory.
    pub fn resolve(
        &self,
        tid: Pid,
        dirfd: u64,
        named: &[u8],
        follow: bool,
        existing: bool,
    ) -> InView {
        let in_view = match self.view_name(tid, dirfd, named) {
            Ok(in_view) => in_view,
            Err(answer) => return answer,
        };
        if !self.walks && !is_pseudo(&in_view) {
            return InView::NoHostPath(in_view);
        }
        if existing && self.open_in_root(&in_view, 0).is_none() {
            return InView::Nothing;
        }
        self.resolve_in_view(tid, in_view, follow, 0)
    }

    /// `resolve` for an absolute name in the task's view. A dangling symlink as last
    /// component, followed, leads to the name it points to (in the view: an absolute
    /// target starts again at the task's root), as an open that creates does.
    fn resolve_in_view(&self, tid: Pid, in_view: Vec<u8>, follow: bool, hops: usize) -> InView {
        if is_pseudo(&in_view) {
            return InView::Nothing;
        }
        if follow && let Some(file) = self.open_in_root(&in_view, 0) {
            return match host_path(&file, tid, &self.root_text) {
                Some(path) => InView::Host(path),
                None => InView::NoHostPath(in_view),
            };
        }
        // The name itself (or a file still to be made): its directory, and its last
        // component as it is.
        let (parent, last) = split_last(&in_view);
        if matches!(last, b"" | b"." | b"..") {
            return match self.open_in_root(&in_view, libc::O_DIRECTORY) {
                Some(dir) => host_path(&dir, tid, &self.root_text)
                    .map_or(InView::NoHostPath(in_view), InView::Host),
                None => InView::Nothing,
            };
        }
        let Some(dir) = self.open_in_root(parent, libc::O_DIRECTORY) else {
            return InView::Nothing;
        };
        let Some(mut path) = host_path(&dir, tid, &self.root_text) else {
            return InView::NoHostPath(in_view);
        };
        if !path.ends_with(b"/") {
            path.push(b'/');
        }
        path.extend_from_slice(last);
        let dangling = std::fs::read_link(OsStr::from_bytes(&path)).ok();
        match dangling {
            Some(target) if follow && hops < MAX_SYMLINKS => {
                let target = target.as_os_str().as_bytes();
                let next = if target.starts_with(b"/") {
                    target.to_vec()
                } else {
                    join(parent, &[b"/", target].concat())
                };
                self.resolve_in_view(tid, next, true, hops + 1)
            }
            _ => InView::Host(path),
        }
    }

    /// The file behind `/proc/TID/<link>` (`exe`, `fd/N`), named on the host. One with
    /// no name at all (a pipe, a memfd, a file deleted since) is nothing to resolve.
    pub fn proc_link(&self, tid: Pid, link: &str) -> InView {
        let text = procfs::link(tid, link);
        if !text.starts_with(b"/") || text.ends_with(b" (deleted)") {
            return InView::Nothing;
        }
        let Some(file) = open_path(&format!("/proc/{tid}/{link}")) else {
            return InView::Nothing;
        };
        match host_path(&file, tid, &self.root_text) {
            Some(path) => InView::Host(path),
            None => InView::NoHostPath(procfs::link(tid, link)),
        }
    }

    /// `named` as an absolute name in the task's view: relative names are put below
    /// the task's cwd or directory descriptor, as the task sees it. Err: the answer
    /// already (`Nothing` for a descriptor that names no directory, as the call then
    /// fails; `NoHostPath` for a base outside the task's root, which the walk from the
    /// root cannot reach).
    fn view_name(&self, tid: Pid, dirfd: u64, named: &[u8]) -> Result<Vec<u8>, InView> {
        if named.starts_with(b"/") {
            return Ok(named.to_vec());
        }
        let base = if is_at_fdcwd(dirfd) {
            procfs::link(tid, "cwd")
        } else {
            procfs::link(tid, &format!("fd/{}", dirfd as i32))
        };
        if !base.starts_with(b"/") {
            return Err(InView::Nothing);
        }
        // roard reads a chroot's cwd as a host path, a namespace's as the task's.
        let Some(mut path) = below(&base, &self.root_text) else {
            return Err(InView::NoHostPath([&base[..], b"/", named].concat()));
        };
        if !named.is_empty() {
            if !path.ends_with(b"/") {
                path.push(b'/');
            }
            path.extend_from_slice(named);
        }
        Ok(path)
    }

    /// `openat2(root, name, O_PATH | flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`:
    /// the name walked as the task's kernel would walk it.
    fn open_in_root(&self, name: &[u8], flags: i32) -> Option<OwnedFd> {
        const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
        const RESOLVE_IN_ROOT: u64 = 0x10;
        #[repr(C)]
        struct OpenHow {
            flags: u64,
            mode: u64,
            resolve: u64,
        }
        let name = CString::new(name).ok()?;
        let how = OpenHow {
            flags: (libc::O_PATH | libc::O_CLOEXEC | flags) as u64,
            mode: 0,
            resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        // SAFETY: openat2 reads the NUL-terminated name and `how` (its size given).
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.root.as_ref()?.as_raw_fd(),
                name.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        // SAFETY: a descriptor the kernel just returned, owned by nobody else.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }
}

/// `open(path, O_PATH)`.
fn open_path(path: &str) -> Option<OwnedFd> {
    let path = CString::new(path).ok()?;
    // SAFETY: a valid NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    // SAFETY: as above.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The host's name for the open `file` (reached through a view of `tid`): its
/// `/proc/self/fd` name when that is the same file for roard, else its name through
/// the mount it is on, found in `tid`'s mount table and mapped onto roard's by device
/// and root. None when it has no name roard can use.
fn host_path(file: &OwnedFd, tid: Pid, root_text: &[u8]) -> Option<Vec<u8>> {
    let fd = file.as_raw_fd();
    let seen = procfs::link(Pid::this(), &format!("fd/{fd}"));
    let meta = std::fs::metadata(format!("/proc/self/fd/{fd}")).ok()?;
    let identity = (meta.dev(), meta.ino());
    let same_file = |path: &[u8]| {
        std::fs::metadata(OsStr::from_bytes(path)).is_ok_and(|m| (m.dev(), m.ino()) == identity)
    };
    if seen.starts_with(b"/") && same_file(&seen) {
        return Some(seen);
    }
    let mount_id = mount_id_of(fd)?;
    let task_mounts = mounts(&format!("/proc/{tid}/mountinfo"));
    let mount = task_mounts.iter().find(|m| m.id == mount_id)?;
    // The task's mount table names mount points below its own root; roard reads the
    // file's name below the namespace's root.
    let point = join(root_text, &mount.point);
    let in_fs = join(&mount.root, &below(&seen, &point)?);
    let mut host_mounts: Vec<Mount> = mounts("/proc/self/mountinfo")
        .into_iter()
        .filter(|m| m.device == mount.device && below(&in_fs, &m.root).is_some())
        .collect();
    host_mounts.sort_by_key(|m| std::cmp::Reverse(m.root.len()));
    host_mounts.into_iter().find_map(|m| {
        let candidate = join(&m.point, &below(&in_fs, &m.root)?);
        same_file(&candidate).then_some(candidate)
    })
}

/// The `mnt_id` of an open descriptor, from `/proc/self/fdinfo`.
fn mount_id_of(fd: i32) -> Option<u64> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|line| line.strip_prefix("mnt_id:"))
        .and_then(|id| id.trim().parse().ok())
}

/// One line of a `mountinfo` table.
#[derive(Debug, PartialEq, Eq)]
struct Mount {
    id: u64,
    /// `major:minor`.
    device: String,
    /// The directory of the file system mounted there.
    root: Vec<u8>,
    /// Where it is mounted, in that namespace.
    point: Vec<u8>,
}

fn mounts(table: &str) -> Vec<Mount> {
    std::fs::read(table)
        .map(|text| parse_mountinfo(&text))
        .unwrap_or_default()
}

/// `36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw`.
fn parse_mountinfo(text: &[u8]) -> Vec<Mount> {
    text.split(|b| *b == b'\n')
        .filter_map(|line| {
            let mut fields = line.split(|b| *b == b' ');
            let id = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
            let _parent = fields.next()?;
            let device = String::from_utf8(fields.next()?.to_vec()).ok()?;
            let root = unescape(fields.next()?);
            let point = unescape(fields.next()?);
            Some(Mount {
                id,
                device,
                root,
                point,
            })
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash in names as `\NNN` (octal).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(digits) => {
                let value = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// `path` as seen from directory `dir` (both absolute), with a leading `/`; None when
/// `path` is not below `dir` (whole components).
fn below(path: &[u8], dir: &[u8]) -> Option<Vec<u8>> {
    if dir == b"/" {
        return Some(path.to_vec());
    }
    let rest = path.strip_prefix(dir)?;
    match rest.first() {
        None => Some(b"/".to_vec()),
        Some(b'/') => Some(rest.to_vec()),
        Some(_) => None,
    }
}

/// `dir` + `rest` (`rest` starts with `/`).
fn join(dir: &[u8], rest: &[u8]) -> Vec<u8> {
    if rest == b"/" {
        return dir.to_vec();
    }
    [dir.strip_suffix(b"/").unwrap_or(dir), rest].concat()
}

/// The directory part (`/` at least) and last component of an absolute name, trailing
/// slashes ignored.
fn split_last(name: &[u8]) -> (&[u8], &[u8]) {
    let mut name = name;
    while name.len() > 1 && name.ends_with(b"/") {
        name = &name[..name.len() - 1];
    }
    match name.iter().rposition(|b| *b == b'/') {
        Some(0) => (b"/", &name[1..]),
        Some(slash) => (&name[..slash], &name[slash + 1..]),
        None => (b"/", name),
    }
}

/// Names in the task's view that are pseudo files (its `/proc` says nothing about
/// roard's).
fn is_pseudo(name: &[u8]) -> bool {
    [&b"/proc"[..], b"/sys", b"/dev"]
        .iter()
        .any(|root| below(name, root).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn mountinfo_lines_are_parsed_and_unescaped() {
        let text = b"36 35 98:0 /mnt1 /mnt/par\\040ent rw,noatime master:1 - ext3 /dev/root rw\n\
                     1 0 0:22 / / rw - tmpfs none rw\n";
        let table = parse_mountinfo(text);
        assert_eq!(
            table[0],
            Mount {
                id: 36,
                device: "98:0".into(),
                root: b"/mnt1".to_vec(),
                point: b"/mnt/par ent".to_vec(),
            }
        );
        assert_eq!(table[1].point, b"/");
    }

    #[test]
    fn names_below_a_directory() {
        assert_eq!(below(b"/srv/jail/data", b"/srv/jail").unwrap(), b"/data");
        assert_eq!(below(b"/srv/jail", b"/srv/jail").unwrap(), b"/");
        assert_eq!(below(b"/srv/jailbreak", b"/srv/jail"), None);
        assert_eq!(below(b"/x", b"/").unwrap(), b"/x");
        assert_eq!(join(b"/srv", b"/a"), b"/srv/a");
        assert_eq!(join(b"/", b"/a"), b"/a");
        assert_eq!(join(b"/srv", b"/"), b"/srv");
        assert_eq!(split_last(b"/a/b/"), (&b"/a"[..], &b"b"[..]));
        assert_eq!(split_last(b"/a"), (&b"/"[..], &b"a"[..]));
        assert!(is_pseudo(b"/proc/self/fd/3") && !is_pseudo(b"/processed"));
    }

    #[test]
    fn a_chroot_is_resolved_inside_its_root() {
        // The test's own process stands in for a chrooted task: a view whose root is
        // a directory with an absolute symlink in it.
        let dir = tempfile::tempdir().unwrap();
        let jail = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(jail.join("data")).unwrap();
        std::fs::write(jail.join("data/real.txt"), b"x").unwrap();
        std::os::unix::fs::symlink("/data/real.txt", jail.join("data/link")).unwrap();
        let root_path = jail.to_str().unwrap();
        let view = View {
            root: open_path(root_path),
            root_text: jail.as_os_str().as_bytes().to_vec(),
            walks: true,
        };
        let me = Pid::this();
        let at_cwd = libc::AT_FDCWD as u64;
        let host = |p: &str| InView::Host(jail.join(p).into_os_string().into_vec());
        assert_eq!(
            view.resolve(me, at_cwd, b"/data/link", true, false),
            host("data/real.txt")
        );
        assert_eq!(
            view.resolve(me, at_cwd, b"/data/link", false, false),
            host("data/link")
        );
        assert_eq!(
            view.resolve(me, at_cwd, b"/data/new.txt", true, false),
            host("data/new.txt")
        );
        assert_eq!(
            view.resolve(me, at_cwd, b"/../data/real.txt", true, false),
            host("data/real.txt")
        );
        assert_eq!(
            view.resolve(me, at_cwd, b"/missing/x", true, false),
            InView::Nothing
        );
        assert_eq!(
            view.resolve(me, at_cwd, b"/proc/self/exe", true, false),
            InView::Nothing
        );
    }
}
