//! Progress: a live bar on a terminal, plain periodic lines in CI logs.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::{CiMode, Console};

/// What the counted units are, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Items,
}

/// Progress of one phase. Thread-safe: parallel uploads share one.
#[derive(Debug)]
pub struct Progress {
    console: Console,
    label: String,
    unit: Unit,
    total: Option<u64>,
    done: AtomicU64,
    bar: Option<ProgressBar>,
    interval: Duration,
    last_line: Mutex<Instant>,
}

impl Progress {
    /// A bar when standard error is a terminal outside CI, periodic lines otherwise.
    pub fn new(console: &Console, label: &str, total: Option<u64>, unit: Unit) -> Self {
        let on_terminal = std::io::stderr().is_terminal() && console.mode() == CiMode::Plain;
        let bar = on_terminal.then(|| {
            let bar = total.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
            let counter = match unit {
                Unit::Bytes => "{bytes}/{total_bytes} ({bytes_per_sec})",
                Unit::Items => "{pos}/{len}",
            };
            let template = format!("{{msg}} [{{bar:30}}] {counter} {{elapsed}}");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label.to_owned());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self::build(console, label, total, unit, bar, Duration::from_secs(10))
    }

    /// Always plain lines, at most one per `interval` (tests use zero).
    pub fn plain(console: &Console, label: &str, total: Option<u64>, unit: Unit, interval: Duration) -> Self {
        Self::build(console, label, total, unit, None, interval)
    }

    fn build(
        console: &Console,
        label: &str,
        total: Option<u64>,
        unit: Unit,
        bar: Option<ProgressBar>,
        interval: Duration,
    ) -> Self {
        Self {
            console: console.clone(),
            label: label.to_owned(),
            unit,
            total,
            done: AtomicU64::new(0),
            bar,
            interval,
            last_line: Mutex::new(Instant::now()),
        }
    }

    pub fn inc(&self, amount: u64) {
        let done = self.done.fetch_add(amount, Ordering::Relaxed) + amount;
        if let Some(bar) = &self.bar {
            bar.inc(amount);
            return;
        }
        let mut last = self.last_line.lock().unwrap_or_else(PoisonError::into_inner);
        if last.elapsed() >= self.interval {
            *last = Instant::now();
            drop(last);
            self.console.info(&format!("{}: {}", self.label, self.describe(done)));
        }
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Ends the phase with one closing line.
    pub fn finish(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.console.info(&format!("{}: {message}", self.label));
    }

    fn describe(&self, done: u64) -> String {
        let amount = |n: u64| match self.unit {
            Unit::Bytes => format_bytes(n),
            Unit::Items => n.to_string(),
        };
        match self.total {
            Some(total) if total > 0 => {
                format!("{} of {} ({}%)", amount(done), amount(total), done.saturating_mul(100) / total)
            }
            _ => amount(done),
        }
    }
}

/// `1536` as `1.5 KiB`: binary units, one decimal.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::CapturedLog;

    #[test]
    fn plain_progress_prints_lines_with_percentages() {
        let log = CapturedLog::default();
        let console = log.console("push-image", CiMode::GitHub);
        let progress = Progress::plain(&console, "uploading", Some(4096), Unit::Bytes, Duration::ZERO);
        progress.inc(1024);
        progress.inc(3072);
        progress.finish("done");
        assert_eq!(
            log.text(),
            "uploading: 1.0 KiB of 4.0 KiB (25%)\nuploading: 4.0 KiB of 4.0 KiB (100%)\nuploading: done\n"
        );
        assert_eq!(progress.done(), 4096);
    }

    #[test]
    fn plain_progress_is_rate_limited() {
        let log = CapturedLog::default();
        let console = log.console("x", CiMode::Plain);
        let progress = Progress::plain(&console, "files", None, Unit::Items, Duration::from_secs(3600));
        for _ in 0..100 {
            progress.inc(1);
        }
        assert_eq!(log.text(), "");
        assert_eq!(progress.done(), 100);
    }

    #[test]
    fn bytes_are_formatted_in_binary_units() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(64 * 1024 * 1024), "64.0 MiB");
    }
}
