//! Showing flashing [`Event`]s: one `indicatif` bar per board on a terminal, plain `[usb1] …` lines otherwise
//! (logs, CI, pipes). Both write to stderr; the final table goes to stdout.

use std::{io::Write, sync::Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::flash::{
    Event, EventKind, FlashEvent, ResultKind, partition_hex,
    report::{self, plain_line, plain_progress},
};

/// Something that shows events.
pub trait Renderer: Send {
    /// Show one event.
    fn event(&mut self, e: &Event);
}

/// Plain lines, prefixed with the board's label.
pub struct Plain<W: Write + Send> {
    out: W,
    labels: Vec<String>,
    quarter: Vec<u8>,
}

impl<W: Write + Send> Plain<W> {
    /// Lines to `out`.
    pub fn new(out: W) -> Plain<W> {
        Plain { out, labels: Vec::new(), quarter: Vec::new() }
    }

    fn label(&self, i: usize) -> &str {
        self.labels.get(i).map_or("?", String::as_str)
    }
}

impl<W: Write + Send> Renderer for Plain<W> {
    fn event(&mut self, e: &Event) {
        let i = e.board.0;
        if let EventKind::Queued { label, .. } = &e.kind {
            if self.labels.len() <= i {
                self.labels.resize(i + 1, String::new());
                self.quarter.resize(i + 1, 0);
            }
            self.labels[i].clone_from(label);
        }
        let line = match &e.kind {
            EventKind::Flash(FlashEvent::Sending { .. }) => {
                if let Some(q) = self.quarter.get_mut(i) {
                    *q = 0;
                }
                plain_line(&e.kind)
            }
            EventKind::Flash(FlashEvent::Progress { partition, percent, bytes_sent }) => {
                let q = percent / 25;
                match self.quarter.get_mut(i) {
                    Some(last) if q > *last => {
                        *last = q;
                        Some(plain_progress(*partition, *percent, *bytes_sent))
                    }
                    _ => None,
                }
            }
            other => plain_line(other),
        };
        if let Some(line) = line {
            let label = self.label(i).to_string();
            let _ = writeln!(self.out, "[{label}] {line}");
            let _ = self.out.flush();
        }
    }
}

/// One bar per board.
pub struct Bars {
    multi: MultiProgress,
    bars: Vec<ProgressBar>,
    labels: Vec<String>,
}

impl Bars {
    /// Bars on stderr.
    #[must_use]
    pub fn new() -> Bars {
        Bars { multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()), bars: Vec::new(), labels: Vec::new() }
    }
}

impl Default for Bars {
    fn default() -> Bars {
        Bars::new()
    }
}

impl Renderer for Bars {
    fn event(&mut self, e: &Event) {
        let i = e.board.0;
        if let EventKind::Queued { label, total_bytes, serial, .. } = &e.kind {
            let bar = self.multi.add(ProgressBar::new(*total_bytes));
            bar.set_style(
                ProgressStyle::with_template("{prefix:<6} [{bar:30}] {bytes:>10}/{total_bytes:<10} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.clone());
            bar.set_message(format!("queued ({})", serial.as_deref().unwrap_or("serial unknown")));
            while self.bars.len() < i {
                self.bars.push(ProgressBar::hidden());
                self.labels.push(String::new());
            }
            self.bars.push(bar);
            self.labels.push(label.clone());
            return;
        }
        let Some(bar) = self.bars.get(i) else { return };
        match &e.kind {
            EventKind::Queued { .. } => {}
            EventKind::Started { .. } => bar.set_message("connecting"),
            EventKind::Flash(p) => match p {
                FlashEvent::Progress { partition, percent, bytes_sent } => {
                    bar.set_position(*bytes_sent);
                    bar.set_message(format!("{} {percent}%", partition.map_or_else(|| "?".into(), partition_hex)));
                }
                FlashEvent::ProgrammerError { text } => {
                    let _ = self.multi.println(format!("[{}] programmer: {text}", self.labels[i]));
                }
                other => {
                    if let Some(line) = plain_line(&EventKind::Flash(other.clone())) {
                        bar.set_message(line);
                    }
                }
            },
            EventKind::Finished { verdict, duration, bytes_sent } => {
                bar.set_position(*bytes_sent);
                let msg = match verdict.result {
                    ResultKind::Success => format!("success in {}", report::duration(*duration)),
                    other => format!(
                        "{}{}",
                        other.to_string().to_uppercase(),
                        verdict.partition.map_or_else(String::new, |p| format!(" at {}", partition_hex(p)))
                    ),
                };
                bar.abandon_with_message(msg);
            }
        }
    }
}

/// The renderer for stderr in the command's style: bars on a terminal, lines otherwise.
#[must_use]
pub fn for_stderr(style: crate::diag::Style) -> Mutex<Box<dyn Renderer>> {
    match style {
        crate::diag::Style::Fancy => Mutex::new(Box::new(Bars::new())),
        crate::diag::Style::Plain => Mutex::new(Box::new(Plain::new(std::io::stderr()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::{BoardId, Verdict};

    #[test]
    fn plain_lines_show_progress_in_quarters() {
        let mut buf = Vec::new();
        {
            let mut r = Plain::new(&mut buf);
            let ev = |kind| Event { board: BoardId(0), kind };
            r.event(&ev(EventKind::Queued { label: "usb1".into(), serial: Some("0042".into()), usb: Some("3-1".into()), total_bytes: 1000 }));
            r.event(&ev(EventKind::Flash(FlashEvent::Sending { partition: Some(0x10), file: "sdcard.img".into(), size: Some(1000) })));
            for p in [10, 26, 30, 51, 76, 100] {
                r.event(&ev(EventKind::Flash(FlashEvent::Progress { partition: Some(0x10), percent: p, bytes_sent: u64::from(p) * 10 })));
            }
            r.event(&ev(EventKind::Finished {
                verdict: Verdict::not_run(ResultKind::Timeout, "no progress for 2s", None),
                duration: std::time::Duration::from_secs(3),
                bytes_sent: 1000,
            }));
        }
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            "[usb1] queued: serial 0042, USB 3-1, 1000 B to send\n\
[usb1] sending sdcard.img to partition 0x10 (1000 B)\n\
[usb1] partition 0x10 at 26 %, 260 B sent\n\
[usb1] partition 0x10 at 51 %, 510 B sent\n\
[usb1] partition 0x10 at 76 %, 760 B sent\n\
[usb1] partition 0x10 at 100 %, 1000 B sent\n\
[usb1] TIMEOUT: no progress for 2s\n"
        );
    }
}
