//! The interpreter of one programmer run ([`Transcript`]): it reads the recognised lines in order and turns them into
//! the back-end-neutral progress events ([`FlashEvent`]: connected, sending, progress, sent, started, reconnecting,
//! errors, completed), keeps the bytes sent and where the run is, and says whether a segment showed progress (which
//! restarts the per-stage timeout).
//!
//! Pure.

use std::collections::BTreeMap;

use super::{
    lines::{LineSplitter, Segment},
    parse::{PrintedSize, ProgrammerEvent, parse_line},
};
use crate::flash::{FlashEvent, partition_hex};

/// What feeding one segment produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fed {
    /// Progress events, in order.
    pub events: Vec<FlashEvent>,
    /// Whether the programmer showed progress or a new stage (resets the per-stage timeout). A redrawn bar whose
    /// percentage did not move is not progress.
    pub advanced: bool,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Idle,
    Downloading,
    Layout,
}

#[derive(Debug, Clone)]
struct CurrentFile {
    name: String,
    partition: Option<u8>,
    size: Option<u64>,
    percent: u8,
    done: bool,
}

/// The stateful interpreter of one programmer run.
#[derive(Debug, Clone)]
pub struct Transcript {
    sizes: BTreeMap<String, u64>,
    mode: Mode,
    pending_file: Option<String>,
    pending_size: Option<PrintedSize>,
    current: Option<CurrentFile>,
    running_partition: Option<u8>,
    last_started: Option<u8>,
    done_bytes: u64,
    serial: Option<String>,
    products: Vec<String>,
    empty_descriptors: bool,
    errors: Vec<String>,
    warnings: Vec<String>,
    completed: bool,
    banner: Option<String>,
    reconnects: u32,
}

fn basename(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

impl Transcript {
    /// An interpreter that knows the sizes of the layout's files (by the name the layout gives them), so the bytes
    /// sent are exact even when the programmer prints `220.82 KB`.
    #[must_use]
    pub fn new(sizes: BTreeMap<String, u64>) -> Transcript {
        Transcript {
            sizes,
            mode: Mode::Idle,
            pending_file: None,
            pending_size: None,
            current: None,
            running_partition: None,
            last_started: None,
            done_bytes: 0,
            serial: None,
            products: Vec::new(),
            empty_descriptors: false,
            errors: Vec::new(),
            warnings: Vec::new(),
            completed: false,
            banner: None,
            reconnects: 0,
        }
    }

    fn known_size(&self, file: &str) -> Option<u64> {
        self.sizes.get(file).copied().or_else(|| {
            let base = basename(file);
            let mut matches = self.sizes.iter().filter(|(k, _)| basename(k) == base);
            match (matches.next(), matches.next()) {
                (Some((_, &v)), None) => Some(v),
                _ => None,
            }
        })
    }

    fn begin_file(&mut self, partition: Option<u8>, events: &mut Vec<FlashEvent>) {
        if let Some(name) = self.pending_file.take() {
            let size = self.known_size(&name).or(self.pending_size.map(|s| s.bytes));
            self.pending_size = None;
            events.push(FlashEvent::Sending { partition, file: name.clone(), size });
            self.current = Some(CurrentFile { name, partition, size, percent: 0, done: false });
        }
    }

    /// Feed one segment of output.
    pub fn feed(&mut self, segment: &Segment) -> Fed {
        let mut fed = Fed::default();
        let Some(event) = parse_line(&segment.text) else {
            fed.advanced = !segment.redraw && !segment.text.trim().is_empty();
            return fed;
        };
        fed.advanced = true;
        let events = &mut fed.events;
        match event {
            ProgrammerEvent::Banner(v) => self.banner = Some(v),
            ProgrammerEvent::UsbSpeed(_) | ProgrammerEvent::DeviceId(_) | ProgrammerEvent::Elapsed(_) => {}
            ProgrammerEvent::ServiceStarted | ProgrammerEvent::Running => {}
            ProgrammerEvent::Manufacturer(m) => {
                if m.is_empty() {
                    self.empty_descriptors = true;
                }
            }
            ProgrammerEvent::Product(p) => {
                if p.is_empty() {
                    self.empty_descriptors = true;
                }
                self.products.push(p.clone());
                events.push(FlashEvent::Connected { product: p });
            }
            ProgrammerEvent::Serial(s) => {
                if s.is_empty() {
                    self.empty_descriptors = true;
                } else {
                    if self.serial.is_none() {
                        self.serial = Some(s.clone());
                    }
                    events.push(FlashEvent::Serial { serial: s });
                }
            }
            ProgrammerEvent::Iap => self.empty_descriptors = true,
            ProgrammerEvent::OpeningFile(f) => {
                self.pending_file = Some(f);
                self.pending_size = None;
                self.mode = Mode::Idle;
            }
            ProgrammerEvent::FileName(f) => {
                if self.pending_file.is_none() {
                    self.pending_file = Some(f);
                }
            }
            ProgrammerEvent::Size(s) => self.pending_size = Some(s),
            ProgrammerEvent::PartitionId(p) => {
                self.running_partition = Some(p);
                self.begin_file(Some(p), events);
            }
            ProgrammerEvent::DownloadStarted => {
                self.begin_file(None, events);
                self.mode = Mode::Downloading;
            }
            ProgrammerEvent::Percent(p) => match self.mode {
                Mode::Downloading => {
                    let moved = match &mut self.current {
                        Some(c) if !c.done && p > c.percent => {
                            c.percent = p;
                            Some(c.partition)
                        }
                        _ => None,
                    };
                    match moved {
                        Some(partition) => events.push(FlashEvent::Progress { partition, percent: p, bytes_sent: self.bytes_sent() }),
                        None => fed.advanced = false,
                    }
                }
                Mode::Layout | Mode::Idle => fed.advanced = !segment.redraw,
            },
            ProgrammerEvent::DownloadComplete => {
                self.mode = Mode::Idle;
                if let Some(c) = &mut self.current
                    && !c.done
                {
                    c.done = true;
                    c.percent = 100;
                    self.done_bytes = self.done_bytes.saturating_add(c.size.unwrap_or(0));
                    events.push(FlashEvent::Sent { partition: c.partition, file: c.name.clone(), bytes: c.size.unwrap_or(0) });
                }
            }
            ProgrammerEvent::RunningPartition(p) => self.running_partition = Some(p),
            ProgrammerEvent::PartitionStarted(p) => {
                self.last_started = Some(p);
                events.push(FlashEvent::PartitionStarted { partition: p });
            }
            ProgrammerEvent::LayoutProgramming => {
                self.mode = Mode::Layout;
                self.running_partition = Some(0);
            }
            ProgrammerEvent::LayoutStarted => {
                self.mode = Mode::Idle;
                events.push(FlashEvent::LayoutSent);
            }
            ProgrammerEvent::Reconnecting => {
                self.reconnects = self.reconnects.saturating_add(1);
                events.push(FlashEvent::Reconnecting);
            }
            ProgrammerEvent::Completed => {
                self.completed = true;
                events.push(FlashEvent::Completed);
            }
            ProgrammerEvent::Error(text) => {
                self.errors.push(text.clone());
                events.push(FlashEvent::ProgrammerError { text });
            }
            ProgrammerEvent::Warning(text) => self.warnings.push(text),
        }
        fed
    }

    /// Feed a whole text (lines split at `\n` and `\r`); returns every event. For tests and replays.
    pub fn feed_text(&mut self, text: &str) -> Vec<FlashEvent> {
        let mut splitter = LineSplitter::new();
        let mut segments = splitter.push(text.as_bytes());
        segments.extend(splitter.finish());
        segments.iter().flat_map(|s| self.feed(s).events).collect()
    }

    /// Bytes sent so far: the files whose download completed, plus the shown share of the one in progress.
    #[must_use]
    pub fn bytes_sent(&self) -> u64 {
        let partial = match &self.current {
            // Sizes are what the programmer printed (any number): saturate rather than overflow.
            Some(c) if !c.done => u64::try_from(u128::from(c.size.unwrap_or(0)) * u128::from(c.percent) / 100).unwrap_or(u64::MAX),
            _ => 0,
        };
        self.done_bytes.saturating_add(partial)
    }

    /// The first non-empty serial number the programmer printed.
    #[must_use]
    pub fn serial(&self) -> Option<&str> {
        self.serial.as_deref()
    }

    /// The version in the programmer's banner, if it printed one.
    #[must_use]
    pub fn banner_version(&self) -> Option<&str> {
        self.banner.as_deref()
    }

    /// The `Error:` lines so far.
    #[must_use]
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// The `Warning:` lines so far.
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Whether the completion line was printed.
    #[must_use]
    pub fn completed(&self) -> bool {
        self.completed
    }

    /// How many times the device reconnected.
    #[must_use]
    pub fn reconnects(&self) -> u32 {
        self.reconnects
    }

    /// The partition being worked on: the file being sent, else the one being started.
    #[must_use]
    pub fn partition(&self) -> Option<u8> {
        match &self.current {
            Some(c) if !c.done => c.partition.or(self.running_partition),
            _ => self.running_partition.or(self.current.as_ref().and_then(|c| c.partition)),
        }
    }

    /// Where the run is, for messages: `partition 0x10 (sdcard.img) at 42 %`.
    #[must_use]
    pub fn position(&self) -> String {
        match &self.current {
            Some(c) if !c.done && self.mode == Mode::Downloading => format!(
                "while sending {} ({}) at {} %",
                c.name,
                c.partition.map_or_else(|| "partition ?".to_string(), |p| format!("partition {}", partition_hex(p))),
                c.percent
            ),
            _ => match (self.partition(), &self.current) {
                (Some(0), _) if self.mode == Mode::Layout => "while sending the flash layout (partition 0x00)".to_string(),
                (Some(p), Some(c)) if c.partition == Some(p) => format!("at partition {} ({})", partition_hex(p), c.name),
                (Some(p), _) => format!("at partition {}", partition_hex(p)),
                (None, _) if self.products.is_empty() => "before the device answered".to_string(),
                (None, _) => "before the first partition".to_string(),
            },
        }
    }

    /// Whether the device answered with empty descriptors (`IAP`, an empty serial number or product).
    #[must_use]
    pub fn empty_descriptors(&self) -> bool {
        self.empty_descriptors
    }

    /// Whether a file was being sent (between `Download in Progress:` and `File download complete`).
    #[must_use]
    pub fn downloading(&self) -> bool {
        self.mode == Mode::Downloading
    }
}

#[cfg(test)]
pub(super) fn guide_sizes() -> BTreeMap<String, u64> {
    [("tf-a-stm32mp157c-dk2.stm32", 237_161), ("u-boot.stm32", 748_042), ("sdcard.img", 539_002_368)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::flash::test_fixture as fixture;

    fn sizes() -> BTreeMap<String, u64> {
        guide_sizes()
    }

    #[test]
    fn sizes_come_from_the_transcript_when_the_layout_does_not_know_the_file() {
        let mut t = Transcript::new(BTreeMap::new());
        t.feed_text(&fixture("success_guide_v2.2.0.txt"));
        assert_eq!(t.bytes_sent(), 237_161 + 748_042 + 539_002_368, "the guide prints exact sizes");
    }

    #[test]
    fn a_stuck_redrawn_bar_is_not_progress() {
        let mut t = Transcript::new(sizes());
        t.feed_text("Opening and parsing file: sdcard.img\n  Partition ID  : 0x10\nDownload in Progress:\n");
        let seg = |text: &str| Segment { text: text.into(), redraw: true };
        assert!(t.feed(&seg("[==    ] 4%")).advanced);
        assert!(!t.feed(&seg("[==    ] 4%")).advanced, "same percentage redrawn");
        assert!(t.feed(&seg("[===   ] 5%")).advanced);
        assert!(t.feed(&Segment { text: "something new".into(), redraw: false }).advanced, "a new line is a new stage");
    }
}
