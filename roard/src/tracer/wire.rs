//! What a tracer helper process (see `helper`) tells roard over its stdout: the attach
//! result, progress events and the outcome, as length-prefixed binary frames. Private
//! to one roard binary talking to itself, so the format needs no versioning.

use std::io::{self, Read, Write};
use std::sync::Arc;

use nix::errno::Errno;
use nix::unistd::Pid;

use super::attach::AttachError;
use super::file_ledger::{FileAccess, Role};
use super::gaps::{GapKind, TraceGap};
use super::process_table::{Exit, Image, ProcessRecord};
use super::{TraceEvent, TraceOutcome};
use crate::hash_algorithms::{self, Digest};
use crate::hashing::{Content, FileStamp, Hashed};

/// One message from the helper.
pub enum Frame {
    Attached(Result<(), AttachError>),
    Event(TraceEvent),
    Outcome(TraceOutcome),
}

/// Writes one frame: a little-endian u32 length, then the payload.
pub fn write_frame(out: &mut impl Write, frame: &Frame) -> io::Result<()> {
    let mut e = Encoder(Vec::new());
    match frame {
        Frame::Attached(result) => {
            e.u8(1);
            match result {
                Ok(()) => e.u8(0),
                Err(error) => {
                    let (kind, pid, errno) = match error {
                        AttachError::NoSuchProcess(pid) => (1, pid.as_raw(), 0),
                        AttachError::NotPermitted { .. } => (2, 0, 0),
                        AttachError::Thread(_) => (3, 0, 0),
                        AttachError::Other { pid, errno } => (4, pid.as_raw(), *errno as i32),
                    };
                    e.u8(kind);
                    e.i64(i64::from(pid));
                    e.i64(i64::from(errno));
                    let cause = match error {
                        AttachError::NotPermitted { cause } => cause.clone(),
                        other => other.to_string(),
                    };
                    e.bytes(cause.as_bytes());
                }
            }
        }
        Frame::Event(TraceEvent::Exec { pid, image }) => {
            e.u8(2);
            e.i64(i64::from(pid.as_raw()));
            e.image(image);
        }
        Frame::Event(TraceEvent::RootExited { remaining }) => {
            e.u8(3);
            e.u64(*remaining as u64);
        }
        Frame::Outcome(outcome) => {
            e.u8(4);
            e.u64(outcome.lingering as u64);
            e.exit(outcome.root_exit);
            e.u64(outcome.gaps.len() as u64);
            for gap in &outcome.gaps {
                e.bytes(gap.kind.name().as_bytes());
                e.i64(i64::from(gap.pid));
                e.bytes(&gap.detail);
                e.u64(gap.count);
            }
            e.u64(outcome.processes.len() as u64);
            for p in &outcome.processes {
                e.i64(i64::from(p.pid.as_raw()));
                e.i64(i64::from(p.ppid.as_raw()));
                e.image(&p.image);
                e.i64(p.started_at_ms);
                e.opt_i64(p.ended_at_ms);
                e.exit(p.exit);
                e.u64(p.earlier.len() as u64);
                for image in &p.earlier {
                    e.image(image);
                }
            }
            e.u64(outcome.files.len() as u64);
            for f in &outcome.files {
                e.bytes(&f.path);
                e.opt_bytes(f.named.as_deref());
                e.opt_bytes(f.link_target.as_deref());
                e.opt_bytes(f.hard_link_of.as_deref());
                e.u8(match f.role {
                    Role::Input => 0,
                    Role::Output => 1,
                });
                match f.identity {
                    None => e.u8(0),
                    Some((dev, ino)) => {
                        e.u8(1);
                        e.u64(dev);
                        e.u64(ino);
                    }
                }
                match &f.pre_image {
                    None => e.u8(0),
                    Some(h) => {
                        e.u8(1);
                        e.u64(h.content.size);
                        e.0.extend_from_slice(&h.content.blake3);
                        e.u64(h.stamp.device);
                        e.u64(h.stamp.inode);
                        e.u64(h.stamp.size);
                        e.i64(h.stamp.mtime_ns);
                        e.i64(h.stamp.ctime_ns);
                        e.u64(h.extra.len() as u64);
                        for d in &h.extra {
                            e.bytes(d.algorithm.as_bytes());
                            e.bytes(&d.bytes);
                        }
                    }
                }
            }
        }
    }
    let payload = e.0;
    let length = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "frame too large"))?;
    out.write_all(&length.to_le_bytes())?;
    out.write_all(&payload)?;
    out.flush()
}

/// Reads one frame; None at a clean end of stream.
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut length = [0u8; 4];
    match input.read_exact(&mut length) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut payload = vec![0u8; u32::from_le_bytes(length) as usize];
    input.read_exact(&mut payload)?;
    let mut d = Decoder(&payload);
    let frame = match d.u8()? {
        1 => Frame::Attached(match d.u8()? {
            0 => Ok(()),
            kind => {
                let pid = Pid::from_raw(d.i64()? as i32);
                let errno = Errno::from_raw(d.i64()? as i32);
                let cause = String::from_utf8_lossy(d.bytes()?).into_owned();
                Err(match kind {
                    1 => AttachError::NoSuchProcess(pid),
                    2 => AttachError::NotPermitted { cause },
                    4 => AttachError::Other { pid, errno },
                    _ => AttachError::Thread(cause),
                })
            }
        }),
        2 => {
            let pid = Pid::from_raw(d.i64()? as i32);
            let image = Arc::new(d.image()?);
            Frame::Event(TraceEvent::Exec { pid, image })
        }
        3 => Frame::Event(TraceEvent::RootExited {
            remaining: d.u64()? as usize,
        }),
        4 => {
            let lingering = d.u64()? as usize;
            let root_exit = d.exit()?;
            let mut gaps = Vec::new();
            for _ in 0..d.u64()? {
                let name = String::from_utf8_lossy(d.bytes()?).into_owned();
                let (pid, detail, count) = (d.i64()? as i32, d.bytes()?.to_vec(), d.u64()?);
                if let Some(kind) = GapKind::from_name(&name) {
                    gaps.push(TraceGap {
                        kind,
                        pid,
                        detail,
                        count,
                    });
                }
            }
            let mut processes = Vec::new();
            for _ in 0..d.u64()? {
                let mut process = ProcessRecord {
                    pid: Pid::from_raw(d.i64()? as i32),
                    ppid: Pid::from_raw(d.i64()? as i32),
                    image: Arc::new(d.image()?),
                    earlier: Vec::new(),
                    started_at_ms: d.i64()?,
                    ended_at_ms: d.opt_i64()?,
                    exit: d.exit()?,
                };
                for _ in 0..d.u64()? {
                    process.earlier.push(Arc::new(d.image()?));
                }
                processes.push(process);
            }
            let mut files = Vec::new();
            for _ in 0..d.u64()? {
                let path = d.bytes()?.to_vec();
                let named = d.opt_bytes()?;
                let link_target = d.opt_bytes()?;
                let hard_link_of = d.opt_bytes()?;
                let role = if d.u8()? == 0 {
                    Role::Input
                } else {
                    Role::Output
                };
                let identity = match d.u8()? {
                    0 => None,
                    _ => Some((d.u64()?, d.u64()?)),
                };
                let pre_image = match d.u8()? {
                    0 => None,
                    _ => {
                        let size = d.u64()?;
                        let mut blake3 = [0u8; 32];
                        blake3.copy_from_slice(d.take(32)?);
                        let stamp = FileStamp {
                            device: d.u64()?,
                            inode: d.u64()?,
                            size: d.u64()?,
                            mtime_ns: d.i64()?,
                            ctime_ns: d.i64()?,
                        };
                        let mut extra = Vec::new();
                        for _ in 0..d.u64()? {
                            let name = String::from_utf8_lossy(d.bytes()?).into_owned();
                            let bytes = d.bytes()?.to_vec();
                            if let Some(algorithm) = hash_algorithms::by_name(&name) {
                                extra.push(Digest {
                                    algorithm: algorithm.name(),
                                    bytes,
                                });
                            }
                        }
                        Some(Hashed {
                            content: Content { size, blake3 },
                            stamp,
                            extra,
                        })
                    }
                };
                files.push(FileAccess {
                    path,
                    named,
                    role,
                    pre_image,
                    identity,
                    link_target,
                    hard_link_of,
                });
            }
            Frame::Outcome(TraceOutcome {
                processes,
                files,
                lingering,
                root_exit,
                gaps,
            })
        }
        tag => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown frame {tag}"),
            ));
        }
    };
    Ok(Some(frame))
}

struct Encoder(Vec<u8>);

impl Encoder {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.0.extend_from_slice(v);
    }
    fn opt_bytes(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.bytes(v);
            }
        }
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.i64(v);
            }
        }
    }
    fn exit(&mut self, v: Option<Exit>) {
        match v {
            None => self.u8(0),
            Some(Exit::Code(c)) => {
                self.u8(1);
                self.i64(i64::from(c));
            }
            Some(Exit::Signal(s)) => {
                self.u8(2);
                self.i64(i64::from(s));
            }
        }
    }
    fn image(&mut self, image: &Image) {
        self.u64(image.argv.len() as u64);
        for arg in &image.argv {
            self.bytes(arg);
        }
        self.bytes(&image.exe);
        self.bytes(&image.cwd);
    }
}

struct Decoder<'a>(&'a [u8]);

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "truncated frame",
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> io::Result<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
    fn i64(&mut self) -> io::Result<i64> {
        Ok(self.u64()? as i64)
    }
    fn bytes(&mut self) -> io::Result<&'a [u8]> {
        let n = usize::try_from(self.u64()?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "length"))?;
        self.take(n)
    }
    fn opt_bytes(&mut self) -> io::Result<Option<Vec<u8>>> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(self.bytes()?.to_vec()),
        })
    }
    fn opt_i64(&mut self) -> io::Result<Option<i64>> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(self.i64()?),
        })
    }
    fn exit(&mut self) -> io::Result<Option<Exit>> {
        Ok(match self.u8()? {
            0 => None,
            1 => Some(Exit::Code(self.i64()? as i32)),
            _ => Some(Exit::Signal(self.i64()? as i32)),
        })
    }
    fn image(&mut self) -> io::Result<Image> {
        let mut argv = Vec::new();
        for _ in 0..self.u64()? {
            argv.push(self.bytes()?.to_vec());
        }
        Ok(Image {
            argv,
            exe: self.bytes()?.to_vec(),
            cwd: self.bytes()?.to_vec(),
        })
    }
}
