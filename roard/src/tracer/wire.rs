//! What a tracer helper process (see `helper`) tells roard over its stdout: the attach
//! result, progress events and the outcome, as length-delimited `helper.proto`
//! messages. This module only converts between those messages and the tracer's own
//! types; the encoding is prost's.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::Arc;

use nix::errno::Errno;
use nix::unistd::Pid;
use prost::Message;

use super::attach::AttachError;
use super::file_ledger::FileAccess;
use super::{TraceEvent, TraceOutcome, TraceSettings};
use crate::hash_algorithms::{self, Digest};
use crate::hashing::{Content, FileStamp, Hashed};
use crate::record::{Exit, GapKind, Image, ProcessRecord, Role, SeenBy, TraceGap};

/// The generated messages of `proto/helper.proto`.
mod pb {
    #![allow(clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/roar.helper.rs"));
}

/// One message from the helper.
#[derive(Debug)]
pub enum Frame {
    /// Attached, and whether with a fast-path ring.
    Attached(Result<bool, AttachError>),
    Event(TraceEvent),
    Outcome(TraceOutcome),
}

/// A frame larger than this is a corrupt stream, not a record (a job's outcome with a
/// million files is some hundreds of MiB).
const MAX_FRAME: u64 = 4 << 30;

/// Writes one frame: its length as a varint, then the message.
pub fn write_frame(out: &mut impl Write, frame: &Frame) -> io::Result<()> {
    out.write_all(&to_message(frame).encode_length_delimited_to_vec())?;
    out.flush()
}

/// Reads one frame; None at a clean end of stream.
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<Frame>> {
    read_message::<pb::Frame>(input)?
        .map(from_message)
        .transpose()
}

/// Sends a helper its job: the root to attach to, and the settings to trace it with.
pub fn write_assignment(
    out: &mut impl Write,
    root: Pid,
    settings: &TraceSettings,
) -> io::Result<()> {
    let message = pb::Assignment {
        root: root.as_raw(),
        linger_secs: settings.linger.as_secs(),
        extra_algorithms: settings
            .extra_algorithms
            .iter()
            .map(|a| a.name().to_string())
            .collect(),
        preload_library: settings
            .fast_path
            .as_ref()
            .map_or_else(Vec::new, |path| path.as_os_str().as_bytes().to_vec()),
    };
    out.write_all(&message.encode_length_delimited_to_vec())?;
    out.flush()
}

/// Reads a helper's job; None when roard closed the pipe without sending one.
pub fn read_assignment(input: &mut impl Read) -> io::Result<Option<(Pid, TraceSettings)>> {
    let Some(message) = read_message::<pb::Assignment>(input)? else {
        return Ok(None);
    };
    let settings = TraceSettings {
        linger: std::time::Duration::from_secs(message.linger_secs),
        extra_algorithms: hash_algorithms::extra_algorithms(&message.extra_algorithms)
            .unwrap_or_default(),
        fast_path: (!message.preload_library.is_empty())
            .then(|| PathBuf::from(OsString::from_vec(message.preload_library))),
    };
    Ok(Some((Pid::from_raw(message.root), settings)))
}

/// One length-delimited message; None at a clean end of stream.
fn read_message<M: Message + Default>(input: &mut impl Read) -> io::Result<Option<M>> {
    let Some(length) = read_varint(input)? else {
        return Ok(None);
    };
    if length > MAX_FRAME {
        return Err(invalid(format!("a frame of {length} bytes")));
    }
    let mut payload = vec![0u8; length as usize];
    input.read_exact(&mut payload)?;
    M::decode(payload.as_slice())
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// A protobuf varint; None when the stream ends before its first byte.
fn read_varint(input: &mut impl Read) -> io::Result<Option<u64>> {
    let mut value = 0u64;
    for index in 0..10 {
        let mut byte = [0u8];
        match input.read_exact(&mut byte) {
            Ok(()) => {}
            Err(e) if index == 0 && e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        value |= u64::from(byte[0] & 0x7f) << (7 * index);
        if byte[0] & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Err(invalid("a frame length longer than 10 bytes".into()))
}

fn to_message(frame: &Frame) -> pb::Frame {
    use pb::frame::Frame as F;
    let inner = match frame {
        Frame::Attached(result) => F::Attached(pb::Attached {
            failure: result.as_ref().err().map(attach_failure),
            fast_path: result.as_ref().is_ok_and(|fast_path| *fast_path),
        }),
        Frame::Event(TraceEvent::Exec { pid, image }) => F::Exec(pb::Exec {
            pid: pid.as_raw(),
            image: Some(image_message(image)),
        }),
        Frame::Event(TraceEvent::RootExited { remaining }) => F::RootExited(pb::RootExited {
            remaining: *remaining as u64,
        }),
        Frame::Outcome(outcome) => F::Outcome(outcome_message(outcome)),
    };
    pb::Frame { frame: Some(inner) }
}

fn from_message(message: pb::Frame) -> io::Result<Frame> {
    use pb::frame::Frame as F;
    Ok(match message.frame {
        None => return Err(invalid("an empty frame".into())),
        Some(F::Attached(attached)) => Frame::Attached(match attached.failure {
            None => Ok(attached.fast_path),
            Some(failure) => Err(attach_error(failure)),
        }),
        Some(F::Exec(exec)) => Frame::Event(TraceEvent::Exec {
            pid: Pid::from_raw(exec.pid),
            image: Arc::new(image(exec.image)),
        }),
        Some(F::RootExited(exited)) => Frame::Event(TraceEvent::RootExited {
            remaining: exited.remaining as usize,
        }),
        Some(F::Outcome(outcome)) => Frame::Outcome(outcome_from(outcome)),
    })
}

fn attach_failure(error: &AttachError) -> pb::AttachFailure {
    use pb::attach_failure::Kind;
    let (kind, pid, errno) = match error {
        AttachError::NoSuchProcess(pid) => (Kind::NoSuchProcess, pid.as_raw(), 0),
        AttachError::NotPermitted { .. } => (Kind::NotPermitted, 0, 0),
        AttachError::NoTracer(_) => (Kind::NoTracer, 0, 0),
        AttachError::Other { pid, errno } => (Kind::Other, pid.as_raw(), *errno as i32),
    };
    let cause = match error {
        AttachError::NotPermitted { cause } | AttachError::NoTracer(cause) => cause.clone(),
        other => other.to_string(),
    };
    pb::AttachFailure {
        kind: kind.into(),
        pid,
        errno,
        cause,
    }
}

fn attach_error(failure: pb::AttachFailure) -> AttachError {
    use pb::attach_failure::Kind;
    let pid = Pid::from_raw(failure.pid);
    match Kind::try_from(failure.kind).unwrap_or(Kind::Unspecified) {
        Kind::NoSuchProcess => AttachError::NoSuchProcess(pid),
        Kind::NotPermitted => AttachError::NotPermitted {
            cause: failure.cause,
        },
        Kind::Other => AttachError::Other {
            pid,
            errno: Errno::from_raw(failure.errno),
        },
        Kind::NoTracer | Kind::Unspecified => AttachError::NoTracer(failure.cause),
    }
}

fn image_message(image: &Image) -> pb::Image {
    pb::Image {
        argv: image.argv.clone(),
        exe: image.exe.clone(),
        cwd: image.cwd.clone(),
    }
}

fn image(message: Option<pb::Image>) -> Image {
    let message = message.unwrap_or_default();
    Image {
        argv: message.argv,
        exe: message.exe,
        cwd: message.cwd,
    }
}

fn exit_message(exit: Option<Exit>) -> Option<pb::Exit> {
    use pb::exit::How;
    exit.map(|exit| pb::Exit {
        how: Some(match exit {
            Exit::Code(code) => How::Code(code),
            Exit::Signal(signal) => How::Signal(signal),
        }),
    })
}

fn exit(message: Option<pb::Exit>) -> Option<Exit> {
    use pb::exit::How;
    match message?.how? {
        How::Code(code) => Some(Exit::Code(code)),
        How::Signal(signal) => Some(Exit::Signal(signal)),
    }
}

fn outcome_message(outcome: &TraceOutcome) -> pb::Outcome {
    pb::Outcome {
        processes: outcome.processes.iter().map(process_message).collect(),
        files: outcome.files.iter().map(access_message).collect(),
        lingering: outcome.lingering as u64,
        root_exit: exit_message(outcome.root_exit),
        gaps: outcome
            .gaps
            .iter()
            .map(|gap| pb::Gap {
                kind: gap.kind.name().to_string(),
                pid: gap.pid,
                detail: gap.detail.clone(),
                count: gap.count,
            })
            .collect(),
        seen_by_fast_path: outcome.seen_by.fast_path,
        seen_by_ptrace: outcome.seen_by.ptrace,
    }
}

fn outcome_from(message: pb::Outcome) -> TraceOutcome {
    TraceOutcome {
        processes: message.processes.into_iter().map(process).collect(),
        files: message.files.into_iter().map(access).collect(),
        lingering: message.lingering as usize,
        root_exit: exit(message.root_exit),
        gaps: message
            .gaps
            .into_iter()
            .filter_map(|gap| {
                Some(TraceGap {
                    kind: GapKind::from_name(&gap.kind)?,
                    pid: gap.pid,
                    detail: gap.detail,
                    count: gap.count,
                })
            })
            .collect(),
        seen_by: SeenBy {
            fast_path: message.seen_by_fast_path,
            ptrace: message.seen_by_ptrace,
        },
    }
}

fn process_message(process: &ProcessRecord) -> pb::Process {
    pb::Process {
        pid: process.pid.as_raw(),
        ppid: process.ppid.as_raw(),
        image: Some(image_message(&process.image)),
        earlier: process.earlier.iter().map(|i| image_message(i)).collect(),
        started_at_ms: process.started_at_ms,
        ended_at_ms: process.ended_at_ms,
        exit: exit_message(process.exit),
    }
}

fn process(message: pb::Process) -> ProcessRecord {
    ProcessRecord {
        pid: Pid::from_raw(message.pid),
        ppid: Pid::from_raw(message.ppid),
        image: Arc::new(image(message.image)),
        earlier: message
            .earlier
            .into_iter()
            .map(|i| Arc::new(image(Some(i))))
            .collect(),
        started_at_ms: message.started_at_ms,
        ended_at_ms: message.ended_at_ms,
        exit: exit(message.exit),
    }
}

fn access_message(access: &FileAccess) -> pb::FileAccess {
    pb::FileAccess {
        path: access.path.clone(),
        named: access.named.clone(),
        output: access.role == Role::Output,
        pre_image: access.pre_image.as_ref().map(hashed_message),
        device: access.identity.map(|(device, _)| device),
        inode: access.identity.map(|(_, inode)| inode),
        link_target: access.link_target.clone(),
        hard_link_of: access.hard_link_of.clone(),
    }
}

fn access(message: pb::FileAccess) -> FileAccess {
    FileAccess {
        path: message.path,
        named: message.named,
        role: if message.output {
            Role::Output
        } else {
            Role::Input
        },
        pre_image: message.pre_image.and_then(hashed),
        identity: message.device.zip(message.inode),
        link_target: message.link_target,
        hard_link_of: message.hard_link_of,
    }
}

fn hashed_message(hashed: &Hashed) -> pb::Hashed {
    pb::Hashed {
        size: hashed.content.size,
        blake3: hashed.content.blake3.to_vec(),
        device: hashed.stamp.device,
        inode: hashed.stamp.inode,
        stamp_size: hashed.stamp.size,
        mtime_ns: hashed.stamp.mtime_ns,
        ctime_ns: hashed.stamp.ctime_ns,
        extra: hashed
            .extra
            .iter()
            .map(|d| pb::Digest {
                algorithm: d.algorithm.to_string(),
                bytes: d.bytes.clone(),
            })
            .collect(),
    }
}

/// A pre-image; None when its BLAKE3 is not 32 bytes (a corrupt frame).
fn hashed(message: pb::Hashed) -> Option<Hashed> {
    Some(Hashed {
        content: Content {
            size: message.size,
            blake3: message.blake3.try_into().ok()?,
        },
        stamp: FileStamp {
            device: message.device,
            inode: message.inode,
            size: message.stamp_size,
            mtime_ns: message.mtime_ns,
            ctime_ns: message.ctime_ns,
        },
        extra: message
            .extra
            .into_iter()
            .filter_map(|d| {
                Some(Digest {
                    algorithm: hash_algorithms::by_name(&d.algorithm)?.name(),
                    bytes: d.bytes,
                })
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..24)
    }

    fn image_strategy() -> impl Strategy<Value = Image> {
        (proptest::collection::vec(bytes(), 0..4), bytes(), bytes())
            .prop_map(|(argv, exe, cwd)| Image { argv, exe, cwd })
    }

    fn exit_strategy() -> impl Strategy<Value = Option<Exit>> {
        prop_oneof![
            Just(None),
            any::<i32>().prop_map(|c| Some(Exit::Code(c))),
            any::<i32>().prop_map(|s| Some(Exit::Signal(s))),
        ]
    }

    fn process_strategy() -> impl Strategy<Value = ProcessRecord> {
        (
            (any::<i32>(), any::<i32>()),
            image_strategy(),
            proptest::collection::vec(image_strategy(), 0..3),
            (any::<i64>(), proptest::option::of(any::<i64>())),
            exit_strategy(),
        )
            .prop_map(|((pid, ppid), image, earlier, (started, ended), exit)| {
                ProcessRecord {
                    pid: Pid::from_raw(pid),
                    ppid: Pid::from_raw(ppid),
                    image: Arc::new(image),
                    earlier: earlier.into_iter().map(Arc::new).collect(),
                    started_at_ms: started,
                    ended_at_ms: ended,
                    exit,
                }
            })
    }

    fn hashed_strategy() -> impl Strategy<Value = Hashed> {
        (
            any::<u64>(),
            any::<[u8; 32]>(),
            (any::<u64>(), any::<u64>(), any::<u64>()),
            (any::<i64>(), any::<i64>()),
            proptest::option::of(bytes()),
        )
            .prop_map(
                |(size, blake3, (device, inode, stamp_size), (mtime, ctime), sha)| Hashed {
                    content: Content { size, blake3 },
                    stamp: FileStamp {
                        device,
                        inode,
                        size: stamp_size,
                        mtime_ns: mtime,
                        ctime_ns: ctime,
                    },
                    extra: sha
                        .map(|bytes| Digest {
                            algorithm: "sha256",
                            bytes,
                        })
                        .into_iter()
                        .collect(),
                },
            )
    }

    fn access_strategy() -> impl Strategy<Value = FileAccess> {
        (
            bytes(),
            proptest::option::of(bytes()),
            any::<bool>(),
            proptest::option::of(hashed_strategy()),
            proptest::option::of((any::<u64>(), any::<u64>())),
            (proptest::option::of(bytes()), proptest::option::of(bytes())),
        )
            .prop_map(|(path, named, output, pre_image, identity, (link, hard))| {
                FileAccess {
                    path,
                    named,
                    role: if output { Role::Output } else { Role::Input },
                    pre_image,
                    identity,
                    link_target: link,
                    hard_link_of: hard,
                }
            })
    }

    fn gap_strategy() -> impl Strategy<Value = TraceGap> {
        (0..GapKind::ALL.len(), any::<i32>(), bytes(), any::<u64>()).prop_map(
            |(kind, pid, detail, count)| TraceGap {
                kind: GapKind::ALL[kind],
                pid,
                detail,
                count,
            },
        )
    }

    fn outcome_strategy() -> impl Strategy<Value = TraceOutcome> {
        (
            proptest::collection::vec(process_strategy(), 0..4),
            proptest::collection::vec(access_strategy(), 0..6),
            any::<u32>(),
            exit_strategy(),
            proptest::collection::vec(gap_strategy(), 0..3),
            any::<(u64, u64)>(),
        )
            .prop_map(
                |(processes, files, lingering, root_exit, gaps, (fast_path, ptrace))| {
                    TraceOutcome {
                        processes,
                        files,
                        lingering: lingering as usize,
                        root_exit,
                        gaps,
                        seen_by: SeenBy { fast_path, ptrace },
                    }
                },
            )
    }

    fn round_trip(frame: &Frame) -> Frame {
        let mut stream = Vec::new();
        write_frame(&mut stream, frame).unwrap();
        write_frame(&mut stream, frame).unwrap();
        let mut input = stream.as_slice();
        let first = read_frame(&mut input).unwrap().unwrap();
        assert!(
            read_frame(&mut input).unwrap().is_some(),
            "two frames in a row"
        );
        assert!(
            read_frame(&mut input).unwrap().is_none(),
            "then a clean end"
        );
        first
    }

    proptest! {
        #[test]
        fn outcomes_round_trip(outcome in outcome_strategy()) {
            let before = format!("{outcome:?}");
            let Frame::Outcome(after) = round_trip(&Frame::Outcome(outcome)) else {
                panic!("not an outcome");
            };
            prop_assert_eq!(before, format!("{after:?}"));
        }

        #[test]
        fn exec_events_round_trip(pid in any::<i32>(), image in image_strategy()) {
            let event = Frame::Event(TraceEvent::Exec { pid: Pid::from_raw(pid), image: Arc::new(image) });
            prop_assert_eq!(format!("{event:?}"), format!("{:?}", round_trip(&event)));
        }
    }

    #[test]
    fn attach_results_round_trip() {
        for result in [
            Ok(true),
            Ok(false),
            Err(AttachError::NoSuchProcess(Pid::from_raw(42))),
            Err(AttachError::NotPermitted {
                cause: "ptrace_scope is 3".into(),
            }),
            Err(AttachError::NoTracer("no helper".into())),
            Err(AttachError::Other {
                pid: Pid::from_raw(7),
                errno: Errno::EIO,
            }),
        ] {
            let frame = Frame::Attached(result);
            assert_eq!(format!("{frame:?}"), format!("{:?}", round_trip(&frame)));
        }
        let exited = Frame::Event(TraceEvent::RootExited { remaining: 3 });
        assert_eq!(format!("{exited:?}"), format!("{:?}", round_trip(&exited)));
    }

    /// The job a helper is given arrives whole, any bytes of the library's path
    /// included; a closed pipe is no job at all.
    #[test]
    fn assignments_round_trip() {
        let settings = TraceSettings {
            linger: std::time::Duration::from_secs(600),
            extra_algorithms: hash_algorithms::extra_algorithms(&["sha256".to_string()]).unwrap(),
            fast_path: Some(PathBuf::from(OsString::from_vec(
                b"/run/r\xffoar/lib.so".to_vec(),
            ))),
        };
        let mut stream = Vec::new();
        write_assignment(&mut stream, Pid::from_raw(42), &settings).unwrap();
        let (root, read) = read_assignment(&mut stream.as_slice()).unwrap().unwrap();
        assert_eq!(root, Pid::from_raw(42));
        assert_eq!(read.linger, settings.linger);
        let names: Vec<&str> = read.extra_algorithms.iter().map(|a| a.name()).collect();
        assert_eq!(names, ["sha256"]);
        assert_eq!(read.fast_path, settings.fast_path);
        let without = TraceSettings {
            fast_path: None,
            ..settings
        };
        let mut stream = Vec::new();
        write_assignment(&mut stream, Pid::from_raw(7), &without).unwrap();
        assert_eq!(
            read_assignment(&mut stream.as_slice())
                .unwrap()
                .unwrap()
                .1
                .fast_path,
            None
        );
        assert!(read_assignment(&mut [].as_slice()).unwrap().is_none());
    }

    #[test]
    fn a_truncated_stream_is_an_error_not_a_frame() {
        let mut stream = Vec::new();
        let frame = Frame::Event(TraceEvent::RootExited { remaining: 1 });
        write_frame(&mut stream, &frame).unwrap();
        stream.pop();
        assert!(read_frame(&mut stream.as_slice()).is_err());
        assert!(read_frame(&mut [0xffu8; 11].as_slice()).is_err());
    }
}
