//! Tasks that see another file system than roard: a chroot, a mount namespace of
//! their own with a bind mount in it. Their files are recorded by the names the host
//! gives them, and a file with no name on the host is named in the record as a gap.
//!
//! Both need root, or an unprivileged user namespace (`unshare -Ur`) where root is
//! not available; without either the tests say so and skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use roar_e2e::{Sandbox, code, is_root, stderr};

/// The command prefix that gives the job the privilege to chroot and mount: nothing
/// as root, `unshare -Ur` (a user namespace mapping the user to root) otherwise.
fn privileged() -> Option<Vec<&'static str>> {
    if is_root() {
        return Some(Vec::new());
    }
    let works = Command::new("unshare")
        .args(["-Ur", "true"])
        .status()
        .is_ok_and(|s| s.success());
    works.then(|| vec!["unshare", "-Ur"])
}

/// Builds `tests/programs/jail_copy.c` statically into `jail`.
fn jail_program(jail: &Path) -> Option<PathBuf> {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/programs/jail_copy.c");
    let binary = jail.join("jail_copy");
    let built = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&binary)
        .arg(source)
        .status()
        .ok()?;
    built.success().then_some(binary)
}

/// The paths of the last job's inputs or outputs, whatever their class.
fn paths(job: &serde_json::Value, role: &str) -> Vec<String> {
    job[role]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_chrooted_program_is_recorded_by_host_paths() {
    let Some(prefix) = privileged() else {
        eprintln!("skipped: neither root nor an unprivileged user namespace is available");
        return;
    };
    let sandbox = Sandbox::new();
    let jail = std::fs::canonicalize(sandbox.work_dir())
        .unwrap()
        .join("jail");
    std::fs::create_dir_all(jail.join("data")).unwrap();
    std::fs::create_dir_all(jail.join("work")).unwrap();
    std::fs::write(jail.join("data/real.txt"), "inside the jail\n").unwrap();
    std::fs::write(jail.join("work/rel.txt"), "relative\n").unwrap();
    std::os::unix::fs::symlink("/data/real.txt", jail.join("data/link")).unwrap();
    std::os::unix::fs::symlink("/data/made.txt", jail.join("data/dangling")).unwrap();
    assert!(
        jail_program(&jail).is_some(),
        "gcc -static builds the jail's program"
    );

    let jail_text = jail.to_str().unwrap();
    let mut command = prefix.clone();
    command.extend(["chroot", jail_text, "/jail_copy"]);
    let output = sandbox.run(&command);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(jail.join("work/out.txt")).unwrap(),
        "inside the jail\nrelative\n"
    );

    let job = sandbox.json(&["show", "last", "--all"]);
    let (inputs, outputs) = (paths(&job, "inputs"), paths(&job, "outputs"));
    for input in ["data/real.txt", "work/rel.txt", "jail_copy"] {
        let host = format!("{jail_text}/{input}");
        assert!(inputs.contains(&host), "{host} in {inputs:?}");
    }
    // The file made through the dangling absolute link is the jail's, as the kernel
    // resolved it inside the root.
    assert_eq!(
        outputs,
        [
            format!("{jail_text}/work/out.txt"),
            format!("{jail_text}/data/made.txt")
        ],
        "{job}"
    );
    assert_eq!(
        std::fs::read_to_string(jail.join("data/made.txt")).unwrap(),
        "made\n"
    );
    // The names the program used mean the jail's files, never the host's.
    assert!(
        !inputs
            .iter()
            .any(|p| p == "/data/real.txt" || p == "/work/rel.txt"),
        "{inputs:?}"
    );
    let read_by_link = job["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("/data/real.txt"))
        .unwrap();
    assert_eq!(read_by_link["named_path"], "/data/link", "{job}");
    assert!(job["gaps"].as_array().unwrap().is_empty(), "{job}");
}

#[test]
fn a_bind_mount_in_a_private_namespace_is_recorded_where_the_host_has_the_files() {
    let Some(mut command) = privileged() else {
        eprintln!("skipped: neither root nor an unprivileged user namespace is available");
        return;
    };
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    for dir in ["src", "dst", "scratch"] {
        std::fs::create_dir_all(work.join(dir)).unwrap();
    }
    std::fs::write(work.join("src/in.txt"), "through the bind mount\n").unwrap();
    // In a namespace of its own: src appears at dst, and a tmpfs (which the host
    // cannot see) at scratch.
    command.extend([
        "unshare",
        "-m",
        "sh",
        "-c",
        "mount --bind src dst && cat dst/in.txt > dst/out.txt \
         && mount -t tmpfs none scratch && echo lost > scratch/f \
         && (cat scratch/missing 2>/dev/null || true)",
    ]);
    let output = sandbox.run(&command);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(work.join("src/out.txt")).unwrap(),
        "through the bind mount\n"
    );

    let job = sandbox.json(&["show", "last", "--all"]);
    let work = std::fs::canonicalize(&work).unwrap();
    let work = work.to_str().unwrap();
    let (inputs, outputs) = (paths(&job, "inputs"), paths(&job, "outputs"));
    assert!(inputs.contains(&format!("{work}/src/in.txt")), "{inputs:?}");
    assert!(
        outputs.contains(&format!("{work}/src/out.txt")),
        "{outputs:?}"
    );
    assert!(
        !inputs
            .iter()
            .chain(&outputs)
            .any(|p| p.contains("/dst/") || p.contains("/scratch/")),
        "{job}"
    );
    // The file on the namespace's own tmpfs has no host name: the record says so.
    let gaps = job["gaps"].as_array().unwrap();
    assert!(
        gaps.iter().any(|g| g["kind"] == "foreign_namespace"
            && g["detail"].as_str().unwrap().ends_with("/scratch/f")),
        "{job}"
    );
    // A name that resolves to nothing there is no gap: the read failed in the job.
    assert!(
        !gaps
            .iter()
            .any(|g| g["detail"].as_str().unwrap().ends_with("/scratch/missing")),
        "{job}"
    );
    assert!(stderr(&output).contains("not seen:"), "{}", stderr(&output));
}

#[test]
fn a_chroot_inside_a_private_namespace_sees_its_bind_mounts_by_host_paths() {
    let Some(mut command) = privileged() else {
        eprintln!("skipped: neither root nor an unprivileged user namespace is available");
        return;
    };
    let sandbox = Sandbox::new();
    let work = std::fs::canonicalize(sandbox.work_dir()).unwrap();
    let (jail, data) = (work.join("jail"), work.join("hostdata"));
    for dir in [jail.join("data"), jail.join("work"), data.clone()] {
        std::fs::create_dir_all(dir).unwrap();
    }
    // The jail's /data is the host's hostdata/, bind-mounted inside the namespace.
    std::fs::write(data.join("real.txt"), "on the host\n").unwrap();
    std::os::unix::fs::symlink("/data/real.txt", data.join("link")).unwrap();
    std::os::unix::fs::symlink("/data/made.txt", data.join("dangling")).unwrap();
    std::fs::write(jail.join("work/rel.txt"), "relative\n").unwrap();
    assert!(
        jail_program(&jail).is_some(),
        "gcc -static builds the jail's program"
    );
    command.extend([
        "unshare",
        "-m",
        "sh",
        "-c",
        "mount --bind hostdata jail/data && chroot jail /jail_copy",
    ]);
    let output = sandbox.run(&command);
    assert_eq!(code(&output), 0, "{}", stderr(&output));

    let job = sandbox.json(&["show", "last", "--all"]);
    let (inputs, outputs) = (paths(&job, "inputs"), paths(&job, "outputs"));
    let host = |p: &Path| p.to_str().unwrap().to_string();
    assert!(inputs.contains(&host(&data.join("real.txt"))), "{inputs:?}");
    assert!(
        outputs.contains(&host(&data.join("made.txt"))),
        "{outputs:?}"
    );
    assert!(
        outputs.contains(&host(&jail.join("work/out.txt"))),
        "{outputs:?}"
    );
    assert!(
        job["gaps"].as_array().unwrap().is_empty(),
        "every file has a host path: {job}"
    );
}
