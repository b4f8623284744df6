//! Turns the path a tracee named into absolute and canonical forms, resolving relative
//! paths against that task's cwd or directory descriptor at the moment of the call
//! (the tracee is stopped, so `/proc/TID/cwd` and `/proc/TID/fd/N` are exact).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::unistd::Pid;

use super::procfs;

/// `AT_FDCWD` as it arrives in a syscall argument register.
pub fn is_at_fdcwd(dirfd: u64) -> bool {
    dirfd as i32 == libc::AT_FDCWD
}

/// The absolute (not yet canonical) path that `named`, relative to `dirfd`, denotes
/// for `tid`. An empty `named` denotes the descriptor itself (`AT_EMPTY_PATH`).
pub fn absolute(tid: Pid, dirfd: u64, named: &[u8]) -> Option<Vec<u8>> {
    if named.starts_with(b"/") {
        return Some(named.to_vec());
    }
    let base = if is_at_fdcwd(dirfd) {
        procfs::link(tid, "cwd")
    } else {
        descriptor_target(tid, dirfd as i32)?
    };
    if !base.starts_with(b"/") {
        return None;
    }
    if named.is_empty() {
        return Some(base);
    }
    let mut path = base;
    if !path.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(named);
    Some(path)
}

/// What descriptor `fd` of `tid` refers to, when it is a path (not a pipe or socket).
pub fn descriptor_target(tid: Pid, fd: i32) -> Option<Vec<u8>> {
    let target = std::fs::read_link(format!("/proc/{tid}/fd/{fd}")).ok()?;
    let target = target.into_os_string().into_vec();
    target.starts_with(b"/").then_some(target)
}

/// Canonical form of an existing file: every symlink resolved.
pub fn canonical_existing(absolute: &[u8]) -> Option<Vec<u8>> {
    std::fs::canonicalize(Path::new(OsStr::from_bytes(absolute)))
        .ok()
        .map(|p| p.into_os_string().into_vec())
}

/// Canonical form of a name itself, not of what it points to: the directory part is
/// resolved, the last component kept (rename, link and unlink act on the name).
pub fn canonical_name(absolute: &[u8]) -> Vec<u8> {
    let path = Path::new(OsStr::from_bytes(absolute));
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return absolute.to_vec();
    };
    let Ok(parent) = std::fs::canonicalize(parent) else {
        return absolute.to_vec();
    };
    parent.join(name).into_os_string().into_vec()
}

/// Symlinks the kernel follows before it gives up (`ELOOP`).
const MAX_SYMLINKS: usize = 40;

/// When `name` (absolute, its directory canonical) is a symlink: the name at the end
/// of its chain of links, which need not exist (an open that creates through a
/// dangling link makes that file). None when `name` is no symlink.
pub fn symlink_target(name: &[u8]) -> Option<Vec<u8>> {
    let mut current = Path::new(OsStr::from_bytes(name)).to_path_buf();
    let mut followed = false;
    for _ in 0..MAX_SYMLINKS {
        let Ok(target) = std::fs::read_link(&current) else {
            break;
        };
        followed = true;
        let next = match current.parent() {
            Some(dir) => dir.join(target),
            None => target,
        };
        current = PathBuf::from(OsString::from_vec(canonical_name(
            next.as_os_str().as_bytes(),
        )));
    }
    followed.then(|| current.into_os_string().into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_use_the_tasks_cwd() {
        let cwd = std::env::current_dir().unwrap().into_os_string().into_vec();
        let resolved = absolute(Pid::this(), libc::AT_FDCWD as u64, b"x/y").unwrap();
        assert_eq!(resolved, [&cwd[..], b"/x/y"].concat());
        assert_eq!(
            absolute(Pid::this(), libc::AT_FDCWD as u64, b"/abs").unwrap(),
            b"/abs"
        );
    }

    #[test]
    fn names_keep_their_last_component() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(real.join("target"), b"").unwrap();
        std::os::unix::fs::symlink(real.join("target"), real.join("link")).unwrap();
        let link = real.join("link").into_os_string().into_vec();
        assert_eq!(canonical_name(&link), link);
        assert_eq!(
            canonical_existing(&link).unwrap(),
            real.join("target").into_os_string().into_vec()
        );
    }

    #[test]
    fn a_chain_of_dangling_links_ends_at_the_file_it_would_create() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::os::unix::fs::symlink("second", root.join("first")).unwrap();
        std::os::unix::fs::symlink("sub/../target.txt", root.join("second")).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        let name = root.join("first");
        assert_eq!(
            symlink_target(name.as_os_str().as_bytes()),
            Some(root.join("target.txt").into_os_string().into_vec())
        );
        let plain = root.join("plain");
        assert_eq!(symlink_target(plain.as_os_str().as_bytes()), None);
    }
}
