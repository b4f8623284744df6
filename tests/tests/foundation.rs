//! The foundation: launching traced jobs as the shell would, the daemon's socket and
//! life cycle, and the first records.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use roar_e2e::{Sandbox, assert_stderr_contains, code, is_root, process_names, stderr};

#[test]
fn exit_status_is_the_jobs_own() {
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["sh", "-c", "exit 3"])), 3);
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["exit_code"], 0);
    assert_eq!(job["state"], "finished");
}

#[test]
fn a_job_killed_by_a_signal_gives_128_plus_n() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["sh", "-c", "kill -TERM $$"]);
    assert_eq!(code(&output), 143);
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["exit_signal"], 15);
    assert_eq!(job["exit_code"], serde_json::Value::Null);
}

#[test]
fn a_missing_command_gives_127_and_says_so() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["no-such-command-for-roar"]);
    assert_eq!(code(&output), 127);
    assert_stderr_contains(&output, "no-such-command-for-roar: command not found");
}

#[test]
fn stdin_reaches_the_job() {
    let sandbox = Sandbox::new();
    let mut child = sandbox
        .roarctl()
        .args(["run", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hi\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.stdout, b"hi\n");
    assert_eq!(code(&output), 0);
}

#[test]
fn output_is_byte_identical_to_the_commands_own() {
    let sandbox = Sandbox::new();
    let script = "import sys\nprint(1)\nsys.stdout.buffer.write(bytes(range(256)))\n\
                  sys.stderr.write('err\\n')";
    let direct = Command::new("python3")
        .args(["-c", script])
        .output()
        .unwrap();
    let traced = sandbox
        .roarctl()
        .args(["-q", "run", "--", "python3", "-c", script])
        .output()
        .unwrap();
    assert_eq!(traced.stdout, direct.stdout);
    assert_eq!(traced.stderr, direct.stderr);
    assert_eq!(traced.status.code(), direct.status.code());
}

#[test]
fn the_environment_and_cwd_are_the_shells() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .roarctl()
        .env("ROAR_TEST_VALUE", "a b\tc")
        .args([
            "-q",
            "run",
            "--",
            "sh",
            "-c",
            "printf '%s|%s' \"$ROAR_TEST_VALUE\" \"$PWD\"",
        ])
        .output()
        .unwrap();
    let expected = format!("a b\tc|{}", sandbox.work_dir().display());
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
}

#[test]
fn every_process_of_the_tree_is_recorded() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&[
        "sh",
        "-c",
        "true; ls / > /dev/null; (echo x | cat) > /dev/null; exit 4",
    ]);
    assert_eq!(code(&output), 4);
    let job = sandbox.json(&["show", "last"]);
    let processes = job["processes"].as_array().unwrap();
    let commands: Vec<&str> = processes
        .iter()
        .map(|p| p["argv"][0].as_str().unwrap())
        .collect();
    assert!(commands.contains(&"ls"), "{commands:?}");
    assert!(commands.contains(&"cat"), "{commands:?}");
    let root = &processes[0];
    assert_eq!(root["exit_code"], 4);
    assert!(root["exe"].as_str().unwrap().starts_with('/'));
    for process in processes {
        assert!(process["ended_at"].is_string(), "{process}");
    }
    // Children point at their parents inside the tree.
    let pids: Vec<u64> = processes
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    for child in &processes[1..] {
        assert!(pids.contains(&child["ppid"].as_u64().unwrap()), "{child}");
    }
}

#[test]
fn two_jobs_at_once_are_both_recorded_completely() {
    let sandbox = Sandbox::new();
    // Start the daemon first so both clients race only on the jobs.
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let spawn = |tag: &str| {
        sandbox
            .roarctl()
            .args(["-q", "run", "--", "sh", "-c"])
            .arg(format!("sleep 0.3; echo {tag} | cat"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("a"), spawn("b"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(a.stdout, b"a\n");
    assert_eq!(b.stdout, b"b\n");
    let jobs = sandbox.json(&["log"]);
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 3);
    for step in ["@2", "@3"] {
        let job = sandbox.json(&["show", step]);
        assert_eq!(job["state"], "finished");
        assert_eq!(job["exit_code"], 0);
        let names = process_names(&job);
        assert!(
            names.iter().any(|n| n == "sleep") && names.iter().any(|n| n == "cat"),
            "{names:?}"
        );
    }
}

#[test]
fn the_daemon_is_started_once_and_reused() {
    let sandbox = Sandbox::new();
    assert!(!sandbox.socket().exists());
    assert_eq!(sandbox.daemon_pid(), None);
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let first = sandbox.daemon_pid().expect("daemon started");
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    assert_eq!(sandbox.daemon_pid(), Some(first));
    let mode = std::fs::metadata(sandbox.socket())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(sandbox.socket().parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
}

#[test]
fn without_autostart_a_missing_daemon_is_a_clear_error() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .roarctl()
        .args(["--no-autostart", "run", "--", "touch", "should-not-exist"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 1);
    assert_stderr_contains(&output, "no roard answers");
    assert!(!sandbox.work_dir().join("should-not-exist").exists());

    std::fs::create_dir_all(sandbox.root().join("config/roar")).unwrap();
    std::fs::write(
        sandbox.root().join("config/roar/config.toml"),
        "[daemon]\nautostart = false\n",
    )
    .unwrap();
    let output = sandbox.run(&["true"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_eq!(sandbox.daemon_pid(), None);

    // Asked explicitly, the command runs unrecorded.
    let output = sandbox
        .roarctl()
        .args(["run", "--allow-untraced", "--", "sh", "-c", "exit 5"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 5);
    assert_stderr_contains(&output, "untraced");
}

#[test]
fn a_stale_socket_from_a_killed_daemon_is_replaced() {
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let pid = sandbox.daemon_pid().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(sandbox.wait_for(Duration::from_secs(5), || sandbox.daemon_pid().is_none()));
    assert!(
        sandbox.socket().exists(),
        "the dead daemon's socket stays behind"
    );
    assert_eq!(code(&sandbox.run(&["sh", "-c", "exit 7"])), 7);
    let second = sandbox.daemon_pid().unwrap();
    assert_ne!(second, pid);
    assert_eq!(sandbox.json(&["log"]).as_array().unwrap().len(), 2);
}

#[test]
fn sigterm_lets_the_running_job_finish_and_be_recorded() {
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let pid = sandbox.daemon_pid().unwrap();
    let job = sandbox
        .roarctl()
        .args([
            "-q",
            "run",
            "--",
            "sh",
            "-c",
            "sleep 1.5; echo done > finished.txt",
        ])
        .spawn()
        .unwrap();
    assert!(sandbox.wait_for(Duration::from_secs(5), || {
        sandbox.json(&["daemon", "status"])["running_jobs"].as_u64() == Some(1)
    }));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let output = job.wait_with_output().unwrap();
    assert_eq!(code(&output), 0);
    assert_eq!(
        std::fs::read_to_string(sandbox.work_dir().join("finished.txt")).unwrap(),
        "done\n"
    );
    assert!(sandbox.wait_for(Duration::from_secs(10), || {
        !roar_e2e::process_alive(pid)
    }));
    assert!(
        !sandbox.socket().exists(),
        "a clean stop removes the socket"
    );
    // The record was committed before the daemon left.
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["state"], "finished");
    assert_eq!(job["argv"][2], "sleep 1.5; echo done > finished.txt");
}

/// Starts `roarctl -q run -- ARGS` in the background and waits until roard traces it.
fn start_job(sandbox: &Sandbox, global: &[&str], args: &[&str]) -> std::process::Child {
    let job = sandbox
        .roarctl()
        .args(global)
        .args(["-q", "run", "--"])
        .args(args)
        .spawn()
        .unwrap();
    assert!(sandbox.wait_for(Duration::from_secs(10), || {
        let Ok(status) = sandbox
            .roarctl()
            .args(["--no-autostart", "daemon", "status", "--json"])
            .output()
        else {
            return false;
        };
        serde_json::from_slice::<serde_json::Value>(&status.stdout)
            .is_ok_and(|status| status["running_jobs"].as_u64() == Some(1))
    }));
    job
}

#[test]
fn a_stopping_daemon_says_so_until_its_jobs_end() {
    let sandbox = Sandbox::new();
    let job = start_job(&sandbox, &[], &["sleep", "3"]);
    let pid = sandbox.daemon_pid().unwrap();
    let stop = sandbox.roarctl().args(["daemon", "stop"]).output().unwrap();
    assert_eq!(code(&stop), 0, "{}", stderr(&stop));
    assert_stderr_contains(&stop, "once its 1 running job(s) end");

    let status = sandbox
        .roarctl()
        .args(["daemon", "status"])
        .output()
        .unwrap();
    assert_eq!(code(&status), 0, "{}", stderr(&status));
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("stopping (1 job(s) running)"), "{text}");
    let json = sandbox.json(&["daemon", "status"]);
    assert_eq!(json["state"], "stopping", "{json}");
    assert_eq!(json["running_jobs"], 1, "{json}");
    // While it drains it refuses new jobs, and no second daemon is started beside it.
    let refused = sandbox.run(&["touch", "refused.txt"]);
    assert_eq!(code(&refused), 1);
    assert_stderr_contains(&refused, "shutting down");
    assert!(!sandbox.work_dir().join("refused.txt").exists());
    assert_eq!(sandbox.daemon_pid(), Some(pid));

    assert_eq!(code(&job.wait_with_output().unwrap()), 0);
    assert!(sandbox.wait_for(Duration::from_secs(10), || {
        !roar_e2e::process_alive(pid)
    }));
    let after = sandbox
        .roarctl()
        .args(["daemon", "status"])
        .output()
        .unwrap();
    assert_eq!(code(&after), 3);
}

/// Starts roard by hand as debug builds can: pretending to be another build.
fn start_other_build(sandbox: &Sandbox) -> std::process::Child {
    let daemon = sandbox
        .roard()
        .env("ROARD_FAULTS", "other-build")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(sandbox.wait_for(Duration::from_secs(10), || {
        sandbox.daemon_pid() == Some(daemon.id())
    }));
    daemon
}

#[test]
fn a_daemon_of_another_build_is_replaced_once_idle() {
    let sandbox = Sandbox::new();
    let mut old = start_other_build(&sandbox);
    let status = sandbox
        .roarctl()
        .args(["daemon", "status"])
        .output()
        .unwrap();
    assert_eq!(code(&status), 0);
    assert!(String::from_utf8_lossy(&status.stdout).contains("build     0000000000000000"));
    assert_stderr_contains(&status, "roard is another build (0000000000000000)");

    // Without auto-start the daemon is not roarctl's to replace: the job runs on it.
    let job = start_job(&sandbox, &["--no-autostart"], &["sleep", "2"]);
    let refused = sandbox.roarctl().arg("log").output().unwrap();
    assert_eq!(code(&refused), 1);
    assert_stderr_contains(
        &refused,
        "roard is another build (0000000000000000) with 1 job(s) running; when they end run \
         'roarctl daemon stop' and try again",
    );
    assert_eq!(sandbox.daemon_pid(), Some(old.id()));
    assert_eq!(code(&job.wait_with_output().unwrap()), 0);

    let log = sandbox.roarctl().args(["log", "--json"]).output().unwrap();
    assert_eq!(code(&log), 0, "{}", stderr(&log));
    assert_stderr_contains(
        &log,
        "roarctl: restarted roard: it was another build (old 0000000000000000, new ",
    );
    let jobs: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    assert_eq!(
        jobs.as_array().unwrap().len(),
        1,
        "the record survives: {jobs}"
    );
    assert!(
        old.wait().unwrap().success(),
        "the old daemon stopped cleanly"
    );
    let new = sandbox.json(&["daemon", "status"]);
    assert_ne!(new["pid"].as_u64(), Some(u64::from(old.id())));
    assert_ne!(new["build_id"], "0000000000000000");
    assert!(stderr(&log).contains(new["build_id"].as_str().unwrap()));
    // The daemon's lock file beside the socket names the build that answers: a
    // client of the same build reads it there and needs no `Hello`.
    let lock = std::fs::read_to_string(sandbox.socket().with_extension("sock.lock")).unwrap();
    assert_eq!(lock, new["build_id"].as_str().unwrap());
}

#[test]
fn a_background_process_is_followed_after_the_job_returns() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["sh", "-c", "(sleep 0.4; echo late > late.txt) & exit 0"]);
    assert_eq!(code(&output), 0);
    assert!(
        stderr(&output).contains("process(es) running"),
        "{}",
        stderr(&output)
    );
    assert!(sandbox.wait_for(Duration::from_secs(10), || {
        sandbox.json(&["show", "last"])["state"] == "finished"
    }));
    let job = sandbox.json(&["show", "last"]);
    let names = process_names(&job);
    assert!(names.iter().any(|n| n == "sleep"), "{names:?}");
}

#[test]
fn secrets_in_the_environment_are_redacted() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .roarctl()
        .env("MY_API_TOKEN", "hunter2-secret-value")
        .env("SENTRY_DSN", "https://dsn-secret-value@example.invalid/1")
        // The daemon started by this roarctl inherits the extra fragment.
        .env("ROARD_REDACT_ENV", "dsn")
        .args(["run", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0);
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["env"]["MY_API_TOKEN"], "<redacted>");
    assert_eq!(job["env"]["SENTRY_DSN"], "<redacted>");
    assert!(job["env"]["PATH"].is_string());
    // Not in the database files either (main file and write-ahead log).
    let dir = sandbox.database().parent().unwrap().to_path_buf();
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for secret in ["hunter2-secret-value", "dsn-secret-value"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} found in the database"
            );
        }
    }
}

#[test]
fn another_uid_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root to act as another user");
        return;
    }
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    // Open every door the file system has, so only the peer-credential check remains.
    for dir in [
        sandbox.root().to_path_buf(),
        sandbox.root().join("run"),
        sandbox.root().join("run/roar"),
    ] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(sandbox.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(roar_e2e::bin_dir().join("roarctl"))
        .arg("--socket")
        .arg(sandbox.socket())
        .args(["--no-autostart", "log", "--all"])
        .current_dir("/")
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(code(&output), 1);
    assert_stderr_contains(&output, "may not use it");
}

#[test]
fn unknown_jobs_are_clear_errors() {
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    // Nothing of that name: exit 1, and the message says every form a name may take.
    for (selector, message, exit) in [
        ("@9", "no job matches '@9'", 1),
        ("zz", "no job, step, file or artifact matches 'zz'", 1),
        (
            "ffffffff",
            "no job, step, file or artifact matches 'ffffffff'",
            1,
        ),
        ("fff", "no job, step, file or artifact matches 'fff'", 1),
    ] {
        let output = sandbox.roarctl().args(["show", selector]).output().unwrap();
        assert_eq!(code(&output), exit, "{selector}");
        assert!(
            stderr(&output).contains(message),
            "{selector}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn the_systemd_unit_verifies() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    };
    assert!(probe.status.success());
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../systemd/roard.service"
    ))
    .unwrap();
    // Point ExecStart at the freshly built binary: verify checks that it exists.
    let roard = roar_e2e::bin_dir().join("roard");
    let unit: String = unit
        .lines()
        .map(|line| {
            if line.starts_with("ExecStart=") {
                format!("ExecStart={}", roard.display())
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roard.service");
    std::fs::write(&path, unit).unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let messages = String::from_utf8_lossy(&output.stderr);
    let complaints: Vec<&str> = messages
        .lines()
        .filter(|line| line.contains("roard.service"))
        .collect();
    assert!(complaints.is_empty(), "{messages}");
}

#[test]
fn the_record_closes_at_the_linger_bound_and_the_process_runs_on() {
    let sandbox = Sandbox::new();
    // The daemon started by roarctl inherits this environment.
    let output = sandbox
        .roarctl()
        .env("ROARD_LINGER_SECS", "1")
        // The background process lets go of the pipes, so output() returns at once.
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "(sleep 3; echo survived > survived.txt) >/dev/null 2>&1 & exit 0",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0);
    assert!(sandbox.wait_for(Duration::from_secs(10), || {
        sandbox.json(&["show", "last"])["state"] == "finished"
    }));
    let job = sandbox.json(&["show", "last"]);
    assert!(job["lingering_processes"].as_u64().unwrap() >= 1, "{job}");
    // Not killed, not broken: the background process finishes its work.
    let survived = sandbox.work_dir().join("survived.txt");
    assert!(!survived.exists(), "closed before the process ended");
    assert!(sandbox.wait_for(Duration::from_secs(10), || survived.exists()));
    assert_eq!(std::fs::read_to_string(survived).unwrap(), "survived\n");
}

#[test]
fn a_failing_tracer_costs_the_record_never_the_job() {
    let sandbox = Sandbox::new();
    // Debug builds of roard panic in the tracer at the first exec when asked to.
    let output = sandbox
        .roarctl()
        .env("ROARD_FAULTS", "tracer-panic")
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "ls / > listing.txt; echo done > done.txt; exit 4",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&output), 4, "the job ran to its own end");
    assert_stderr_contains(&output, "provenance for this run is incomplete");
    assert_eq!(
        std::fs::read_to_string(sandbox.work_dir().join("done.txt")).unwrap(),
        "done\n"
    );
    assert!(
        !std::fs::read_to_string(sandbox.work_dir().join("listing.txt"))
            .unwrap()
            .is_empty()
    );
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["state"], "interrupted");
}

#[test]
fn when_ptrace_is_refused_nothing_runs_and_the_cause_is_named() {
    // Under strace, the job's process already has a tracer: roard's PTRACE_SEIZE is
    // refused by the kernel, as it would be under a restrictive ptrace policy.
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let mut command = Command::new("strace");
    sandbox.env(&mut command);
    let output = command
        .args(["-f", "-qq", "-o", "/dev/null"])
        .arg(roar_e2e::bin_dir().join("roarctl"))
        .args(["run", "--", "touch", "must-not-exist"])
        .output()
        .expect("strace is installed (.ci/setup installs it)");
    assert_eq!(code(&output), 1);
    assert_stderr_contains(&output, "already traced by strace");
    assert_stderr_contains(&output, "nothing was run");
    assert!(!sandbox.work_dir().join("must-not-exist").exists());

    // Asked to, roarctl runs it anyway, unrecorded.
    let mut command = Command::new("strace");
    sandbox.env(&mut command);
    let output = command
        .args(["-f", "-qq", "-o", "/dev/null"])
        .arg(roar_e2e::bin_dir().join("roarctl"))
        .args(["run", "--allow-untraced", "--", "touch", "did-run"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(sandbox.work_dir().join("did-run").exists());
}

#[test]
fn a_tracer_failing_after_resuming_a_tracee_leaves_its_signals_and_exit_alone() {
    // Debug builds of roard panic right after resuming the first traced syscall when
    // asked to: the tracee is already running then, and must not be resumed again
    // from whatever stop it reached since (a signal it was being handed would be lost).
    let sandbox = Sandbox::new();
    let output = sandbox
        .roarctl()
        .env("ROARD_FAULTS", "tracer-panic-after-resume")
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "trap 'echo caught > trapped.txt' USR1; cat /etc/hostname > /dev/null; \
             kill -USR1 $$; echo done > done.txt; exit 5",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&output), 5, "the job ran to its own end");
    assert_stderr_contains(&output, "provenance for this run is incomplete");
    let read = |name: &str| std::fs::read_to_string(sandbox.work_dir().join(name)).unwrap();
    assert_eq!(
        read("trapped.txt"),
        "caught\n",
        "the job's own signal reached it"
    );
    assert_eq!(read("done.txt"), "done\n");
    assert_eq!(sandbox.json(&["show", "last"])["state"], "interrupted");
}
