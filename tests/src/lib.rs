//! Harness for end-to-end tests: each [`Sandbox`] has its own XDG directories, so its
//! own socket, database and daemon, and stops that daemon when dropped.
//!
//! The binaries under test are built by this harness (once per test process) with the
//! same cargo and profile as the tests, so `cargo nextest run` alone always tests the
//! current code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod differential;
pub mod postgres;
pub mod strace;

/// Directory holding freshly built `roard` and `roarctl`.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("ROAR_BIN_DIR") {
            return PathBuf::from(dir);
        }
        // target/<profile>/deps/<test binary> -> target/<profile>
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in target/<profile>/deps")
            .to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "--quiet", "-p", "roard", "-p", "roarctl"])
            .arg("--manifest-path")
            .arg(workspace.join("Cargo.toml"));
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building roard and roarctl failed");
        profile_dir
    })
}

pub struct Sandbox {
    root: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        bin_dir();
        let root = tempfile::Builder::new()
            .prefix("roar-e2e-")
            .tempdir()
            .expect("temp dir");
        for sub in ["run", "data", "state", "config/roar", "work"] {
            std::fs::create_dir_all(root.path().join(sub)).expect("sandbox dirs");
        }
        let sandbox = Self { root };
        // The sandbox lives in the system's temp directory, which is scratch space to
        // roar by default: its jobs' files would not be data.
        sandbox.write_config("[filters]\ntmp = [\"/var/tmp\"]\n");
        sandbox
    }

    /// Replaces the sandbox's user configuration file.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.root().join("config/roar/config.toml"), text).expect("write config");
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Where jobs run: a fresh directory of its own (its own project).
    pub fn work_dir(&self) -> PathBuf {
        self.root().join("work")
    }

    pub fn socket(&self) -> PathBuf {
        self.root().join("run/roar/roard.sock")
    }

    pub fn database(&self) -> PathBuf {
        self.root().join("data/roar/roar.db")
    }

    pub fn daemon_log(&self) -> PathBuf {
        self.root().join("state/roar/roard.log")
    }

    /// Applies the sandbox's environment to any command.
    pub fn env(&self, command: &mut Command) {
        command
            .env("XDG_RUNTIME_DIR", self.root().join("run"))
            .env("XDG_DATA_HOME", self.root().join("data"))
            .env("XDG_STATE_HOME", self.root().join("state"))
            .env("XDG_CONFIG_HOME", self.root().join("config"))
            .env("XDG_CACHE_HOME", self.root().join("cache"))
            .env_remove("ROAR_SOCKET")
            .env_remove("ROAR_DATABASE")
            .env("ROAR_SYSTEM_CONFIG", self.root().join("system-config.toml"))
            .env_remove("ROAR_CONFIG")
            .current_dir(self.work_dir());
    }

    /// `roarctl` with this sandbox's environment.
    pub fn roarctl(&self) -> Command {
        let mut command = Command::new(bin_dir().join("roarctl"));
        self.env(&mut command);
        command.stdin(Stdio::null());
        command
    }

    /// `roard` in the foreground with this sandbox's environment.
    pub fn roard(&self) -> Command {
        let mut command = Command::new(bin_dir().join("roard"));
        self.env(&mut command);
        command
    }

    /// `roarctl run -- ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.roarctl()
            .arg("run")
            .arg("--")
            .args(args)
            .output()
            .expect("run roarctl")
    }

    /// `roarctl ARGS --json`, parsed.
    pub fn json(&self, args: &[&str]) -> Value {
        let output = self
            .roarctl()
            .args(args)
            .arg("--json")
            .output()
            .expect("run roarctl");
        assert!(
            output.status.success(),
            "roarctl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("roarctl printed JSON")
    }

    /// The running daemon's pid, if one answers.
    pub fn daemon_pid(&self) -> Option<u32> {
        let output = self
            .roarctl()
            .args(["--no-autostart", "daemon", "status", "--json"])
            .output()
            .ok()?;
        let status: Value = serde_json::from_slice(&output.stdout).ok()?;
        status["pid"].as_u64().map(|p| p as u32)
    }

    /// Waits for `condition` up to `timeout`.
    pub fn wait_for(&self, timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if condition() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        condition()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let pid = self.daemon_pid();
        let _ = self
            .roarctl()
            .args(["--no-autostart", "daemon", "stop"])
            .output();
        if let Some(pid) = pid {
            let gone = self.wait_for(Duration::from_secs(5), || !process_alive(pid));
            if !gone {
                let pid = nix::unistd::Pid::from_raw(pid as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// Exit code of a finished command, panicking with its stderr on signal death.
pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or_else(|| {
        panic!(
            "killed by a signal; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that a command's stderr contains `text`, showing the stderr otherwise.
#[track_caller]
pub fn assert_stderr_contains(output: &Output, text: &str) {
    let stderr = stderr(output);
    assert!(
        stderr.contains(text),
        "expected {text:?} in stderr:\n{stderr}"
    );
}

/// `argv[0]` of every process in a `roarctl show --json` record.
pub fn process_names(job: &Value) -> Vec<String> {
    job["processes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["argv"][0].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Whether `pid` runs. A zombie does not: an auto-started daemon's parent (roarctl) is
/// gone, and not every init reaps orphans promptly.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// BLAKE3 of `bytes` in lowercase hex, computed independently of roard.
pub fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Runs `git ARGS` in `dir` with a fixed identity and default branch, as a user's
/// repository would be set up; panics with git's stderr on failure. Returns stdout,
/// trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "advice.detachedHead=false",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
