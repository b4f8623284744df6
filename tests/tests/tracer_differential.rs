//! Differential tests of the tracer: each scenario runs once under `strace -f` (whose
//! trace is interpreted by `roar_e2e::strace`, independently of roard) and twice under
//! `roarctl run`, with the fast path (the default) and without it (`--no-fast-path`),
//! each from the same starting files; the sets of files read and written must be
//! equal all three times.

use std::path::Path;

use roar_e2e::differential::differential;
use roar_e2e::{Sandbox, code};

/// The real Python binary (not a version-manager shim that is itself a script).
fn python() -> String {
    let output = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is installed");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn write(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, content).unwrap();
}

fn py(code: &str) -> Vec<String> {
    vec![python(), "-c".into(), code.into()]
}

fn run_py(setup: &dyn Fn(&Path), code: &str) -> serde_json::Value {
    let command = py(code);
    let command: Vec<&str> = command.iter().map(String::as_str).collect();
    differential(setup, &command)
}

fn has(job: &serde_json::Value, role: &str, suffix: &str) -> bool {
    job[format!("{role}s")]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"].as_str().unwrap().ends_with(suffix))
}

#[test]
fn python_reads_and_writes() {
    let job = run_py(
        &|d| {
            write(d, "a.csv", "1,2\n");
            write(d, "b.csv", "3,4\n");
        },
        "data = open('a.csv').read() + open('b.csv').read()\n\
         open('sum.txt', 'w').write(data)\n\
         open('log.txt', 'a').write('done')",
    );
    assert!(has(&job, "input", "/a.csv") && has(&job, "input", "/b.csv"));
    assert!(has(&job, "output", "/sum.txt") && has(&job, "output", "/log.txt"));
    // Python's reads went by the fast path, its writes (which truncate) stopped.
    let seen = &job["seen_by"];
    assert!(seen["fast_path_opens"].as_u64().unwrap() >= 2, "{seen}");
    assert!(seen["ptrace_stops"].as_u64().unwrap() >= 2, "{seen}");
}

#[test]
fn shell_redirections() {
    let job = differential(
        &|d| {
            write(d, "in.txt", "hello\n");
            write(d, "appended.txt", "old\n");
        },
        &[
            "sh",
            "-c",
            "cat < in.txt > out.txt; echo more >> appended.txt",
        ],
    );
    assert!(has(&job, "input", "/in.txt"));
    assert!(has(&job, "output", "/out.txt") && has(&job, "output", "/appended.txt"));
}

#[test]
fn pipelines_of_many_processes() {
    differential(
        &|d| write(d, "words.txt", "b\na\nc\na\n"),
        &[
            "sh",
            "-c",
            "cat words.txt | sort | uniq | tr a-z A-Z | tee upper.txt | wc -l > count.txt",
        ],
    );
}

#[test]
fn python_threads_opening_files() {
    run_py(
        &|d| {
            for i in 0..8 {
                write(d, &format!("in{i}.txt"), &i.to_string());
            }
        },
        "import threading\n\
         def work(i):\n    open(f'out{i}.txt', 'w').write(open(f'in{i}.txt').read())\n\
         ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]\n\
         [t.start() for t in ts]; [t.join() for t in ts]",
    );
}

#[test]
fn posix_spawn_and_vfork() {
    run_py(
        &|d| write(d, "src.txt", "x"),
        "import os\n\
         pid = os.posix_spawn('/bin/cp', ['cp', 'src.txt', 'dst.txt'], os.environ)\n\
         os.waitpid(pid, 0)\n\
         os.system('cat src.txt > via_system.txt')",
    );
}

#[test]
fn execveat_and_fexecve() {
    let job = run_py(
        &|d| write(d, "script.sh", "#!/bin/sh\necho ran > ran.txt\n"),
        "import os\n\
         os.chmod('script.sh', 0o755)\n\
         fd = os.open('/bin/sh', os.O_RDONLY)\n\
         if os.fork() == 0:\n    os.execve(fd, ['sh', '-c', 'cat script.sh > copy.txt'], dict(os.environ))\n\
         os.wait()\n\
         if os.fork() == 0:\n    os.execv('./script.sh', ['script.sh'])\n\
         os.wait()",
    );
    assert!(has(&job, "input", "/script.sh"));
    assert!(has(&job, "output", "/ran.txt"));
}

#[test]
fn openat_with_directory_descriptors() {
    run_py(
        &|d| write(d, "sub/deeper/in.txt", "x"),
        "import os\n\
         d = os.open('sub', os.O_RDONLY | os.O_DIRECTORY)\n\
         fd = os.open('deeper/in.txt', os.O_RDONLY, dir_fd=d)\n\
         data = os.read(fd, 100)\n\
         out = os.open('deeper/out.txt', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d)\n\
         os.write(out, data)",
    );
}

#[test]
fn chdir_then_relative_opens_in_parent_and_child() {
    run_py(
        &|d| {
            write(d, "a/in.txt", "a");
            write(d, "b/in.txt", "b");
        },
        "import os\n\
         os.chdir('a')\n\
         if os.fork() == 0:\n    os.chdir('../b'); open('child.txt', 'w').write(open('in.txt').read()); os._exit(0)\n\
         os.wait()\n\
         open('parent.txt', 'w').write(open('in.txt').read())",
    );
}

#[test]
fn rename_over_an_existing_file() {
    let job = run_py(
        &|d| write(d, "target.csv", "old"),
        "import os\n\
         open('tmp.part', 'w').write('new')\n\
         os.rename('tmp.part', 'target.csv')",
    );
    assert!(has(&job, "output", "/target.csv"));
    assert!(!has(&job, "output", "/tmp.part"));
}

#[test]
fn a_directory_written_then_renamed_keeps_its_outputs() {
    // One level, as tools publish results: write into a scratch directory, rename it.
    let job = differential(&|_| {}, &["sh", "-c", "mkdir d && echo 1 > d/f && mv d e"]);
    assert!(has(&job, "output", "/e/f"), "{job}");
    assert!(!has(&job, "output", "/d/f"), "{job}");
    // Nested, written by several processes, renamed over an existing directory.
    let job = differential(
        &|d| std::fs::create_dir_all(d.join("final")).unwrap(),
        &[
            "sh",
            "-c",
            "mkdir -p tmp/a/b && echo 1 > tmp/a/x && (echo 2 > tmp/a/b/y) && \
             sh -c 'echo 3 > tmp/z' && rmdir final && mv tmp final",
        ],
    );
    for name in ["/final/a/x", "/final/a/b/y", "/final/z"] {
        assert!(has(&job, "output", name), "{name}: {job}");
    }
    // An input read inside a directory later renamed keeps the name it was read by.
    let job = run_py(
        &|d| {
            std::fs::create_dir_all(d.join("src")).unwrap();
            write(d, "src/in.txt", "data");
        },
        "import os\n\
         f = open('src/in.txt')\n\
         os.rename('src', 'moved')\n\
         open('moved/out.txt', 'w').write(f.read())",
    );
    assert!(has(&job, "input", "/src/in.txt"), "{job}");
    assert!(has(&job, "output", "/moved/out.txt"), "{job}");
    // Its content was taken at the new name: the record knows what was read.
    let input = job["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("/src/in.txt"))
        .unwrap();
    assert_eq!(input["hashes"]["blake3"], blake3_hex(b"data"), "{job}");
}

#[test]
fn exchanged_and_noreplace_renames_and_a_removed_tree() {
    // renameat2 (316): RENAME_EXCHANGE swaps two directories and what the job wrote
    // below them; RENAME_NOREPLACE onto an existing name fails and changes nothing; a
    // tree made and removed with rmtree (unlinkat, AT_REMOVEDIR) leaves nothing.
    let job = run_py(
        &|d| write(d, "kept/old.txt", "was there"),
        "import ctypes, os, shutil\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         def renameat2(a, b, flags):\n    \
         return libc.syscall(316, -100, a, -100, b, flags)\n\
         os.makedirs('a'); os.makedirs('b')\n\
         open('a/x', 'w').write('x'); open('b/y', 'w').write('y')\n\
         assert renameat2(b'a', b'b', 2) == 0\n\
         assert renameat2(b'a', b'b', 1) == -1 and ctypes.get_errno() == 17\n\
         assert renameat2(b'a', b'c', 1) == 0\n\
         os.makedirs('t/sub'); open('t/1', 'w').write('1'); open('t/sub/2', 'w').write('2')\n\
         shutil.rmtree('t'); shutil.rmtree('kept')",
    );
    for name in ["/b/x", "/c/y"] {
        assert!(has(&job, "output", name), "{name}: {job}");
    }
    for name in ["/a/x", "/b/y", "/a/y", "/t/1", "/t/sub/2", "/kept/old.txt"] {
        assert!(!has(&job, "output", name), "{name}: {job}");
    }
}

#[test]
fn o_nofollow_o_path_and_o_directory_opens_read_nothing_the_kernel_refused() {
    // O_NOFOLLOW on a symlink fails (ELOOP); O_PATH and O_DIRECTORY read no content.
    let job = run_py(
        &|d| {
            write(d, "real.txt", "r");
            write(d, "plain.txt", "p");
            std::os::unix::fs::symlink("real.txt", d.join("link")).unwrap();
        },
        "import os\n\
         try: os.open('link', os.O_RDONLY | os.O_NOFOLLOW)\n\
         except OSError as e: assert e.errno == 40\n\
         os.open('link', os.O_PATH | os.O_NOFOLLOW); os.open('plain.txt', os.O_PATH)\n\
         os.open('.', os.O_RDONLY | os.O_DIRECTORY)\n\
         open(os.open('plain.txt', os.O_RDONLY | os.O_NOFOLLOW)).read()",
    );
    assert!(!has(&job, "input", "/real.txt"), "{job}");
    assert!(has(&job, "input", "/plain.txt"), "{job}");
}

#[test]
fn a_chain_of_three_scripts_records_every_script() {
    // first -> second -> third -> /bin/true: the kernel reads all three scripts and
    // /bin/true opens none of them, so only the exec tells.
    let job = differential(
        &|d| {
            let script = |name: &str, text: String| {
                write(d, name, &text);
                std::fs::set_permissions(
                    d.join(name),
                    std::os::unix::fs::PermissionsExt::from_mode(0o755),
                )
                .unwrap();
            };
            script("third", "#!/bin/true\n".to_string());
            script("second", format!("#!{}/third\n", d.display()));
            script("first", format!("#!{}/second\n", d.display()));
        },
        &["./first"],
    );
    for name in ["/first", "/second", "/third"] {
        assert!(has(&job, "input", name), "{name}: {job}");
    }
}

#[test]
fn creating_through_dangling_symlinks_records_the_file_made() {
    let job = differential(
        &|_| {},
        &["sh", "-c", "ln -s target.txt sl && echo hi > sl"],
    );
    assert!(has(&job, "output", "/target.txt"), "{job}");
    // The link is a change of the namespace the job made: recorded as a link.
    let link = job["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("/sl"))
        .unwrap_or_else(|| panic!("no symlink output: {job}"));
    assert_eq!(link["link_target"], "target.txt", "{job}");
    assert_eq!(link["hashes"], serde_json::json!({}), "{job}");
    // Through a chain of two dangling links, into a subdirectory.
    let job = differential(
        &|d| std::fs::create_dir_all(d.join("sub")).unwrap(),
        &[
            "sh",
            "-c",
            "ln -s second first && ln -s sub/made.txt second && echo hi > first",
        ],
    );
    assert!(has(&job, "output", "/sub/made.txt"), "{job}");
    // O_NOFOLLOW and O_EXCL refuse a link as the last component: nothing is made.
    let job = run_py(
        &|d| std::os::unix::fs::symlink("never.txt", d.join("link")).unwrap(),
        "import os\n\
         for flags in (os.O_NOFOLLOW, os.O_EXCL):\n\
         \x20   try: os.open('link', os.O_WRONLY | os.O_CREAT | flags)\n\
         \x20   except OSError: pass",
    );
    assert!(!has(&job, "output", "/never.txt"), "{job}");
}

#[test]
fn a_path_pointer_into_unmapped_memory_fails_in_the_tracee_only() {
    // The kernel answers EFAULT; roard records nothing for the call, and the job goes on.
    let job = run_py(
        &|_| {},
        "import ctypes, ctypes.util, os\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         for flags in (os.O_RDONLY, os.O_WRONLY | os.O_CREAT):\n\
         \x20   assert libc.open(ctypes.c_void_p(8), flags, 0o644) == -1\n\
         \x20   assert ctypes.get_errno() == 14, ctypes.get_errno()\n\
         open('after.txt', 'w').write('still traced')",
    );
    assert!(has(&job, "output", "/after.txt"), "{job}");
    assert_eq!(job["state"], "finished", "{job}");
}

#[test]
fn openat2_resolve_flags_are_resolved_as_the_kernel_did() {
    // RESOLVE_IN_ROOT makes "/in.txt" mean sub/in.txt; RESOLVE_NO_SYMLINKS refuses a
    // link and RESOLVE_BENEATH a name that climbs out: those record nothing.
    let job = run_py(
        &|d| {
            std::fs::create_dir_all(d.join("sub")).unwrap();
            write(d, "sub/in.txt", "inner");
            write(d, "in.txt", "outer");
            std::os::unix::fs::symlink("in.txt", d.join("link")).unwrap();
        },
        "import ctypes, os\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         class How(ctypes.Structure):\n    \
         _fields_ = [('flags', ctypes.c_uint64), ('mode', ctypes.c_uint64), ('resolve', ctypes.c_uint64)]\n\
         def openat2(dirfd, path, flags, resolve, mode=0):\n    \
         how = How(flags, mode, resolve)\n    \
         return libc.syscall(437, dirfd, path, ctypes.byref(how), ctypes.sizeof(how))\n\
         sub = os.open('sub', os.O_RDONLY | os.O_DIRECTORY)\n\
         IN_ROOT, NO_SYMLINKS, BENEATH = 0x10, 0x04, 0x08\n\
         fd = openat2(sub, b'/in.txt', os.O_RDONLY, IN_ROOT)\n\
         assert os.read(fd, 10) == b'inner'\n\
         out = openat2(sub, b'/out.txt', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, IN_ROOT, 0o644)\n\
         os.write(out, b'made')\n\
         assert openat2(-100, b'link', os.O_RDONLY, NO_SYMLINKS) == -1\n\
         assert openat2(sub, b'../in.txt', os.O_RDONLY, BENEATH) == -1",
    );
    assert!(has(&job, "input", "/sub/in.txt"), "{job}");
    assert!(!has(&job, "input", "/work/in.txt"), "{job}");
    assert!(has(&job, "output", "/sub/out.txt"), "{job}");
}

/// The output at a path ending in `suffix`.
fn output<'a>(job: &'a serde_json::Value, suffix: &str) -> &'a serde_json::Value {
    job["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no output {suffix} in {job}"))
}

#[test]
fn hard_links_are_recorded_as_links() {
    let job = run_py(
        &|d| write(d, "original.txt", "x"),
        "import os\n\
         os.link('original.txt', 'linked.txt')\n\
         open('made.txt', 'w').write('y'); os.link('made.txt', 'made-too.txt')\n\
         os.rename('made-too.txt', 'moved.txt')",
    );
    // A new name of existing content: an output with that content, and what it
    // links to (kept across a rename of the link).
    for (link, of, content) in [
        ("/linked.txt", "/original.txt", "x"),
        ("/moved.txt", "/made.txt", "y"),
    ] {
        let file = output(&job, link);
        assert!(
            file["hard_link_of"].as_str().unwrap().ends_with(of),
            "{file}"
        );
        assert_eq!(
            file["hashes"]["blake3"],
            blake3_hex(content.as_bytes()),
            "{file}"
        );
    }
    assert!(
        output(&job, "/made.txt").get("hard_link_of").is_none(),
        "{job}"
    );
}

#[test]
fn symlink_chains_resolve_to_the_real_file() {
    let job = run_py(
        &|d| {
            write(d, "real/data.txt", "x");
            std::os::unix::fs::symlink("real/data.txt", d.join("hop1")).unwrap();
            std::os::unix::fs::symlink("hop1", d.join("hop2")).unwrap();
        },
        "open('out.txt', 'w').write(open('hop2').read())",
    );
    let input = job["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("/real/data.txt"))
        .expect("the real file is the input");
    assert_eq!(input["named_path"], "hop2");
}

#[test]
fn o_tmpfile_then_linkat() {
    let job = run_py(
        &|_| {},
        // linkat(fd, "", AT_FDCWD, "final.bin", AT_EMPTY_PATH), as open(2) documents.
        "import os, ctypes\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         fd = os.open('.', os.O_TMPFILE | os.O_WRONLY, 0o644)\n\
         os.write(fd, b'anonymous until linked')\n\
         assert libc.linkat(fd, b'', -100, b'final.bin', 0x1000) == 0, ctypes.get_errno()",
    );
    // The file had no name to link to: a plain output.
    assert!(
        output(&job, "/final.bin").get("hard_link_of").is_none(),
        "{job}"
    );
}

#[test]
fn names_with_spaces_newlines_and_invalid_utf8() {
    let job = run_py(
        &|d| write(d, "in put.txt", "x"),
        "open(b'new\\nline \\xff.txt', 'w').write(open('in put.txt').read())",
    );
    let outputs = job["outputs"].as_array().unwrap();
    assert!(
        outputs.iter().any(|f| f["path"]
            .as_str()
            .unwrap()
            .ends_with("/new\nline \\xff.txt")),
        "{outputs:?}"
    );
}

#[test]
fn a_thousand_short_lived_processes() {
    let job = differential(
        &|d| write(d, "in.txt", "x"),
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done; cat in.txt > out.txt",
        ],
    );
    assert!(job["processes"].as_array().unwrap().len() > 1000);
}

#[test]
fn a_backgrounded_grandchild_that_outlives_its_parent() {
    let job = differential(
        &|d| write(d, "in.txt", "x"),
        &["sh", "-c", "(sleep 0.3; cat in.txt > late.txt) & exit 0"],
    );
    assert!(has(&job, "output", "/late.txt"));
}

#[test]
fn failed_probes_are_not_inputs() {
    let job = run_py(
        &|d| write(d, "present.txt", "x"),
        "import os\n\
         for name in ['absent1', 'absent2', 'present.txt']:\n    \
         try: open(name).read()\n    except FileNotFoundError: pass",
    );
    assert!(!has(&job, "input", "/absent1"));
    assert!(has(&job, "input", "/present.txt"));
}

#[test]
fn read_then_overwritten_keeps_both_hashes() {
    let sandbox = Sandbox::new();
    let work = sandbox.work_dir();
    std::fs::write(work.join("data.txt"), "before").unwrap();
    let output = sandbox.run(&[
        "sh",
        "-c",
        "cat data.txt > /dev/null; echo after > data.txt",
    ]);
    assert_eq!(code(&output), 0);
    let job = sandbox.json(&["show", "last"]);
    let find = |role: &str| {
        job[role]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with("/data.txt"))
            .cloned()
            .unwrap_or_else(|| panic!("data.txt among {role}: {job}"))
    };
    let (input, output) = (find("inputs"), find("outputs"));
    assert_eq!(
        input["hashes"]["blake3"],
        blake3_hex(b"before"),
        "the input is the content as read"
    );
    assert_eq!(input["pre_image"], true);
    assert_eq!(output["hashes"]["blake3"], blake3_hex(b"after\n"));
    assert_eq!(output["size"], 6);
}

fn blake3_hex(bytes: &[u8]) -> String {
    roar_e2e::blake3_hex(bytes)
}

#[test]
fn openat2_reads_and_creates() {
    // openat2(AT_FDCWD, path, &open_how, sizeof open_how): Python has no wrapper.
    let job = run_py(
        &|d| write(d, "in.txt", "x"),
        "import ctypes, os\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         class How(ctypes.Structure):\n    \
         _fields_ = [('flags', ctypes.c_uint64), ('mode', ctypes.c_uint64), ('resolve', ctypes.c_uint64)]\n\
         def openat2(path, flags, mode=0):\n    \
         how = How(flags, mode, 0)\n    \
         fd = libc.syscall(437, -100, path, ctypes.byref(how), ctypes.sizeof(how))\n    \
         assert fd >= 0, ctypes.get_errno()\n    \
         return fd\n\
         data = os.read(openat2(b'in.txt', os.O_RDONLY), 10)\n\
         os.write(openat2(b'out.txt', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), data)",
    );
    assert!(has(&job, "input", "/in.txt"));
    assert!(has(&job, "output", "/out.txt"));
}

#[test]
fn descriptors_inherited_across_fork_and_exec() {
    // The child resolves a relative name against a directory descriptor it inherited
    // through exec, in a process with another cwd.
    run_py(
        &|d| write(d, "data/in.txt", "x"),
        "import os, subprocess, sys\n\
         d = os.open('data', os.O_RDONLY | os.O_DIRECTORY)\n\
         child = f'import os; os.write(os.open(\"out.txt\", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd={d}), os.read(os.open(\"in.txt\", os.O_RDONLY, dir_fd={d}), 9))'\n\
         subprocess.run([sys.executable, '-c', child], pass_fds=[d], cwd='/', check=True)",
    );
}

#[test]
fn writes_through_a_shared_mapping_count_as_writes() {
    let job = run_py(
        &|d| write(d, "mapped.bin", "0123456789"),
        "import mmap, os\n\
         fd = os.open('mapped.bin', os.O_RDWR)\n\
         m = mmap.mmap(fd, 10, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)\n\
         m[0:4] = b'abcd'; m.flush()",
    );
    assert!(has(&job, "output", "/mapped.bin"));
    assert!(has(&job, "input", "/mapped.bin"));
}

#[test]
fn a_process_that_execs_twice_keeps_both_programs() {
    // One process: sh, then (exec) sh again, then (exec) the program that writes.
    let job = differential(
        &|_| {},
        &[
            "sh",
            "-c",
            "exec /bin/sh -c 'exec /bin/sh -c \"echo done > out.txt\"'",
        ],
    );
    assert!(has(&job, "output", "/out.txt"), "{job}");
    let processes = job["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 1, "{job}");
    let earlier: Vec<&str> = processes[0]["earlier"]
        .as_array()
        .unwrap()
        .iter()
        .map(|image| {
            image["argv"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        earlier,
        [
            "exec /bin/sh -c 'exec /bin/sh -c \"echo done > out.txt\"'",
            "exec /bin/sh -c \"echo done > out.txt\""
        ],
        "{job}"
    );
    assert_eq!(processes[0]["argv"][2], "echo done > out.txt");
}
