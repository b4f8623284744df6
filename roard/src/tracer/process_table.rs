//! The processes of one traced job: created on fork, updated on exec, closed on exit.
//! Threads are tracked only to map them to their process.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use nix::unistd::Pid;

use super::procfs;
use crate::record::{Exit, Image, ProcessRecord};

#[derive(Default)]
pub struct ProcessTable {
    /// Every process seen, in order of appearance.
    records: Vec<ProcessRecord>,
    /// Live process id -> index in `records`.
    live: HashMap<Pid, usize>,
    /// Live non-leader thread id -> its process id.
    threads: HashMap<Pid, Pid>,
    /// Tasks that stopped (and maybe exited) before their creator's fork event arrived:
    /// that event must not record them a second time.
    unannounced: HashSet<Pid>,
    /// Processes whose image came from an exec of their own (not inherited from the
    /// parent, nor roarctl's child before its exec): a further exec keeps it.
    execed: HashSet<Pid>,
}

impl ProcessTable {
    /// The job's first process, already running (blocked before exec) when seized.
    pub fn add_root(&mut self, pid: Pid, now_ms: i64) {
        let image = Image {
            argv: procfs::argv(pid),
            exe: procfs::link(pid, "exe"),
            cwd: procfs::link(pid, "cwd"),
        };
        let ppid = procfs::ppid(pid).unwrap_or(Pid::from_raw(0));
        self.insert(pid, ppid, Arc::new(image), now_ms);
    }

    /// The process a task belongs to (itself for a process leader).
    pub fn process_of(&self, tid: Pid) -> Pid {
        self.threads.get(&tid).copied().unwrap_or(tid)
    }

    /// `parent_tid` forked, vforked or cloned `child`. A clone that shares the thread
    /// group is a thread; anything else is a new process inheriting the parent's image.
    /// Only a clone can be a thread, so only then is `/proc` asked. Returns whether the
    /// child is a thread, or None when its first stop came first and `ensure_known`
    /// already recorded it.
    pub fn on_new_task(
        &mut self,
        parent_tid: Pid,
        child: Pid,
        maybe_thread: bool,
        now_ms: i64,
    ) -> Option<bool> {
        let parent = self.process_of(parent_tid);
        if self.unannounced.remove(&child) {
            return None;
        }
        if maybe_thread && procfs::tgid(child) == Some(parent) {
            self.threads.insert(child, parent);
            return Some(true);
        }
        let image = self
            .live
            .get(&parent)
            .map(|&i| Arc::clone(&self.records[i].image))
            .unwrap_or_default();
        self.insert(child, parent, image, now_ms);
        Some(false)
    }

    /// A task we have not been told about stopped (its first stop can arrive before the
    /// parent's fork event): record it so nothing is lost. Returns, for a task seen
    /// for the first time, the task it came from and whether it is a thread.
    pub fn ensure_known(&mut self, tid: Pid, now_ms: i64) -> Option<(Pid, bool)> {
        if self.live.contains_key(&tid) || self.threads.contains_key(&tid) {
            return None;
        }
        self.unannounced.insert(tid);
        match procfs::tgid(tid) {
            Some(tgid) if tgid != tid => {
                self.threads.insert(tid, tgid);
                Some((tgid, true))
            }
            _ => {
                let ppid = procfs::ppid(tid).unwrap_or(Pid::from_raw(0));
                // A fresh fork runs its parent's image until it execs.
                let image = match self.live.get(&ppid) {
                    Some(&index) => Arc::clone(&self.records[index].image),
                    None => Arc::new(Image {
                        argv: procfs::argv(tid),
                        exe: procfs::link(tid, "exe"),
                        cwd: procfs::link(tid, "cwd"),
                    }),
                };
                self.insert(tid, ppid, image, now_ms);
                Some((ppid, false))
            }
        }
    }

    /// Process `pid` completed an exec (from thread `former_tid`, which may differ when a
    /// non-leader thread execs). Returns the new image.
    pub fn on_exec(&mut self, pid: Pid, former_tid: Pid, now_ms: i64) -> Arc<Image> {
        if former_tid != pid {
            self.threads.remove(&former_tid);
        }
        self.ensure_known(pid, now_ms);
        let image = Arc::new(Image {
            argv: procfs::argv(pid),
            exe: procfs::link(pid, "exe"),
            cwd: procfs::link(pid, "cwd"),
        });
        if let Some(&index) = self.live.get(&pid) {
            let record = &mut self.records[index];
            let before = std::mem::replace(&mut record.image, Arc::clone(&image));
            if !self.execed.insert(pid) {
                record.earlier.push(before);
            }
        }
        image
    }

    /// Task `tid` is gone. Returns true when it was a process (not a mere thread).
    pub fn on_exit(&mut self, tid: Pid, exit: Exit, now_ms: i64) -> bool {
        if self.threads.remove(&tid).is_some() {
            return false;
        }
        let Some(index) = self.live.remove(&tid) else {
            return false;
        };
        self.execed.remove(&tid);
        let record = &mut self.records[index];
        record.exit = Some(exit);
        record.ended_at_ms = Some(now_ms);
        true
    }

    /// The program a live process runs.
    pub fn image_of(&self, pid: Pid) -> Option<Arc<Image>> {
        self.live
            .get(&pid)
            .map(|&i| Arc::clone(&self.records[i].image))
    }

    /// Processes (not threads) still alive.
    pub fn live_processes(&self) -> usize {
        self.live.len()
    }

    /// How the process with this pid ended, if it has.
    pub fn exit_of(&self, pid: Pid) -> Option<Exit> {
        self.records.iter().find(|r| r.pid == pid)?.exit
    }

    pub fn into_records(self) -> Vec<ProcessRecord> {
        self.records
    }

    fn insert(&mut self, pid: Pid, ppid: Pid, image: Arc<Image>, now_ms: i64) {
        self.live.insert(pid, self.records.len());
        self.records.push(ProcessRecord {
            pid,
            ppid,
            image,
            earlier: Vec::new(),
            started_at_ms: now_ms,
            ended_at_ms: None,
            exit: None,
        });
    }
}
