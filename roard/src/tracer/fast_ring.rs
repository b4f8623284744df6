//! The tracer's end of the fast path's ring (`roard/preload/ring.h` describes the
//! layout, and the C side; the constants here mirror it, and a test checks that).
//!
//! The job's processes append records of the opens they made without a stop, each to
//! the lane of its own thread; the tracer drains every lane, in sequence order, before
//! it handles any stop. A lane's records are final once published: a call's record is
//! written after the call returned.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const RING_MAGIC: u64 = 0x0047_4e52_5241_4f52;
const RING_VERSION: u32 = 2;
/// The descriptor the helper keeps the ring at: a process of the job opens it as
/// `/proc/TRACERPID/fd/RING_FD`.
pub const RING_FD: i32 = 1023;
const RING_HEADER_SIZE: usize = 4096;
const LANE_HEADER_SIZE: usize = 128;
const LANE_DATA_SIZE: usize = 65536;
const LANE_SIZE: usize = LANE_HEADER_SIZE + LANE_DATA_SIZE;
const LANE_COUNT: usize = 1024;
const RING_SIZE: usize = RING_HEADER_SIZE + LANE_COUNT * LANE_SIZE;
/// Where the fast path's syscall instruction is, in every process of the job.
pub const STUB_ADDR: u64 = 0x7a30_0000;
/// The instruction pointer the kernel reports for a syscall made there: the address
/// after the instruction. The stub is `endbr64` (4 bytes), `syscall` (2), `ret`.
pub const STUB_RETURN_ADDR: u64 = STUB_ADDR + 6;

// Header fields (byte offsets; see `struct ring_header`).
const H_MAGIC: usize = 0;
const H_VERSION: usize = 8;
const H_LANE_COUNT: usize = 12;
const H_LANE_SIZE: usize = 16;
const H_ENABLED: usize = 20;
/// The shared sequence counter: only the writers use it (each record carries its own).
#[cfg(test)]
const H_SEQ: usize = 24;
const H_LANES_USED: usize = 32;
const H_PUBLISHED: usize = 40;
const H_SKIPPED_COUNT: usize = 48;
/// `skipped[]`: (device, inode) pairs of 16 bytes.
const H_SKIPPED: usize = 56;
/// Programs the ring can list as not worth the library (`SKIPPED_MAX`).
pub const SKIPPED_MAX: usize = 128;
// Lane header fields (see `struct lane_header`).
const L_OWNER: usize = 0;
const L_HEAD: usize = 8;
const L_TAIL: usize = 64;
/// `struct record_header`.
const RECORD_HEADER_SIZE: usize = 32;
/// Record flag: the opened file's name could not be read (`RECORD_NO_PATH`).
const NO_PATH: u16 = 1;

/// What one record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastKind {
    /// A read-only open succeeded.
    Read,
    /// An `O_CREAT | O_EXCL` open created its file.
    Create,
}

/// One open the fast path saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastRecord {
    pub seq: u64,
    pub tid: i32,
    pub kind: FastKind,
    pub open_flags: i32,
    /// The name the program passed.
    pub named: Vec<u8>,
    /// What the kernel opened (`/proc/self/fd/N`'s target right after the call); None
    /// when that name could not be read (too long, or refused).
    pub opened: Option<Vec<u8>>,
}

/// The job's ring, mapped in the tracer and kept at [`RING_FD`].
pub struct Ring {
    base: *mut u8,
    _memfd: OwnedFd,
    /// The count of published records when the ring was last drained: nothing to
    /// read while it has not moved.
    drained: u64,
}

// SAFETY: the mapping is owned by the ring and used from the tracer's one thread at a
// time; moving it to that thread is all that happens.
unsafe impl Send for Ring {}

impl Ring {
    /// Creates the ring and puts it at [`RING_FD`]; None (and the job's processes take
    /// the traced path for everything) when that cannot be done.
    pub fn create() -> Option<Ring> {
        // SAFETY: memfd_create with a static NUL-terminated name.
        let fd = unsafe {
            libc::memfd_create(
                c"roar-fast-path".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd was just created and is owned here.
        let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: plain syscalls on the descriptor owned above.
        let sized = unsafe { libc::ftruncate(memfd.as_raw_fd(), RING_SIZE as libc::off_t) } == 0
            // A process of the job could otherwise shrink the file under the tracer's
            // mapping, and the tracer's next read of it would die of SIGBUS.
            // SAFETY: as above.
            && unsafe {
                libc::fcntl(
                    memfd.as_raw_fd(),
                    libc::F_ADD_SEALS,
                    libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL,
                )
            } == 0;
        // The ring stays at RING_FD for the helper's whole life (dup2 drops
        // close-on-exec, which does not matter: the helper executes nothing); the
        // job's processes open it through /proc.
        // SAFETY: dup2 onto a number this process does not otherwise use.
        if !sized || unsafe { libc::dup2(memfd.as_raw_fd(), RING_FD) } != RING_FD {
            return None;
        }
        // SAFETY: maps the whole memfd shared; the result is checked.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                RING_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                memfd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        let ring = Ring {
            base: base.cast(),
            _memfd: memfd,
            drained: 0,
        };
        ring.store_u32(H_VERSION, RING_VERSION);
        ring.store_u32(H_LANE_COUNT, LANE_COUNT as u32);
        ring.store_u32(H_LANE_SIZE, LANE_SIZE as u32);
        ring.store_u32(H_ENABLED, 1);
        ring.atomic_u64(H_MAGIC)
            .store(RING_MAGIC, Ordering::Release);
        Some(ring)
    }

    /// Sends every later call of the job through ptrace.
    pub fn disable(&self) {
        self.atomic_u32(H_ENABLED).store(0, Ordering::Release);
    }

    /// Lists the programs (device, inode) whose exec through the library does not
    /// pass it on; at most [`SKIPPED_MAX`] are kept. Entries go in before the count
    /// that makes them visible.
    pub fn set_skipped(&self, programs: &[(u64, u64)]) {
        let programs = &programs[..programs.len().min(SKIPPED_MAX)];
        for (i, &(dev, ino)) in programs.iter().enumerate() {
            let at = H_SKIPPED + i * 16;
            self.atomic_u64(at).store(dev, Ordering::Relaxed);
            self.atomic_u64(at + 8).store(ino, Ordering::Relaxed);
        }
        self.atomic_u32(H_SKIPPED_COUNT)
            .store(programs.len() as u32, Ordering::Release);
    }

    /// Hands every published record, in sequence order, to `each`.
    pub fn drain(&mut self, mut each: impl FnMut(FastRecord)) {
        // Loaded before the lanes are read: a record published later counts again,
        // and the next drain reads it.
        let published = self.atomic_u64(H_PUBLISHED).load(Ordering::Acquire);
        if published == self.drained {
            return;
        }
        let used = (self.atomic_u32(H_LANES_USED).load(Ordering::Acquire) as usize).min(LANE_COUNT);
        let mut records = Vec::new();
        for lane in 0..used {
            self.drain_lane(lane, &mut records);
        }
        self.drained = published;
        records.sort_unstable_by_key(|r| r.seq);
        records.into_iter().for_each(&mut each);
    }

    /// Frees the lane of a thread that is gone (after a drain: its records are read).
    pub fn release_lanes_of(&mut self, tid: i32) {
        let used = (self.atomic_u32(H_LANES_USED).load(Ordering::Acquire) as usize).min(LANE_COUNT);
        for lane in 0..used {
            let base = RING_HEADER_SIZE + lane * LANE_SIZE;
            let owner = self.atomic_u32(base + L_OWNER);
            if owner.load(Ordering::Acquire) == tid as u32 {
                let head = self.atomic_u64(base + L_HEAD).load(Ordering::Acquire);
                self.atomic_u64(base + L_TAIL)
                    .store(head, Ordering::Release);
                owner.store(0, Ordering::Release);
            }
        }
    }

    fn drain_lane(&self, lane: usize, records: &mut Vec<FastRecord>) {
        let base = RING_HEADER_SIZE + lane * LANE_SIZE;
        let head = self.atomic_u64(base + L_HEAD).load(Ordering::Acquire);
        let tail_word = self.atomic_u64(base + L_TAIL);
        let mut tail = tail_word.load(Ordering::Relaxed);
        // A head that ran ahead of the data is a broken writer: skip what it claims.
        if head.wrapping_sub(tail) > LANE_DATA_SIZE as u64 {
            tail_word.store(head, Ordering::Release);
            return;
        }
        while tail < head {
            let data = &|at: u64, out: &mut [u8]| self.read_lane(base, at, out);
            match decode_record(data, tail, head - tail) {
                Some((record, length)) => {
                    records.extend(record);
                    tail += length;
                }
                None => {
                    tail = head;
                }
            }
        }
        tail_word.store(tail, Ordering::Release);
    }

    fn read_lane(&self, lane_base: usize, at: u64, out: &mut [u8]) {
        let data = lane_base + LANE_HEADER_SIZE;
        for (i, byte) in out.iter_mut().enumerate() {
            let offset = data + ((at as usize + i) & (LANE_DATA_SIZE - 1));
            // SAFETY: offset is inside the lane's data, inside the mapping.
            *byte = unsafe { std::ptr::read_volatile(self.base.add(offset)) };
        }
    }

    fn store_u32(&self, offset: usize, value: u32) {
        self.atomic_u32(offset).store(value, Ordering::Relaxed);
    }

    fn atomic_u32(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: every offset used is a 4-aligned field inside the mapping, which
        // lives as long as `self`; other processes touch it only atomically.
        unsafe { &*self.base.add(offset).cast::<AtomicU32>() }
    }

    fn atomic_u64(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: as for `atomic_u32`, 8-aligned.
        unsafe { &*self.base.add(offset).cast::<AtomicU64>() }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping made in `create`, used by nothing after this.
        unsafe {
            libc::munmap(self.base.cast(), RING_SIZE);
            libc::close(RING_FD);
        }
    }
}

/// Decodes the record at `at` of a lane with `available` published bytes: the record
/// (None for a kind this tracer does not know) and its length; None when the bytes
/// do not form a record (the rest of the lane is then skipped).
fn decode_record(
    read: &dyn Fn(u64, &mut [u8]),
    at: u64,
    available: u64,
) -> Option<(Option<FastRecord>, u64)> {
    let mut header = [0u8; RECORD_HEADER_SIZE];
    if available < RECORD_HEADER_SIZE as u64 {
        return None;
    }
    read(at, &mut header);
    let u32_at =
        |i: usize| u32::from_ne_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let length = u64::from(u32_at(0));
    let named_length = u32_at(24) as usize;
    let path_length = u32_at(28) as usize;
    let needed = RECORD_HEADER_SIZE + named_length + path_length;
    if length < needed as u64 || length > available || !length.is_multiple_of(8) {
        return None;
    }
    let mut names = vec![0u8; named_length + path_length];
    read(at + RECORD_HEADER_SIZE as u64, &mut names);
    let opened = names.split_off(named_length);
    let flags = u16::from_ne_bytes([header[6], header[7]]);
    let kind = match u16::from_ne_bytes([header[4], header[5]]) {
        1 => FastKind::Read,
        2 => FastKind::Create,
        _ => return Some((None, length)),
    };
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&header[8..16]);
    let record = FastRecord {
        seq: u64::from_ne_bytes(seq),
        tid: u32_at(16) as i32,
        kind,
        open_flags: u32_at(20) as i32,
        named: names,
        opened: (flags & NO_PATH == 0).then_some(opened),
    };
    Some((Some(record), length))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C side's layout, as the C compiler sees `preload/ring.h`, equals the one
    /// this file reads and writes.
    #[test]
    fn the_layout_agrees_with_ring_h() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("layout.c");
        let header = concat!(env!("CARGO_MANIFEST_DIR"), "/preload/ring.h");
        std::fs::write(
            &source,
            format!(
                "#include <stdio.h>\n#include <stddef.h>\n#include \"{header}\"\n\
                 int main(void) {{ printf(\"%llu %u %d %u %u %u %u %lu \
                 %zu %zu %zu %zu %zu %zu %zu %zu %zu %zu %zu %zu %zu %zu %u\\n\", \
                 RING_MAGIC, RING_VERSION, RING_FD, RING_HEADER_SIZE, LANE_HEADER_SIZE, \
                 LANE_DATA_SIZE, LANE_COUNT, STUB_ADDR, \
                 offsetof(struct ring_header, version), offsetof(struct ring_header, lane_count), \
                 offsetof(struct ring_header, lane_size), offsetof(struct ring_header, enabled), \
                 offsetof(struct ring_header, seq), offsetof(struct ring_header, lanes_used), \
                 offsetof(struct ring_header, published), offsetof(struct lane_header, head), \
                 offsetof(struct lane_header, tail), sizeof(struct record_header), \
                 offsetof(struct record_header, named_length), \
                 offsetof(struct record_header, path_length), \
                 offsetof(struct ring_header, skipped_count), \
                 offsetof(struct ring_header, skipped), SKIPPED_MAX); return 0; }}\n"
            ),
        )
        .unwrap();
        let program = dir.path().join("layout");
        let built = std::process::Command::new("gcc")
            .arg("-o")
            .arg(&program)
            .arg(&source)
            .status()
            .unwrap();
        assert!(built.success());
        let output = std::process::Command::new(&program).output().unwrap();
        let printed = String::from_utf8(output.stdout).unwrap();
        let expected = [
            RING_MAGIC,
            u64::from(RING_VERSION),
            RING_FD as u64,
            RING_HEADER_SIZE as u64,
            LANE_HEADER_SIZE as u64,
            LANE_DATA_SIZE as u64,
            LANE_COUNT as u64,
            STUB_ADDR,
            H_VERSION as u64,
            H_LANE_COUNT as u64,
            H_LANE_SIZE as u64,
            H_ENABLED as u64,
            H_SEQ as u64,
            H_LANES_USED as u64,
            H_PUBLISHED as u64,
            L_HEAD as u64,
            L_TAIL as u64,
            RECORD_HEADER_SIZE as u64,
            24,
            28,
            H_SKIPPED_COUNT as u64,
            H_SKIPPED as u64,
            SKIPPED_MAX as u64,
        ]
        .map(|n| n.to_string())
        .join(" ");
        assert_eq!(printed.trim(), expected);
        assert_eq!(L_OWNER, 0);
        assert_eq!(H_MAGIC, 0);
    }

    /// The library's own lane code (`preload/tests/lanes.c` includes it) writing from
    /// 8 threads and a forked child of each, 3000 records apiece, names of 1 to 300
    /// bytes, while this ring is drained: every record arrives once, whole, and each
    /// writer's in the order it wrote them, across many wrap-arounds of its lane.
    #[test]
    fn concurrent_writers_wrapping_their_lanes_lose_nothing() {
        let mut ring = Ring::create().expect("a ring");
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("lanes");
        let source = concat!(env!("CARGO_MANIFEST_DIR"), "/preload/tests/lanes.c");
        let built = std::process::Command::new("gcc")
            .args(["-O1", "-pthread", "-mno-red-zone", "-o"])
            .arg(&program)
            .arg(source)
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let mut child = std::process::Command::new(&program).spawn().unwrap();
        let mut next: std::collections::HashMap<u32, u32> = Default::default();
        let mut count = 0;
        let mut take = |record: FastRecord| {
            assert_eq!(record.opened.as_deref(), Some(&record.named[..]));
            let text = String::from_utf8_lossy(&record.named).into_owned();
            let mut fields = text.split(':');
            let who: u32 = fields.next().unwrap().parse().unwrap();
            let index: u32 = fields.next().unwrap().parse().unwrap();
            let expected = next.entry(who).or_insert(0);
            assert_eq!(index, *expected, "writer {who} out of order");
            *expected += 1;
            count += 1;
        };
        let status = loop {
            ring.drain(&mut take);
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        };
        ring.drain(&mut take);
        assert!(status.success(), "{status}");
        assert_eq!(count, 8 * 2 * 3000);
        assert_eq!(next.len(), 16);
    }

    /// A lane whose bytes do not form a record (a writer that broke its lane) is
    /// skipped to its head, never read past.
    #[test]
    fn a_truncated_or_corrupt_record_ends_its_lane() {
        let data = [0u8; 64];
        let read = |at: u64, out: &mut [u8]| {
            for (i, byte) in out.iter_mut().enumerate() {
                *byte = data[(at as usize + i) % data.len()];
            }
        };
        // A length of 0 is no record.
        assert!(decode_record(&read, 0, 64).is_none());
        // Fewer bytes published than a header.
        assert!(decode_record(&read, 0, 16).is_none());
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&48u32.to_ne_bytes());
        data[4..6].copy_from_slice(&1u16.to_ne_bytes());
        data[24..28].copy_from_slice(&8u32.to_ne_bytes());
        data[28..32].copy_from_slice(&100u32.to_ne_bytes());
        let read = |at: u64, out: &mut [u8]| {
            for (i, byte) in out.iter_mut().enumerate() {
                *byte = data[(at as usize + i) % data.len()];
            }
        };
        // Names longer than the record claims to be.
        assert!(decode_record(&read, 0, 64).is_none());
    }
}
