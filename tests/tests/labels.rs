//! Labels through the real binaries: set, unset and history on jobs, artifacts and
//! sessions; an inherited label reaching a pipeline's final output with its path,
//! conflicting values all listed; and the label policy refusing a `put` until it is
//! overridden with a reason, which is recorded.

use std::process::Output;

use roar_e2e::{Sandbox, code, stderr};

fn roarctl(sandbox: &Sandbox, args: &[&str]) -> Output {
    sandbox.roarctl().args(args).output().expect("run roarctl")
}

fn ok(sandbox: &Sandbox, args: &[&str]) -> String {
    let output = roarctl(sandbox, args);
    assert_eq!(code(&output), 0, "roarctl {args:?}: {}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// raw.csv and other.csv → @1 → mid.txt → @2 → out.txt, in a git repository.
fn pipeline(sandbox: &Sandbox) {
    let work = sandbox.work_dir();
    std::fs::write(work.join(".gitignore"), "*.txt\n*.csv\n").unwrap();
    roar_e2e::git(&work, &["init", "-q"]);
    roar_e2e::git(&work, &["add", ".gitignore"]);
    roar_e2e::git(&work, &["commit", "-q", "-m", "init"]);
    std::fs::write(work.join("raw.csv"), "a,b\n1,2\n").unwrap();
    std::fs::write(work.join("other.csv"), "c\n3\n").unwrap();
    for step in ["cat raw.csv other.csv > mid.txt", "sort mid.txt > out.txt"] {
        let output = sandbox.run(&["sh", "-c", step]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
    }
}

#[test]
fn labels_are_set_unset_and_kept_with_their_history() {
    let sandbox = Sandbox::new();
    pipeline(&sandbox);
    ok(
        &sandbox,
        &["label", "set", "@2", "reviewed=yes", "owner=ml-team"],
    );
    ok(&sandbox, &["label", "set", "session", "purpose=baseline"]);
    ok(&sandbox, &["label", "set", "mid.txt", "stage=intermediate"]);
    ok(&sandbox, &["label", "unset", "@2", "owner"]);

    let shown = sandbox.json(&["label", "show", "@2"]);
    let labels = shown["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 1, "{shown}");
    assert_eq!(labels[0]["key"], "reviewed");
    assert!(!labels[0]["set_by"].as_str().unwrap().is_empty());
    // A plain label stays on its owner: nothing downstream inherits it.
    assert_eq!(shown["inherited"], serde_json::json!([]));

    let history = sandbox.json(&["label", "show", "@2", "--history"]);
    let changes: Vec<(String, bool)> = history["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["key"].as_str().unwrap().to_string(), l["removed"] == true))
        .collect();
    assert_eq!(
        changes,
        [
            ("reviewed".to_string(), false),
            ("owner".to_string(), false),
            ("owner".to_string(), true)
        ],
        "{history}"
    );

    // Shown where the record is: show, dag --json, the session.
    let job = sandbox.json(&["show", "@2"]);
    assert_eq!(job["labels"][0]["key"], "reviewed", "{job}");
    let dag = sandbox.json(&["dag"]);
    assert_eq!(dag["session"]["labels"][0]["value"], "baseline", "{dag}");
    let step2 = dag["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["step"] == 2);
    assert_eq!(step2.unwrap()["labels"][0]["key"], "reviewed", "{dag}");
    let mid = sandbox.json(&["show", "mid.txt"]);
    assert_eq!(mid["labels"][0]["value"], "intermediate", "{mid}");

    // Removing what is not there is an error that says so, and changes nothing.
    let output = roarctl(&sandbox, &["label", "unset", "@2", "owner"]);
    assert_ne!(code(&output), 0);
    assert!(
        stderr(&output).contains("has no label 'owner'"),
        "{}",
        stderr(&output)
    );
    let output = roarctl(&sandbox, &["label", "set", "@2", "no-equals-sign"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
}

#[test]
fn an_inherited_label_reaches_the_final_output_and_conflicts_are_all_listed() {
    let sandbox = Sandbox::new();
    pipeline(&sandbox);
    // `license` is inherited by default (labels.inherit); `source` only with --inherit.
    ok(
        &sandbox,
        &["label", "set", "raw.csv", "license=CC-BY-NC-4.0"],
    );
    ok(&sandbox, &["label", "set", "other.csv", "license=MIT"]);
    ok(
        &sandbox,
        &["label", "set", "other.csv", "note=local", "--no-inherit"],
    );

    let text = ok(&sandbox, &["show", "out.txt"]);
    assert!(
        text.contains("license=CC-BY-NC-4.0 (from raw.csv via @1, @2)"),
        "{text}"
    );
    assert!(
        text.contains("license=MIT (from other.csv via @1, @2)"),
        "{text}"
    );
    assert!(!text.contains("note=local"), "{text}");

    let shown = sandbox.json(&["label", "show", "out.txt"]);
    let inherited = shown["inherited"].as_array().unwrap();
    assert_eq!(inherited.len(), 2, "{shown}");
    assert_eq!(inherited[0]["via"], serde_json::json!(["@1", "@2"]));
    // The job that made it inherits them as well.
    let job = sandbox.json(&["show", "@2"]);
    assert_eq!(
        job["inherited_labels"].as_array().unwrap().len(),
        2,
        "{job}"
    );
}

#[test]
fn the_policy_refuses_to_put_an_inherited_label_until_overridden_with_a_reason() {
    let sandbox = Sandbox::new();
    pipeline(&sandbox);
    sandbox.write_config("[policy]\nrefuse_put = [\"contains_pii=true\"]\n");
    ok(&sandbox, &["label", "set", "raw.csv", "contains_pii=true"]);
    let dest = tempfile_dir(&sandbox);
    let url = format!("file://{}/", dest.display());

    let output = roarctl(&sandbox, &["put", "out.txt", &url, "-m", "share"]);
    assert_ne!(code(&output), 0);
    let message = stderr(&output);
    assert!(
        message.contains("contains_pii=true (from raw.csv via @1, @2)"),
        "{message}"
    );
    assert!(message.contains("--override-policy"), "{message}");
    assert!(!dest.join("out.txt").exists(), "nothing was published");

    let output = roarctl(
        &sandbox,
        &[
            "put",
            "out.txt",
            &url,
            "-m",
            "share",
            "--override-policy",
            "reviewed by legal",
        ],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(dest.join("out.txt").exists());
    let shown = sandbox.json(&["show", "out.txt"]);
    let overrides = shown["policy_overrides"].as_array().unwrap();
    assert_eq!(overrides.len(), 1, "{shown}");
    assert_eq!(overrides[0]["reason"], "reviewed by legal");
    assert_eq!(overrides[0]["rule"], "contains_pii=true");
    assert_eq!(overrides[0]["action"], "put");

    // Content with no such label goes out without a word about the policy.
    let output = roarctl(&sandbox, &["put", "other.csv", &url, "-m", "share"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
}

fn tempfile_dir(sandbox: &Sandbox) -> std::path::PathBuf {
    let dir = sandbox.root().join("published");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
