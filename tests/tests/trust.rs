//! Lineage a user can trust, on real git repositories with several commits, a second
//! clone, failed and killed runs: the right producer, staleness from code, dirty jobs
//! marked, failed runs kept out of the steps, and messages that say what was looked for.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use roar_e2e::{Sandbox, assert_stderr_contains, code, git, stderr};
use serde_json::Value;

const PREPARE: &str = "import os\nos.makedirs('data', exist_ok=True)\n\
                       rows = sorted(open('raw.csv').read().split(','))\n\
                       open('data/clean.csv', 'w').write('\\n'.join(rows))\n";
const TRAIN: &str = "total = sum(int(x) for x in open('data/clean.csv').read().split())\n\
                     open('model.txt', 'w').write(str(total))\n";
const EVALUATE: &str =
    "open('metrics.json', 'w').write('{\"score\": %s}' % open('model.txt').read())\n";

/// The pipeline's code and raw data, committed in `dir` (a new repository).
fn commit_pipeline(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("raw.csv"), "3,1,2").unwrap();
    std::fs::write(dir.join("prepare.py"), PREPARE).unwrap();
    std::fs::write(dir.join("train.py"), TRAIN).unwrap();
    std::fs::write(dir.join("evaluate.py"), EVALUATE).unwrap();
    std::fs::write(dir.join(".gitignore"), "data/\nmodel.txt\nmetrics.json\n").unwrap();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "pipeline"]);
}

/// `roarctl ARGS` in `dir`.
fn roarctl_in(sandbox: &Sandbox, dir: &Path, args: &[&str]) -> Output {
    sandbox
        .roarctl()
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn run_ok_in(sandbox: &Sandbox, dir: &Path, command: &[&str]) -> Output {
    let mut args = vec!["run", "--"];
    args.extend_from_slice(command);
    let output = roarctl_in(sandbox, dir, &args);
    assert_eq!(code(&output), 0, "{command:?}: {}", stderr(&output));
    output
}

fn json_in(sandbox: &Sandbox, dir: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let output = roarctl_in(sandbox, dir, &all);
    assert_eq!(code(&output), 0, "{args:?}: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn run_pipeline(sandbox: &Sandbox, dir: &Path) {
    for script in ["prepare.py", "train.py", "evaluate.py"] {
        run_ok_in(sandbox, dir, &["python3", script]);
    }
}

fn canonical(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Every job of a lineage graph, as the project it ran in.
fn projects(graph: &Value) -> Vec<String> {
    graph["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["project"].as_str().unwrap().to_string())
        .collect()
}

/// `(step label, stale reason or "")` of each step of `dag --json`.
fn staleness(dag: &Value) -> Vec<(String, String)> {
    dag["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["step_label"].as_str().unwrap_or_default().to_string(),
                j["stale_reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_second_clone_running_the_same_pipeline_does_not_take_over_the_lineage() {
    let sandbox = Sandbox::new();
    let first = sandbox.work_dir();
    commit_pipeline(&first);
    run_pipeline(&sandbox, &first);
    let second: PathBuf = sandbox.root().join("second-clone");
    git(
        sandbox.root(),
        &[
            "clone",
            "-q",
            first.to_str().unwrap(),
            second.to_str().unwrap(),
        ],
    );
    run_pipeline(&sandbox, &second);

    // The same bytes were written in both clones; each project sees its own jobs.
    let here = json_in(&sandbox, &first, &["lineage", "metrics.json"]);
    assert_eq!(here["jobs"].as_array().unwrap().len(), 3, "{here}");
    assert!(
        projects(&here).iter().all(|p| *p == canonical(&first)),
        "{:?}",
        projects(&here)
    );
    let there = json_in(&sandbox, &second, &["lineage", "metrics.json"]);
    assert!(
        projects(&there).iter().all(|p| *p == canonical(&second)),
        "{:?}",
        projects(&there)
    );
    // From anywhere else, the newest writer of the content is followed.
    let elsewhere = sandbox.root().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let hash = here["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == here["roots"][0])
        .map(|a| a["hashes"]["blake3"].as_str().unwrap().to_string())
        .unwrap();
    let outside = json_in(
        &sandbox,
        &elsewhere,
        &["lineage", &format!("blake3:{hash}")],
    );
    assert_eq!(
        projects(&outside)[2],
        canonical(&second),
        "{:?}",
        projects(&outside)
    );
}

#[test]
fn a_committed_code_change_makes_that_step_and_its_downstream_stale() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    commit_pipeline(&work);
    run_pipeline(&sandbox, &work);
    let dag = json_in(&sandbox, &work, &["dag"]);
    assert!(
        staleness(&dag).iter().all(|(_, reason)| reason.is_empty()),
        "{dag}"
    );

    std::fs::write(work.join("train.py"), format!("{TRAIN}# tuned\n")).unwrap();
    git(&work, &["commit", "-q", "-am", "tune train.py"]);
    let dag = json_in(&sandbox, &work, &["dag"]);
    assert_eq!(
        staleness(&dag),
        [
            ("@1".to_string(), String::new()),
            ("@2".to_string(), "code changed: train.py".to_string()),
            ("@3".to_string(), "upstream @2 stale".to_string()),
        ]
    );
    let text = roarctl_in(&sandbox, &work, &["dag"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("STALE: code changed: train.py"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );

    // Re-running the step at the new commit makes it current again; the same model
    // comes out, so @3 is current too.
    let output = roarctl_in(&sandbox, &work, &["run", "@2"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let dag = json_in(&sandbox, &work, &["dag"]);
    assert!(
        staleness(&dag).iter().all(|(_, reason)| reason.is_empty()),
        "{dag}"
    );
}

#[test]
fn failed_and_killed_runs_are_recorded_but_take_no_step() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    commit_pipeline(&work);
    run_ok_in(&sandbox, &work, &["python3", "prepare.py"]);

    let failed = roarctl_in(&sandbox, &work, &["run", "--", "python3", "-c", "exit(3)"]);
    assert_eq!(code(&failed), 3);
    assert_stderr_contains(&failed, "exit 3: a failed run takes no step");
    let killed = roarctl_in(&sandbox, &work, &["run", "--", "sh", "-c", "kill -SEGV $$"]);
    assert_eq!(code(&killed), 128 + 11);
    assert_stderr_contains(&killed, "killed by SIGSEGV");

    // Both are in the log and can be shown, but the next step is @2.
    let log = json_in(&sandbox, &work, &["log"]);
    let unplaced: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["placed"] == false)
        .collect();
    assert_eq!(unplaced.len(), 2, "{log}");
    assert!(
        unplaced
            .iter()
            .all(|j| j["step"] == 0 && j["step_label"].is_null())
    );
    let shown = json_in(
        &sandbox,
        &work,
        &["show", unplaced[0]["uid"].as_str().unwrap()],
    );
    assert_eq!(shown["placed"], false);
    run_ok_in(&sandbox, &work, &["python3", "train.py"]);
    let dag = json_in(&sandbox, &work, &["dag"]);
    assert_eq!(dag["session"]["steps"], 2, "{dag}");
    let labels: Vec<&str> = dag["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["step_label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["@1", "@2"]);

    // A failed re-run leaves the step's current job as it was, and says so.
    let current = dag["jobs"][1]["uid"].clone();
    std::fs::remove_dir_all(work.join("data")).unwrap();
    let rerun = roarctl_in(&sandbox, &work, &["run", "@2"]);
    assert_eq!(code(&rerun), 1);
    assert_stderr_contains(&rerun, "@2 keeps its current job");
    let dag = json_in(&sandbox, &work, &["dag"]);
    assert_eq!(dag["jobs"][1]["uid"], current, "{dag}");
    assert_eq!(dag["jobs"][1]["last_failed"]["exit_code"], 1, "{dag}");
    let text = String::from_utf8_lossy(&roarctl_in(&sandbox, &work, &["dag"]).stdout).into_owned();
    assert!(text.contains("last run failed (exit 1"), "{text}");

    // --keep-failed places a failed run anyway.
    let kept = roarctl_in(
        &sandbox,
        &work,
        &["run", "--keep-failed", "--", "python3", "-c", "exit(4)"],
    );
    assert_eq!(code(&kept), 4);
    let dag = json_in(&sandbox, &work, &["dag"]);
    assert_eq!(dag["session"]["steps"], 3, "{dag}");
}

#[test]
fn a_dirty_job_is_marked_in_dag_lineage_and_show() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    commit_pipeline(&work);
    run_ok_in(&sandbox, &work, &["python3", "prepare.py"]);
    run_ok_in(&sandbox, &work, &["python3", "train.py"]);
    std::fs::write(work.join("evaluate.py"), format!("{EVALUATE}# local\n")).unwrap();
    let output = roarctl_in(
        &sandbox,
        &work,
        &["run", "--allow-dirty", "--", "python3", "evaluate.py"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));

    let dag = json_in(&sandbox, &work, &["dag"]);
    let flags: Vec<bool> = dag["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["dirty"].as_bool().unwrap())
        .collect();
    assert_eq!(flags, [false, false, true], "{dag}");
    assert_eq!(dag["jobs"][2]["git"]["dirty_paths"][0], "evaluate.py");
    let text = String::from_utf8_lossy(&roarctl_in(&sandbox, &work, &["dag"]).stdout).into_owned();
    assert!(
        text.contains("DIRTY: ran with uncommitted changes to evaluate.py"),
        "{text}"
    );
    let lineage = roarctl_in(&sandbox, &work, &["lineage", "metrics.json"]);
    let lineage = String::from_utf8_lossy(&lineage.stdout).into_owned();
    assert!(
        lineage.contains("DIRTY: ran with uncommitted changes"),
        "{lineage}"
    );
    let show = roarctl_in(&sandbox, &work, &["show", "@3"]);
    let show = String::from_utf8_lossy(&show.stdout).into_owned();
    assert!(show.contains("its code cannot be checked out"), "{show}");
}

#[test]
fn messages_name_every_form_the_argument_takes() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    commit_pipeline(&work);
    run_pipeline(&sandbox, &work);
    for args in [
        &["show", "nonexistent"][..],
        &["lineage", "nope.txt"],
        &["reproduce", "nope.txt"],
    ] {
        let output = roarctl_in(&sandbox, &work, args);
        assert_ne!(code(&output), 0, "{args:?}");
        assert_stderr_contains(
            &output,
            &format!("no job, step, file or artifact matches '{}'", args[1]),
        );
    }

    // A repository file every job read: its blob id and its readers.
    let blob = git(&work, &["rev-parse", "HEAD:prepare.py"]);
    let shown = json_in(&sandbox, &work, &["show", "prepare.py"]);
    assert_eq!(shown["kind"], "repo_file", "{shown}");
    assert_eq!(shown["head_blob"], blob.as_str());
    assert_eq!(shown["worktree_blob"], blob.as_str());
    assert_eq!(shown["uses"].as_array().unwrap().len(), 1, "{shown}");
    let text = roarctl_in(&sandbox, &work, &["show", "prepare.py"]);
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("repository file  prepare.py"), "{text}");
    assert!(text.contains(&blob), "{text}");
    let lineage = roarctl_in(&sandbox, &work, &["lineage", "prepare.py"]);
    assert_ne!(code(&lineage), 0);
    assert_stderr_contains(&lineage, "is a file of the git repository");
}

#[test]
fn the_interpreter_and_its_environment_are_recorded() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    commit_pipeline(&work);
    let venv = Command::new("python3")
        .args(["-m", "venv", "--without-pip", ".venv"])
        .current_dir(&work)
        .status()
        .unwrap();
    assert!(venv.success());
    let version = Command::new("python3")
        .args(["-c", "import platform; print(platform.python_version())"])
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    std::fs::write(
        work.join(".gitignore"),
        "data/\nmodel.txt\nmetrics.json\n.venv/\n",
    )
    .unwrap();
    git(&work, &["commit", "-q", "-am", "ignore the venv"]);
    run_ok_in(&sandbox, &work, &[".venv/bin/python", "prepare.py"]);
    run_ok_in(&sandbox, &work, &["python3", "train.py"]);

    let in_venv = json_in(&sandbox, &work, &["show", "@1"]);
    let env = &in_venv["environments"][0];
    assert_eq!(env["kind"], "venv", "{in_venv}");
    assert_eq!(env["version"], version.as_str());
    assert_eq!(env["root"], format!("{}/.venv", canonical(&work)).as_str());
    assert_eq!(
        env["interpreter"],
        format!("{}/.venv/bin/python", canonical(&work)).as_str()
    );
    let system = json_in(&sandbox, &work, &["show", "@2"]);
    assert_eq!(system["environments"][0]["kind"], "system", "{system}");
    // setuptools' start-up hook is not package use (the venv has none; the system
    // interpreter may): no job lists pip, setuptools or wheel unless it imported them.
    for job in [&in_venv, &system] {
        let names: Vec<&str> = job["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| ["pip", "setuptools", "wheel"].contains(n)),
            "{names:?}"
        );
    }
}

#[test]
fn a_reproduction_never_takes_over_the_lineage_and_tags_only_the_users_repository() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    commit_pipeline(&work);
    run_pipeline(&sandbox, &work);
    let before = json_in(&sandbox, &work, &["lineage", "metrics.json"]);
    let original: Vec<Value> = before["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["uid"].clone())
        .collect();
    let output = roarctl_in(
        &sandbox,
        &work,
        &["reproduce", "metrics.json", "--run", "-y"],
    );
    assert_eq!(
        code(&output),
        0,
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );

    // The reproduction wrote the same bytes later; lineage still runs through the
    // user's own jobs, and so do the plan and the tags.
    let after = json_in(&sandbox, &work, &["lineage", "metrics.json"]);
    let uids: Vec<Value> = after["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["uid"].clone())
        .collect();
    assert_eq!(uids, original, "{after}");
    let plan = json_in(&sandbox, &work, &["reproduce", "metrics.json"]);
    let planned: Vec<Value> = plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["uid"].clone())
        .collect();
    assert_eq!(planned, original, "{plan}");
    let tags = json_in(&sandbox, &work, &["tag", "metrics.json"]);
    let roots: Vec<&str> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["root"].as_str().unwrap())
        .collect();
    assert_eq!(roots, [canonical(&work)], "{tags}");

    // The original jobs know they were reproduced, identically.
    let evaluate = json_in(&sandbox, &work, &["show", original[2].as_str().unwrap()]);
    let reproductions = evaluate["reproductions"].as_array().unwrap();
    assert_eq!(reproductions.len(), 1, "{evaluate}");
    assert_eq!(reproductions[0]["identical"], true);
    assert_eq!(
        reproductions[0]["job"]["reproduces_job"], original[2],
        "{evaluate}"
    );
}

#[test]
fn pop_deletes_only_the_files_the_step_made() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    std::fs::write(work.join("existing.txt"), "the user's\n").unwrap();
    // Born a moment before the job: the kernel's coarse clock must not blur the two.
    std::thread::sleep(std::time::Duration::from_millis(100));
    run_ok_in(
        &sandbox,
        &work,
        &[
            "sh",
            "-c",
            "echo made > made.txt; echo changed > existing.txt",
        ],
    );
    let output = roarctl_in(&sandbox, &work, &["pop", "-y", "--delete-outputs"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(!work.join("made.txt").exists());
    assert_eq!(
        std::fs::read_to_string(work.join("existing.txt")).unwrap(),
        "changed\n"
    );
    assert_stderr_contains(&output, "it existed before the step ran");
}
