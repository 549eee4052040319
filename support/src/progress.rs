//! Progress for the examples' training loops: an `indicatif` bar showing the loss when the
//! output is a terminal, plain `step k/n loss x` lines (about twenty per run) when it is not
//! (a log file, CI), so a redirected run's output stays readable.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// How a training loop reports its steps.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    /// Plain output: one line every `every` steps (0: silent).
    every: u64,
}

impl Progress {
    /// A bar (terminal) or plain lines (otherwise) for a loop of `total` steps named `label`.
    pub fn new(label: &str, total: u64) -> Progress {
        if std::io::stdout().is_terminal() {
            let bar = ProgressBar::new(total);
            let style =
                ProgressStyle::with_template("{prefix} {bar:40.cyan/blue} {pos}/{len} {msg} [{elapsed_precise}]")
                    .expect("a valid template")
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(label.to_string());
            Progress { bar: Some(bar), total, every: 0 }
        } else {
            Progress { bar: None, total, every: total.div_ceil(20).max(1) }
        }
    }

    /// A spinner with the step and loss (terminal) or a plain line every `every` steps
    /// (otherwise), for a loop that runs until a condition holds.
    pub fn open_ended(label: &str, every: u64) -> Progress {
        if std::io::stdout().is_terminal() {
            let bar = ProgressBar::new_spinner();
            let style =
                ProgressStyle::with_template("{prefix} {spinner} step {pos} {msg} [{elapsed_precise}, {per_sec}]")
                    .expect("a valid template");
            bar.set_style(style);
            bar.set_prefix(label.to_string());
            Progress { bar: Some(bar), total: 0, every: 0 }
        } else {
            Progress { bar: None, total: 0, every: every.max(1) }
        }
    }

    /// Reports nothing (tests).
    pub fn silent(total: u64) -> Progress {
        Progress { bar: None, total, every: 0 }
    }

    /// Step `k` (0-based) is done with this loss.
    pub fn step(&self, k: u64, loss: f64) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(k + 1);
                bar.set_message(format!("loss {loss:.4}"));
            }
            None if self.every > 0 && self.total == 0 && (k + 1).is_multiple_of(self.every) => {
                println!("step {:>5} loss {loss:.6}", k + 1);
            }
            None if self.every > 0 && self.total > 0 && (k.is_multiple_of(self.every) || k + 1 == self.total) => {
                println!("step {}/{} loss {loss:.4}", k + 1, self.total);
            }
            None => {}
        }
    }

    /// A line that does not break the bar (printed above it).
    pub fn println(&self, line: impl AsRef<str>) {
        match &self.bar {
            Some(bar) => bar.println(line.as_ref()),
            None if self.every > 0 => println!("{}", line.as_ref()),
            None => {}
        }
    }

    /// Ends the bar, leaving it on screen.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
