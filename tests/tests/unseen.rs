//! Nothing slips past silently: what a job does around the traced syscalls (a program
//! run from a memfd, a file opened by handle, an io_uring instance the configuration
//! allows) is either recorded or named in the job's record as a gap, and roarctl says
//! so after the job.

use roar_e2e::{Sandbox, code, stderr};

fn python() -> String {
    let output = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is installed");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The gaps of the last job, as `(kind, detail)`.
fn gaps(sandbox: &Sandbox) -> Vec<(String, String)> {
    sandbox.json(&["show", "last"])["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["kind"].as_str().unwrap().to_string(),
                g["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_program_run_from_a_memfd_is_named_as_unseen() {
    let sandbox = Sandbox::new();
    let program = std::fs::read("/bin/true").unwrap();
    let output = sandbox.run(&[
        &python(),
        "-c",
        "import os\n\
         fd = os.memfd_create('payload', 0)\n\
         os.write(fd, open('/bin/true', 'rb').read())\n\
         open('before.txt', 'w').write('traced')\n\
         os.execve(fd, ['payload'], {})",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("not seen:") && stderr(&output).contains("memfd:payload"),
        "{}",
        stderr(&output)
    );
    let gaps = gaps(&sandbox);
    let (kind, detail) = &gaps[0];
    assert_eq!(kind, "exec_without_path", "{gaps:?}");
    // What ran is still identified by content.
    assert!(
        detail.starts_with("/memfd:payload") && detail.ends_with(&roar_e2e::blake3_hex(&program)),
        "{detail}"
    );
    let job = sandbox.json(&["show", "last"]);
    assert!(
        job["outputs"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("/before.txt"),
        "{job}"
    );
}

#[test]
fn a_file_opened_by_handle_is_recorded_through_its_descriptor() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.work_dir().join("in.txt"), "by handle").unwrap();
    // name_to_handle_at, then open_by_handle_at (which needs CAP_DAC_READ_SEARCH).
    let output = sandbox.run(&[
        &python(),
        "-c",
        "import ctypes, os, sys\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         class Handle(ctypes.Structure):\n    \
         _fields_ = [('size', ctypes.c_uint), ('type', ctypes.c_int), ('bytes', ctypes.c_ubyte * 128)]\n\
         handle, mount = Handle(128), ctypes.c_int()\n\
         assert libc.name_to_handle_at(-100, b'in.txt', ctypes.byref(handle), ctypes.byref(mount), 0) == 0\n\
         fd = libc.open_by_handle_at(os.open('.', os.O_RDONLY), ctypes.byref(handle), os.O_RDONLY)\n\
         if fd < 0:\n    \
         print('errno', ctypes.get_errno()); sys.exit(0)\n\
         print(os.read(fd, 100).decode())",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    if printed.starts_with("errno") {
        eprintln!("skipped: open_by_handle_at needs CAP_DAC_READ_SEARCH ({printed})");
        return;
    }
    assert_eq!(printed.trim(), "by handle");
    let job = sandbox.json(&["show", "last"]);
    let inputs: Vec<&str> = job["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(inputs.iter().any(|p| p.ends_with("/in.txt")), "{job}");
    assert!(gaps(&sandbox).is_empty(), "{job}");
}

/// Sets up an io_uring instance with a raw syscall; prints the result and errno.
const IO_URING_SETUP: &str = "import ctypes\n\
     libc = ctypes.CDLL(None, use_errno=True)\n\
     params = ctypes.create_string_buffer(120)\n\
     print(libc.syscall(425, 8, params), ctypes.get_errno())";

#[test]
fn io_uring_is_refused_by_default_and_noted_when_allowed() {
    let sandbox = Sandbox::new();
    let refused = sandbox.run(&[&python(), "-c", IO_URING_SETUP]);
    assert_eq!(code(&refused), 0, "{}", stderr(&refused));
    assert_eq!(String::from_utf8_lossy(&refused.stdout).trim(), "-1 38");
    assert!(gaps(&sandbox).is_empty());

    // A project that needs io_uring may allow it; the record then says what it
    // could not see.
    std::fs::create_dir_all(sandbox.work_dir().join(".roar")).unwrap();
    std::fs::write(
        sandbox.work_dir().join(".roar/config.toml"),
        "[tracer]\nio_uring = \"allow\"\n",
    )
    .unwrap();
    let allowed = sandbox.run(&[&python(), "-c", IO_URING_SETUP]);
    assert_eq!(code(&allowed), 0, "{}", stderr(&allowed));
    let printed = String::from_utf8_lossy(&allowed.stdout).to_string();
    if printed.starts_with("-1") {
        // The kernel itself has no io_uring (or forbids it): nothing to note.
        eprintln!("skipped: io_uring is unavailable here ({printed})");
        assert!(gaps(&sandbox).is_empty());
        return;
    }
    let gaps = gaps(&sandbox);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].0, "io_uring");
    assert!(
        stderr(&allowed).contains("io_uring"),
        "{}",
        stderr(&allowed)
    );
}
