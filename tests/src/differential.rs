//! Differential runs: a command under `strace -f` (the oracle, read by [`strace`]),
//! then under `roarctl run` without the fast path and with it, each from the same
//! starting files; the sets of files read and written must be equal all three times.

use std::path::Path;
use std::time::Duration;

use crate::strace::{self, FileSet};
use crate::{Sandbox, code, stderr};

/// Python without bytecode caches, so both runs touch the same files.
const ENV: &[(&str, &str)] = &[("PYTHONDONTWRITEBYTECODE", "1")];

fn reset(work: &Path, setup: &dyn Fn(&Path)) {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).unwrap();
    setup(work);
}

/// Runs `command` under strace and under roar, fast path on and off, and compares.
/// Returns roar's record (fast path on) for further checks.
pub fn differential(setup: &dyn Fn(&Path), command: &[&str]) -> serde_json::Value {
    differential_records(setup, command).1
}

/// As [`differential`]; both of roar's records: without the fast path, then with it.
pub fn differential_records(
    setup: &dyn Fn(&Path),
    command: &[&str],
) -> (serde_json::Value, serde_json::Value) {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    reset(&work, setup);
    let expected = strace::trace(command, &work, ENV);
    let slow = recorded(&sandbox, setup, command, &["--no-fast-path"]);
    assert_eq!(
        slow["seen_by"]["fast_path_opens"], 0,
        "--no-fast-path used the fast path"
    );
    assert_sets_equal(&expected, &strace::from_roar_record(&slow));
    let fast = recorded(&sandbox, setup, command, &[]);
    assert_sets_equal(&expected, &strace::from_roar_record(&fast));
    (slow, fast)
}

/// Runs `command` under `roarctl run FLAGS` from freshly set-up files; its record.
fn recorded(
    sandbox: &Sandbox,
    setup: &dyn Fn(&Path),
    command: &[&str],
    flags: &[&str],
) -> serde_json::Value {
    let work = sandbox.work_dir();
    reset(&work, setup);
    let output = sandbox
        .roarctl()
        .envs(ENV.iter().copied())
        .arg("run")
        .args(flags)
        .arg("--")
        .args(command)
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        sandbox.wait_for(Duration::from_secs(20), || {
            sandbox.json(&["show", "last"])["state"] == "finished"
        }),
        "the job's record did not complete"
    );
    // Every file, whatever its class: the tracer's exactness is what is compared.
    sandbox.json(&["show", "last", "--all"])
}

pub fn assert_sets_equal(expected: &FileSet, actual: &FileSet) {
    let missing: FileSet = expected.difference(actual).cloned().collect();
    let extra: FileSet = actual.difference(expected).cloned().collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "strace saw but roar did not:\n{}\nroar saw but strace did not:\n{}",
        strace::describe(&missing),
        strace::describe(&extra)
    );
}
