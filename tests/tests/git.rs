//! Git context, the clean-repository policy and commit tags, with real repositories.

use std::path::Path;

use roar_e2e::{Sandbox, assert_stderr_contains, code, git, stderr};

/// A repository in the sandbox's work directory with one commit of `step.sh`.
fn repository(sandbox: &Sandbox) -> String {
    let work = sandbox.work_dir();
    std::fs::write(work.join("step.sh"), "cat in.txt > out.txt\n").unwrap();
    std::fs::write(work.join("in.txt"), "data\n").unwrap();
    std::fs::write(work.join(".gitignore"), "out.txt\nin.txt\n").unwrap();
    git(&work, &["init", "-q"]);
    git(&work, &["add", "step.sh", ".gitignore"]);
    git(&work, &["commit", "-q", "-m", "first"]);
    git(&work, &["rev-parse", "HEAD"])
}

#[test]
fn a_clean_run_records_its_commit_and_a_dirty_one_is_refused() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    let commit = repository(&sandbox);

    let output = sandbox.run(&["sh", "step.sh"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["git"]["commit"], commit.as_str());
    assert_eq!(job["git"]["branch"], "main");
    assert_eq!(job["git"]["dirty"], false);
    assert_eq!(
        job["git"]["repository"],
        work.canonicalize().unwrap().to_str().unwrap(),
        "without a remote, the work tree names the repository"
    );

    // Untracked files do not make it dirty; a changed tracked file does.
    std::fs::write(work.join("notes.txt"), "untracked").unwrap();
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    std::fs::write(work.join("step.sh"), "cat in.txt > out.txt; echo changed\n").unwrap();
    std::fs::remove_file(work.join("out.txt")).unwrap();
    let output = sandbox.run(&["sh", "step.sh"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert_stderr_contains(&output, "uncommitted changes");
    assert_stderr_contains(&output, "step.sh");
    assert_stderr_contains(&output, "--allow-dirty");
    assert!(!work.join("out.txt").exists(), "nothing ran");
    // Not even --allow-untraced sidesteps the policy.
    let output = sandbox
        .roarctl()
        .args(["run", "--allow-untraced", "--", "sh", "step.sh"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 2);

    let output = sandbox
        .roarctl()
        .args(["run", "--allow-dirty", "--", "sh", "step.sh"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["git"]["dirty"], true);
    assert_eq!(job["git"]["dirty_paths"], serde_json::json!(["step.sh"]));

    // A user or project may turn the policy off; untracked files can count too.
    sandbox.write_config("[filters]\ntmp = [\"/var/tmp\"]\n[git]\nrequire_clean = false\n");
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    git(&work, &["checkout", "-q", "step.sh"]);
    sandbox.write_config("[filters]\ntmp = [\"/var/tmp\"]\n[git]\nuntracked_is_dirty = true\n");
    let output = sandbox.run(&["true"]);
    assert_eq!(code(&output), 2);
    assert_stderr_contains(&output, "notes.txt");
}

#[test]
fn an_enforced_policy_cannot_be_overridden() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    repository(&sandbox);
    std::fs::write(
        sandbox.root().join("system-config.toml"),
        "[git]\nrequire_clean = \"enforce\"\n",
    )
    .unwrap();
    sandbox.write_config("[filters]\ntmp = [\"/var/tmp\"]\n[git]\nrequire_clean = false\n");
    std::fs::create_dir_all(work.join(".roar")).unwrap();
    std::fs::write(
        work.join(".roar/config.toml"),
        "[git]\nrequire_clean = false\n",
    )
    .unwrap();
    std::fs::write(work.join("step.sh"), "echo changed\n").unwrap();
    let output = sandbox
        .roarctl()
        .args(["run", "--allow-dirty", "--", "sh", "step.sh"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert_stderr_contains(&output, "enforce");
}

#[test]
fn detached_heads_and_repositories_without_commits() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    git(&work, &["init", "-q"]);
    let output = sandbox.run(&["true"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["git"]["commit"], serde_json::Value::Null);
    assert_eq!(job["git"]["branch"], "main");

    let commit = repository_commit(&work);
    git(&work, &["checkout", "-q", "--detach", &commit]);
    assert_eq!(code(&sandbox.run(&["true"])), 0);
    let job = sandbox.json(&["show", "last"]);
    assert_eq!(job["git"]["branch"], serde_json::Value::Null);
    assert_eq!(job["git"]["commit"], commit.as_str());

    // Outside any repository: no git context, and the job runs.
    let outside = tempfile::tempdir().unwrap();
    let output = sandbox
        .roarctl()
        .current_dir(outside.path())
        .args(["run", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0);
    let output = sandbox
        .roarctl()
        .current_dir(outside.path())
        .args(["show", "last", "--json"])
        .output()
        .unwrap();
    let job: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(job["git"], serde_json::Value::Null);
}

fn repository_commit(work: &Path) -> String {
    std::fs::write(work.join("a.txt"), "a").unwrap();
    git(work, &["add", "a.txt"]);
    git(work, &["commit", "-q", "-m", "a"]);
    git(work, &["rev-parse", "HEAD"])
}

#[test]
fn lineage_tags_name_the_dag_hash_and_are_idempotent() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    let commit = repository(&sandbox);
    assert_eq!(code(&sandbox.run(&["sh", "step.sh"])), 0);

    let first = sandbox.json(&["tag", "out.txt"]);
    let hash = first["dag_hash"].as_str().unwrap();
    let name = format!("roar/{}", &hash[..12]);
    assert_eq!(first["tags"][0]["name"], name.as_str());
    assert_eq!(first["tags"][0]["created"], true);
    assert_eq!(first["tags"][0]["commit"], commit.as_str());
    assert_eq!(
        git(&work, &["rev-parse", &format!("{name}^{{commit}}")]),
        commit
    );
    assert_eq!(
        git(&work, &["cat-file", "-t", &name]),
        "tag",
        "an annotated tag"
    );
    assert!(git(&work, &["tag", "-n99", "-l", &name]).contains("roar lineage"));

    // The same lineage, the same tag: nothing new.
    let again = sandbox.json(&["tag", "out.txt"]);
    assert_eq!(again["dag_hash"], first["dag_hash"]);
    assert_eq!(again["tags"][0]["created"], false);

    // A tag of that name on another commit is a conflict, named as such.
    git(&work, &["tag", "-d", &name]);
    std::fs::write(work.join("other.txt"), "x").unwrap();
    git(&work, &["add", "other.txt"]);
    git(&work, &["commit", "-q", "-m", "other"]);
    git(&work, &["tag", "-a", "-m", "squatter", &name]);
    let output = sandbox.roarctl().args(["tag", "out.txt"]).output().unwrap();
    assert_ne!(code(&output), 0);
    assert_stderr_contains(&output, "already exists");
}
