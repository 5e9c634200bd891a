//! Progress display for long writes: an `indicatif` bar on a terminal, plain lines (every 25 %) in logs such as
//! Buildroot's.

use std::{io::Write, sync::Mutex};

use indicatif::{ProgressBar, ProgressStyle};

use super::image::Progress;
use crate::diag::Style;

/// The display for stderr in the command's style: a bar on a terminal, plain lines in logs (Buildroot's `make`
/// output is a log, where a bar redrawn with carriage returns garbles it).
#[must_use]
pub fn for_stderr(what: &str, style: Style) -> Box<dyn Progress> {
    match style {
        Style::Fancy => Box::new(Bar::new(what)),
        Style::Plain => Box::new(Lines::new(what)),
    }
}

/// A terminal progress bar.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    /// A bar labelled `what`.
    #[must_use]
    pub fn new(what: &str) -> Bar {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:40}] {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(what.to_string());
        Bar { bar }
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.bar.set_length(total);
    }
    fn piece(&self, label: &str) {
        self.bar.set_message(label.to_string());
    }
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Plain progress lines on stderr.
pub struct Lines {
    what: String,
    state: Mutex<(u64, u64, u64)>,
}

impl Lines {
    /// Lines prefixed with `what`.
    #[must_use]
    pub fn new(what: &str) -> Lines {
        Lines { what: what.to_string(), state: Mutex::new((0, 0, 0)) }
    }
}

impl Progress for Lines {
    fn start(&self, total: u64) {
        if let Ok(mut s) = self.state.lock() {
            *s = (total, 0, 0);
        }
    }
    fn piece(&self, label: &str) {
        let _ = writeln!(std::io::stderr(), "{}: {label}", self.what);
    }
    fn advance(&self, bytes: u64) {
        if let Ok(mut s) = self.state.lock() {
            let (total, done, last_quarter) = &mut *s;
            *done += bytes;
            if let Some(quarter) = (*done * 4).checked_div(*total)
                && quarter > *last_quarter
                && quarter < 4
            {
                *last_quarter = quarter;
                let _ = writeln!(std::io::stderr(), "{}: {}%", self.what, quarter * 25);
            }
        }
    }
    fn finish(&self) {
        let _ = writeln!(std::io::stderr(), "{}: 100%", self.what);
    }
}
