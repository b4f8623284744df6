//! `roarctl reproduce`: plans from lineage, and reruns in a fresh checkout that must
//! give the recorded bytes back.

use std::process::Command;

use roar_e2e::{Sandbox, assert_stderr_contains, code, stderr};

fn git(sandbox: &Sandbox, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@e",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(sandbox.work_dir())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A committed three-step pipeline (plus a step that stamps the time), run once.
fn pipeline(sandbox: &Sandbox) {
    let work = sandbox.work_dir();
    std::fs::create_dir_all(work.join("data")).unwrap();
    std::fs::write(work.join("data/raw.csv"), "3,1,2").unwrap();
    std::fs::write(
        work.join("preprocess.py"),
        "open('clean.csv', 'w').write('\\n'.join(sorted(open('data/raw.csv').read().split(','))))\n",
    )
    .unwrap();
    std::fs::write(
        work.join("train.py"),
        "open('model.txt', 'w').write(str(sum(int(x) for x in open('clean.csv').read().split())))\n",
    )
    .unwrap();
    std::fs::write(
        work.join("evaluate.py"),
        "open('metrics.json', 'w').write('{\"score\": %s}' % open('model.txt').read())\n",
    )
    .unwrap();
    std::fs::write(
        work.join("stamp.py"),
        "import time\nopen('stamp.txt', 'w').write(open('metrics.json').read() + str(time.time_ns()))\n",
    )
    .unwrap();
    std::fs::write(
        work.join(".gitignore"),
        "data/\nclean.csv\nmodel.txt\nmetrics.json\nstamp.txt\n",
    )
    .unwrap();
    git(sandbox, &["init", "-q"]);
    git(sandbox, &["add", "-A"]);
    git(sandbox, &["commit", "-q", "-m", "pipeline"]);
    for script in ["preprocess.py", "train.py", "evaluate.py", "stamp.py"] {
        let output = sandbox.run(&["python3", script]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
    }
}

#[test]
fn a_pipeline_reproduces_bit_identical_in_a_fresh_checkout() {
    let sandbox = Sandbox::new();
    pipeline(&sandbox);
    let plan = sandbox.json(&["reproduce", "metrics.json"]);
    let jobs = plan["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[0]["argv"][1], "preprocess.py");
    assert_eq!(jobs[2]["argv"][1], "evaluate.py");
    assert_eq!(jobs[0]["cwd"], ".");
    assert!(jobs[0]["commit"].as_str().unwrap().len() == 40);
    let sources = plan["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1);
    assert!(
        sources[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("data/raw.csv")
    );
    assert_eq!(sources[0]["origin"], "local");

    // Without a terminal, running needs -y.
    let output = sandbox
        .roarctl()
        .args(["reproduce", "metrics.json", "--run"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 2);

    let before = std::fs::read(sandbox.work_dir().join("metrics.json")).unwrap();
    let output = sandbox
        .roarctl()
        .args(["reproduce", "metrics.json", "--run", "-y"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(code(&output), 0, "{stdout}\n{}", stderr(&output));
    assert!(stdout.contains("bit-identical"), "{stdout}");
    assert_eq!(stdout.matches("identical").count(), 4, "{stdout}");
    // The user's working tree is untouched, and the reproduction is recorded.
    assert_eq!(
        std::fs::read(sandbox.work_dir().join("metrics.json")).unwrap(),
        before
    );
    let log = sandbox.json(&["log", "--all"]);
    assert_eq!(
        log.as_array().unwrap().len(),
        7,
        "4 original jobs and 3 reproduced"
    );
}

#[test]
fn a_missing_source_is_named_and_a_step_that_stamps_the_time_differs() {
    let sandbox = Sandbox::new();
    pipeline(&sandbox);
    let raw = sandbox.work_dir().join("data/raw.csv");

    // The raw data changed and no copy of the recorded content is left.
    std::fs::write(&raw, "9,9,9").unwrap();
    let plan = sandbox.json(&["reproduce", "metrics.json"]);
    assert_eq!(plan["sources"][0]["origin"], "missing");
    let output = sandbox
        .roarctl()
        .args(["reproduce", "metrics.json", "--run", "-y"])
        .output()
        .unwrap();
    assert_ne!(code(&output), 0);
    assert_stderr_contains(&output, "data/raw.csv");

    // With the recorded content back, everything reproduces but the time stamp.
    std::fs::write(&raw, "3,1,2").unwrap();
    let output = sandbox
        .roarctl()
        .args(["reproduce", "stamp.txt", "--run", "-y"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(code(&output), 1, "{stdout}\n{}", stderr(&output));
    assert!(stdout.contains("DIFFERS"), "{stdout}");
    assert!(stdout.contains("metrics.json  identical"), "{stdout}");
}
