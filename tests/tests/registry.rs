//! The team registry against a real PostgreSQL server started for the test.

use roar_e2e::postgres::Postgres;
use roar_e2e::{Sandbox, assert_stderr_contains, code, stderr};

const CONFIG: &str =
    "[filters]\ntmp = [\"/var/tmp\"]\n[hash]\nalgorithms = [\"blake3\", \"sha256\"]\n";

/// A three-step pipeline in the sandbox.
fn pipeline(sandbox: &Sandbox) {
    sandbox.write_config(CONFIG);
    let work = sandbox.work_dir();
    std::fs::write(work.join("raw.csv"), "3,1,2").unwrap();
    for (script, code_text) in [
        (
            "a.py",
            "open('clean.csv','w').write(''.join(sorted(open('raw.csv').read())))",
        ),
        (
            "b.py",
            "open('model.txt','w').write(open('clean.csv').read()[::-1])",
        ),
        (
            "c.py",
            "open('metrics.json','w').write('{\"m\": %d}' % len(open('model.txt').read()))",
        ),
    ] {
        std::fs::write(work.join(script), code_text).unwrap();
        let output = sandbox.run(&["python3", script]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
    }
}

fn register(sandbox: &Sandbox, db: &Postgres, target: &str) -> std::process::Output {
    sandbox
        .roarctl()
        .env("ROAR_REGISTRY_URL", db.url())
        .args(["register", target, "-y"])
        .output()
        .unwrap()
}

#[test]
fn register_is_idempotent_and_teammates_look_artifacts_up_by_any_hash() {
    let db = Postgres::start();
    let sandbox = Sandbox::new();
    pipeline(&sandbox);

    let dry = sandbox
        .roarctl()
        .env("ROAR_REGISTRY_URL", db.url())
        .args(["register", "metrics.json", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("3 job(s)"));

    let first = register(&sandbox, &db, "metrics.json");
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    assert_stderr_contains(&first, "3 new job(s)");
    let second = register(&sandbox, &db, "metrics.json");
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    assert_stderr_contains(&second, "0 new job(s), 0 new artifact(s)");
    assert_eq!(db.query("SELECT count(*) FROM jobs"), "3");

    // A teammate with an empty local store finds it by SHA-256 and by BLAKE3 prefix.
    let local = sandbox.json(&["show", "metrics.json"]);
    let sha256 = local["hashes"]["sha256"].as_str().unwrap().to_string();
    let blake3 = local["hashes"]["blake3"].as_str().unwrap().to_string();
    let teammate = Sandbox::new();
    teammate.write_config(&format!("{CONFIG}[registry]\nurl = \"{}\"\n", db.url()));
    let found = teammate.json(&["show", "--registry", &format!("sha256:{}", &sha256[..10])]);
    assert_eq!(found["hashes"]["blake3"], blake3.as_str());
    assert_eq!(
        found["uses"].as_array().unwrap().len(),
        1,
        "written by @3, never read"
    );
    let lineage = teammate.json(&["lineage", "--registry", &blake3[..10]]);
    assert_eq!(lineage["jobs"].as_array().unwrap().len(), 3);
    assert_eq!(lineage["edges"].as_array().unwrap().len(), 2);
    let plan = teammate.json(&["reproduce", "--registry", &blake3[..12]]);
    assert_eq!(plan["jobs"].as_array().unwrap().len(), 3);
    assert_eq!(
        plan["sources"][0]["origin"], "missing",
        "the raw data is not here"
    );
}

#[test]
fn concurrent_overlapping_registrations_merge_without_duplicates() {
    let db = Postgres::start();
    let sandbox = Sandbox::new();
    pipeline(&sandbox);
    let spawn = |target: &str| {
        sandbox
            .roarctl()
            .env("ROAR_REGISTRY_URL", db.url())
            .args(["register", target, "-y"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Both share @1 and @2 (and their artifacts).
    let children = [
        spawn("metrics.json"),
        spawn("model.txt"),
        spawn("metrics.json"),
    ];
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(code(&output), 0, "{}", stderr(&output));
    }
    assert_eq!(db.query("SELECT count(*) FROM jobs"), "3");
    assert_eq!(
        db.query("SELECT count(*) FROM (SELECT blake3 FROM artifacts GROUP BY blake3 HAVING count(*) > 1) d"),
        "0"
    );
    assert_eq!(
        db.query("SELECT count(*) FROM job_files"),
        db.query("SELECT count(DISTINCT (job_id, role, path)) FROM job_files")
    );
}

#[test]
fn an_unreachable_registry_is_a_clear_error_and_changes_nothing() {
    let sandbox = Sandbox::new();
    pipeline(&sandbox);
    let before = sandbox.json(&["log"]);
    let output = sandbox
        .roarctl()
        .env(
            "ROAR_REGISTRY_URL",
            "postgres://roar:secret@127.0.0.1:1/nowhere",
        )
        .args(["register", "metrics.json", "-y"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 1);
    assert_stderr_contains(&output, "cannot reach the registry");
    assert!(
        !stderr(&output).contains("secret"),
        "the password is not printed"
    );
    assert_eq!(sandbox.json(&["log"]), before);
    let output = sandbox
        .roarctl()
        .args(["register", "metrics.json", "-y"])
        .output()
        .unwrap();
    assert_ne!(code(&output), 0);
    assert_stderr_contains(&output, "registry.url");
}
