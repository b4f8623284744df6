//! The reference side of the differential tests: runs a command under `strace -f` and
//! derives, independently of roard, which files it read and wrote.
//!
//! strace runs with `-y -xx`: every string and every descriptor path is printed as
//! `\xNN` escapes, so parsing needs no knowledge of C quoting, and descriptors arrive
//! already resolved by the kernel (`3</abs/path>`, `AT_FDCWD</cwd>`).

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `(role, path)` with role "input" or "output".
pub type FileSet = BTreeSet<(String, Vec<u8>)>;

/// One completed syscall line.
#[derive(Debug)]
struct Call {
    pid: u32,
    name: String,
    args: Vec<String>,
    result: String,
}

/// Runs `command` in `cwd` under strace and returns the files it read and wrote.
pub fn trace(command: &[&str], cwd: &Path, env: &[(&str, &str)]) -> FileSet {
    let before = files_under(&std::fs::canonicalize(cwd).expect("work dir"));
    let out = tempfile::tempdir().expect("temp dir");
    let log = out.path().join("strace.log");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-y", "-xx", "-s", "65535"])
        .args(["-e", "trace=%file,%process,fchdir,ftruncate", "-o"])
        .arg(&log)
        .args(command)
        .current_dir(cwd)
        .envs(env.iter().copied())
        .status()
        .expect("strace is installed (.ci/setup installs it)");
    let _ = status;
    let text = std::fs::read(&log).expect("strace log");
    let calls = parse(&text);
    Model::new(cwd, before).run(&calls)
}

/// Every path under `dir`, recursively.
fn files_under(dir: &Path) -> BTreeSet<Vec<u8>> {
    let mut found = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path.clone());
            }
            found.insert(path.into_os_string().into_vec());
        }
    }
    found
}

fn parse(text: &[u8]) -> Vec<Call> {
    let text = String::from_utf8_lossy(text);
    let mut unfinished: HashMap<u32, String> = HashMap::new();
    let mut calls = Vec::new();
    for line in text.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            unfinished.insert(pid, head.to_string());
            continue;
        }
        let full = if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some(head) = unfinished.remove(&pid) else {
                continue;
            };
            let Some((_, tail)) = resumed.split_once(" resumed>") else {
                continue;
            };
            format!("{head}{tail}")
        } else {
            rest.to_string()
        };
        if let Some(call) = parse_call(pid, &full) {
            calls.push(call);
        }
    }
    calls
}

fn parse_call(pid: u32, line: &str) -> Option<Call> {
    let open = line.find('(')?;
    let name = line[..open].to_string();
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    // strace pads the result column: `) = 0` may read `)      = 0`.
    let equals = line.rfind(" = ")?;
    let before = line[..equals].trim_end();
    let close = before.strip_suffix(')')?.len();
    let args = split_args(&line[open + 1..close]);
    let result = line[equals + 3..].to_string();
    Some(Call {
        pid,
        name,
        args,
        result,
    })
}

/// Splits top-level arguments on ", " outside strings, brackets and `<...>`.
fn split_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut in_string = false;
    let mut current = String::new();
    let mut chars = args.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => in_string = !in_string,
            '\\' if in_string => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
                continue;
            }
            '[' | '{' | '<' | '(' if !in_string => depth += 1,
            ']' | '}' | '>' | ')' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => {
                out.push(current.trim().to_string());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// Decodes `\xNN` escapes.
fn unhex(escaped: &str) -> Vec<u8> {
    let bytes = escaped.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && bytes.get(i + 1) == Some(&b'x')
            && i + 4 <= bytes.len()
            && let Ok(b) = u8::from_str_radix(&escaped[i + 2..i + 4], 16)
        {
            out.push(b);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The string argument `"..."`, decoded.
fn string_arg(arg: &str) -> Option<Vec<u8>> {
    let inner = arg.strip_prefix('"')?;
    let end = inner.rfind('"')?;
    Some(unhex(&inner[..end]))
}

/// The path in `N</path>` or `AT_FDCWD</path>`.
fn fd_path(arg: &str) -> Option<Vec<u8>> {
    let start = arg.find('<')?;
    let end = arg.rfind('>')?;
    Some(unhex(&arg[start + 1..end]))
}

fn succeeded(result: &str) -> bool {
    !result.starts_with('-') && !result.starts_with('?')
}

fn join(base: &[u8], name: &[u8]) -> Vec<u8> {
    if name.starts_with(b"/") {
        return name.to_vec();
    }
    let mut path = base.to_vec();
    if !name.is_empty() {
        if !path.ends_with(b"/") {
            path.push(b'/');
        }
        path.extend_from_slice(name);
    }
    path
}

fn canonical(path: &[u8]) -> Vec<u8> {
    std::fs::canonicalize(OsStr::from_bytes(path))
        .map(|p| p.into_os_string().into_vec())
        .unwrap_or_else(|_| canonical_name(path))
}

fn canonical_name(path: &[u8]) -> Vec<u8> {
    let path = Path::new(OsStr::from_bytes(path));
    match (path.parent().map(std::fs::canonicalize), path.file_name()) {
        (Some(Ok(parent)), Some(name)) => parent.join(name).into_os_string().into_vec(),
        _ => path.as_os_str().as_bytes().to_vec(),
    }
}

#[derive(Default, Clone)]
struct State {
    input: bool,
    output: bool,
    job_content: bool,
    /// An input whose directory was renamed after it was read: where it is now.
    now_at: Option<Vec<u8>>,
    /// A symlink the job made (an output with no content of its own).
    link: bool,
}

/// The meaning of the calls, written independently of roard's ledger.
struct Model {
    cwd: HashMap<u32, Vec<u8>>,
    initial_cwd: Vec<u8>,
    files: HashMap<Vec<u8>, State>,
    /// Files under the work directory before the run.
    before: BTreeSet<Vec<u8>>,
}

impl Model {
    fn new(cwd: &Path, before: BTreeSet<Vec<u8>>) -> Self {
        Self {
            cwd: HashMap::new(),
            initial_cwd: std::fs::canonicalize(cwd)
                .unwrap()
                .into_os_string()
                .into_vec(),
            files: HashMap::new(),
            before,
        }
    }

    fn cwd_of(&self, pid: u32) -> Vec<u8> {
        self.cwd
            .get(&pid)
            .cloned()
            .unwrap_or_else(|| self.initial_cwd.clone())
    }

    /// Resolves `(dirfd, path)` argument pairs; `dirfd` None means the cwd.
    fn resolve(&self, pid: u32, dirfd: Option<&str>, path: &str) -> Option<Vec<u8>> {
        let name = string_arg(path)?;
        let base = match dirfd {
            Some(fd) => fd_path(fd)?,
            None => self.cwd_of(pid),
        };
        Some(join(&base, &name))
    }

    fn read(&mut self, path: Vec<u8>) {
        let state = self.files.entry(path).or_default();
        if !state.job_content {
            state.input = true;
        }
    }

    fn wrote(&mut self, path: Vec<u8>) {
        let state = self.files.entry(path).or_default();
        state.output = true;
        state.job_content = true;
        state.link = false;
    }

    /// A directory renamed away takes the job's outputs below it along: their names
    /// relative to `dir`, no longer outputs where they were.
    fn move_out(&mut self, dir: &[u8], to: Option<&[u8]>) -> Vec<Vec<u8>> {
        let mut prefix = dir.to_vec();
        prefix.push(b'/');
        let mut moved = Vec::new();
        for (path, state) in self.files.iter_mut() {
            if path.starts_with(&prefix) && state.input {
                // Read under this name, which the rename took away: still an input.
                state.now_at = to.map(|to| [to, &path[dir.len()..]].concat());
            }
            if path.starts_with(&prefix) && state.output {
                moved.push(path[dir.len()..].to_vec());
                state.output = false;
                state.job_content = false;
            }
        }
        moved
    }

    fn move_in(&mut self, dir: &[u8], relative: Vec<Vec<u8>>) {
        for name in relative {
            self.wrote([dir, &name].concat());
        }
    }

    fn run(mut self, calls: &[Call]) -> FileSet {
        for call in calls {
            if !succeeded(&call.result) {
                continue;
            }
            let pid = call.pid;
            let a = &call.args;
            match call.name.as_str() {
                "fork" | "vfork" | "clone" | "clone3" => {
                    if let Ok(child) = call
                        .result
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .parse::<u32>()
                    {
                        let cwd = self.cwd_of(pid);
                        self.cwd.insert(child, cwd);
                    }
                }
                "chdir" => {
                    if let Some(path) = self.resolve(pid, None, &a[0]) {
                        self.cwd.insert(pid, canonical(&path));
                    }
                }
                "fchdir" => {
                    if let Some(path) = fd_path(&a[0]) {
                        self.cwd.insert(pid, path);
                    }
                }
                "open" | "openat" | "creat" | "openat2" => {
                    let flags = match call.name.as_str() {
                        "open" => a.get(1).cloned().unwrap_or_default(),
                        "openat" | "openat2" => a.get(2).cloned().unwrap_or_default(),
                        _ => "O_WRONLY|O_CREAT|O_TRUNC".to_string(),
                    };
                    if flags.contains("O_PATH") || flags.contains("O_TMPFILE") {
                        continue;
                    }
                    let Some(path) = fd_path(&call.result) else {
                        continue;
                    };
                    let rdwr = flags.contains("O_RDWR");
                    let truncates = flags.contains("O_TRUNC");
                    let writes = rdwr || flags.contains("O_WRONLY") || truncates;
                    if !writes {
                        self.read(path);
                    } else {
                        // Read-write without truncation reads what was there before.
                        let existed = !flags.contains("O_CREAT") || self.existed(&path);
                        if rdwr && !truncates && existed {
                            self.read(path.clone());
                        }
                        self.wrote(path);
                    }
                }
                "execve" => {
                    if let Some(path) = self.resolve(pid, None, &a[0]) {
                        self.exec(canonical(&path));
                    }
                }
                "execveat" => {
                    let path = if a.get(4).is_some_and(|f| f.contains("AT_EMPTY_PATH")) {
                        fd_path(&a[0])
                    } else {
                        self.resolve(pid, Some(&a[0]), &a[1])
                    };
                    if let Some(path) = path {
                        self.exec(canonical(&path));
                    }
                }
                "rename" | "renameat" | "renameat2" => {
                    let (from, to) = if call.name == "rename" {
                        (
                            self.resolve(pid, None, &a[0]),
                            self.resolve(pid, None, &a[1]),
                        )
                    } else {
                        (
                            self.resolve(pid, Some(&a[0]), &a[1]),
                            self.resolve(pid, Some(&a[2]), &a[3]),
                        )
                    };
                    let (Some(from), Some(to)) = (from, to) else {
                        continue;
                    };
                    let (from, to) = (canonical_name(&from), canonical_name(&to));
                    if a.get(4).is_some_and(|f| f.contains("RENAME_EXCHANGE")) {
                        let below_from = self.move_out(&from, Some(&to));
                        let below_to = self.move_out(&to, Some(&from));
                        self.move_in(&to, below_from);
                        self.move_in(&from, below_to);
                        self.wrote(from);
                        self.wrote(to);
                    } else {
                        drop(self.move_out(&to, None));
                        let below = self.move_out(&from, Some(&to));
                        let state = self.files.entry(from).or_default();
                        state.output = false;
                        state.job_content = false;
                        let link = std::mem::take(&mut state.link);
                        self.move_in(&to, below);
                        self.wrote(to.clone());
                        self.files.entry(to).or_default().link = link;
                    }
                }
                "symlink" | "symlinkat" => {
                    let link = if call.name == "symlink" {
                        self.resolve(pid, None, &a[1])
                    } else {
                        self.resolve(pid, Some(&a[1]), &a[2])
                    };
                    if let Some(link) = link {
                        let link = canonical_name(&link);
                        self.wrote(link.clone());
                        self.files.entry(link).or_default().link = true;
                    }
                }
                "link" | "linkat" => {
                    let to = if call.name == "link" {
                        self.resolve(pid, None, &a[1])
                    } else {
                        self.resolve(pid, Some(&a[2]), &a[3])
                    };
                    if let Some(to) = to {
                        self.wrote(canonical_name(&to));
                    }
                }
                "unlink" | "unlinkat" => {
                    if a.get(2).is_some_and(|f| f.contains("AT_REMOVEDIR")) {
                        continue;
                    }
                    let path = if call.name == "unlink" {
                        self.resolve(pid, None, &a[0])
                    } else {
                        self.resolve(pid, Some(&a[0]), &a[1])
                    };
                    if let Some(path) = path {
                        let state = self.files.entry(canonical_name(&path)).or_default();
                        state.output = false;
                        state.job_content = false;
                    }
                }
                "truncate" => {
                    if let Some(path) = self.resolve(pid, None, &a[0]) {
                        self.wrote(canonical(&path));
                    }
                }
                "ftruncate" => {
                    if let Some(path) = fd_path(&a[0]) {
                        self.wrote(path);
                    }
                }
                _ => {}
            }
        }
        let mut set = FileSet::new();
        for (path, state) in self.files {
            if ["/proc/", "/sys/", "/dev/"]
                .iter()
                .any(|p| path.starts_with(p.as_bytes()))
            {
                continue;
            }
            let is_file = |path: &[u8]| {
                std::fs::symlink_metadata(OsStr::from_bytes(path)).is_ok_and(|m| m.is_file())
            };
            let regular = is_file(&path);
            if state.input && (regular || state.now_at.as_deref().is_some_and(is_file)) {
                set.insert(("input".to_string(), path.clone()));
            }
            let is_link =
                std::fs::symlink_metadata(OsStr::from_bytes(&path)).is_ok_and(|m| m.is_symlink());
            if state.output && (regular || (state.link && is_link)) {
                set.insert(("output".to_string(), path));
            }
        }
        set
    }

    /// Whether `path` existed when an `O_CREAT` open reached it: known from the
    /// snapshot of the work directory taken before the run and from the trace so far.
    fn existed(&self, path: &[u8]) -> bool {
        match self.files.get(path) {
            Some(state) if state.job_content => return true,
            Some(state) if !state.job_content && state.output => return false,
            _ => {}
        }
        if path.starts_with(&self.initial_cwd) {
            self.before.contains(path)
        } else {
            Path::new(OsStr::from_bytes(path)).exists()
        }
    }

    /// An executed file is read; so is the interpreter named by a `#!` line.
    fn exec(&mut self, path: Vec<u8>) {
        self.exec_at_depth(path, 0);
    }

    /// A `#!` script's interpreter may be a script itself; the kernel follows a few
    /// levels (and fails the exec beyond them).
    fn exec_at_depth(&mut self, path: Vec<u8>, depth: usize) {
        if depth < 5
            && let Ok(head) = std::fs::read(OsStr::from_bytes(&path))
            && let Some(line) = head.strip_prefix(b"#!")
        {
            let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
            let interpreter = line
                .split(|b| *b == b' ' || *b == b'\t')
                .find(|w| !w.is_empty())
                .unwrap_or_default();
            if !interpreter.is_empty() {
                self.exec_at_depth(canonical(interpreter), depth + 1);
            }
        }
        self.read(path);
    }
}

/// Unescapes roar's documented byte-string escaping (`\\` and `\xNN`).
pub fn unescape_roar(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            out.push(u8::from_str_radix(&text[i + 2..i + 4], 16).expect("hex escape"));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The same set from a `roarctl show --json` record.
pub fn from_roar_record(job: &serde_json::Value) -> FileSet {
    let mut set = FileSet::new();
    for role in ["input", "output"] {
        for file in job[format!("{role}s")].as_array().into_iter().flatten() {
            let path = unescape_roar(file["path"].as_str().unwrap_or_default());
            set.insert((role.to_string(), path));
        }
    }
    set
}

/// Readable form of a set difference, for assertion messages.
pub fn describe(set: &FileSet) -> String {
    set.iter()
        .map(|(role, path)| format!("  {role} {}", String::from_utf8_lossy(path)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Path of a file in a directory, as bytes.
pub fn path_bytes(path: PathBuf) -> Vec<u8> {
    path.into_os_string().into_vec()
}
