//! Artifacts are found by path and by any unique hash prefix, with the jobs that wrote
//! and read them.

use std::process::Command;

use roar_e2e::{Sandbox, assert_stderr_contains, blake3_hex, code, stderr};

#[test]
fn an_artifact_is_found_by_path_and_hash_prefix_with_its_producer_and_consumers() {
    let sandbox = Sandbox::new();
    assert_eq!(
        code(&sandbox.run(&["sh", "-c", "echo payload > out.csv"])),
        0
    );
    let producer = sandbox.json(&["show", "last"])["uid"].clone();
    assert_eq!(code(&sandbox.run(&["cp", "out.csv", "copy.csv"])), 0);
    let consumer = sandbox.json(&["show", "last"])["uid"].clone();

    let digest = blake3_hex(b"payload\n");
    for target in [
        "out.csv".to_string(),
        digest[..10].to_string(),
        format!("blake3:{}", &digest[..16]),
        digest.clone(),
    ] {
        let artifact = sandbox.json(&["show", &target]);
        assert_eq!(artifact["kind"], "artifact", "{target}");
        assert_eq!(artifact["size"], 8);
        assert_eq!(artifact["hashes"]["blake3"], digest.as_str());
        let uses = artifact["uses"].as_array().unwrap();
        let by = |role: &str| -> Vec<serde_json::Value> {
            uses.iter()
                .filter(|u| u["role"] == role)
                .map(|u| u["job"]["uid"].clone())
                .collect()
        };
        // Written by the producer, read by the consumer, written again as the copy:
        // content identity, not names.
        assert!(by("output").contains(&producer), "{artifact}");
        assert!(by("input").contains(&consumer), "{artifact}");
        assert!(by("output").contains(&consumer), "{artifact}");
    }
}

#[test]
fn bad_and_unknown_artifact_lookups_are_clear_errors() {
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    // A malformed prefix is a usage error (2); one that matches nothing, 1.
    for (target, message, exit) in [
        ("sha256:abc", "not a hash prefix", 2),
        ("0123456789abcdef0123", "no recorded artifact matches", 1),
        ("/etc/hostname", "no recorded artifact matches", 1),
    ] {
        let output = sandbox.roarctl().args(["show", target]).output().unwrap();
        assert_eq!(code(&output), exit, "{target}");
        assert_stderr_contains(&output, message);
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8(output.stdout).unwrap()[..64].to_string()
}

#[test]
fn sha256_is_added_on_request_and_found_by_prefix() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.work_dir().join("in.txt"), "before").unwrap();
    sandbox.write_config(
        "[hash]\nalgorithms = [\"blake3\", \"sha256\"]\n[filters]\ntmp = [\"/var/tmp\"]\n",
    );
    let output = sandbox
        .roarctl()
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "cat in.txt > /dev/null; echo after > in.txt",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0);
    let job = sandbox.json(&["show", "last"]);
    let input = &job["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("/in.txt"))
        .unwrap()["hashes"];
    // The pre-image carries both digests of what was read.
    assert_eq!(input["sha256"], sha256_hex(b"before").as_str());
    assert_eq!(input["blake3"], blake3_hex(b"before").as_str());
    let output_hashes = &job["outputs"][0]["hashes"];
    assert_eq!(output_hashes["sha256"], sha256_hex(b"after\n").as_str());

    let prefix = format!("sha256:{}", &sha256_hex(b"after\n")[..12]);
    let artifact = sandbox.json(&["show", &prefix]);
    assert_eq!(
        artifact["hashes"]["blake3"],
        blake3_hex(b"after\n").as_str()
    );
}

#[test]
fn an_unknown_hash_algorithm_stops_the_daemon_with_a_clear_error() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .roard()
        .env("ROARD_HASH_ALGORITHMS", "md5")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_stderr_contains(&output, "unknown hash algorithm 'md5'");

    // The same mistake in the configuration file.
    sandbox.write_config("[hash]\nalgorithms = [\"blake3\", \"md5\"]\n");
    let output = sandbox.roard().output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_stderr_contains(&output, "unknown hash algorithm 'md5'");
}

#[test]
fn hashing_progress_reaches_a_terminal() {
    // `script` gives roarctl a terminal; its transcript is what the user saw.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) to provide a terminal");
        return;
    }
    let sandbox = Sandbox::new();
    let big = sandbox.work_dir().join("big.bin");
    // Sparse: 768 MiB to hash, nothing on disk.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(768 << 20)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let roarctl = roar_e2e::bin_dir().join("roarctl");
    let transcript = sandbox.root().join("typescript");
    let mut command = Command::new("script");
    sandbox.env(&mut command);
    let output = command
        .env("ROAR_PROGRESS_AFTER_MS", "0")
        .arg("-qec")
        .arg(format!(
            "{} run -- cat big.bin > /dev/null",
            roarctl.display()
        ))
        .arg(&transcript)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let seen = String::from_utf8_lossy(&std::fs::read(&transcript).unwrap()).into_owned();
    assert!(seen.contains("roar: hashing"), "{seen}");
    assert!(seen.contains("roar: recorded job"), "{seen}");
}
