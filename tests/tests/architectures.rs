//! Syscalls of another ABI than the daemon's are decoded by their own table: a 32-bit
//! (i386) process on an x86_64 machine gets the same record as a native one, and
//! nothing it did not write is ever taken for its output.

#![cfg(target_arch = "x86_64")]

use std::process::{Command, Stdio};

use roar_e2e::{Sandbox, code, stderr};

/// Builds `tests/programs/i386_files.c` into the sandbox; None (the test is skipped
/// with a note) where this gcc cannot make 32-bit code.
fn i386_program(sandbox: &Sandbox) -> Option<std::path::PathBuf> {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/programs/i386_files.c");
    let binary = sandbox.root().join("i386_files");
    let built = Command::new("gcc")
        .args([
            "-m32",
            "-nostdlib",
            "-static",
            "-ffreestanding",
            "-fno-pie",
            "-no-pie",
        ])
        .args(["-O1", "-o"])
        .arg(&binary)
        .arg(source)
        .status()
        .ok()?;
    built.success().then_some(binary)
}

#[test]
fn a_32_bit_program_is_recorded_by_the_i386_table() {
    let sandbox = Sandbox::new();
    let Some(program) = i386_program(&sandbox) else {
        eprintln!("skipped: gcc cannot build i386 code here");
        return;
    };
    let work = sandbox.work_dir();
    std::fs::write(work.join("in.txt"), "hello\n").unwrap();
    std::fs::write(work.join("stdin.txt"), "not the job's\n").unwrap();
    let stdin = std::fs::File::open(work.join("stdin.txt")).unwrap();
    let output = sandbox
        .roarctl()
        .args(["run", "--"])
        .arg(&program)
        .stdin(Stdio::from(stdin))
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(std::fs::read(work.join("out.txt")).unwrap(), b"hello\n");

    let job = sandbox.json(&["show", "last"]);
    let names = |role: &str| -> Vec<String> {
        job[role]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                f["path"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    // The program itself is an input too: it is data the job ran.
    assert_eq!(names("inputs"), ["i386_files", "in.txt"], "{job}");
    assert_eq!(names("outputs"), ["out.txt"], "{job}");

    // Removing the step's outputs removes what it wrote, and only that.
    let popped = sandbox
        .roarctl()
        .args(["pop", "-y", "--delete-outputs"])
        .output()
        .unwrap();
    assert_eq!(code(&popped), 0, "{}", stderr(&popped));
    assert!(!work.join("out.txt").exists());
    assert!(work.join("in.txt").exists());
    assert!(work.join("stdin.txt").exists());
}
