//! Progress bars for work that may take a while: roard hashing a job's files after its
//! end, and `get`/`put` transfers. Most such work takes milliseconds, so a bar appears
//! only once the work has lasted about a second, and only on a terminal.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use roar_proto::pb;

/// Work shorter than this shows no bar.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// A bytes bar (with rate and ETA) that shows itself only after `SHOW_AFTER`.
pub struct DelayedBar {
    label: String,
    started: Option<Instant>,
    bar: Option<ProgressBar>,
    enabled: bool,
    show_after: Duration,
}

impl DelayedBar {
    /// A bar that stays hidden when `quiet`, or when stderr is not a terminal.
    pub fn new(quiet: bool, label: &str) -> Self {
        // ROAR_PROGRESS_AFTER_MS shortens the delay (the tests use it).
        let show_after = std::env::var("ROAR_PROGRESS_AFTER_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(SHOW_AFTER, Duration::from_millis);
        Self {
            label: label.to_string(),
            started: None,
            bar: None,
            enabled: !quiet && std::io::stderr().is_terminal(),
            show_after,
        }
    }

    /// Reports `done` of `total` bytes (total 0: unknown), with a short message.
    pub fn update(&mut self, done: u64, total: u64, message: String) {
        if !self.enabled {
            return;
        }
        let since = *self.started.get_or_insert_with(Instant::now);
        if self.bar.is_none() && since.elapsed() >= self.show_after {
            let bar = ProgressBar::new(total);
            let template = format!(
                "roar: {} {{bar:30}} {{bytes}}/{{total_bytes}} ({{bytes_per_sec}}, ETA {{eta}}) {{msg}}",
                self.label
            );
            bar.set_style(
                ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_length(total.max(done));
            bar.set_position(done);
            bar.set_message(message);
        }
    }

    /// Removes the bar before a summary line is printed.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// roard's hashing of a job's files, as it streams `HashProgress`.
pub struct HashingBar(DelayedBar);

impl HashingBar {
    pub fn new(quiet: bool) -> Self {
        Self(DelayedBar::new(quiet, "hashing"))
    }

    pub fn update(&mut self, progress: &pb::HashProgress) {
        self.0.update(
            progress.bytes_done,
            progress.bytes_total,
            format!("{}/{} files", progress.files_done, progress.files_total),
        );
    }

    pub fn finish(&mut self) {
        self.0.finish();
    }
}
