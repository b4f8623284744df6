//! Which programs the fast path's library pays for, learnt while a job runs. Loading
//! the library costs a process one more stop (ld.so's open of it) and its set-up; a
//! program that then records nothing through it, `true` in a shell loop say, runs
//! slower with it than without. So a program that ran with the library, recorded
//! fewer than [`WORTH_IT`] opens through it and started no other program (whose
//! children would lose the library with it) is listed in the ring, and the library's
//! exec wrappers stop passing the library to it. One listed program that, run
//! without the library, makes [`WORTH_IT`] more traced read-only opens than it made
//! with it, or starts a program, is taken off the list again.
//!
//! Only speed depends on this: a process without the library is traced in full.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use nix::unistd::Pid;

use super::fast_ring::SKIPPED_MAX;
use super::procfs;

/// Opens through the library from which it pays for its own stop.
const WORTH_IT: u32 = 2;

/// What one program image (from its exec to its exit or next exec) did.
#[derive(Default)]
struct ImageUse {
    /// ld.so loaded the library into it.
    loaded: bool,
    fast_opens: u32,
    /// Read-only opens that stopped under ptrace (ld.so's own among them).
    traced_reads: u32,
    started_programs: bool,
}

/// A program the library is not passed to.
struct Skipped {
    exe: Vec<u8>,
    dev: u64,
    ino: u64,
    /// Its traced read-only opens when it ran with the library: those the library
    /// could not take (ld.so's), which it makes without the library too.
    traced_reads: u32,
}

#[derive(Default)]
pub struct LibraryUse {
    /// By process id, from the process's last exec.
    images: HashMap<Pid, ImageUse>,
    /// Tasks that are not an image's first thread, by the process they belong to
    /// (looked up once each; that process may have no image of its own).
    thread_of: HashMap<Pid, Pid>,
    skipped: Vec<Skipped>,
    /// The list changed since the ring was last told.
    changed: bool,
}

impl LibraryUse {
    /// Process `pid` exec'd a program: its image begins.
    pub fn exec_began(&mut self, pid: Pid) {
        self.images.insert(pid, ImageUse::default());
    }

    /// ld.so opened the library in `pid` (before any thread of the program runs).
    pub fn loaded(&mut self, pid: Pid) {
        if let Some(image) = self.images.get_mut(&pid) {
            image.loaded = true;
        }
    }

    pub fn fast_open(&mut self, tid: Pid) {
        if let Some(image) = self.image_of(tid) {
            image.fast_opens += 1;
        }
    }

    pub fn traced_read(&mut self, tid: Pid) {
        if let Some(image) = self.image_of(tid) {
            image.traced_reads += 1;
        }
    }

    /// Process `pid` started another (a fork, vfork or process clone).
    pub fn started_program(&mut self, pid: Pid) {
        if let Some(image) = self.images.get_mut(&pid) {
            image.started_programs = true;
        }
    }

    /// The image process `pid` ran (program `exe`) ended: it exited, or it exec'd
    /// another, to which it passed what it had (`by_exec`).
    pub fn image_ended(&mut self, pid: Pid, exe: &[u8], by_exec: bool) {
        let Some(image) = self.images.remove(&pid) else {
            return;
        };
        let leaf = !image.started_programs && !by_exec;
        let listed = self.skipped.iter().position(|s| s.exe == exe);
        match listed {
            None if image.loaded && leaf && image.fast_opens < WORTH_IT => {
                self.list(exe, image.traced_reads)
            }
            Some(at)
                if !image.loaded
                    && (!leaf
                        || image.traced_reads >= self.skipped[at].traced_reads + WORTH_IT) =>
            {
                self.skipped.remove(at);
                self.changed = true;
            }
            _ => {}
        }
    }

    /// Task `tid` is gone: its process need not be looked up again.
    pub fn task_gone(&mut self, tid: Pid) {
        self.thread_of.remove(&tid);
    }

    /// The programs to list in the ring, once after each change.
    pub fn take_changed(&mut self) -> Option<Vec<(u64, u64)>> {
        if !std::mem::take(&mut self.changed) {
            return None;
        }
        Some(self.skipped.iter().map(|s| (s.dev, s.ino)).collect())
    }

    fn list(&mut self, exe: &[u8], traced_reads: u32) {
        if self.skipped.len() >= SKIPPED_MAX || exe.is_empty() {
            return;
        }
        let Ok(meta) = std::fs::metadata(std::ffi::OsStr::from_bytes(exe)) else {
            return;
        };
        self.skipped.push(Skipped {
            exe: exe.to_vec(),
            dev: meta.dev(),
            ino: meta.ino(),
            traced_reads,
        });
        self.changed = true;
    }

    /// The image a task's opens count for: its own, or its process's for another
    /// thread. None for a process forked without an exec since: its image is its
    /// parent's, judged by the parent's own run. A task's process is read from
    /// `/proc` once, not at each of its opens (on the tracer's path).
    fn image_of(&mut self, tid: Pid) -> Option<&mut ImageUse> {
        let pid = if self.images.contains_key(&tid) {
            tid
        } else {
            *self
                .thread_of
                .entry(tid)
                .or_insert_with(|| procfs::tgid(tid).unwrap_or(tid))
        };
        self.images.get_mut(&pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A program that exists (the list keeps its device and inode).
    const PROGRAM: &[u8] = b"/bin/sh";

    fn run(use_: &mut LibraryUse, pid: i32, loaded: bool, fast: u32, traced: u32) {
        let pid = Pid::from_raw(pid);
        use_.exec_began(pid);
        if loaded {
            use_.loaded(pid);
        }
        for _ in 0..fast {
            use_.fast_open(pid);
        }
        for _ in 0..traced {
            use_.traced_read(pid);
        }
    }

    #[test]
    fn a_leaf_that_records_nothing_through_the_library_is_listed_once() {
        let mut use_ = LibraryUse::default();
        run(&mut use_, 10, true, 0, 2);
        use_.image_ended(Pid::from_raw(10), PROGRAM, false);
        let listed = use_.take_changed().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(use_.take_changed(), None);
        // Without the library it makes the same traced opens as before: stays listed.
        run(&mut use_, 11, false, 0, 2);
        use_.image_ended(Pid::from_raw(11), PROGRAM, false);
        assert_eq!(use_.take_changed(), None);
        // Many more traced opens: the library would have paid; listed no more.
        run(&mut use_, 12, false, 0, 2 + WORTH_IT);
        use_.image_ended(Pid::from_raw(12), PROGRAM, false);
        assert_eq!(use_.take_changed(), Some(Vec::new()));
    }

    #[test]
    fn programs_that_use_the_library_or_start_others_are_not_listed() {
        let mut use_ = LibraryUse::default();
        run(&mut use_, 20, true, WORTH_IT, 0);
        use_.image_ended(Pid::from_raw(20), PROGRAM, false);
        run(&mut use_, 21, true, 0, 0);
        use_.started_program(Pid::from_raw(21));
        use_.image_ended(Pid::from_raw(21), PROGRAM, false);
        run(&mut use_, 22, true, 0, 0);
        use_.image_ended(Pid::from_raw(22), PROGRAM, true);
        // A forked copy that never exec'd: not its own image, nothing to judge.
        use_.image_ended(Pid::from_raw(23), PROGRAM, false);
        assert_eq!(use_.take_changed(), None);
    }

    #[test]
    fn a_listed_program_that_starts_another_is_taken_off() {
        let mut use_ = LibraryUse::default();
        run(&mut use_, 30, true, 0, 0);
        use_.image_ended(Pid::from_raw(30), PROGRAM, false);
        assert!(use_.take_changed().is_some());
        run(&mut use_, 31, false, 0, 0);
        use_.started_program(Pid::from_raw(31));
        use_.image_ended(Pid::from_raw(31), PROGRAM, false);
        assert_eq!(use_.take_changed(), Some(Vec::new()));
    }
}
