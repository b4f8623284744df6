//! Standard output that behaves like a classic tool's when the reader goes away
//! (`roarctl log | head`): roarctl then ends by SIGPIPE, quietly, instead of panicking.
//! SIGPIPE stays ignored everywhere else, so that a closed gRPC socket is an error to
//! report, not a silent death.

use std::fmt;
use std::io::{self, Write};

/// Writes one line to standard output (what `outln!` expands to).
/// Raw bytes to stdout, with the same broken-pipe handling as `print_line`.
pub fn print_bytes(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => die_of_sigpipe(),
        Err(e) => {
            eprintln!("roarctl: error: cannot write to standard output: {e}");
            std::process::exit(1);
        }
    }
}

pub fn print_line(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => die_of_sigpipe(),
        Err(e) => {
            eprintln!("roarctl: error: cannot write to standard output: {e}");
            std::process::exit(1);
        }
    }
}

fn die_of_sigpipe() -> ! {
    // SAFETY: restoring the default action and raising the signal ends the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(141)
}
