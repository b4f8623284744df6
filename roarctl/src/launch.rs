//! Forks the job's process and holds it before exec until roard has attached.
//!
//! The child keeps everything a shell would give the command (terminal, process group,
//! environment, cwd, rlimits) because roarctl, not roard, is its parent. Between fork
//! and exec the child runs only async-signal-safe syscalls on memory prepared before the
//! fork: roarctl may have other threads, and nothing may allocate there.
//!
//! Handshake (pipes, all close-on-exec):
//! 1. child: `prctl(PR_SET_PTRACER, roard)`, then writes one byte on `ready`;
//! 2. parent: sends `Run`; roard seizes the child and replies with a seccomp filter;
//! 3. parent: writes the filter (or "untraced") on `go`, and the fast path's library;
//! 4. child: installs the filter, puts the library first in `LD_PRELOAD` (when the
//!    program loads libraries at all), execs; an exec failure travels back on
//!    `exec_error`.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe2};

/// Largest seccomp program the kernel accepts (BPF_MAXINSNS × sizeof(sock_filter)).
const MAX_FILTER_BYTES: usize = 4096 * 8;
/// Room for `LD_PRELOAD=` with the library's path and the user's own entries.
const MAX_PRELOAD_BYTES: usize = 3 * 4096;
const PRELOAD_VAR: &[u8] = b"LD_PRELOAD=";

/// `go` message kinds.
const GO_TRACED: u8 = b'T';
const GO_UNTRACED: u8 = b'U';

/// What went wrong in the child before the command started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildFailure {
    Exec(Errno),
    Seccomp(Errno),
}

/// Why a command cannot be started, with the shell's exit code for it.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}: command not found")]
    NotFound(String),
    #[error("{0}: permission denied")]
    NotExecutable(String),
    #[error("{0}: argument contains a NUL byte")]
    Nul(String),
}

impl ResolveError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NotFound(_) => 127,
            Self::NotExecutable(_) | Self::Nul(_) => 126,
        }
    }
}

/// The command, ready for execve: every byte the child needs is allocated here.
pub struct Prepared {
    path: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const libc::c_char>,
    /// Where `LD_PRELOAD` is in `envp_ptrs` (its end when the user set none), and the
    /// user's value.
    preload_at: usize,
    user_preload: Vec<u8>,
    /// Whether the program loads the fast path's library: a native dynamically linked
    /// program, or a script run by one (see `elf_check`).
    loads_preload: bool,
}

impl Prepared {
    pub fn new(argv: &[OsString], env: &[(OsString, OsString)]) -> Result<Self, ResolveError> {
        let name = argv
            .first()
            .ok_or_else(|| ResolveError::NotFound(String::new()))?;
        let display = name.to_string_lossy().into_owned();
        let path = resolve_program(name)?;
        let nul = |_| ResolveError::Nul(display.clone());
        let path = CString::new(path.into_os_string().into_vec()).map_err(nul)?;
        let argv: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<_, _>>()
            .map_err(nul)?;
        let envp: Vec<CString> = env
            .iter()
            .map(|(k, v)| CString::new([k.as_bytes(), b"=", v.as_bytes()].concat()))
            .collect::<Result<_, _>>()
            .map_err(nul)?;
        let argv_ptrs = null_terminated(&argv);
        let envp_ptrs = null_terminated(&envp);
        let preload_at = envp
            .iter()
            .position(|e| e.as_bytes().starts_with(PRELOAD_VAR))
            .unwrap_or(envp.len());
        let user_preload = envp
            .get(preload_at)
            .map_or_else(Vec::new, |e| e.as_bytes()[PRELOAD_VAR.len()..].to_vec());
        let loads_preload =
            crate::elf_check::loads_preload(Path::new(OsStr::from_bytes(path.as_bytes())));
        Ok(Self {
            path,
            _argv: argv,
            argv_ptrs,
            _envp: envp,
            envp_ptrs,
            preload_at,
            user_preload,
            loads_preload,
        })
    }
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Finds `name` as the shell would: a name with a slash is a path, anything else is
/// searched in `$PATH`.
pub fn resolve_program(name: &OsStr) -> Result<PathBuf, ResolveError> {
    let display = || name.to_string_lossy().into_owned();
    if name.is_empty() {
        return Err(ResolveError::NotFound(display()));
    }
    if name.as_bytes().contains(&b'/') {
        let path = PathBuf::from(name);
        return match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() && is_executable(&path) => Ok(path),
            Ok(_) => Err(ResolveError::NotExecutable(display())),
            Err(_) => Err(ResolveError::NotFound(display())),
        };
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut found_not_executable = false;
    for dir in std::env::split_paths(&search) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(name);
        if let Ok(meta) = std::fs::metadata(&candidate)
            && meta.is_file()
        {
            if is_executable(&candidate) {
                return Ok(candidate);
            }
            found_not_executable = true;
        }
    }
    if found_not_executable {
        Err(ResolveError::NotExecutable(display()))
    } else {
        Err(ResolveError::NotFound(display()))
    }
}

fn is_executable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
}

/// A forked child waiting for `release` before it execs.
pub struct HeldChild {
    pub pid: Pid,
    go: Option<OwnedFd>,
    exec_error: OwnedFd,
}

/// Forks the child that will become the job. Returns once the child has named `tracer`
/// as its permitted ptracer (needed where Yama's ptrace_scope is 1).
pub fn fork_held(command: &Prepared, tracer: Pid) -> io::Result<HeldChild> {
    let (ready_read, ready_write) = pipe2(OFlag::O_CLOEXEC)?;
    let (go_read, go_write) = pipe2(OFlag::O_CLOEXEC)?;
    let (error_read, error_write) = pipe2(OFlag::O_CLOEXEC)?;
    let mut memory = ChildMemory::for_command(command);

    // SAFETY: the child only calls async-signal-safe syscalls on memory allocated above
    // and ends in execve or _exit.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(ready_read);
            drop(go_write);
            drop(error_read);
            child_main(
                command,
                tracer,
                ready_write.as_raw_fd(),
                go_read.as_raw_fd(),
                error_write.as_raw_fd(),
                &mut memory,
            )
        }
        ForkResult::Parent { child } => {
            drop(ready_write);
            drop(go_read);
            drop(error_write);
            let mut byte = [0u8; 1];
            let n = read_retrying(ready_read.as_raw_fd(), &mut byte);
            if n != 1 {
                let _ = waitpid(child, None);
                return Err(io::Error::other(
                    "the job's process died before it was ready",
                ));
            }
            Ok(HeldChild {
                pid: child,
                go: Some(go_write),
                exec_error: error_read,
            })
        }
    }
}

/// Memory the child fills between fork and exec, allocated before the fork.
struct ChildMemory {
    filter: Vec<u8>,
    /// The command's environment with a slot more, for `LD_PRELOAD` if the user set
    /// none.
    envp: Vec<*const libc::c_char>,
    preload: Vec<u8>,
}

impl ChildMemory {
    fn for_command(command: &Prepared) -> Self {
        let mut envp = command.envp_ptrs.clone();
        envp.push(std::ptr::null());
        Self {
            filter: vec![0u8; MAX_FILTER_BYTES],
            envp,
            preload: vec![0u8; MAX_PRELOAD_BYTES],
        }
    }
}

impl HeldChild {
    /// Lets the child exec, under `filter` when traced, without one when not; with
    /// the fast path's `library` first in its `LD_PRELOAD` when there is one.
    pub fn release(&mut self, filter: Option<&[u8]>, library: &[u8]) -> io::Result<()> {
        let go = self
            .go
            .take()
            .ok_or_else(|| io::Error::other("already released"))?;
        // The child has room for the library's name beside the user's entries.
        let library = if library.len() < MAX_PRELOAD_BYTES / 2 {
            library
        } else {
            &[]
        };
        let message = match filter {
            Some(filter) if filter.len() <= MAX_FILTER_BYTES && filter.len() % 8 == 0 => {
                let length = u32::try_from(filter.len()).unwrap_or(0);
                let library_length = u32::try_from(library.len()).unwrap_or(0);
                [
                    &[GO_TRACED][..],
                    &length.to_ne_bytes(),
                    filter,
                    &library_length.to_ne_bytes(),
                    library,
                ]
                .concat()
            }
            Some(filter) => {
                return Err(io::Error::other(format!(
                    "roard sent a malformed seccomp filter ({} bytes)",
                    filter.len()
                )));
            }
            None => vec![GO_UNTRACED],
        };
        nix::unistd::write(&go, &message)?;
        Ok(())
    }

    /// Waits until the child has exec'd (Ok) or failed before the command started.
    pub fn exec_outcome(&self) -> Result<(), ChildFailure> {
        let mut report = [0u8; 5];
        let mut filled = 0;
        while filled < report.len() {
            let n = read_retrying(self.exec_error.as_raw_fd(), &mut report[filled..]);
            if n <= 0 {
                break;
            }
            filled += n as usize;
        }
        if filled < report.len() {
            return Ok(());
        }
        let errno = Errno::from_raw(i32::from_ne_bytes([
            report[1], report[2], report[3], report[4],
        ]));
        Err(match report[0] {
            b'S' => ChildFailure::Seccomp(errno),
            _ => ChildFailure::Exec(errno),
        })
    }

    /// Kills a child that must never run the command (tracing was refused).
    pub fn abort(self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

/// Waits for the child to end; returns the shell's view of its status.
pub fn wait_exit_code(pid: Pid) -> io::Result<(u8, Option<i32>)> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok((code as u8, None)),
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                let signal = signal as i32;
                return Ok(((128 + signal) as u8, Some(signal)));
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn read_retrying(fd: libc::c_int, buffer: &mut [u8]) -> isize {
    loop {
        // SAFETY: reads into a valid, writable buffer of the given length.
        let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
        if n >= 0 || Errno::last() != Errno::EINTR {
            return n;
        }
    }
}

/// Reads exactly `buffer.len()` bytes; false on EOF or error.
fn read_exact_raw(fd: libc::c_int, buffer: &mut [u8]) -> bool {
    let mut filled = 0;
    while filled < buffer.len() {
        let n = read_retrying(fd, &mut buffer[filled..]);
        if n <= 0 {
            return false;
        }
        filled += n as usize;
    }
    true
}

/// In the child before exec: reads the seccomp program roard sent (its length, then
/// the instructions, into `filter_buffer`) and installs it. Only raw syscalls on
/// prepared memory. `Err(None)`: roarctl gave up while sending; `Err(Some(errno))`: the
/// kernel refused the filter.
fn receive_filter(go: libc::c_int, filter_buffer: &mut [u8]) -> Result<(), Option<Errno>> {
    let length = receive_block(go, filter_buffer).ok_or(None)?;
    let program = libc::sock_fprog {
        len: (length / 8) as libc::c_ushort,
        filter: filter_buffer.as_mut_ptr().cast(),
    };
    let install = |program: &libc::sock_fprog| {
        // SAFETY: PR_SET_SECCOMP reads the program, which points into `filter_buffer`
        // and lives for the whole call.
        unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                program as *const libc::sock_fprog as libc::c_ulong,
                0,
                0,
            )
        }
    };
    // Without CAP_SYS_ADMIN the kernel demands no_new_privs first; try without it so
    // setuid programs keep working where the user is privileged.
    if install(&program) != 0 {
        if Errno::last() != Errno::EACCES {
            return Err(Some(Errno::last()));
        }
        // SAFETY: PR_SET_NO_NEW_PRIVS takes no pointers.
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        if install(&program) != 0 {
            return Err(Some(Errno::last()));
        }
    }
    Ok(())
}

/// Reads a block sent on `go` (its length, then its bytes) into `buffer`; its length,
/// None when it does not arrive whole or does not fit.
fn receive_block(go: libc::c_int, buffer: &mut [u8]) -> Option<usize> {
    let mut length = [0u8; 4];
    if !read_exact_raw(go, &mut length) {
        return None;
    }
    let length = u32::from_ne_bytes(length) as usize;
    (length <= buffer.len() && read_exact_raw(go, &mut buffer[..length])).then_some(length)
}

/// In the child before exec: reads the fast path's library path and, when the program
/// loads it, makes `memory.envp` name it first in `LD_PRELOAD`, the user's entries
/// after it. Returns the environment to exec with. No allocation: `memory` was made
/// before the fork.
fn receive_preload(
    go: libc::c_int,
    command: &Prepared,
    memory: &mut ChildMemory,
) -> Option<*const *const libc::c_char> {
    let value = &mut memory.preload;
    let (var, room) = (PRELOAD_VAR.len(), MAX_PRELOAD_BYTES / 2);
    let length = receive_block(go, &mut value[var..var + room])?;
    let user = &command.user_preload;
    if length == 0 || !command.loads_preload || var + length + 2 + user.len() > value.len() {
        return Some(command.envp_ptrs.as_ptr());
    }
    value[..var].copy_from_slice(PRELOAD_VAR);
    let mut end = var + length;
    if !user.is_empty() {
        value[end] = b':';
        value[end + 1..end + 1 + user.len()].copy_from_slice(user);
        end += 1 + user.len();
    }
    value[end] = 0;
    memory.envp[command.preload_at] = value.as_ptr().cast();
    Some(memory.envp.as_ptr())
}

/// The child between fork and exec. Only raw syscalls: no allocation, no locks.
fn child_main(
    command: &Prepared,
    tracer: Pid,
    ready: libc::c_int,
    go: libc::c_int,
    exec_error: libc::c_int,
    memory: &mut ChildMemory,
) -> ! {
    let fail = |kind: u8, errno: Errno, code: i32| -> ! {
        let errno = (errno as i32).to_ne_bytes();
        let report = [kind, errno[0], errno[1], errno[2], errno[3]];
        // SAFETY: write and _exit are async-signal-safe.
        unsafe {
            libc::write(exec_error, report.as_ptr().cast(), report.len());
            libc::_exit(code)
        }
    };
    // SAFETY: every call below is a plain async-signal-safe syscall on prepared memory.
    unsafe {
        // Rust ignores SIGPIPE in its own processes; the command must get the default
        // back, as it would from a shell (so `roarctl run -- yes | head` ends normally).
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::prctl(
            libc::PR_SET_PTRACER,
            tracer.as_raw() as libc::c_ulong,
            0,
            0,
            0,
        );
        libc::write(ready, b"r".as_ptr().cast(), 1);
        libc::close(ready);

        let mut kind = [0u8; 1];
        if !read_exact_raw(go, &mut kind) {
            // roarctl gave up (tracing refused, or it died): never run the command.
            libc::_exit(125);
        }
        let mut envp = command.envp_ptrs.as_ptr();
        if kind[0] == GO_TRACED {
            match receive_filter(go, &mut memory.filter) {
                Ok(()) => {}
                Err(None) => libc::_exit(125),
                Err(Some(errno)) => fail(b'S', errno, 126),
            }
            match receive_preload(go, command, memory) {
                Some(with_preload) => envp = with_preload,
                None => libc::_exit(125),
            }
        }
        libc::close(go);
        libc::execve(command.path.as_ptr(), command.argv_ptrs.as_ptr(), envp);
        let errno = Errno::last();
        let code = if errno == Errno::ENOENT { 127 } else { 126 };
        fail(b'E', errno, code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_a_shell() {
        assert!(resolve_program(OsStr::new("sh")).is_ok());
        assert!(matches!(
            resolve_program(OsStr::new("surely-no-such-command-roar")),
            Err(ResolveError::NotFound(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"").unwrap();
        assert!(matches!(
            resolve_program(plain.as_os_str()),
            Err(ResolveError::NotExecutable(_))
        ));
        assert_eq!(ResolveError::NotFound(String::new()).exit_code(), 127);
    }
}
