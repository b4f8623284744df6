//! The progress bar shown while roard hashes a job's files after its end. Most jobs
//! finish hashing in milliseconds, so the bar appears only once hashing has lasted
//! about a second, and only on a terminal.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use roar_proto::pb;

/// Hashing shorter than this shows no bar.
const SHOW_AFTER: Duration = Duration::from_secs(1);

pub struct HashingBar {
    first_report: Option<Instant>,
    bar: Option<ProgressBar>,
    enabled: bool,
    show_after: Duration,
}

impl HashingBar {
    /// A bar that stays hidden when `quiet`, or when stderr is not a terminal.
    pub fn new(quiet: bool) -> Self {
        // ROAR_PROGRESS_AFTER_MS shortens the delay (the tests use it).
        let show_after = std::env::var("ROAR_PROGRESS_AFTER_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(SHOW_AFTER, Duration::from_millis);
        Self {
            first_report: None,
            bar: None,
            enabled: !quiet && std::io::stderr().is_terminal(),
            show_after,
        }
    }

    pub fn update(&mut self, progress: &pb::HashProgress) {
        if !self.enabled {
            return;
        }
        let since = *self.first_report.get_or_insert_with(Instant::now);
        if self.bar.is_none() && since.elapsed() >= self.show_after {
            let bar = ProgressBar::new(progress.bytes_total);
            bar.set_style(
                ProgressStyle::with_template(
                    "roar: hashing {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta}) {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_length(progress.bytes_total.max(progress.bytes_done));
            bar.set_position(progress.bytes_done);
            bar.set_message(format!(
                "{}/{} files",
                progress.files_done, progress.files_total
            ));
        }
    }

    /// Removes the bar before the summary line is printed.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
