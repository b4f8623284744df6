//! The command line as a user meets it: help, completions, the manual page, colours,
//! configuration with its sources, job environment variables, and the documented JSON
//! shapes of every command that prints data.

use std::process::Command;

use roar_e2e::{Sandbox, code, stderr};
use serde_json::Value;

const SUBCOMMANDS: &[&str] = &[
    "run",
    "build",
    "log",
    "show",
    "dag",
    "lineage",
    "inputs",
    "diff",
    "rerun",
    "db",
    "status",
    "reset",
    "pop",
    "export",
    "tag",
    "get",
    "put",
    "reproduce",
    "config",
    "env",
    "daemon",
    "completions",
    "man",
];

#[test]
fn every_help_text_renders_with_a_summary_and_examples() {
    let sandbox = Sandbox::new();
    let top = sandbox.roarctl().arg("--help").output().unwrap();
    assert_eq!(code(&top), 0);
    let text = String::from_utf8(top.stdout).unwrap();
    for sub in SUBCOMMANDS {
        assert!(
            text.contains(&format!("  {sub} ")),
            "{sub} missing from --help"
        );
        let output = sandbox.roarctl().args([sub, "--help"]).output().unwrap();
        assert_eq!(code(&output), 0, "{sub} --help");
        let help = String::from_utf8(output.stdout).unwrap();
        assert!(
            help.lines().next().is_some_and(|l| !l.is_empty()),
            "{sub}: summary"
        );
        if !["completions", "man"].contains(sub) {
            assert!(help.contains("Examples:"), "{sub} --help has no examples");
        }
    }
}

#[test]
fn completions_and_the_manual_page_generate() {
    let sandbox = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let output = sandbox
            .roarctl()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(code(&output), 0, "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(
            script.contains("roarctl") && script.contains("reproduce"),
            "{shell}"
        );
    }
    let output = sandbox.roarctl().arg("man").output().unwrap();
    assert_eq!(code(&output), 0);
    let page = String::from_utf8(output.stdout).unwrap();
    assert!(page.contains(".TH roarctl 1"), "{page}");
    if Command::new("man").arg("--version").output().is_ok() {
        let path = sandbox.root().join("roarctl.1");
        std::fs::write(&path, &page).unwrap();
        let rendered = Command::new("man")
            .arg("-l")
            .arg(&path)
            .env("MANPAGER", "cat")
            .output()
            .unwrap();
        assert!(rendered.status.success());
    }
}

#[test]
fn configuration_layers_show_their_sources_and_edits_are_checked() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    std::fs::write(
        sandbox.root().join("system-config.toml"),
        "[git]\nuntracked_is_dirty = true\n",
    )
    .unwrap();
    std::fs::create_dir_all(work.join(".git")).unwrap();
    let set = |args: &[&str]| {
        let output = sandbox.roarctl().arg("config").args(args).output().unwrap();
        assert_eq!(code(&output), 0, "config {args:?}: {}", stderr(&output));
    };
    set(&["set", "filters.track_repo_files", "true"]);
    set(&["set", "filters.tmp", "[\"/scratch\"]", "--project"]);
    let rows = sandbox.json(&["config", "list"]);
    let row = |key: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .cloned()
            .unwrap()
    };
    assert_eq!(row("git.untracked_is_dirty")["source"], "system");
    assert_eq!(row("filters.track_repo_files")["source"], "user");
    assert_eq!(row("filters.tmp")["source"], "project");
    assert_eq!(row("filters.tmp")["value"], "[\"/scratch\"]");
    assert_eq!(row("daemon.autostart")["source"], "default");
    assert!(row("daemon.autostart")["about"].as_str().unwrap().len() > 10);

    // A wrong value or key is refused and the file stays as it was.
    let project_file = work.join(".roar/config.toml");
    let before = std::fs::read_to_string(&project_file).unwrap();
    let output = sandbox
        .roarctl()
        .args(["config", "set", "git.require_clean", "maybe", "--project"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 2, "a usage error: {}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&project_file).unwrap(), before);
    let output = sandbox
        .roarctl()
        .args(["config", "set", "no.such", "1"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 2, "a usage error: {}", stderr(&output));
    set(&["unset", "filters.tmp", "--project"]);
    let output = sandbox
        .roarctl()
        .args(["config", "get", "filters.tmp"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("/var/tmp"),
        "the user file's value"
    );
}

#[test]
fn the_registry_url_is_a_listed_key_shown_without_its_password() {
    let sandbox = Sandbox::new();
    let rows = sandbox.json(&["config", "list"]);
    let row = |rows: &Value| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == "registry.url")
            .cloned()
            .unwrap_or_else(|| panic!("no registry.url in {rows:#}"))
    };
    assert_eq!(row(&rows)["source"], "default");
    assert!(row(&rows)["about"].as_str().unwrap().contains("PostgreSQL"));
    let output = sandbox
        .roarctl()
        .args([
            "config",
            "set",
            "registry.url",
            "postgres://ana:s3cret@db/lineage",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let rows = sandbox.json(&["config", "list"]);
    assert_eq!(row(&rows)["source"], "user");
    assert_eq!(row(&rows)["value"], "\"postgres://ana@db/lineage\"");
    let text = sandbox.roarctl().args(["config", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("registry.url = \"postgres://ana@db/lineage\"  [user]"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn usage_errors_exit_2_with_a_hint() {
    let sandbox = Sandbox::new();
    let source = sandbox.work_dir().join("source.txt");
    std::fs::write(&source, "x").unwrap();
    let url = format!("file://{}", source.display());
    let cases: &[&[&str]] = &[
        &["get", "--sha256", "abc", &url, "dest.txt"],
        &["get", "ftp://example.com/a", "dest.txt"],
        &["config", "get", "no.such"],
        &["env", "set", "1BAD", "x"],
        // roard's answer to a hash prefix too short to look up.
        &["show", "sha256:abc"],
    ];
    for args in cases {
        let output = sandbox.roarctl().args(*args).output().unwrap();
        assert_eq!(code(&output), 2, "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains("roarctl: error: "), "{args:?}");
    }
    let output = sandbox
        .roarctl()
        .args(["get", "--sha256", "abc", &url, "dest.txt"])
        .output()
        .unwrap();
    assert!(stderr(&output).contains("--sha256 takes 64 hex digits, not 'abc'\nhint: "));
    assert!(!sandbox.work_dir().join("dest.txt").exists());
}

#[test]
fn status_reports_without_starting_the_daemon() {
    let sandbox = Sandbox::new();
    let output = sandbox.roarctl().arg("status").output().unwrap();
    assert_eq!(code(&output), 3, "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("roard is not running"), "{text}");
    assert_eq!(sandbox.daemon_pid(), None);
    let output = sandbox
        .roarctl()
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 3);
    let status: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["daemon"]["running"], false, "{status:#}");
    assert_eq!(status["session"], Value::Null);
    assert_eq!(sandbox.daemon_pid(), None);
}

#[test]
fn session_numbers_count_per_project() {
    let sandbox = Sandbox::new();
    let in_dir = |dir: &str, args: &[&str]| {
        let dir = sandbox.work_dir().join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let output = sandbox
            .roarctl()
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(code(&output), 0, "{args:?}: {}", stderr(&output));
        output
    };
    for project in ["a", "b"] {
        in_dir(project, &["run", "--", "true"]);
        let reset = in_dir(project, &["reset"]);
        let said = stderr(&reset);
        assert!(said.contains("started session 2 of"), "{said}");
        assert!(
            said.contains("session 1 (1 step(s)) stays queryable"),
            "{said}"
        );
        in_dir(project, &["run", "--", "true"]);
    }
    let dag = in_dir("b", &["dag"]);
    let dag = String::from_utf8_lossy(&dag.stdout);
    assert!(dag.contains("session 2 of"), "{dag}");
    let status = in_dir("b", &["status"]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("session  2 of"), "{status}");
    let json = in_dir("b", &["status", "--json"]);
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["session"]["number"], 2, "{json:#}");
    assert_eq!(json["session"]["id"], 4, "ids stay unique across projects");
}

#[test]
fn env_variables_reach_jobs_and_their_records() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .roarctl()
        .args(["env", "set", "ROAR_TEST_SEED", "1234"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let list = sandbox.json(&["env", "list"]);
    assert_eq!(list[0]["key"], "env.ROAR_TEST_SEED");
    let output = sandbox.run(&["sh", "-c", "echo $ROAR_TEST_SEED > seed.txt"]);
    assert_eq!(code(&output), 0);
    assert_eq!(
        std::fs::read_to_string(sandbox.work_dir().join("seed.txt")).unwrap(),
        "1234\n"
    );
    assert_eq!(
        sandbox.json(&["show", "last"])["env"]["ROAR_TEST_SEED"],
        "1234"
    );
    let output = sandbox
        .roarctl()
        .args(["env", "set", "1BAD", "x"])
        .output()
        .unwrap();
    assert_ne!(code(&output), 0);
    assert!(stderr(&output).contains("not a variable name"));
}

#[test]
fn colours_follow_color_and_no_color() {
    let sandbox = Sandbox::new();
    assert_eq!(code(&sandbox.run(&["sh", "-c", "echo x > out.txt"])), 0);
    let with = |args: &[&str]| sandbox.roarctl().args(args).output().unwrap().stdout;
    assert!(with(&["dag", "--color", "always"]).contains(&0x1b));
    assert!(!with(&["dag", "--color", "never"]).contains(&0x1b));
    assert!(!with(&["dag"]).contains(&0x1b), "not a terminal");
    // On a terminal: colours, unless NO_COLOR is set.
    if Command::new("script").arg("--version").output().is_ok() {
        let roarctl = roar_e2e::bin_dir().join("roarctl");
        let on_terminal = |no_color: bool| {
            let transcript = sandbox.root().join("typescript");
            let mut command = Command::new("script");
            sandbox.env(&mut command);
            if no_color {
                command.env("NO_COLOR", "1");
            }
            let output = command
                .arg("-qec")
                .arg(format!("{} dag", roarctl.display()))
                .arg(&transcript)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            assert_eq!(code(&output), 0);
            std::fs::read(&transcript).unwrap()
        };
        assert!(on_terminal(false).windows(2).any(|w| w == b"\x1b["));
        assert!(!on_terminal(true).windows(4).any(|w| w == b"\x1b[1m"));
    }
}

/// Every key of `keys` is present in `object`.
fn has_keys(object: &Value, keys: &[&str], what: &str) {
    for key in keys {
        assert!(
            object.get(key).is_some(),
            "{what} lacks `{key}`: {object:#}"
        );
    }
}

#[test]
fn json_outputs_match_their_documented_shapes() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.work_dir().join("in.txt"), "x").unwrap();
    assert_eq!(code(&sandbox.run(&["sh", "-c", "cat in.txt > out.txt"])), 0);
    let summary = [
        "uid",
        "step",
        "project",
        "argv",
        "cwd",
        "state",
        "exit_code",
        "exit_signal",
        "started_at",
        "ended_at",
        "duration_ms",
        "lingering_processes",
        "job_kind",
        "step_label",
        "session",
        "git",
    ];
    let log = sandbox.json(&["log"]);
    has_keys(&log[0], &summary, "log");
    let job = sandbox.json(&["show", "last"]);
    has_keys(&job, &summary, "show JOB");
    has_keys(
        &job,
        &[
            "kind",
            "hostname",
            "user_uid",
            "env",
            "processes",
            "inputs",
            "outputs",
            "packages",
        ],
        "show JOB",
    );
    assert_eq!(job["kind"], "job");
    has_keys(
        &job["outputs"][0],
        &["path", "class", "size", "hashes"],
        "a file record",
    );
    has_keys(&job["inputs"][0], &["pre_image"], "an input");
    let artifact = sandbox.json(&["show", "out.txt"]);
    has_keys(
        &artifact,
        &[
            "kind",
            "size",
            "hashes",
            "uses",
            "downloaded_from",
            "uploaded_to",
        ],
        "show ARTIFACT",
    );
    let dag = sandbox.json(&["dag"]);
    has_keys(
        &dag,
        &["kind", "session", "jobs", "artifacts", "edges"],
        "dag",
    );
    has_keys(
        &dag["jobs"][0],
        &["depth", "stale", "stale_reason", "inputs", "outputs"],
        "a dag job",
    );
    has_keys(
        &dag["artifacts"][0],
        &["id", "size", "hashes", "source", "origins"],
        "an artifact",
    );
    let lineage = sandbox.json(&["lineage", "out.txt"]);
    has_keys(
        &lineage,
        &["kind", "roots", "jobs", "artifacts", "edges"],
        "lineage",
    );
    let status = sandbox.json(&["status"]);
    has_keys(&status, &["daemon", "session", "hash_cache"], "status");
    has_keys(
        &status["session"],
        &[
            "id",
            "number",
            "project",
            "started_at",
            "active",
            "steps",
            "build_steps",
            "jobs",
            "reproduces",
        ],
        "a session",
    );
    let daemon = sandbox.json(&["daemon", "status"]);
    has_keys(
        &daemon,
        &["running", "state", "build_id", "version", "pid"],
        "daemon status",
    );
    has_keys(&status["daemon"], &["state", "build_id"], "status");
    let config = sandbox.json(&["config", "list"]);
    has_keys(
        &config[0],
        &["key", "value", "source", "about"],
        "config list",
    );
    let plan_output = sandbox
        .roarctl()
        .args(["reproduce", "out.txt", "--json"])
        .output()
        .unwrap();
    let plan: Value = serde_json::from_slice(&plan_output.stdout).unwrap();
    has_keys(&plan, &["target", "jobs", "sources"], "reproduce");
}

/// `roarctl db`: the database's size and rows per table, through roard, as text and
/// as the JSON README documents.
#[test]
fn db_reports_the_database_and_its_rows() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.work_dir().join("in.txt"), "x\n").unwrap();
    let output = sandbox.run(&["sh", "-c", "cat in.txt > out.txt"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let db = sandbox.json(&["db"]);
    assert_eq!(db["database"], sandbox.database().display().to_string());
    assert!(db["file_bytes"].as_u64().unwrap() > 0, "{db}");
    assert_eq!(db["tables"]["jobs"], 1, "{db}");
    assert!(db["tables"]["job_files"].as_u64().unwrap() >= 2, "{db}");
    assert_eq!(db["tables"]["deferred_job_files"], 0, "{db}");
    assert!(db["hash_cache"]["entries"].as_u64().unwrap() >= 1, "{db}");
    let text = sandbox.roarctl().arg("db").output().unwrap();
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("hash cache") && text.contains("  jobs "),
        "{text}"
    );
}
