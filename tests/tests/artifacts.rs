//! Artifacts are found by path and by any unique hash prefix, with the jobs that wrote
//! and read them.

use roar_e2e::{Sandbox, assert_stderr_contains, blake3_hex, code};

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
    for (target, message) in [
        ("sha256:abc", "not a hash prefix"),
        ("0123456789abcdef0123", "no recorded artifact matches"),
        ("/etc/hostname", "no recorded artifact matches"),
    ] {
        let output = sandbox.roarctl().args(["show", target]).output().unwrap();
        assert_eq!(code(&output), 1, "{target}");
        assert_stderr_contains(&output, message);
    }
}
