//! Sessions, the DAG, lineage and exports, on a real three-step Python pipeline.

use std::path::Path;
use std::process::Command;

use roar_e2e::{Sandbox, assert_stderr_contains, code, stderr};
use serde_json::Value;

const PREPROCESS: &str = "rows = open('data/raw.csv').read().split(',')\n\
                          open('clean.csv', 'w').write('\\n'.join(r.strip() for r in rows))\n";
const TRAIN: &str = "total = sum(int(x) for x in open('clean.csv').read().split())\n\
                     open('model.txt', 'w').write(str(total))\n";
const EVALUATE: &str = "import json\n\
                        score = int(open('model.txt').read())\n\
                        json.dump({'score': score}, open('metrics.json', 'w'))\n";

fn run_ok(sandbox: &Sandbox, args: &[&str]) {
    let output = sandbox.run(args);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
}

/// The pipeline's scripts and raw data, run as steps @1, @2, @3.
fn pipeline(sandbox: &Sandbox) {
    let work = sandbox.work_dir();
    std::fs::create_dir_all(work.join("data")).unwrap();
    std::fs::write(work.join("data/raw.csv"), "1, 2, 3").unwrap();
    std::fs::write(work.join("preprocess.py"), PREPROCESS).unwrap();
    std::fs::write(work.join("train.py"), TRAIN).unwrap();
    std::fs::write(work.join("evaluate.py"), EVALUATE).unwrap();
    for script in ["preprocess.py", "train.py", "evaluate.py"] {
        run_ok(sandbox, &["python3", script]);
    }
}

fn jobs_by_label(graph: &Value) -> Vec<(String, bool)> {
    graph["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["step_label"].as_str().unwrap().to_string(),
                j["stale"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// `(from label, to label, path read)` for every edge of a graph.
fn edges(graph: &Value) -> Vec<(String, String, String)> {
    let label = |uid: &Value| {
        graph["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| &j["uid"] == uid)
            .map(|j| j["step_label"].as_str().unwrap().to_string())
            .unwrap()
    };
    let mut list: Vec<_> = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let reader = graph["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|j| j["uid"] == e["to"])
                .unwrap();
            let path = reader["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["artifact"] == e["artifact"])
                .map(|i| {
                    i["path"]
                        .as_str()
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_string()
                })
                .unwrap();
            (label(&e["from"]), label(&e["to"]), path)
        })
        .collect();
    list.sort();
    list
}

fn source_names(graph: &Value) -> Vec<String> {
    let sources: Vec<&Value> = graph["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["source"] == true)
        .map(|a| &a["id"])
        .collect();
    let mut names: Vec<String> = graph["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|j| j["inputs"].as_array().unwrap())
        .filter(|i| sources.contains(&&i["artifact"]))
        .map(|i| {
            i["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn a_pipeline_has_an_exact_dag_lineage_and_staleness() {
    let sandbox = Sandbox::new();
    pipeline(&sandbox);
    let work = sandbox.work_dir();

    let dag = sandbox.json(&["dag"]);
    assert_eq!(
        jobs_by_label(&dag),
        [
            ("@1".into(), false),
            ("@2".into(), false),
            ("@3".into(), false)
        ]
    );
    assert_eq!(
        edges(&dag),
        [
            ("@1".into(), "@2".into(), "clean.csv".into()),
            ("@2".into(), "@3".into(), "model.txt".into())
        ]
    );

    // Upstream of the metrics: the three jobs, down to the raw data and the scripts.
    let up = sandbox.json(&["lineage", "metrics.json"]);
    let mut depths: Vec<(String, u64)> = up["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["step_label"].as_str().unwrap().to_string(),
                j["depth"].as_u64().unwrap(),
            )
        })
        .collect();
    depths.sort();
    assert_eq!(
        depths,
        [("@1".into(), 3), ("@2".into(), 2), ("@3".into(), 1)]
    );
    assert_eq!(
        source_names(&up),
        ["evaluate.py", "preprocess.py", "raw.csv", "train.py"]
    );
    let limited = sandbox.json(&["lineage", "metrics.json", "--depth", "1"]);
    assert_eq!(limited["jobs"].as_array().unwrap().len(), 1);

    // Downstream of the raw data: everything.
    let down = sandbox.json(&["lineage", "--downstream", "data/raw.csv"]);
    assert_eq!(down["jobs"].as_array().unwrap().len(), 3);
    let text = sandbox
        .roarctl()
        .args(["lineage", "metrics.json"])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("written by @3") && text.contains("raw.csv"),
        "{text}"
    );

    // New raw data: step 1 is stale, and so is everything downstream of it.
    std::fs::write(work.join("data/raw.csv"), "4, 5, 6").unwrap();
    let dag = sandbox.json(&["dag"]);
    assert_eq!(
        jobs_by_label(&dag),
        [
            ("@1".into(), true),
            ("@2".into(), true),
            ("@3".into(), true)
        ]
    );
    assert!(
        dag["jobs"][0]["stale_reason"]
            .as_str()
            .unwrap()
            .contains("raw.csv")
    );

    // Re-running step 1 makes it current; step 2 read what step 1 no longer writes.
    run_ok(&sandbox, &["@1"]);
    let dag = sandbox.json(&["dag"]);
    assert_eq!(
        jobs_by_label(&dag),
        [
            ("@1".into(), false),
            ("@2".into(), true),
            ("@3".into(), true)
        ]
    );
    assert!(
        dag["jobs"][1]["stale_reason"]
            .as_str()
            .unwrap()
            .contains("upstream @1 re-run")
    );
    assert_eq!(dag["session"]["jobs"], 4);
    run_ok(&sandbox, &["@2"]);
    run_ok(&sandbox, &["@3"]);
    let dag = sandbox.json(&["dag"]);
    assert!(jobs_by_label(&dag).iter().all(|(_, stale)| !stale), "{dag}");
    assert_eq!(
        std::fs::read_to_string(work.join("metrics.json")).unwrap(),
        "{\"score\": 15}"
    );

    // A renamed (and copied) intermediate keeps its lineage: identity is content.
    std::fs::rename(work.join("clean.csv"), work.join("renamed.csv")).unwrap();
    run_ok(&sandbox, &["sh", "-c", "cat renamed.csv > copy.csv"]);
    let up = sandbox.json(&["lineage", "copy.csv"]);
    let labels: Vec<&str> = up["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["step_label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"@1"),
        "the copy leads back to step 1: {labels:?}"
    );
}

#[test]
fn rerun_with_extra_arguments_build_steps_reset_and_pop() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    std::fs::write(
        work.join("args.py"),
        "import sys\nopen('out.txt', 'w').write(' '.join(sys.argv[1:]))\n",
    )
    .unwrap();
    run_ok(&sandbox, &["python3", "args.py", "a"]);
    run_ok(&sandbox, &["@1", "--", "b"]);
    assert_eq!(
        std::fs::read_to_string(work.join("out.txt")).unwrap(),
        "a b"
    );
    let job = sandbox.json(&["show", "@1"]);
    assert_eq!(job["argv"].as_array().unwrap().len(), 4);

    let output = sandbox
        .roarctl()
        .args(["build", "--", "sh", "-c", "echo built > tool.bin"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_stderr_contains(&output, "(@B1, exit 0)");
    assert_eq!(sandbox.json(&["show", "@B1"])["job_kind"], "build");

    run_ok(&sandbox, &["sh", "-c", "echo two > second.txt"]);
    // Without a terminal, pop needs -y.
    let output = sandbox.roarctl().args(["pop"]).output().unwrap();
    assert_eq!(code(&output), 2);
    assert_stderr_contains(&output, "-y");
    let output = sandbox
        .roarctl()
        .args(["pop", "-y", "--delete-outputs"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        !work.join("second.txt").exists(),
        "the step's output is deleted"
    );
    assert!(work.join("out.txt").exists());
    let dag = sandbox.json(&["dag"]);
    assert_eq!(dag["session"]["steps"], 1, "{dag:#}");

    // A changed output survives --delete-outputs.
    run_ok(&sandbox, &["sh", "-c", "echo three > third.txt"]);
    std::fs::write(work.join("third.txt"), "edited by hand").unwrap();
    let output = sandbox
        .roarctl()
        .args(["pop", "-y", "--delete-outputs"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0);
    assert!(work.join("third.txt").exists());
    assert_stderr_contains(&output, "kept");

    let before = sandbox.json(&["status"]);
    let output = sandbox.roarctl().args(["reset"]).output().unwrap();
    assert_eq!(code(&output), 0);
    let after = sandbox.json(&["status"]);
    assert_ne!(before["session"]["id"], after["session"]["id"]);
    assert_eq!(after["session"]["steps"], 0);
    let output = sandbox.roarctl().args(["show", "@1"]).output().unwrap();
    assert_ne!(code(&output), 0, "@1 belongs to the old session");
    // The old session's jobs stay queryable.
    let log = sandbox.json(&["log"]);
    assert!(log.as_array().unwrap().len() >= 3);
    let output = sandbox.run(&["@7"]);
    assert_ne!(code(&output), 0);
    assert_stderr_contains(&output, "@7");
}

fn validator(schema_file: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(schema_file);
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the published schema compiles")
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{instance:#}");
}

#[test]
fn exports_validate_against_the_published_schemas() {
    let sandbox = Sandbox::new();
    pipeline(&sandbox);
    let export = |args: &[&str]| {
        let output = sandbox.roarctl().arg("export").args(args).output().unwrap();
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        String::from_utf8(output.stdout).unwrap()
    };

    let prov: Value = serde_json::from_str(&export(&["--format", "prov-json"])).unwrap();
    assert_valid(&validator("prov-json.json"), &prov);
    assert_eq!(prov["activity"].as_object().unwrap().len(), 3);
    assert_eq!(prov["wasInformedBy"].as_object().unwrap().len(), 2);

    let events: Vec<Value> = export(&["metrics.json", "--format", "openlineage"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.len(), 3);
    let openlineage = validator("openlineage.json");
    for event in &events {
        assert_valid(&openlineage, event);
        assert_eq!(event["eventType"], "COMPLETE");
    }
    let last = &events[2];
    assert!(
        last["outputs"][0]["name"]
            .as_str()
            .unwrap()
            .ends_with("/metrics.json")
    );
}

#[test]
fn dag_renders_as_dot_and_mermaid() {
    let sandbox = Sandbox::new();
    pipeline(&sandbox);
    let dot = sandbox.roarctl().args(["dag", "--dot"]).output().unwrap();
    assert_eq!(code(&dot), 0);
    let text = String::from_utf8(dot.stdout.clone()).unwrap();
    assert!(
        text.starts_with("digraph roar {") && text.matches(" -> ").count() >= 2,
        "{text}"
    );
    if Command::new("dot").arg("-V").output().is_ok() {
        let mut render = Command::new("dot")
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        render.stdin.take().unwrap().write_all(&dot.stdout).unwrap();
        let rendered = render.wait_with_output().unwrap();
        assert!(
            rendered.status.success(),
            "{}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        assert!(String::from_utf8_lossy(&rendered.stdout).contains("<svg"));
    }
    let mermaid = sandbox
        .roarctl()
        .args(["dag", "--mermaid"])
        .output()
        .unwrap();
    let text = String::from_utf8(mermaid.stdout).unwrap();
    assert!(text.starts_with("flowchart LR"), "{text}");
    assert_eq!(text.matches("-->|").count(), 2, "{text}");
    // Colours only on a terminal: piped output has no escape codes.
    let plain = sandbox.roarctl().args(["dag"]).output().unwrap();
    assert!(!plain.stdout.contains(&0x1b));
}

/// `roarctl diff`: two runs of a training step in a git repository, with other data,
/// another learning rate and a commit between them, compared as jobs and through the
/// artifact the second made; identical runs have no differences, a source is refused.
#[test]
fn diff_says_what_changed_between_two_runs() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    let git = |args: &[&str]| roar_e2e::git(&work, args);
    std::fs::create_dir_all(work.join("data")).unwrap();
    std::fs::write(work.join(".gitignore"), "data/\nmodel.txt\n").unwrap();
    let train = "import sys\nlr = float(sys.argv[2])\n\
                 rows = open('data/raw.csv').read().split(',')\n\
                 open('model.txt', 'w').write(str(lr * sum(int(r) for r in rows)))\n";
    std::fs::write(work.join("train.py"), train).unwrap();
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    let first = git(&["rev-parse", "HEAD"]);
    std::fs::write(work.join("data/raw.csv"), "1,2,3").unwrap();
    run_ok(&sandbox, &["python3", "train.py", "--lr", "0.1"]);

    std::fs::write(work.join("data/raw.csv"), "1,2,4").unwrap();
    std::fs::write(work.join("train.py"), format!("# scaled\n{train}")).unwrap();
    git(&["commit", "-q", "-am", "second"]);
    let second = git(&["rev-parse", "HEAD"]);
    run_ok(&sandbox, &["python3", "train.py", "--lr", "0.2"]);

    let diff = sandbox.json(&["diff", "@1", "@2"]);
    let data = diff["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{diff}");
    assert_eq!(data[0]["path"], "data/raw.csv");
    assert_eq!(data[0]["change"], "changed");
    assert_eq!(data[0]["b"], roar_e2e::blake3_hex(b"1,2,4").as_str());
    assert_eq!(
        diff["parameters"]["options"],
        serde_json::json!([{"name": "--lr", "a": "0.1", "b": "0.2"}])
    );
    assert_eq!(diff["parameters"]["command"], Value::Null, "{diff}");
    let fields = &diff["code"]["fields"];
    assert_eq!(
        fields,
        &serde_json::json!([{"name": "commit", "a": first, "b": second}])
    );
    assert_eq!(
        diff["code"]["files"],
        serde_json::json!([{"path": "train.py", "added": 1, "removed": 0}])
    );
    assert_eq!(diff["environment"]["packages"], serde_json::json!([]));

    // Through the artifact: model.txt holds what @2 wrote, so this is @2 against @1.
    let reversed = sandbox.json(&["diff", "model.txt", "@1"]);
    assert_eq!(reversed["a"], diff["b"]);
    assert_eq!(reversed["parameters"]["options"][0]["a"], "0.2");
    let roarctl = |args: &[&str]| sandbox.roarctl().args(args).output().unwrap();
    let text = roarctl(&["diff", "@1", "@2"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    for line in [
        "changed  data/raw.csv",
        "--lr  0.1 → 0.2",
        "train.py  +1 -0",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    let same = roarctl(&["diff", "@2", "last"]);
    assert!(
        String::from_utf8_lossy(&same.stdout).contains("no differences"),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    let source = roarctl(&["diff", "data/raw.csv", "@1"]);
    assert_ne!(code(&source), 0);
    assert_stderr_contains(&source, "it is a source");
}

/// `roarctl rerun` on the three-step pipeline: nothing to do while it is current; new
/// raw data re-runs all three; data that cleans to the same bytes re-runs only the
/// first step, the others being current again once its output is the same content.
#[test]
fn rerun_brings_the_pipeline_up_to_date_and_skips_what_comes_out_the_same() {
    let sandbox = Sandbox::new();
    pipeline(&sandbox);
    let work = sandbox.work_dir();
    let roarctl = |args: &[&str]| sandbox.roarctl().args(args).output().unwrap();
    let jobs = || {
        sandbox
            .json(&["log", "-n", "100"])
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(jobs(), 3);

    let idle = roarctl(&["rerun", "--dry-run"]);
    assert!(String::from_utf8_lossy(&idle.stdout).contains("every step is current"));
    let idle = roarctl(&["rerun"]);
    assert_eq!(code(&idle), 0, "{}", stderr(&idle));
    assert_eq!(jobs(), 3, "a current pipeline runs nothing");

    std::fs::write(work.join("data/raw.csv"), "1, 2, 3, 4").unwrap();
    let plan = roarctl(&["rerun", "--dry-run"]);
    let plan = String::from_utf8_lossy(&plan.stdout).into_owned();
    for step in ["@1", "@2", "@3"] {
        assert!(
            plan.contains(&format!("  {step}  ")),
            "{step} missing from:\n{plan}"
        );
    }
    assert_eq!(jobs(), 3, "--dry-run runs nothing");
    let all = roarctl(&["rerun"]);
    assert_eq!(code(&all), 0, "{}", stderr(&all));
    assert_stderr_contains(&all, "re-ran 3 step(s); every step is current");
    assert_eq!(
        std::fs::read_to_string(work.join("model.txt")).unwrap(),
        "10"
    );
    assert_eq!(jobs(), 6);
    let dag = sandbox.json(&["dag"]);
    assert!(jobs_by_label(&dag).iter().all(|(_, stale)| !stale), "{dag}");

    // Other bytes, same numbers: preprocess writes the same clean.csv.
    std::fs::write(work.join("data/raw.csv"), "1,2,3,4").unwrap();
    let one = roarctl(&["rerun"]);
    assert_eq!(code(&one), 0, "{}", stderr(&one));
    assert_stderr_contains(&one, "re-ran 1 step(s); every step is current");
    assert_eq!(jobs(), 7);

    // --only and --from narrow what is re-run; a bad step is named.
    std::fs::write(work.join("data/raw.csv"), "5").unwrap();
    let only = roarctl(&["rerun", "--only", "@1"]);
    assert_eq!(code(&only), 0, "{}", stderr(&only));
    assert_stderr_contains(&only, "re-ran 1 step(s)");
    let later = roarctl(&["rerun", "--from", "@3", "--dry-run"]);
    let later = String::from_utf8_lossy(&later.stdout).into_owned();
    assert!(
        later.contains("  @3  ") && !later.contains("  @2  "),
        "{later}"
    );
    let bad = roarctl(&["rerun", "--only", "2"]);
    assert_eq!(code(&bad), 1);
    assert_stderr_contains(&bad, "'2' is not a step");
}

/// `dag --artifacts` draws the final output (metrics.json) in both pictures, and
/// `dag --stale-only` keeps only what must be re-run.
#[test]
fn dag_draws_final_outputs_and_shows_stale_steps_alone() {
    let sandbox = Sandbox::new();
    pipeline(&sandbox);
    let work = sandbox.work_dir();
    let stdout = |args: &[&str]| {
        let output = sandbox.roarctl().args(args).output().unwrap();
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(!stdout(&["dag", "--dot"]).contains("metrics.json"));
    let dot = stdout(&["dag", "--dot", "--artifacts"]);
    assert!(dot.contains("label=\"metrics.json\""), "{dot}");
    let mermaid = stdout(&["dag", "--mermaid", "--artifacts"]);
    assert!(mermaid.contains("metrics.json"), "{mermaid}");
    assert!(
        !mermaid.contains("/\"clean.csv\"/"),
        "clean.csv is read by @2, not a final output: {mermaid}"
    );
    assert_eq!(
        stdout(&["dag", "--stale-only"]).trim(),
        "every step is current"
    );

    std::fs::write(work.join("evaluate.py"), format!("{EVALUATE}# v2\n")).unwrap();
    let stale = sandbox.json(&["dag", "--stale-only"]);
    assert_eq!(jobs_by_label(&stale), [("@3".into(), true)], "{stale}");
    let text = stdout(&["dag", "--stale-only"]);
    assert!(text.contains("@3") && !text.contains("@1 "), "{text}");
}
