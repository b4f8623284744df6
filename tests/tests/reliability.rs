//! Faults, load and bad input: roar must never cost a job or a record, and must say
//! clearly what went wrong. Figures printed here (peak memory) go to RELIABILITY.md.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use roar_e2e::{Sandbox, assert_stderr_contains, blake3_hex, code, stderr};

/// roard's peak resident memory so far (VmHWM), in KiB.
fn daemon_peak_rss_kib(sandbox: &Sandbox) -> u64 {
    let pid = sandbox.daemon_pid().expect("roard runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn killing_roarctl_mid_job_costs_neither_the_job_nor_its_record() {
    let sandbox = Sandbox::new();
    let mut roarctl = sandbox
        .roarctl()
        .args(["run", "--", "sh", "-c", "sleep 1; echo done > late.txt"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    roarctl.kill().unwrap();
    roarctl.wait().unwrap();
    let late = sandbox.work_dir().join("late.txt");
    assert!(
        sandbox.wait_for(Duration::from_secs(20), || late.exists()
            && sandbox.json(&["show", "last"])["state"] == "finished"),
        "the job ran on and its record completed"
    );
    let job = sandbox.json(&["show", "last"]);
    let output = &job["outputs"][0];
    assert!(output["path"].as_str().unwrap().ends_with("/late.txt"));
    assert_eq!(output["hashes"]["blake3"], blake3_hex(b"done\n").as_str());
}

#[test]
fn a_job_that_uses_ptrace_gets_its_own_error_not_a_hang() {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("skipped: strace is not installed");
        return;
    }
    let sandbox = Sandbox::new();
    let started = Instant::now();
    let output = sandbox.run(&["strace", "-f", "-o", "/dev/null", "true"]);
    assert!(started.elapsed() < Duration::from_secs(30), "no hang");
    assert_ne!(
        code(&output),
        0,
        "strace cannot trace what roard already traces"
    );
    assert_stderr_contains(&output, "strace");
    // The job itself is recorded, with its own exit status.
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["state"], "finished");
    assert_eq!(job["exit_code"], code(&output));
}

#[test]
fn sixteen_concurrent_jobs_record_every_output_with_its_hash() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    std::fs::write(work.join("shared.txt"), "shared input\n").unwrap();
    let jobs: Vec<_> = (0..16)
        .map(|n| {
            std::fs::create_dir_all(work.join(format!("out{n}"))).unwrap();
            sandbox
                .roarctl()
                .args(["-q", "run", "--", "sh", "-c"])
                .arg(format!(
                    "cat shared.txt > /dev/null; i=0; while [ $i -lt 500 ]; do \
                     echo \"$i of {n}\" > out{n}/f$i; i=$((i+1)); done"
                ))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in jobs {
        let output = child.wait_with_output().unwrap();
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        let text = stderr(&output);
        assert!(!text.contains("BUSY") && !text.contains("locked"), "{text}");
    }
    let log = sandbox.json(&["log", "-n", "20"]);
    assert_eq!(log.as_array().unwrap().len(), 16);
    let mut outputs = 0;
    for summary in log.as_array().unwrap() {
        let job = sandbox.json(&["show", summary["uid"].as_str().unwrap()]);
        assert_eq!(job["state"], "finished");
        assert!(
            job["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["path"].as_str().unwrap().ends_with("/shared.txt"))
        );
        for file in job["outputs"].as_array().unwrap() {
            let path = file["path"].as_str().unwrap();
            let content = std::fs::read(path).unwrap();
            assert_eq!(
                file["hashes"]["blake3"],
                blake3_hex(&content).as_str(),
                "{path}"
            );
            outputs += 1;
        }
    }
    assert_eq!(outputs, 16 * 500);
    eprintln!(
        "roard peak RSS after 16 x 500 outputs: {} KiB",
        daemon_peak_rss_kib(&sandbox)
    );
}

#[test]
fn a_job_of_5000_processes_and_one_of_200k_file_events_are_recorded() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 5000 ]; do /bin/true; i=$((i+1)); done",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["state"], "finished");
    assert_eq!(job["processes"].as_array().unwrap().len(), 5001);
    let after_processes = daemon_peak_rss_kib(&sandbox);

    std::fs::write(sandbox.work_dir().join("input.txt"), "x").unwrap();
    let output = sandbox.run(&[
        "python3",
        "-c",
        "for i in range(100000):\n    open('input.txt').read()\n    open('out%d.txt' % (i % 50), 'w').write(str(i))",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["state"], "finished");
    assert_eq!(job["outputs"].as_array().unwrap().len(), 50);
    let peak = daemon_peak_rss_kib(&sandbox);
    eprintln!(
        "roard peak RSS: {after_processes} KiB after 5000 processes, {peak} KiB after 200k file events"
    );
    assert!(
        peak < 512 * 1024,
        "roard's memory stays bounded: {peak} KiB"
    );
}

#[test]
fn bad_input_gets_clear_errors_and_loses_nothing() {
    let sandbox = Sandbox::new();
    // An empty command: a usage error, nothing started.
    let output = sandbox.roarctl().args(["run", "--"]).output().unwrap();
    assert_eq!(code(&output), 2);
    assert_stderr_contains(&output, "COMMAND");
    // A 1 MiB command line (eight arguments of 128 KiB, the kernel's limit for one):
    // it runs, and the record keeps it whole.
    let chunk = "x".repeat((128 << 10) - 1);
    let mut args = vec!["true"];
    args.extend(std::iter::repeat_n(chunk.as_str(), 8));
    let output = sandbox.run(&args);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let job = sandbox.json(&["show", "last"]);
    let argv = job["argv"].as_array().unwrap();
    assert_eq!(argv.len(), 9);
    assert!(
        argv[1..]
            .iter()
            .all(|a| a.as_str().unwrap().len() == (128 << 10) - 1)
    );

    // A deleted working directory.
    let gone = sandbox.root().join("gone");
    std::fs::create_dir(&gone).unwrap();
    let mut command = Command::new("sh");
    sandbox.env(&mut command);
    let output = command
        .arg("-c")
        .arg(format!(
            "cd {} && rmdir ../gone && exec {} run -- true",
            gone.display(),
            roar_e2e::bin_dir().join("roarctl").display()
        ))
        .output()
        .unwrap();
    assert_ne!(code(&output), 0);
    assert!(!stderr(&output).contains("panicked"));
    assert_stderr_contains(&output, "directory");

    // Unknown steps and malformed hashes.
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let output = sandbox.roarctl().args(["show", "@99"]).output().unwrap();
    assert_ne!(code(&output), 0);
    assert_stderr_contains(&output, "@99");
    let output = sandbox
        .roarctl()
        .args(["show", "sha256:xyz"])
        .output()
        .unwrap();
    assert_ne!(code(&output), 0);
    assert!(!stderr(&output).contains("panicked"));

    // Paths with newlines and invalid UTF-8 round-trip (escaped) into the record.
    let output = sandbox.run(&["sh", "-c", "printf x > \"$(printf 'a\\nb\\377c')\""]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let job = sandbox.json(&["show", "last"]);
    assert!(
        job["outputs"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("/a\nb\\xffc"),
        "{}",
        job["outputs"]
    );
}

#[test]
fn a_corrupted_database_is_a_clear_error_and_is_not_overwritten() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.database().parent().unwrap()).unwrap();
    let garbage = b"this is not a SQLite database, and it must survive".repeat(200);
    std::fs::write(sandbox.database(), &garbage).unwrap();
    let output = sandbox.run(&["touch", "ran"]);
    assert_ne!(code(&output), 0);
    assert!(!sandbox.work_dir().join("ran").exists(), "nothing ran");
    let log = std::fs::read_to_string(sandbox.daemon_log()).unwrap_or_default();
    assert!(log.contains("database"), "{log}");
    assert_eq!(std::fs::read(sandbox.database()).unwrap(), garbage);
}

#[test]
fn the_store_and_socket_are_private_to_the_user() {
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(sandbox.database().parent().unwrap()), 0o700);
    assert_eq!(mode(&sandbox.database()), 0o600);
    assert_eq!(mode(sandbox.socket().parent().unwrap()), 0o700);
    assert_eq!(mode(&sandbox.socket()), 0o600);
}

#[test]
fn sigkill_of_roard_mid_job_costs_the_record_not_the_job() {
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let daemon = sandbox.daemon_pid().expect("roard runs");
    let roarctl = sandbox
        .roarctl()
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "sleep 1; echo late > late.txt; cat late.txt > copy.txt; exit 7",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let output = roarctl.wait_with_output().unwrap();
    // The job ran to its own end: its opens still worked (no ENOSYS) and its status
    // is roarctl's.
    assert_eq!(code(&output), 7, "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(sandbox.work_dir().join("copy.txt")).unwrap(),
        "late\n"
    );
    assert_stderr_contains(&output, "incomplete");
    // A new daemon finds the database consistent and the job interrupted.
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["state"], "interrupted");
    assert_eq!(code(&sandbox.run(&["true"])), 0);
}

/// The tracer helpers roard started that are waiting for a job (its spares).
fn spare_helpers(daemon: u32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ppid == Some(daemon) && cmdline.ends_with(b"--trace-helper\0") {
            found.push(pid);
        }
    }
    found
}

/// Whether exactly one spare of `daemon` waits, within ten seconds.
fn one_spare_waits(sandbox: &Sandbox, daemon: u32) -> bool {
    sandbox.wait_for(Duration::from_secs(10), || spare_helpers(daemon).len() == 1)
}

#[test]
fn a_spare_tracer_that_died_is_replaced_and_the_job_recorded() {
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let daemon = sandbox.daemon_pid().expect("roard runs");
    // roard keeps one helper started ahead of time; kill it while it waits.
    assert!(
        sandbox.wait_for(Duration::from_secs(10), || !spare_helpers(daemon)
            .is_empty()),
        "no spare tracer helper appeared"
    );
    let killed = spare_helpers(daemon);
    for &pid in &killed {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    }
    let output = sandbox.run(&["sh", "-c", "echo fresh > fresh.txt"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["state"], "finished");
    let outputs = job["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1, "{job}");
    assert_eq!(
        outputs[0]["hashes"]["blake3"],
        blake3_hex(b"fresh\n").as_str()
    );
    // The dead spare was reaped (no zombie left behind), and a new one waits.
    assert!(
        sandbox.wait_for(Duration::from_secs(10), || {
            killed
                .iter()
                .all(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        }),
        "the killed spare was not reaped"
    );
    assert!(
        one_spare_waits(&sandbox, daemon),
        "no new spare after the job"
    );
}

#[test]
fn a_job_refused_at_attach_leaves_a_spare_tracer_for_the_next() {
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let daemon = sandbox.daemon_pid().expect("roard runs");
    assert!(
        one_spare_waits(&sandbox, daemon),
        "no spare tracer helper appeared"
    );
    // Under strace the attach is refused, after the spare was handed the job.
    let mut command = Command::new("strace");
    sandbox.env(&mut command);
    let output = command
        .args(["-f", "-qq", "-o", "/dev/null"])
        .arg(roar_e2e::bin_dir().join("roarctl"))
        .args(["run", "--", "true"])
        .output()
        .expect("strace is installed (.ci/setup installs it)");
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        one_spare_waits(&sandbox, daemon),
        "no spare tracer helper after a refused job"
    );
}

#[test]
fn a_full_disk_loses_the_record_cleanly_never_the_job() {
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let output = sandbox.roarctl().args(["daemon", "stop"]).output().unwrap();
    assert_eq!(code(&output), 0);
    // roard again, now unable to grow any file past a few KiB beyond the database's
    // current size: the disk is "full" for it.
    let used: u64 = std::fs::read_dir(sandbox.database().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap();
    let limit_kib = used / 1024 + 16;
    let mut command = Command::new("sh");
    sandbox.env(&mut command);
    let mut daemon = command
        .arg("-c")
        .arg(format!(
            "ulimit -f {limit_kib}; exec {}",
            roar_e2e::bin_dir().join("roard").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(sandbox.wait_for(Duration::from_secs(10), || sandbox.daemon_pid().is_some()));
    let output = sandbox.run(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 3000 ]; do echo $i > file-with-a-long-name-$i.txt; i=$((i+1)); done; exit 3",
    ]);
    // The job ran to its end with its own status; the record is reported lost.
    assert_eq!(code(&output), 3, "{}", stderr(&output));
    assert!(
        sandbox
            .work_dir()
            .join("file-with-a-long-name-2999.txt")
            .exists()
    );
    assert_stderr_contains(&output, "could not be stored");
    let _ = sandbox.roarctl().args(["daemon", "stop"]).output();
    let _ = daemon.wait();
    // A normal daemon finds no half-written job: the lost one has no files at all.
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["state"], "interrupted");
    assert_eq!(job["outputs"].as_array().unwrap().len(), 0);
    assert_eq!(job["processes"].as_array().unwrap().len(), 0);
}

#[test]
fn a_read_only_database_is_a_clear_error_before_anything_runs() {
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let dir = sandbox.database().parent().unwrap().to_path_buf();
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // Root ignores file modes: the immutable attribute is what makes files read-only.
    let immutable = |flag: &str| {
        Command::new("chattr")
            .arg(flag)
            .args(&files)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !immutable("+i") {
        eprintln!("skipped: cannot make the database read-only here (chattr +i)");
        return;
    }
    let output = sandbox.run(&["sh", "-c", "echo ran > ran.txt"]);
    immutable("-i");
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_stderr_contains(&output, "cannot record the job");
    assert_stderr_contains(&output, "nothing was run");
    assert!(!sandbox.work_dir().join("ran.txt").exists());
    // Writable again: the earlier record is intact and new jobs are recorded.
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let log = sandbox.json(&["log"]);
    assert_eq!(log.as_array().unwrap().len(), 2);
}

#[test]
fn a_working_directory_without_permission_still_runs_and_is_recorded() {
    if !roar_e2e::is_root() {
        eprintln!("skipped: needs root to act as another user (root ignores permissions)");
        return;
    }
    // A user of its own (nobody), with its own private daemon and directories.
    let base = tempfile::tempdir().unwrap();
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for sub in ["run", "data", "state", "config", "cache", "home", "work"] {
        std::fs::create_dir(base.path().join(sub)).unwrap();
    }
    let status = Command::new("chown")
        .args(["-R", "65534:65534"])
        .args(
            ["run", "data", "state", "config", "cache", "home", "work"]
                .map(|s| base.path().join(s)),
        )
        .status()
        .unwrap();
    assert!(status.success());
    let roarctl = roar_e2e::bin_dir().join("roarctl");
    let b = base.path().display();
    let script = format!(
        "cd {b}/work && mkdir locked && cd locked && chmod 000 . && \
         {r} run -- sh -c 'echo ran' && {r} show last --json > {b}/work/job.json; \
         status=$?; {r} daemon stop >/dev/null 2>&1; exit $status",
        r = roarctl.display()
    );
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["env", "-i", "PATH=/usr/bin:/bin"])
        .arg(format!("HOME={b}/home"))
        .arg(format!("XDG_RUNTIME_DIR={b}/run"))
        .arg(format!("XDG_DATA_HOME={b}/data"))
        .arg(format!("XDG_STATE_HOME={b}/state"))
        .arg(format!("XDG_CONFIG_HOME={b}/config"))
        .arg(format!("XDG_CACHE_HOME={b}/cache"))
        .arg(format!("ROAR_SYSTEM_CONFIG={b}/none.toml"))
        .args(["sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("ran"));
    let job: serde_json::Value =
        serde_json::from_slice(&std::fs::read(base.path().join("work/job.json")).unwrap()).unwrap();
    assert_eq!(job["state"], "finished");
    assert!(job["cwd"].as_str().unwrap().ends_with("/work/locked"));
    // Let the root-owned temp dir be removed.
    let _ = Command::new("chmod")
        .arg("700")
        .arg(base.path().join("work/locked"))
        .status();
}

#[test]
fn an_input_replaced_by_someone_else_before_hashing_is_not_misrecorded() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    std::fs::write(work.join("in.txt"), "what the job read").unwrap();
    let job = sandbox
        .roarctl()
        .args([
            "-q",
            "run",
            "--",
            "sh",
            "-c",
            "cat in.txt > /dev/null; sleep 1",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // Outside the job: a new file renamed over the one it read.
    std::fs::write(work.join("new.txt"), "something else").unwrap();
    std::fs::rename(work.join("new.txt"), work.join("in.txt")).unwrap();
    let output = job.wait_with_output().unwrap();
    assert_eq!(code(&output), 0);
    let record = sandbox.json(&["show", "last"]);
    let input = record["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("/in.txt"))
        .expect("the read is recorded")
        .clone();
    // Its content is unknown, never the newcomer's.
    assert_eq!(input["hashes"], serde_json::json!({}), "{input}");
    assert_ne!(
        input["hashes"]["blake3"],
        blake3_hex(b"something else").as_str()
    );
}
