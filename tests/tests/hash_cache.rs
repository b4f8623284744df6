//! The daemon-wide hash cache, end to end: unchanged files are served from it, and a
//! changed file is hashed again even when its mtime was forged back.

use std::time::Duration;

use roar_e2e::{Sandbox, blake3_hex, code};

#[test]
fn the_hash_cache_serves_unchanged_files_and_catches_forged_mtimes() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    let data = work.join("data.bin");
    std::fs::write(&data, "first").unwrap();
    let old_mtime = std::fs::metadata(&data).unwrap().modified().unwrap();
    // Older than the racy window, so its digest may be cached.
    std::thread::sleep(Duration::from_millis(300));
    let input_hash = |sandbox: &Sandbox| {
        assert_eq!(code(&sandbox.run(&["cat", "data.bin"])), 0);
        let job = sandbox.json(&["show", "last"]);
        job["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with("/data.bin"))
            .map(|f| f["hashes"]["blake3"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(input_hash(&sandbox), blake3_hex(b"first"));
    let hits_before = sandbox.json(&["daemon", "status"])["hash_cache_hits"]
        .as_u64()
        .unwrap();
    assert_eq!(input_hash(&sandbox), blake3_hex(b"first"));
    let hits_after = sandbox.json(&["daemon", "status"])["hash_cache_hits"]
        .as_u64()
        .unwrap();
    assert!(hits_after > hits_before, "the second run used the cache");

    // Same size, mtime forged back: the ctime still moved, so the cache is not fooled.
    std::fs::write(&data, "other").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&data)
        .unwrap()
        .set_modified(old_mtime)
        .unwrap();
    assert_eq!(input_hash(&sandbox), blake3_hex(b"other"));
}

#[test]
fn two_concurrent_jobs_reading_one_large_file_hash_it_once() {
    let sandbox = Sandbox::new();
    let big = sandbox.work_dir().join("big.bin");
    let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&big, chunk.repeat(64)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // A first job starts the daemon; its inputs are system files only.
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let before = sandbox.json(&["daemon", "status"])["hashed_bytes"]
        .as_u64()
        .unwrap();
    let spawn = || {
        sandbox
            .roarctl()
            .args(["-q", "run", "--", "cat", "big.bin"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for mut job in [a, b] {
        assert!(job.wait().unwrap().success());
    }
    let after = sandbox.json(&["daemon", "status"])["hashed_bytes"]
        .as_u64()
        .unwrap();
    let hashed = after - before;
    // The big file once; the few small system files cat reads may add a little.
    assert!(
        (64 << 20..(64 << 20) + (8 << 20)).contains(&hashed),
        "hashed {hashed} bytes for two jobs reading one 64 MiB file"
    );
}
