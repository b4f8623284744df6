//! `roarctl reproduce`: plans from lineage, and reruns in a fresh checkout that must
//! give the recorded bytes back.

use std::process::Command;

use roar_e2e::{Sandbox, assert_stderr_contains, blake3_hex, code, stderr};

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

/// `roarctl ARGS` to completion.
fn roarctl(sandbox: &Sandbox, args: &[&str]) -> std::process::Output {
    sandbox.roarctl().args(args).output().unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn write(sandbox: &Sandbox, name: &str, text: &str) {
    let path = sandbox.work_dir().join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The scripts of a pipeline whose first step writes an untracked file under `data/`
/// that the second reads: prepare.py (data/raw.csv -> data/clean.csv), train.py
/// (-> model.txt), evaluate.py (-> metrics.json). Committed, nothing run.
fn untracked_pipeline(sandbox: &Sandbox, prepare: &str) {
    write(sandbox, "data/raw.csv", "3,1,2");
    write(sandbox, "prepare.py", prepare);
    write(
        sandbox,
        "train.py",
        "open('model.txt', 'w').write(str(sum(int(x) for x in open('data/clean.csv').read().split())))\n",
    );
    write(
        sandbox,
        "evaluate.py",
        "open('metrics.json', 'w').write('{\"score\": %s}' % open('model.txt').read())\n",
    );
    write(
        sandbox,
        ".gitignore",
        "data/\n.venv/\nmodel.txt\nmetrics.json\n",
    );
    git(sandbox, &["init", "-q"]);
    git(sandbox, &["add", "-A"]);
    git(sandbox, &["commit", "-q", "-m", "pipeline"]);
}

const PREPARE: &str = "open('data/clean.csv', 'w').write('\\n'.join(sorted(open('data/raw.csv').read().split(','))))\n";

fn run_ok(sandbox: &Sandbox, args: &[&str]) {
    let output = sandbox.run(args);
    assert_eq!(code(&output), 0, "{args:?}: {}", stderr(&output));
}

/// The reproduction directories left under the sandbox's cache.
fn reproductions_left(sandbox: &Sandbox) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(sandbox.root().join("cache/roar/reproductions")) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// `git worktree list` of every shared clone: how many work trees each has besides
/// its own.
fn extra_worktrees(sandbox: &Sandbox) -> usize {
    let clones = std::fs::read_dir(sandbox.root().join("cache/roar/clones")).unwrap();
    clones
        .flatten()
        .map(|clone| {
            let output = Command::new("git")
                .args(["worktree", "list", "--porcelain"])
                .current_dir(clone.path())
                .output()
                .unwrap();
            stdout(&output).matches("worktree ").count() - 1
        })
        .sum()
}

#[test]
fn steps_at_different_commits_share_one_work_tree_and_leave_nothing_behind() {
    let sandbox = Sandbox::new();
    untracked_pipeline(&sandbox, PREPARE);
    run_ok(&sandbox, &["python3", "prepare.py"]);
    // Commit B: train.py changes after @1 wrote data/clean.csv at commit A.
    write(
        &sandbox,
        "train.py",
        "open('model.txt', 'w').write(str(2 * sum(int(x) for x in open('data/clean.csv').read().split())))\n",
    );
    git(&sandbox, &["commit", "-q", "-am", "train: double"]);
    run_ok(&sandbox, &["python3", "train.py"]);
    run_ok(&sandbox, &["python3", "evaluate.py"]);

    let plan = sandbox.json(&["reproduce", "metrics.json"]);
    let jobs = plan["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3);
    assert_ne!(jobs[0]["commit"], jobs[1]["commit"]);
    assert_eq!(jobs[0]["dirty"], false);

    let output = roarctl(&sandbox, &["reproduce", "metrics.json", "--run", "-y"]);
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).contains("bit-identical"),
        "{}",
        stdout(&output)
    );
    // A successful reproduction leaves no work tree.
    assert!(reproductions_left(&sandbox).is_empty());
    assert_eq!(extra_worktrees(&sandbox), 0);

    // The original lineage still goes through the original jobs, in the user's tree.
    let lineage = sandbox.json(&["lineage", "metrics.json"]);
    let work = sandbox.work_dir().canonicalize().unwrap();
    let jobs = lineage["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3, "{lineage}");
    for job in jobs {
        assert_eq!(job["cwd"], work.to_str().unwrap(), "{job}");
    }
    // Each step ran once more, recorded.
    assert_eq!(sandbox.json(&["log", "--all"]).as_array().unwrap().len(), 6);

    // A second reproduction reuses the shared clone (fetched, not cloned again).
    let output = roarctl(
        &sandbox,
        &["reproduce", "metrics.json", "--run", "-y", "--keep"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(reproductions_left(&sandbox).len(), 1);
    assert_eq!(extra_worktrees(&sandbox), 1);

    // A job stands for its first data output; an unknown name says so.
    let plan = sandbox.json(&["reproduce", "@2"]);
    assert_eq!(plan["jobs"].as_array().unwrap().len(), 2, "{plan}");
    assert!(
        plan["target"]["path"]
            .as_str()
            .unwrap()
            .ends_with("model.txt")
    );
    let output = roarctl(&sandbox, &["reproduce", "nope.txt"]);
    assert_ne!(code(&output), 0);
    assert_stderr_contains(&output, "no job, step, file or artifact matches 'nope.txt'");

    // The kept one is removed from its shared clone by --clean.
    let cleaned = sandbox.json(&["reproduce", "--clean"]);
    assert_eq!(cleaned["removed"].as_array().unwrap().len(), 1, "{cleaned}");
    assert!(reproductions_left(&sandbox).is_empty());
    assert_eq!(extra_worktrees(&sandbox), 0);
}

#[test]
fn a_missing_intermediate_input_is_named_with_the_step_that_should_have_made_it() {
    let sandbox = Sandbox::new();
    // prepare.py writes its output only when FULL is set, which the recording did not
    // capture: the reproduced @1 succeeds but leaves @2 without its input.
    let prepare = format!("import os\nif os.environ.get('FULL'):\n    {PREPARE}");
    untracked_pipeline(&sandbox, &prepare);
    let output = sandbox
        .roarctl()
        .env("FULL", "1")
        .args(["run", "--", "python3", "prepare.py"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    run_ok(&sandbox, &["python3", "train.py"]);
    let clean = std::fs::read(sandbox.work_dir().join("data/clean.csv")).unwrap();
    let hash = blake3_hex(&clean);

    let output = roarctl(&sandbox, &["reproduce", "model.txt", "--run", "-y"]);
    assert_eq!(code(&output), 1, "{}\n{}", stdout(&output), stderr(&output));
    assert_stderr_contains(
        &output,
        &format!(
            "cannot run @2 (python3 train.py): its input data/clean.csv (blake3 {}) is \
             missing; @1 (python3 prepare.py) should have produced it",
            &hash[..12]
        ),
    );
    assert_stderr_contains(&output, "kept in");
    // @2 never ran.
    assert_eq!(sandbox.json(&["log", "--all"]).as_array().unwrap().len(), 3);

    // The failed reproduction is kept, listed, then cleaned.
    let kept = sandbox.json(&["reproduce", "--list"]);
    let kept = kept.as_array().unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        kept[0]["target"]["path"]
            .as_str()
            .unwrap()
            .ends_with("model.txt")
    );
    let output = roarctl(&sandbox, &["reproduce", "--list"]);
    assert!(stdout(&output).contains("model.txt"), "{}", stdout(&output));
    assert_eq!(extra_worktrees(&sandbox), 1);
    let output = roarctl(&sandbox, &["reproduce", "--clean", "--older-than", "7d"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(reproductions_left(&sandbox).len(), 1, "too young to go");
    // Even with its shared clone gone, the directory can be removed.
    std::fs::remove_dir_all(sandbox.root().join("cache/roar/clones")).unwrap();
    let output = roarctl(&sandbox, &["reproduce", "--clean"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains("removed"), "{}", stdout(&output));
    assert!(stdout(&output).contains("freed"), "{}", stdout(&output));
    assert!(reproductions_left(&sandbox).is_empty());
}

#[test]
fn a_step_run_with_a_virtualenv_gets_a_fresh_one_with_setup_python() {
    let sandbox = Sandbox::new();
    untracked_pipeline(&sandbox, PREPARE);
    let status = Command::new("python3")
        .args(["-m", "venv", "--without-pip", ".venv"])
        .current_dir(sandbox.work_dir())
        .status()
        .unwrap();
    assert!(status.success());
    run_ok(&sandbox, &[".venv/bin/python", "prepare.py"]);
    run_ok(&sandbox, &[".venv/bin/python", "train.py"]);

    let plan = sandbox.json(&["reproduce", "model.txt"]);
    let env = &plan["jobs"][1]["environments"][0];
    assert_eq!(env["kind"], "venv", "{plan}");
    assert!(env["root"].as_str().unwrap().ends_with("/.venv"), "{plan}");
    let output = roarctl(&sandbox, &["reproduce", "model.txt"]);
    assert!(
        stdout(&output).contains("(venv .venv)"),
        "{}",
        stdout(&output)
    );

    // The venv is not in the repository: stop before the first step, with the hint.
    let output = roarctl(&sandbox, &["reproduce", "model.txt", "--run", "-y"]);
    assert_ne!(code(&output), 0);
    assert_stderr_contains(&output, "its interpreter .venv/bin/python does not exist");
    assert_stderr_contains(&output, "--setup-python");
    assert_eq!(sandbox.json(&["log", "--all"]).as_array().unwrap().len(), 2);

    let output = roarctl(
        &sandbox,
        &["reproduce", "model.txt", "--run", "-y", "--setup-python"],
    );
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).contains("bit-identical"),
        "{}",
        stdout(&output)
    );
    let cache = sandbox.root().join("cache/roar/reproductions");
    let log = sandbox.json(&["log", "--all"]);
    let reproduced: Vec<&serde_json::Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| {
            j["cwd"]
                .as_str()
                .unwrap()
                .starts_with(cache.to_str().unwrap())
        })
        .collect();
    assert_eq!(reproduced.len(), 2, "{log}");
    for job in reproduced {
        let interpreter = job["argv"][0].as_str().unwrap();
        assert!(interpreter.starts_with(cache.to_str().unwrap()), "{job}");
        assert!(interpreter.ends_with("/venv-1/bin/python"), "{job}");
    }
}

#[test]
fn a_step_run_with_uncommitted_changes_is_flagged_and_refused_unless_allowed() {
    let sandbox = Sandbox::new();
    untracked_pipeline(&sandbox, PREPARE);
    run_ok(&sandbox, &["python3", "prepare.py"]);
    // A change that does not alter the output, left uncommitted.
    let train = std::fs::read_to_string(sandbox.work_dir().join("train.py")).unwrap();
    write(&sandbox, "train.py", &format!("{train}# tweak\n"));
    let output = sandbox
        .roarctl()
        .args(["run", "--allow-dirty", "--", "python3", "train.py"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));

    let plan = sandbox.json(&["reproduce", "model.txt"]);
    assert_eq!(plan["jobs"][0]["dirty"], false);
    assert_eq!(plan["jobs"][1]["dirty"], true, "{plan}");
    assert_eq!(plan["jobs"][1]["dirty_paths"][0], "train.py");
    let output = roarctl(&sandbox, &["reproduce", "model.txt"]);
    assert!(
        stdout(&output).contains("@2 ran with uncommitted changes to train.py"),
        "{}",
        stdout(&output)
    );

    let output = roarctl(&sandbox, &["reproduce", "model.txt", "--run", "-y"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert_stderr_contains(&output, "@2 ran with uncommitted changes to train.py");
    assert_eq!(sandbox.json(&["log", "--all"]).as_array().unwrap().len(), 2);

    let output = roarctl(
        &sandbox,
        &["reproduce", "model.txt", "--run", "-y", "--allow-dirty"],
    );
    assert_eq!(code(&output), 0, "{}\n{}", stdout(&output), stderr(&output));
    assert_stderr_contains(&output, "warning");
    assert_eq!(sandbox.json(&["log", "--all"]).as_array().unwrap().len(), 4);
}

#[test]
fn a_step_that_fails_again_stops_the_reproduction_and_keeps_it() {
    let sandbox = Sandbox::new();
    write(
        &sandbox,
        "gen.py",
        "import os, sys\nif not os.environ.get('FULL'):\n    sys.exit(3)\nopen('model.txt', 'w').write('1')\n",
    );
    write(&sandbox, ".gitignore", "model.txt\n");
    git(&sandbox, &["init", "-q"]);
    git(&sandbox, &["add", "-A"]);
    git(&sandbox, &["commit", "-q", "-m", "gen"]);
    let output = sandbox
        .roarctl()
        .env("FULL", "1")
        .args(["run", "--", "python3", "gen.py"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));

    let output = roarctl(&sandbox, &["reproduce", "model.txt", "--run", "-y"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_stderr_contains(&output, "@1 (python3 gen.py) failed (exit status 3)");
    assert_stderr_contains(&output, "kept in");
    assert_eq!(reproductions_left(&sandbox).len(), 1);
}

/// `reproduce --run --step-timeout`: a step that hangs in the reproduction (it sleeps
/// anywhere but where it was recorded) is stopped, and the reproduction with it.
#[test]
fn a_step_past_its_timeout_is_stopped() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    let here = work.canonicalize().unwrap();
    std::fs::write(
        work.join("slow.py"),
        format!(
            "import os, time\nif os.getcwd() != {:?}:\n    time.sleep(120)\n\
             open('out.txt', 'w').write('done')\n",
            here.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(work.join(".gitignore"), "out.txt\n").unwrap();
    git(&sandbox, &["init", "-q"]);
    git(&sandbox, &["add", "-A"]);
    git(&sandbox, &["commit", "-q", "-m", "slow"]);
    let output = sandbox.run(&["python3", "slow.py"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));

    let started = std::time::Instant::now();
    let run = |timeout: &str| {
        let args = [
            "reproduce",
            "out.txt",
            "--run",
            "-y",
            "--step-timeout",
            timeout,
        ];
        roarctl(&sandbox, &args)
    };
    let output = run("2s");
    assert_ne!(code(&output), 0);
    assert_stderr_contains(&output, "stopped after --step-timeout 2s");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the step was not stopped: {:?}",
        started.elapsed()
    );
    let bad = run("soon");
    assert_eq!(code(&bad), 2);
    assert_stderr_contains(&bad, "cannot read the duration 'soon'");
}

/// `reproduce --export-requirements DIR`: a step that imported a package installed in
/// its virtualenv and one that used none: one requirements file, naming its Python
/// version, the step and the package's recorded version.
#[test]
fn requirements_are_exported_one_file_per_environment() {
    let sandbox = Sandbox::new();
    const PREPARE_WITH_PACKAGE: &str = "import fakepkg\n\
        open('data/clean.csv', 'w').write('\\n'.join(sorted(open('data/raw.csv').read().split(','))))\n";
    untracked_pipeline(&sandbox, PREPARE_WITH_PACKAGE);
    let work = sandbox.work_dir();
    let status = Command::new("python3")
        .args(["-m", "venv", "--without-pip", ".venv"])
        .current_dir(&work)
        .status()
        .unwrap();
    assert!(status.success());
    let site = std::fs::read_dir(work.join(".venv/lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages");
    std::fs::create_dir_all(site.join("fakepkg")).unwrap();
    std::fs::write(site.join("fakepkg/__init__.py"), "VALUE = 1\n").unwrap();
    let info = site.join("fakepkg-1.2.3.dist-info");
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(
        info.join("METADATA"),
        "Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.2.3\n",
    )
    .unwrap();
    std::fs::write(
        info.join("RECORD"),
        "fakepkg/__init__.py,,\nfakepkg-1.2.3.dist-info/METADATA,,\n",
    )
    .unwrap();
    run_ok(&sandbox, &[".venv/bin/python", "prepare.py"]);
    run_ok(&sandbox, &["sh", "-c", "cat data/clean.csv > model.txt"]);

    let out = sandbox.root().join("requirements");
    let output = roarctl(
        &sandbox,
        &[
            "reproduce",
            "model.txt",
            "--export-requirements",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_stderr_contains(&output, "wrote 1 requirements file(s)");
    let text = std::fs::read_to_string(out.join("requirements-1.txt")).unwrap();
    let python = String::from_utf8(
        Command::new(work.join(".venv/bin/python"))
            .args(["-c", "import platform; print(platform.python_version())"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        text.starts_with(&format!("# Python {}, used by @1 (", python.trim())),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "fakepkg==1.2.3"), "{text}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
}
