//! Each job's tracer runs in a helper process (`roard --trace-helper PID …`, the same
//! binary), not in a thread of the daemon: if roard dies, even by SIGKILL, the helper
//! keeps serving the job's stops until the job ends, so the job's traced system calls
//! never fail with ENOSYS. The helper reports to roard over its stdout (see `wire`);
//! once roard is gone its writes fail and it just goes on serving, unrecorded.

use std::io::BufReader;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot};

use super::attach::{self, AttachError};
use super::wire::{Frame, read_frame, write_frame};
use super::{TraceSettings, Tracing, event_loop};
use crate::hash_algorithms;

/// The flag that turns roard into a tracer helper.
pub const FLAG: &str = "--trace-helper";

/// Starts a helper for `root` and returns once it attached (or failed to).
pub async fn spawn(root: Pid, settings: &TraceSettings) -> Result<Tracing, AttachError> {
    let exe = std::env::current_exe()
        .map_err(|e| AttachError::Thread(format!("cannot find roard's own binary: {e}")))?;
    let algorithms: Vec<&str> = settings.extra_algorithms.iter().map(|a| a.name()).collect();
    let mut child = Command::new(exe)
        .arg(FLAG)
        .arg(root.as_raw().to_string())
        .arg(settings.linger.as_secs().to_string())
        .arg(algorithms.join(","))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| AttachError::Thread(format!("cannot start a tracer helper: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| AttachError::Thread("the tracer helper has no output".into()))?;
    let (attached_tx, attached_rx) = oneshot::channel();
    let (event_tx, events) = mpsc::unbounded_channel();
    let (outcome_tx, outcome) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("tracer-reader-{root}"))
        .spawn(move || {
            let mut input = BufReader::new(stdout);
            let mut attached = Some(attached_tx);
            let mut outcome_tx = Some(outcome_tx);
            loop {
                match read_frame(&mut input) {
                    Ok(Some(Frame::Attached(result))) => {
                        if let Some(tx) = attached.take() {
                            let _ = tx.send(result);
                        }
                    }
                    Ok(Some(Frame::Event(event))) => {
                        let _ = event_tx.send(event);
                    }
                    Ok(Some(Frame::Outcome(result))) => {
                        if let Some(tx) = outcome_tx.take() {
                            let _ = tx.send(result);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!("lost the tracer helper of job {root}: {e}");
                        break;
                    }
                }
            }
            // Dropping the senders tells the job's recorder how things ended.
            drop(event_tx);
            drop(outcome_tx);
            drop(attached);
            let _ = child.wait();
        })
        .map_err(|e| AttachError::Thread(e.to_string()))?;
    attached_rx
        .await
        .map_err(|_| AttachError::Thread("the tracer helper ended before attaching".into()))??;
    Ok(Tracing { events, outcome })
}

/// The helper's whole life: attach, trace, report; then exit.
pub fn main(args: &[String]) -> ExitCode {
    let (Some(root), Some(linger), Some(algorithms)) = (
        args.first().and_then(|p| p.parse::<i32>().ok()),
        args.get(1).and_then(|s| s.parse::<u64>().ok()),
        args.get(2),
    ) else {
        eprintln!("roard: usage: roard {FLAG} PID LINGER_SECS ALGORITHMS");
        return ExitCode::from(2);
    };
    let root = Pid::from_raw(root);
    let names: Vec<String> = algorithms
        .split(',')
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    let extra_algorithms = hash_algorithms::extra_algorithms(&names).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let attached = attach::seize(root);
    let failed = attached.is_err();
    if write_frame(&mut out, &Frame::Attached(attached)).is_err() || failed {
        return ExitCode::FAILURE;
    }
    drop(out);
    let (event_tx, mut event_rx) = mpsc::unbounded_channel();
    let (outcome_tx, mut outcome_rx) = oneshot::channel();
    // The relay writes what the tracer reports, in order. Once roard is gone its
    // writes fail; it then only drains, and the tracer goes on serving the job.
    let relay = std::thread::spawn(move || {
        let mut out = std::io::stdout().lock();
        let mut connected = true;
        let mut send = |frame: Frame, connected: &mut bool| {
            if *connected && write_frame(&mut out, &frame).is_err() {
                *connected = false;
            }
        };
        let mut outcome_done = false;
        loop {
            let mut events_closed = false;
            loop {
                match event_rx.try_recv() {
                    Ok(event) => send(Frame::Event(event), &mut connected),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        events_closed = true;
                        break;
                    }
                }
            }
            if !outcome_done {
                match outcome_rx.try_recv() {
                    Ok(outcome) => {
                        // Events sent before the outcome go first.
                        while let Ok(event) = event_rx.try_recv() {
                            send(Frame::Event(event), &mut connected);
                        }
                        send(Frame::Outcome(outcome), &mut connected);
                        outcome_done = true;
                    }
                    Err(oneshot::error::TryRecvError::Closed) => outcome_done = true,
                    Err(oneshot::error::TryRecvError::Empty) => {}
                }
            }
            if events_closed && outcome_done {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let settings = TraceSettings {
        linger: Duration::from_secs(linger),
        extra_algorithms,
    };
    let traced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        event_loop::run(root, &event_tx, outcome_tx, settings);
    }));
    drop(event_tx);
    if traced.is_err() {
        tracing::error!(
            "the tracer of the job rooted at {root} failed; serving its processes unrecorded \
             until they exit"
        );
        event_loop::serve_until_gone();
    }
    let _ = relay.join();
    ExitCode::SUCCESS
}
