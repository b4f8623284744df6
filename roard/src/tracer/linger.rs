//! The bound on following processes that outlive the job's root process.
//!
//! When the root exits and processes it started keep running (a daemonized server, a
//! forgotten `&`), the record cannot wait for them forever. After the bound the record
//! is closed and says how many were still running; the tracer keeps serving those
//! processes (resuming every stop) without recording, because detaching would leave
//! them under a seccomp filter with no tracer, where traced syscalls fail.
//!
//! The tracer thread sleeps in `waitpid`; an alarm thread wakes it at the bound with a
//! signal whose handler does nothing, so that `waitpid` returns EINTR.

use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Default bound, overridable with `roard --linger-secs`.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(600);

const WAKE_SIGNAL: libc::c_int = libc::SIGURG;

extern "C" fn ignore_wake(_: libc::c_int) {}

fn install_wake_handler() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: installs an async-signal-safe handler that does nothing; no
        // SA_RESTART, so a blocking waitpid returns EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = ignore_wake as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(WAKE_SIGNAL, &action, std::ptr::null_mut());
        }
    });
}

/// An armed bound: wakes the calling (tracer) thread at the deadline unless disarmed.
pub struct LingerAlarm {
    pub deadline: Instant,
    armed: Arc<AtomicBool>,
}

impl LingerAlarm {
    pub fn arm(bound: Duration) -> Self {
        install_wake_handler();
        let armed = Arc::new(AtomicBool::new(true));
        let tracer = nix::unistd::gettid().as_raw();
        let process = std::process::id() as libc::pid_t;
        let still_armed = Arc::clone(&armed);
        let deadline = Instant::now() + bound;
        let spawned = std::thread::Builder::new()
            .name("linger-alarm".into())
            .spawn(move || {
                std::thread::sleep(bound);
                if still_armed.load(Ordering::Acquire) {
                    // SAFETY: tgkill on our own process's tracer thread.
                    unsafe {
                        libc::syscall(libc::SYS_tgkill, process, tracer, WAKE_SIGNAL);
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(
                "cannot start the linger alarm: {e}; the record waits for every process"
            );
        }
        Self { deadline, armed }
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

impl Drop for LingerAlarm {
    fn drop(&mut self) {
        self.armed.store(false, Ordering::Release);
    }
}
