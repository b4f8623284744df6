//! What the tracer reads about a stopped tracee from `/proc`. Every read may fail (the
//! process can die at any moment); failures yield empty values, never errors that stop
//! the trace.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;

use nix::unistd::Pid;

/// A small `/proc` file, read whole: open, one read (two for a long file), close.
/// `std::fs::read` and `read_to_end` first ask `statx` and `lseek` for a size hint
/// (procfs reports 0) and then read 32, then 64 bytes…; every exec reads several of
/// these while its process waits.
fn read_small(path: &str) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let mut contents = vec![0; 4096];
    let mut filled = 0;
    loop {
        if filled == contents.len() {
            contents.resize(contents.len() * 2, 0);
        }
        match file.read(&mut contents[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    contents.truncate(filled);
    Ok(contents)
}

/// `argv` from `/proc/PID/cmdline` (NUL-separated, exact bytes).
pub fn argv(pid: Pid) -> Vec<Vec<u8>> {
    let Ok(raw) = read_small(&format!("/proc/{pid}/cmdline")) else {
        return Vec::new();
    };
    let raw = raw.strip_suffix(b"\0").unwrap_or(&raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|b| *b == 0).map(<[u8]>::to_vec).collect()
}

/// Target of a `/proc/PID/<link>` symlink such as `exe` or `cwd`.
pub fn link(pid: Pid, link: &str) -> Vec<u8> {
    std::fs::read_link(format!("/proc/{pid}/{link}"))
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .unwrap_or_default()
}

/// Where the new image's `AT_EXECFN` string (the name given to execve) lives, from
/// `/proc/PID/auxv`: pairs of native-endian words, type then value.
pub fn exec_fn_address(pid: Pid) -> Option<u64> {
    const AT_EXECFN: u64 = 31;
    let auxv = read_small(&format!("/proc/{pid}/auxv")).ok()?;
    let word = std::mem::size_of::<u64>();
    auxv.chunks_exact(2 * word).find_map(|pair| {
        let kind = u64::from_ne_bytes(pair[..word].try_into().ok()?);
        let value = u64::from_ne_bytes(pair[word..].try_into().ok()?);
        (kind == AT_EXECFN).then_some(value)
    })
}

/// The tracer of `pid`, if something traces it (`TracerPid` in its status).
pub fn tracer_of(pid: Pid) -> Option<Pid> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("TracerPid:"))
        .and_then(|value| value.trim().parse::<i32>().ok())
        .filter(|tracer| *tracer != 0)
        .map(Pid::from_raw)
}

/// Every task whose tracer is thread `tracer` (`TracerPid` in its status).
pub fn tasks_traced_by(tracer: libc::pid_t) -> Vec<Pid> {
    let wanted = format!("TracerPid:\t{tracer}\n");
    let mut found = Vec::new();
    for process in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let tasks = process.path().join("task");
        for task in std::fs::read_dir(tasks).into_iter().flatten().flatten() {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            if status.contains(&wanted)
                && let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok())
            {
                found.push(Pid::from_raw(tid));
            }
        }
    }
    found
}

/// The thread group (process) id of task `tid`, from `/proc/TID/status`.
pub fn tgid(tid: Pid) -> Option<Pid> {
    let status = String::from_utf8(read_small(&format!("/proc/{tid}/status")).ok()?).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Tgid:"))
        .and_then(|value| value.trim().parse().ok())
        .map(Pid::from_raw)
}

/// The parent pid from `/proc/PID/stat` (the field after the parenthesised command).
pub fn ppid(pid: Pid) -> Option<Pid> {
    let stat = read_small(&format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.iter().rposition(|b| *b == b')')?;
    let fields = std::str::from_utf8(&stat[after_comm + 1..]).ok()?;
    fields
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .map(Pid::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = Pid::this();
        assert!(!argv(me).is_empty());
        assert!(!link(me, "exe").is_empty());
        assert_eq!(tgid(me), Some(me));
        assert_eq!(ppid(me), Some(nix::unistd::getppid()));
    }
}
