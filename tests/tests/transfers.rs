//! `get` and `put` against real servers on 127.0.0.1: an S3-compatible store (s3s-fs,
//! installed by .ci/setup) and a local HTTP server (tests/servers/http_server.py) that
//! can cut a transfer short.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use roar_e2e::{Sandbox, assert_stderr_contains, blake3_hex, code, stderr};

/// A server process, killed on drop.
struct Server {
    child: Child,
    port: u16,
    root: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_server() -> Server {
    let root = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("servers/http_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(root.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the server prints its port");
    Server { child, port, root }
}

fn s3_server() -> Server {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("bucket")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("s3s-fs")
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--access-key",
            "roar-test",
            "--secret-key",
            "roar-test-secret",
        ])
        .arg(root.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "s3s-fs is installed (.ci/setup installs it: cargo install s3s-fs --features binary)",
        );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Server { child, port, root };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    panic!("s3s-fs did not start");
}

/// roarctl with the S3 server's credentials and endpoint.
fn roarctl_s3(sandbox: &Sandbox, s3: &Server, args: &[&str]) -> Output {
    sandbox
        .roarctl()
        .env("AWS_ACCESS_KEY_ID", "roar-test")
        .env("AWS_SECRET_ACCESS_KEY", "roar-test-secret")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", s3.port))
        .env("HOME", sandbox.root())
        .args(args)
        .output()
        .unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()[..64].to_string()
}

/// No temporary download files anywhere under `dir`.
fn no_leftovers(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            !name.to_string_lossy().starts_with(".roar-"),
            "{name:?} was left behind"
        );
    }
}

fn run(sandbox: &Sandbox, args: &[&str]) -> Output {
    sandbox.roarctl().args(args).output().unwrap()
}

#[test]
fn http_downloads_are_verified_and_failures_leave_nothing() {
    let sandbox = Sandbox::new();
    let http = http_server();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(http.root.path().join("data.bin"), &data).unwrap();
    let url = format!("http://127.0.0.1:{}/data.bin", http.port);
    let work = sandbox.work_dir();

    let wrong = "0".repeat(64);
    let output = run(&sandbox, &["get", &url, "--sha256", &wrong]);
    assert_ne!(code(&output), 0);
    assert_stderr_contains(&output, "expected content");
    assert!(!work.join("data.bin").exists());
    no_leftovers(&work);

    let output = run(&sandbox, &["get", &url, "--sha256", &sha256_hex(&data)]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(std::fs::read(work.join("data.bin")).unwrap(), data);
    let artifact = sandbox.json(&["show", "data.bin"]);
    assert_eq!(artifact["hashes"]["sha256"], sha256_hex(&data).as_str());
    assert_eq!(artifact["hashes"]["blake3"], blake3_hex(&data).as_str());
    assert_eq!(artifact["downloaded_from"], serde_json::json!([url]));

    // Interrupted mid-body, and missing: clear errors, nothing partial.
    let truncated = format!("http://127.0.0.1:{}/truncated/data.bin", http.port);
    let output = run(&sandbox, &["get", &truncated, "cut.bin"]);
    assert_ne!(code(&output), 0);
    assert!(!work.join("cut.bin").exists());
    no_leftovers(&work);
    let missing = format!("http://127.0.0.1:{}/missing.bin", http.port);
    let output = run(&sandbox, &["get", &missing]);
    assert_ne!(code(&output), 0);
    assert_stderr_contains(&output, "404");
    assert!(!work.join("missing.bin").exists());

    // Same content already there: fine. Different content: only with --force.
    assert_eq!(code(&run(&sandbox, &["get", &url])), 0);
    std::fs::write(work.join("data.bin"), "local edits").unwrap();
    let output = run(&sandbox, &["get", &url]);
    assert_ne!(code(&output), 0);
    assert_stderr_contains(&output, "--force");
    assert_eq!(
        std::fs::read(work.join("data.bin")).unwrap(),
        b"local edits"
    );
    assert_eq!(code(&run(&sandbox, &["get", &url, "--force"])), 0);
    assert_eq!(std::fs::read(work.join("data.bin")).unwrap(), data);

    // --dry-run writes nothing.
    let output = run(&sandbox, &["get", &url, "other.bin", "--dry-run"]);
    assert_eq!(code(&output), 0);
    assert!(!work.join("other.bin").exists());

    // Lineage of something made from the download ends at its URL.
    let output = sandbox.run(&["sh", "-c", "wc -c data.bin > size.txt"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let lineage = sandbox.json(&["lineage", "size.txt"]);
    let origins: Vec<&serde_json::Value> = lineage["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["origins"].as_array().unwrap())
        .collect();
    assert_eq!(origins, [&serde_json::json!(url)]);
}

#[test]
fn put_to_s3_and_get_back_round_trip_with_connected_lineage() {
    let sandbox = Sandbox::new();
    let s3 = s3_server();
    let work = sandbox.work_dir();
    std::fs::create_dir_all(work.join("results/plots")).unwrap();
    std::fs::write(work.join("raw.csv"), "1,2,3\n").unwrap();
    let output = sandbox.run(&[
        "sh",
        "-c",
        "sort raw.csv > results/table.csv; echo plot > results/plots/a.txt",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));

    // A file, then the same file again (nothing sent), a directory, and @N.
    let output = roarctl_s3(
        &sandbox,
        &s3,
        &[
            "put",
            "results/table.csv",
            "s3://bucket/one/",
            "-m",
            "first",
        ],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let stored = s3.root.path().join("bucket/one/table.csv");
    assert_eq!(std::fs::read(&stored).unwrap(), b"1,2,3\n");
    let output = roarctl_s3(
        &sandbox,
        &s3,
        &[
            "put",
            "results/table.csv",
            "s3://bucket/one/",
            "-m",
            "again",
        ],
    );
    assert_eq!(code(&output), 0);
    assert_stderr_contains(&output, "already there");

    let output = roarctl_s3(
        &sandbox,
        &s3,
        &[
            "put",
            "results/table.csv",
            "s3://bucket/one/",
            "-m",
            "json",
            "--json",
        ],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report[0]["transferred"], false);
    assert_eq!(report[0]["url"], "s3://bucket/one/table.csv");

    let output = roarctl_s3(
        &sandbox,
        &s3,
        &["put", "results", "s3://bucket/dir/", "-m", "dir"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(s3.root.path().join("bucket/dir/plots/a.txt").is_file());
    assert!(s3.root.path().join("bucket/dir/table.csv").is_file());

    let output = roarctl_s3(
        &sandbox,
        &s3,
        &["put", "@1", "s3://bucket/step/", "--dry-run", "-m", "plan"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("s3://bucket/step/results/table.csv"));
    assert!(
        !s3.root.path().join("bucket/step").exists(),
        "a dry run sends nothing"
    );
    let output = roarctl_s3(
        &sandbox,
        &s3,
        &["put", "@1", "s3://bucket/step/", "-m", "step"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        s3.root
            .path()
            .join("bucket/step/results/plots/a.txt")
            .is_file()
    );

    let artifact = sandbox.json(&["show", "results/table.csv"]);
    let uploaded = artifact["uploaded_to"].as_array().unwrap();
    assert!(uploaded.contains(&serde_json::json!("s3://bucket/one/table.csv")));

    // Everything under a prefix comes back with equal hashes and relative paths kept.
    let back = sandbox.root().join("back");
    let output = roarctl_s3(
        &sandbox,
        &s3,
        &["get", "s3://bucket/dir/", back.to_str().unwrap()],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let fetched = std::fs::read(back.join("plots/a.txt")).unwrap();
    assert_eq!(fetched, b"plot\n");
    let copy = sandbox.json(&["show", back.join("table.csv").to_str().unwrap()]);
    assert_eq!(copy["hashes"]["blake3"], artifact["hashes"]["blake3"]);
    // The downloaded copy is the same content: its lineage leads to the job that made it.
    let lineage = sandbox.json(&["lineage", back.join("table.csv").to_str().unwrap()]);
    assert_eq!(lineage["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(lineage["jobs"][0]["step_label"], "@1");
}

#[test]
fn put_tags_the_commits_of_the_producing_jobs() {
    let sandbox = Sandbox::new();
    let s3 = s3_server();
    let work = sandbox.work_dir();
    let git = |args: &[&str]| roar_e2e::git(&work, args);
    std::fs::write(work.join(".gitignore"), "out.txt\n").unwrap();
    git(&["init", "-q"]);
    git(&["add", ".gitignore"]);
    git(&["commit", "-q", "-m", "init"]);
    assert_eq!(
        code(&sandbox.run(&["sh", "-c", "echo result > out.txt"])),
        0
    );
    let output = roarctl_s3(
        &sandbox,
        &s3,
        &["put", "out.txt", "s3://bucket/x/", "-m", "publish"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_stderr_contains(&output, "tagged");
    let tags = Command::new("git")
        .args(["tag", "-l", "roar/*"])
        .current_dir(&work)
        .output()
        .unwrap();
    let tags = String::from_utf8(tags.stdout).unwrap();
    assert_eq!(tags.lines().count(), 1, "{tags}");
    assert_eq!(tags.trim().len(), "roar/".len() + 12);

    let output = roarctl_s3(
        &sandbox,
        &s3,
        &[
            "put",
            "out.txt",
            "s3://bucket/y/",
            "-m",
            "untagged",
            "--no-tag",
        ],
    );
    assert_eq!(code(&output), 0);
    assert!(!stderr(&output).contains("tagged"));
}

/// `roarctl inputs`: the root inputs of a two-step pipeline, each with its origin: a
/// file downloaded by `get`, one uploaded by `put` since, and one that is only on this
/// machine; what a step wrote is not a root input.
#[test]
fn inputs_lists_the_root_inputs_of_a_lineage_with_their_origins() {
    let sandbox = Sandbox::new();
    let http = http_server();
    let s3 = s3_server();
    let work = sandbox.work_dir();
    std::fs::write(http.root.path().join("raw.csv"), "a,b\n1,2\n").unwrap();
    let url = format!("http://127.0.0.1:{}/raw.csv", http.port);
    let output = run(&sandbox, &["get", &url, "raw.csv"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    std::fs::write(work.join("config.txt"), "lr=0.1\n").unwrap();
    std::fs::write(work.join("labels.txt"), "cat\ndog\n").unwrap();
    for step in [
        "cat raw.csv config.txt > mid.txt",
        "cat mid.txt labels.txt > out.txt",
    ] {
        let output = sandbox.run(&["sh", "-c", step]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
    }
    let output = roarctl_s3(
        &sandbox,
        &s3,
        &["put", "labels.txt", "s3://bucket/labels/", "-m", "labels"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));

    let listed = sandbox.json(&["inputs", "out.txt"]);
    let inputs = listed["inputs"].as_array().unwrap();
    let by_path = |name: &str| {
        inputs
            .iter()
            .find(|i| i["paths"][0].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} is not listed: {listed}"))
    };
    assert_eq!(inputs.len(), 3, "{listed}");
    assert_eq!(by_path("/raw.csv")["origin"], "downloaded");
    assert_eq!(by_path("/raw.csv")["urls"], serde_json::json!([url]));
    assert_eq!(by_path("/raw.csv")["read_by"][0]["step"], "@1");
    assert_eq!(by_path("/labels.txt")["origin"], "uploaded");
    assert_eq!(
        by_path("/labels.txt")["urls"],
        serde_json::json!(["s3://bucket/labels/labels.txt"])
    );
    assert_eq!(by_path("/labels.txt")["read_by"][0]["step"], "@2");
    assert_eq!(by_path("/config.txt")["origin"], "local");
    assert_eq!(
        by_path("/config.txt")["hashes"]["blake3"],
        blake3_hex(b"lr=0.1\n").as_str()
    );

    // What keeps the result from being reproduced elsewhere: the local file alone,
    // from the artifact and from the step that made it alike.
    for target in ["out.txt", "@2"] {
        let unsourced = sandbox.json(&["inputs", target, "--unsourced"]);
        let paths: Vec<&str> = unsourced["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["paths"][0].as_str().unwrap())
            .collect();
        assert_eq!(paths.len(), 1, "{unsourced}");
        assert!(paths[0].ends_with("/config.txt"), "{unsourced}");
    }
    let text = run(&sandbox, &["inputs", "out.txt"]);
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("3 root input(s) of out.txt (1 local only)"),
        "{text}"
    );
    assert!(text.contains(&format!("from {url}")), "{text}");
    assert!(
        text.contains("config.txt") && text.contains("local only"),
        "{text}"
    );
    assert!(
        !text.contains("mid.txt"),
        "a step's output is no root input: {text}"
    );

    // A file no job wrote is its own root input.
    let raw = sandbox.json(&["inputs", "config.txt"]);
    assert_eq!(raw["inputs"].as_array().unwrap().len(), 1, "{raw}");
}
