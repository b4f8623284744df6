//! Turning records into text: byte strings, times, exit statuses.
//!
//! Byte strings (paths, argv) are shown with one reversible escaping, used in JSON and
//! tables alike: valid UTF-8 stays as it is except `\`, which becomes `\\`; every byte
//! that is not part of valid UTF-8 becomes `\xNN` (two lowercase hex digits). To get the
//! bytes back, replace `\\` with `\` and `\xNN` with byte NN.

use std::fmt::Write;

use roar_proto::pb;

/// `@3` for pipeline step 3, `@B3` for build step 3.
pub fn step_label(kind: pb::JobKind, step: u32) -> String {
    if step == 0 {
        "(no step)".to_string()
    } else if kind == pb::JobKind::Build {
        format!("@B{step}")
    } else {
        format!("@{step}")
    }
}

/// `main@1a2b3c4d5e6f` (`detached@…`, `main (no commits)`), `+dirty` when it was.
pub fn git_short(git: &pb::GitContext) -> String {
    let branch = if git.branch.is_empty() {
        "detached"
    } else {
        git.branch.as_str()
    };
    let mut text = if git.commit.is_empty() {
        format!("{branch} (no commits)")
    } else {
        format!("{branch}@{}", &git.commit[..git.commit.len().min(12)])
    };
    if git.dirty_count > 0 {
        text.push_str(&format!(" +dirty ({} file(s))", git.dirty_count));
    }
    text
}

/// The documented reversible escaping of a byte string.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// For terminals: like `escape_bytes`, and control characters shown as escapes too, so a
/// name with a newline cannot break a table row.
pub fn escape_for_terminal(bytes: &[u8]) -> String {
    let mut out = String::new();
    for c in escape_bytes(bytes).chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A command line for humans, quoting arguments a shell would split.
pub fn command_line(argv: &[Vec<u8>]) -> String {
    argv.iter()
        .map(|arg| {
            let text = escape_for_terminal(arg);
            let plain = !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                text
            } else {
                format!("'{}'", text.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// RFC 3339 in UTC, millisecond precision, for JSON.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_default()
}

/// Local time for tables.
pub fn local_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned_datetime(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// "1.23s", "4m05s", "2h03m".
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 60_000 {
        format!("{:.2}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

/// "512 B", "1.5 KiB", "3.2 GiB".
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `(exit_code, exit_signal)` of a summary's exit status.
pub fn exit_parts(exit: Option<&pb::ExitStatus>) -> (Option<i32>, Option<i32>) {
    match exit.and_then(|e| e.status) {
        Some(pb::exit_status::Status::Code(code)) => (Some(code), None),
        Some(pb::exit_status::Status::Signal(signal)) => (None, Some(signal)),
        None => (None, None),
    }
}

/// "0", "3", "SIGTERM" or "-" for a table.
pub fn exit_text(exit: Option<&pb::ExitStatus>) -> String {
    match exit_parts(exit) {
        (Some(code), _) => code.to_string(),
        (None, Some(signal)) => nix::sys::signal::Signal::try_from(signal)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|_| format!("signal {signal}")),
        (None, None) => "-".to_string(),
    }
}

/// How a job ended, in words: `exit 1`, `killed by SIGSEGV`, `no exit status`.
pub fn how_it_ended(exit: Option<&pb::ExitStatus>) -> String {
    match exit_parts(exit) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(_)) => format!("killed by {}", exit_text(exit)),
        (None, None) => "no exit status".to_string(),
    }
}

/// `reproduced by job 1a2b3c4d5e6f: identical` (or `differs`).
pub fn reproduced_by(reproduction: &pb::Reproduction) -> Option<String> {
    let by = reproduction.job.as_ref()?;
    let verdict = if reproduction.identical {
        "identical"
    } else {
        "differs"
    };
    Some(format!("reproduced by job {}: {verdict}", by.uid))
}

/// `ran with uncommitted changes to a.py, b.py (and 3 more)` for a dirty job.
pub fn dirty_note(git: Option<&pb::GitContext>) -> Option<String> {
    let git = git.filter(|g| g.dirty_count > 0)?;
    const SHOWN: usize = 3;
    let names: Vec<String> = git
        .dirty_paths
        .iter()
        .take(SHOWN)
        .map(|p| escape_for_terminal(p))
        .collect();
    let more = (git.dirty_count as usize).saturating_sub(names.len());
    let mut note = format!("ran with uncommitted changes to {}", names.join(", "));
    if names.is_empty() {
        note = format!("ran with {} uncommitted change(s)", git.dirty_count);
    } else if more > 0 {
        note.push_str(&format!(" (and {more} more)"));
    }
    Some(note)
}

/// ANSI colours for terminal output, off unless stdout is a terminal and `NO_COLOR`
/// is unset or empty (<https://no-color.org>).
pub struct Style {
    enabled: bool,
}

/// `--color`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl Style {
    pub fn for_stdout(choice: ColorChoice) -> Self {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let enabled = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => std::io::stdout().is_terminal() && !no_color,
        };
        Self { enabled }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
}

/// What a gap in a job's trace means, in one sentence.
pub fn gap_text(gap: &pb::TraceGap) -> String {
    let detail = escape_for_terminal(&gap.detail);
    let who = match gap.pid {
        0 => "processes of the job".to_string(),
        pid => format!("process {pid}"),
    };
    let times = match gap.count {
        1 => String::new(),
        n => format!(" ({n} times)"),
    };
    match gap.kind() {
        pb::GapKind::UndecodedSyscalls => format!(
            "{who} made {} system call(s) in the {detail} ABI, which roard has no table \
             for: files they named are not in the record",
            gap.count
        ),
        pb::GapKind::ExecWithoutPath => format!(
            "{who} ran a program that has no file name ({detail}){times}: it is not \
             recorded as an input"
        ),
        pb::GapKind::OpenByHandle => format!(
            "{who} opened a file by handle (open_by_handle_at) whose name could not be \
             read{times}: it is not in the record"
        ),
        pb::GapKind::IoUring => format!(
            "{who} set up io_uring{times} (tracer.io_uring = \"allow\"): files it read \
             or wrote through the ring are not in the record"
        ),
        pb::GapKind::ForeignNamespace => format!(
            "{who} used {} file name(s) in a root or mount namespace whose host path \
             cannot be told (such as {detail}): they are not in the record",
            gap.count
        ),
        pb::GapKind::Unspecified => format!("{who}: {detail}{times} was not seen"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unescape(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
            } else if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
                out.push(u8::from_str_radix(&text[i + 2..i + 4], 16).unwrap());
                i += 4;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn escaping_is_reversible() {
        let samples: [&[u8]; 5] = [
            b"plain/path.csv",
            b"back\\slash \\x41",
            b"new\nline and space",
            &[0x66, 0xff, 0xfe, 0x2f, 0xc3, 0xa9],
            "d\u{e9}j\u{e0} vu".as_bytes(),
        ];
        for sample in samples {
            assert_eq!(unescape(&escape_bytes(sample)), sample, "{sample:?}");
        }
        assert_eq!(escape_bytes(&[b'a', 0xff]), "a\\xff");
    }

    #[test]
    fn terminal_text_has_no_raw_control_characters() {
        assert_eq!(escape_for_terminal(b"a\nb"), "a\\nb");
        assert_eq!(
            command_line(&[b"sh".to_vec(), b"-c".to_vec(), b"exit 3".to_vec()]),
            "sh -c 'exit 3'"
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(1234), "1.23s");
        assert_eq!(duration(65_000), "1m05s");
        assert_eq!(duration(3_723_000), "1h02m");
    }
}
