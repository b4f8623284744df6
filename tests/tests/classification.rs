//! Classification of a job's files (artifact, repo, package, system, tmp) and the
//! packages recorded with the job, with real interpreters, virtualenvs and repositories.

use std::path::Path;
use std::process::Command;

use roar_e2e::{Sandbox, assert_stderr_contains, blake3_hex, code, stderr};
use serde_json::Value;

fn files<'a>(job: &'a Value, role: &str) -> Vec<&'a Value> {
    job[role].as_array().unwrap().iter().collect()
}

fn find<'a>(job: &'a Value, role: &str, suffix: &str) -> Option<&'a Value> {
    files(job, role)
        .into_iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(suffix))
}

fn has_package(job: &Value, ecosystem: &str, name: &str, version: &str) -> bool {
    job["packages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["ecosystem"] == ecosystem && p["name"] == name && p["version"] == version)
}

fn run_ok(sandbox: &Sandbox, args: &[&str]) {
    let output = sandbox.run(args);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
}

/// A virtualenv holding one installed distribution, `mypkg` 1.2.3, as pip leaves it.
fn virtualenv_with_package(work: &Path) -> std::path::PathBuf {
    let venv = work.join("venv");
    let status = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "python3 -m venv failed");
    let output = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .unwrap();
    let site = std::path::PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
    std::fs::create_dir_all(site.join("mypkg")).unwrap();
    std::fs::write(site.join("mypkg/__init__.py"), "VALUE = 42\n").unwrap();
    let info = site.join("mypkg-1.2.3.dist-info");
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(
        info.join("METADATA"),
        "Metadata-Version: 2.1\nName: mypkg\nVersion: 1.2.3\n",
    )
    .unwrap();
    std::fs::write(
        info.join("RECORD"),
        "mypkg/__init__.py,,\nmypkg-1.2.3.dist-info/METADATA,,\nmypkg-1.2.3.dist-info/RECORD,,\n",
    )
    .unwrap();
    venv
}

#[test]
fn a_python_job_in_a_virtualenv_records_its_package_not_its_files() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    let venv = virtualenv_with_package(&work);
    std::fs::write(work.join("data.csv"), "x\n1\n").unwrap();
    let python = venv.join("bin/python");
    run_ok(
        &sandbox,
        &[
            python.to_str().unwrap(),
            "-c",
            "import mypkg\n\
             rows = open('data.csv').read()\n\
             open('out.csv', 'w').write(rows + str(mypkg.VALUE))",
        ],
    );
    let job = sandbox.json(&["show", "last"]);
    assert!(
        has_package(&job, "python", "mypkg", "1.2.3"),
        "{}",
        job["packages"]
    );
    let input = find(&job, "inputs", "/data.csv").expect("the data is an input");
    assert_eq!(input["class"], "artifact");
    assert_eq!(input["hashes"]["blake3"], blake3_hex(b"x\n1\n"));
    let output = find(&job, "outputs", "/out.csv").expect("the result is an output");
    assert_eq!(output["hashes"]["blake3"], blake3_hex(b"x\n1\n42"));
    for role in ["inputs", "outputs"] {
        for file in files(&job, role) {
            let path = file["path"].as_str().unwrap();
            assert!(
                !path.contains("/venv/") && !path.starts_with("/usr/"),
                "{path} is not data but is listed as an {role}"
            );
        }
    }

    // `--all` shows what was left out, each with its class.
    let all = sandbox.json(&["show", "last", "--all"]);
    let module = find(&all, "inputs", "/mypkg/__init__.py").expect("listed with --all");
    assert_eq!(module["class"], "package");
    assert_eq!(
        module["hashes"],
        serde_json::json!({}),
        "package files are not hashed"
    );
    assert!(
        files(&all, "inputs").iter().any(
            |f| f["path"].as_str().unwrap().ends_with("/pyvenv.cfg") && f["class"] == "package"
        )
    );
}

#[test]
fn system_files_name_their_debian_package() {
    if !Path::new("/var/lib/dpkg/info/coreutils.list").exists() {
        eprintln!("skipped: not a Debian system (no dpkg database)");
        return;
    }
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.work_dir().join("in.txt"), "hello").unwrap();
    run_ok(&sandbox, &["cat", "in.txt"]);
    let job = sandbox.json(&["show", "last"]);
    let coreutils = job["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ecosystem"] == "debian" && p["name"] == "coreutils")
        .expect("cat belongs to coreutils");
    assert!(!coreutils["version"].as_str().unwrap().is_empty());
    let all = sandbox.json(&["show", "last", "--all"]);
    let cat = files(&all, "inputs")
        .into_iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("/bin/cat"))
        .expect("the executable is recorded");
    assert_eq!(cat["class"], "system");
}

#[test]
fn scratch_rules_follow_the_configuration_and_the_jobs_tmpdir() {
    let sandbox = Sandbox::new();
    let scratch = sandbox.root().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    sandbox.write_config("[filters]\ntmp = [\"$TMPDIR\"]\n");
    let output = sandbox
        .roarctl()
        .env("TMPDIR", &scratch)
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "echo a > \"$TMPDIR/part\"; echo b > kept.txt",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let job = sandbox.json(&["show", "last"]);
    assert!(find(&job, "outputs", "/kept.txt").is_some());
    assert!(
        find(&job, "outputs", "/part").is_none(),
        "scratch is hidden"
    );
    let all = sandbox.json(&["show", "last", "--all"]);
    assert_eq!(find(&all, "outputs", "/part").unwrap()["class"], "tmp");
}

#[test]
fn files_tracked_by_git_are_repo_files_hashed_only_when_asked() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@e"])
            .args(args)
            .current_dir(&work)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    std::fs::write(work.join("step.sh"), "cat data.csv > out.csv\n").unwrap();
    std::fs::write(work.join("data.csv"), "1\n").unwrap();
    git(&["init", "-q"]);
    git(&["add", "step.sh"]);
    git(&["commit", "-q", "-m", "step"]);

    run_ok(&sandbox, &["sh", "step.sh"]);
    let job = sandbox.json(&["show", "last"]);
    let script = find(&job, "inputs", "/step.sh").expect("repo files are listed");
    assert_eq!(script["class"], "repo");
    assert_eq!(script["hashes"], serde_json::json!({}));
    assert_eq!(
        find(&job, "inputs", "/data.csv").unwrap()["class"],
        "artifact"
    );

    // A project file turns hashing of repository files on for this project only.
    std::fs::create_dir_all(work.join(".roar")).unwrap();
    std::fs::write(
        work.join(".roar/config.toml"),
        "[filters]\ntrack_repo_files = true\ntmp = []\n",
    )
    .unwrap();
    run_ok(&sandbox, &["sh", "step.sh"]);
    let job = sandbox.json(&["show", "last"]);
    let script = find(&job, "inputs", "/step.sh").unwrap();
    assert_eq!(script["class"], "repo");
    assert_eq!(
        script["hashes"]["blake3"],
        blake3_hex(b"cat data.csv > out.csv\n")
    );
}

#[test]
fn a_broken_configuration_file_is_named_and_nothing_runs() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    std::fs::create_dir_all(work.join(".git")).unwrap();
    std::fs::create_dir_all(work.join(".roar")).unwrap();
    std::fs::write(work.join(".roar/config.toml"), "[filters]\ntmpp = []\n").unwrap();
    let output = sandbox.run(&["touch", "ran"]);
    assert_eq!(code(&output), 2);
    assert_stderr_contains(&output, ".roar/config.toml");
    assert_stderr_contains(&output, "tmpp");
    assert!(!work.join("ran").exists());
}

#[test]
fn a_job_that_commits_records_no_version_control_internals_as_artifacts() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    std::fs::write(work.join("result.txt"), "42\n").unwrap();
    let output = sandbox
        .roarctl()
        .args(["run", "--", "sh", "-c"])
        .arg(
            // No detached auto-maintenance: it would outlive the job's first process.
            "git init -q && git add result.txt && git -c user.name=T -c user.email=t@e \
             -c gc.auto=0 -c maintenance.auto=false commit -q -m result",
        )
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let job = sandbox.json(&["show", "last"]);
    let data: Vec<&str> = ["inputs", "outputs"]
        .iter()
        .flat_map(|role| files(&job, role))
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        data.iter().all(|p| !p.contains("/.git/")),
        "version-control files shown as data: {data:?}"
    );
    assert!(find(&job, "inputs", "/result.txt").is_some(), "{job}");
    // `--all` lists them, as what they are.
    let everything = sandbox.json(&["show", "last", "--all"]);
    let vcs: Vec<&Value> = files(&everything, "outputs")
        .into_iter()
        .filter(|f| f["path"].as_str().unwrap().contains("/.git/"))
        .collect();
    assert!(!vcs.is_empty(), "{everything}");
    assert!(
        vcs.iter()
            .all(|f| f["class"] == "vcs" && f["hashes"] == serde_json::json!({}))
    );
    // The record names the commit the job made.
    let head = roar_e2e::git(&work, &["rev-parse", "HEAD"]);
    assert_eq!(job["commit_made"], head.as_str(), "{job}");
    let plain = sandbox.run(&["true"]);
    assert_eq!(code(&plain), 0);
    assert!(sandbox.json(&["show", "last"])["commit_made"].is_null());
}
