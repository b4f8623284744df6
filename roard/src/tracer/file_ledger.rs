//! What a job did to each file, by canonical path, and what that means: inputs are files
//! whose content the job read and did not produce itself; outputs are files whose
//! current content the job created, truncated, wrote, renamed or linked into place.
//!
//! Read-then-modified files keep both truths: before a syscall may change or remove the
//! content of an input, the tracer captures that input's pre-image (size and BLAKE3),
//! while the syscall is still held at its entry.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::hash_algorithms::HashAlgorithm;
use crate::hashing::{Hashed, hash_regular_file};
use crate::record::Role;

#[derive(Debug, Default)]
struct Entry {
    /// The path as the job first named it, when that differs from the canonical one.
    named: Option<Vec<u8>>,
    input: Option<InputState>,
    /// The file's current content is an output of the job.
    output: bool,
    /// The content now at this path was produced by the job (reading it back is not an
    /// input).
    job_content: bool,
    /// Device and inode of the file when the job first read it: the file hashed at the
    /// end must be that file, not one put in its place since.
    identity: Option<(u64, u64)>,
    /// The output is a symlink the job made, pointing here.
    link_target: Option<Vec<u8>>,
    /// The output is a hard link the job made to this name.
    hard_link_of: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
enum InputState {
    /// Read; hash the file when the job ends.
    AsAtEnd,
    /// Read, then changed by the job: this is what was read.
    PreImage(Hashed),
    /// Read, then changed, and the old content could not be read.
    Lost,
}

/// One input or output of a finished trace.
#[derive(Debug, Clone)]
pub struct FileAccess {
    pub path: Vec<u8>,
    pub named: Option<Vec<u8>>,
    pub role: Role,
    /// For inputs modified by the job: the content before the modification.
    pub pre_image: Option<Hashed>,
    /// For inputs: the device and inode read, when known (see `Entry::identity`).
    pub identity: Option<(u64, u64)>,
    /// For an output that is a symlink the job made: what it points to.
    pub link_target: Option<Vec<u8>>,
    /// For an output that is a hard link the job made: the name it links to.
    pub hard_link_of: Option<Vec<u8>>,
}

#[derive(Default)]
pub struct FileLedger {
    entries: HashMap<Vec<u8>, Entry>,
    /// Canonical paths in order of first appearance, for stable records.
    order: Vec<Vec<u8>>,
    /// Digests a pre-image carries besides BLAKE3.
    extra_algorithms: Vec<&'static dyn HashAlgorithm>,
}

impl FileLedger {
    pub fn new(extra_algorithms: Vec<&'static dyn HashAlgorithm>) -> Self {
        Self {
            extra_algorithms,
            ..Self::default()
        }
    }

    fn entry(&mut self, path: &[u8]) -> &mut Entry {
        if !self.entries.contains_key(path) {
            self.order.push(path.to_vec());
            self.entries.insert(path.to_vec(), Entry::default());
        }
        self.entries.get_mut(path).expect("inserted above")
    }

    fn remember_name(entry: &mut Entry, path: &[u8], named: &[u8]) {
        if entry.named.is_none() && !named.is_empty() && named != path {
            entry.named = Some(named.to_vec());
        }
    }

    /// The job read `path` (opened it for reading, or executed it).
    /// A directory is no input (it has no content of its own, and one the job removes
    /// later would be recorded as a file that vanished).
    pub fn read(&mut self, path: &[u8], named: &[u8]) {
        let entry = self.entry(path);
        Self::remember_name(entry, path, named);
        if !entry.job_content && entry.input.is_none() {
            let meta = std::fs::metadata(Path::new(OsStr::from_bytes(path))).ok();
            if meta.as_ref().is_some_and(|m| m.is_dir()) {
                return;
            }
            entry.input = Some(InputState::AsAtEnd);
            entry.identity = meta.map(|m| (m.dev(), m.ino()));
        }
    }

    /// The job wrote `path` (opened it for writing, truncated or created it).
    pub fn wrote(&mut self, path: &[u8], named: &[u8]) {
        let entry = self.entry(path);
        Self::remember_name(entry, path, named);
        entry.output = true;
        entry.job_content = true;
        entry.link_target = None;
    }

    /// The job made a symlink at `path` pointing to `target`: a change of the
    /// namespace it made, recorded as a link (it has no content of its own).
    pub fn symlinked(&mut self, path: &[u8], named: &[u8], target: Vec<u8>) {
        self.wrote(path, named);
        self.entry(path).link_target = Some(target);
    }

    /// The job made `path` a new name of the file at `source` (a hard link; None when
    /// that file had no name): an output with the content it shares.
    pub fn hard_linked(&mut self, path: &[u8], named: &[u8], source: Option<Vec<u8>>) {
        self.wrote(path, named);
        self.entry(path).hard_link_of = source;
    }

    /// About to change or remove the content at `path`: capture it first if the job
    /// read it. `reads_too` marks an open for reading and writing, which makes an
    /// existing file an input in the same breath.
    pub fn before_change(&mut self, path: &[u8], reads_too: bool) {
        let entry = self.entry(path);
        if reads_too && !entry.job_content && entry.input.is_none() {
            entry.input = Some(InputState::AsAtEnd);
        }
        if !matches!(entry.input, Some(InputState::AsAtEnd)) || entry.job_content {
            return;
        }
        let captured = match hash_regular_file(
            Path::new(OsStr::from_bytes(path)),
            &self.extra_algorithms,
            None,
        ) {
            Ok(hashed) => InputState::PreImage(hashed),
            Err(_) => InputState::Lost,
        };
        if let Some(entry) = self.entries.get_mut(path) {
            entry.input = Some(captured);
        }
    }

    /// `from` was renamed to `to` (replacing whatever `to` was). When it is a
    /// directory (`dir`), what the job wrote below it moved with it: those outputs now
    /// have their names below `to` (inputs keep the name they were read by).
    pub fn renamed(&mut self, from: &[u8], to: &[u8], named_to: &[u8], dir: bool) {
        let link_target = self.entry(from).link_target.take();
        let hard_link_of = self.entry(from).hard_link_of.take();
        let moved = if dir {
            self.removed_below(to);
            self.capture_inputs_moved(from, to);
            self.take_outputs_below(from)
        } else {
            Vec::new()
        };
        let from_entry = self.entry(from);
        from_entry.output = false;
        from_entry.job_content = false;
        self.wrote(to, named_to);
        let to_entry = self.entry(to);
        to_entry.link_target = link_target;
        to_entry.hard_link_of = hard_link_of;
        for relative in moved {
            self.wrote(&[to, &relative].concat(), b"");
        }
    }

    /// `a` and `b` swapped places (`RENAME_EXCHANGE`): each now holds the other's
    /// content, and for directories what the job wrote below each; both are outputs,
    /// since the job put content in place at both names.
    pub fn exchanged(&mut self, a: &[u8], b: &[u8], dirs: bool) {
        let (below_a, below_b) = if dirs {
            (self.take_outputs_below(a), self.take_outputs_below(b))
        } else {
            (Vec::new(), Vec::new())
        };
        self.wrote(a, b"");
        self.wrote(b, b"");
        for relative in below_a {
            self.wrote(&[b, &relative].concat(), b"");
        }
        for relative in below_b {
            self.wrote(&[a, &relative].concat(), b"");
        }
    }

    /// The job's outputs below directory `dir` (their names relative to it, `/`
    /// first), which stop being outputs there. A scan of the paths seen: renames are
    /// rare next to opens, and a rename of a plain file finds nothing below it.
    fn take_outputs_below(&mut self, dir: &[u8]) -> Vec<Vec<u8>> {
        let mut moved = Vec::new();
        // In the order the files were first seen, for stable records.
        for path in &self.order {
            let Some(relative) = path
                .strip_prefix(dir)
                .filter(|rest| rest.first() == Some(&b'/'))
            else {
                continue;
            };
            if let Some(entry) = self.entries.get_mut(path)
                && entry.output
            {
                moved.push(relative.to_vec());
                entry.output = false;
                entry.job_content = false;
            }
        }
        moved
    }

    /// Inputs below directory `from`, just moved to `to`, keep the name they were read
    /// by; their content is captured now, at the new name (if it is still the file
    /// read), since nothing will be found at the old name when the job ends.
    fn capture_inputs_moved(&mut self, from: &[u8], to: &[u8]) {
        let below: Vec<Vec<u8>> = self
            .order
            .iter()
            .filter(|path| {
                path.strip_prefix(from)
                    .is_some_and(|rest| rest.first() == Some(&b'/'))
            })
            .cloned()
            .collect();
        for path in below {
            let Some(entry) = self.entries.get(&path) else {
                continue;
            };
            if entry.job_content || !matches!(entry.input, Some(InputState::AsAtEnd)) {
                continue;
            }
            let now_at = [to, &path[from.len()..]].concat();
            let now_at = Path::new(OsStr::from_bytes(&now_at));
            let same_file = std::fs::symlink_metadata(now_at)
                .is_ok_and(|m| entry.identity.is_none_or(|id| id == (m.dev(), m.ino())));
            let captured = match hash_regular_file(now_at, &self.extra_algorithms, None) {
                Ok(hashed) if same_file => InputState::PreImage(hashed),
                _ => InputState::Lost,
            };
            if let Some(entry) = self.entries.get_mut(&path) {
                entry.input = Some(captured);
            }
        }
    }

    /// A rename replaced `dir`: what the job had written below it is gone.
    fn removed_below(&mut self, dir: &[u8]) {
        drop(self.take_outputs_below(dir));
    }

    /// `path` was unlinked: whatever the job wrote there is gone, so it is no output.
    pub fn removed(&mut self, path: &[u8]) {
        let entry = self.entry(path);
        entry.output = false;
        entry.job_content = false;
        entry.link_target = None;
        entry.hard_link_of = None;
    }

    /// The inputs and outputs, in order of first appearance.
    pub fn into_accesses(mut self) -> Vec<FileAccess> {
        let mut accesses = Vec::new();
        for path in self.order {
            let Some(entry) = self.entries.remove(&path) else {
                continue;
            };
            if let Some(input) = entry.input {
                let pre_image = match input {
                    InputState::PreImage(hashed) => Some(hashed),
                    InputState::AsAtEnd | InputState::Lost => None,
                };
                accesses.push(FileAccess {
                    path: path.clone(),
                    named: entry.named.clone(),
                    role: Role::Input,
                    pre_image,
                    identity: entry.identity,
                    link_target: None,
                    hard_link_of: None,
                });
            }
            if entry.output {
                accesses.push(FileAccess {
                    path,
                    named: entry.named,
                    role: Role::Output,
                    pre_image: None,
                    identity: None,
                    link_target: entry.link_target,
                    hard_link_of: entry.hard_link_of,
                });
            }
        }
        accesses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(ledger: FileLedger) -> Vec<(String, Role, bool)> {
        ledger
            .into_accesses()
            .into_iter()
            .map(|a| {
                (
                    String::from_utf8(a.path).unwrap(),
                    a.role,
                    a.pre_image.is_some(),
                )
            })
            .collect()
    }

    #[test]
    fn reading_back_own_output_is_not_an_input() {
        let mut ledger = FileLedger::default();
        ledger.wrote(b"/o", b"o");
        ledger.read(b"/o", b"o");
        assert_eq!(roles(ledger), [("/o".into(), Role::Output, false)]);
    }

    #[test]
    fn created_then_removed_is_neither() {
        let mut ledger = FileLedger::default();
        ledger.wrote(b"/t", b"");
        ledger.removed(b"/t");
        assert!(roles(ledger).is_empty());
    }

    #[test]
    fn the_final_name_counts() {
        let mut ledger = FileLedger::default();
        ledger.wrote(b"/tmp.x", b"");
        ledger.renamed(b"/tmp.x", b"/out.csv", b"", false);
        assert_eq!(roles(ledger), [("/out.csv".into(), Role::Output, false)]);
    }

    #[test]
    fn outputs_move_with_a_renamed_directory_and_inputs_keep_their_names() {
        let mut ledger = FileLedger::default();
        ledger.read(b"/d/in", b"");
        ledger.wrote(b"/d/f", b"");
        ledger.wrote(b"/d/sub/g", b"");
        ledger.wrote(b"/dx/h", b"");
        ledger.renamed(b"/d", b"/e", b"", true);
        let accesses: Vec<(String, Role)> = ledger
            .into_accesses()
            .into_iter()
            .map(|a| (String::from_utf8(a.path).unwrap(), a.role))
            .collect();
        assert_eq!(
            accesses,
            [
                ("/d/in".into(), Role::Input),
                ("/dx/h".into(), Role::Output),
                ("/e".into(), Role::Output),
                ("/e/f".into(), Role::Output),
                ("/e/sub/g".into(), Role::Output),
            ]
        );
    }

    #[test]
    fn exchanged_directories_swap_what_is_below_them() {
        let mut ledger = FileLedger::default();
        ledger.wrote(b"/a/x", b"");
        ledger.wrote(b"/b/y", b"");
        ledger.exchanged(b"/a", b"/b", true);
        let outputs: Vec<String> = ledger
            .into_accesses()
            .into_iter()
            .map(|a| String::from_utf8(a.path).unwrap())
            .collect();
        assert_eq!(outputs, ["/a", "/b", "/b/x", "/a/y"]);
    }

    #[test]
    fn read_then_overwritten_keeps_the_pre_image() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data");
        std::fs::write(&file, b"before").unwrap();
        let path = file.as_os_str().as_bytes();
        let mut ledger = FileLedger::default();
        ledger.read(path, b"data");
        ledger.before_change(path, false);
        std::fs::write(&file, b"after!").unwrap();
        ledger.wrote(path, b"data");
        let accesses = ledger.into_accesses();
        assert_eq!(accesses.len(), 2);
        assert_eq!(accesses[0].role, Role::Input);
        assert_eq!(
            accesses[0].pre_image.as_ref().unwrap().content.blake3,
            *blake3::hash(b"before").as_bytes()
        );
        assert_eq!(accesses[1].role, Role::Output);
    }
}
