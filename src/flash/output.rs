//! Reading `STM32_Programmer_CLI`'s output: a byte-stream splitter that understands the `\r`-redrawn progress bar,
//! a line parser ([`parse_line`]) and a stateful interpreter ([`Transcript`]) that turns lines into progress events
//! and, once the process has ended, into a [`Verdict`].
//!
//! Pure. The line shapes are those of the published transcripts (the guide's v2.2.0 success run with a reconnect,
//! its user's TF-A start failure, the v2.11.0 mailing-list session in `flashers.md` §1.2); they are verified against
//! those texts only, not against a live programmer. Success is the rule of `flashers.md` §1.3: exit status 0 **and**
//! `Flashing service completed successfully` **and** no `Error:` line.

use std::{collections::BTreeMap, fmt, time::Duration};

use super::hints;

/// The line that ends a successful run.
pub const COMPLETED_LINE: &str = "Flashing service completed successfully";

/// A size as the programmer printed it (`237161 Bytes` is exact, `220.82 KB` is rounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintedSize {
    /// Bytes (rounded when the programmer printed KB/MB/GB).
    pub bytes: u64,
    /// Whether the programmer printed the size in bytes.
    pub exact: bool,
}

/// One recognised line of programmer output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgrammerEvent {
    /// `STM32CubeProgrammer v2.2.0` or `STM32CubeProgrammer version: 2.11.0`.
    Banner(String),
    /// `USB speed   : High Speed (480MBit/s)`: a connection block begins.
    UsbSpeed(String),
    /// `Manuf. ID   : STMicroelectronics` (empty when the device is in a bad state).
    Manufacturer(String),
    /// `Product ID  : DFU in HS Mode @Device ID /0x500, …` (ROM/TF-A) or `USB download gadget@…` (U-Boot).
    Product(String),
    /// `SN          : 0042…` (empty when the device is in a bad state).
    Serial(String),
    /// `Device ID   : 0x0500`.
    DeviceId(String),
    /// A bare `IAP` line: the device answered with empty descriptors (`flashers.md` §1.2).
    Iap,
    /// `Start Embedded Flashing service`.
    ServiceStarted,
    /// `Opening and parsing file: NAME`.
    OpeningFile(String),
    /// `File          : NAME`.
    FileName(String),
    /// `Size          : 237161 Bytes` / `220.82 KB`.
    Size(PrintedSize),
    /// `Partition ID  : 0x01`.
    PartitionId(u8),
    /// `Download in Progress:`.
    DownloadStarted,
    /// A progress bar `[=====     ] 42%`.
    Percent(u8),
    /// `File download complete`.
    DownloadComplete,
    /// `Time elapsed during download operation: 00:00:00.444`.
    Elapsed(String),
    /// `RUNNING Program ...`.
    Running,
    /// `PartID:      :0x01`.
    RunningPartition(u8),
    /// `Start operation done successfully at partition 0x01`.
    PartitionStarted(u8),
    /// `Flashlayout Programming ...`.
    LayoutProgramming,
    /// `Flashlayout partition started successfully`.
    LayoutStarted,
    /// `reconnecting the device ...`.
    Reconnecting,
    /// `Flashing service completed successfully`.
    Completed,
    /// `Error: …` (the whole line).
    Error(String),
    /// `Warning: …` (the whole line).
    Warning(String),
}

fn parse_hex_u8(text: &str) -> Option<u8> {
    let t = text.trim().trim_start_matches(':').trim();
    let digits = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"))?;
    let digits: String = digits.chars().take_while(char::is_ascii_hexdigit).collect();
    u8::from_str_radix(&digits, 16).ok()
}

/// Parse `237161 Bytes`, `220.82 KB`, `1.5 MB`, `2 GB` (binary multiples).
#[must_use]
pub fn parse_printed_size(text: &str) -> Option<PrintedSize> {
    let mut parts = text.split_whitespace();
    let number = parts.next()?;
    let unit = parts.next().unwrap_or("B").to_ascii_lowercase();
    let factor: u64 = match unit.as_str() {
        "b" | "byte" | "bytes" => 1,
        "kb" | "kib" | "kbytes" => 1 << 10,
        "mb" | "mib" | "mbytes" => 1 << 20,
        "gb" | "gib" | "gbytes" => 1 << 30,
        _ => return None,
    };
    if factor == 1 {
        return number.parse::<u64>().ok().map(|bytes| PrintedSize { bytes, exact: true });
    }
    let value: f64 = number.parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let bytes = (value * factor as f64).round() as u64;
    Some(PrintedSize { bytes, exact: false })
}

/// The percentage of a progress bar such as `[=====     ] 42%` (the bar may be preceded by text or `\r`).
fn parse_percent(line: &str) -> Option<u8> {
    let open = line.find('[')?;
    let close = open + line[open..].find(']')?;
    let inside = &line[open + 1..close];
    if !inside.chars().all(|c| matches!(c, '=' | ' ' | '>' | '#' | '-' | '*' | '.')) {
        return None;
    }
    let rest = line[close + 1..].trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || !rest[digits.len()..].trim_start().starts_with('%') {
        return None;
    }
    digits.parse::<u32>().ok().map(|p| u8::try_from(p.min(100)).unwrap_or(100))
}

/// Lower-case a key and collapse its spaces: `Partition ID  ` → `partition id`.
fn norm_key(key: &str) -> String {
    key.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase()
}

/// Recognise one line of programmer output (without its line terminator). Unknown lines give `None`.
#[must_use]
pub fn parse_line(raw: &str) -> Option<ProgrammerEvent> {
    // The guide's user comment shows "…" where the programmer prints "...".
    let owned = raw.replace('…', "...");
    let line = owned.trim();
    if line.is_empty() {
        return None;
    }
    if let Some(p) = parse_percent(line) {
        return Some(ProgrammerEvent::Percent(p));
    }
    let lower = line.to_ascii_lowercase();
    if lower.starts_with("error:") || lower.starts_with("error :") {
        return Some(ProgrammerEvent::Error(line.to_string()));
    }
    if lower.starts_with("warning:") || lower.starts_with("warning :") {
        return Some(ProgrammerEvent::Warning(line.to_string()));
    }
    if let Some(rest) = line.strip_prefix("STM32CubeProgrammer") {
        let rest = rest.trim();
        let version = rest.strip_prefix("version:").or_else(|| rest.strip_prefix("version")).unwrap_or(rest).trim();
        let version = version.strip_prefix('v').or_else(|| version.strip_prefix('V')).unwrap_or(version);
        if version.starts_with(|c: char| c.is_ascii_digit()) {
            return Some(ProgrammerEvent::Banner(version.split_whitespace().next().unwrap_or(version).to_string()));
        }
        return None;
    }
    if line == "IAP" {
        return Some(ProgrammerEvent::Iap);
    }
    if let Some(rest) = lower.strip_prefix("start operation done successfully at partition") {
        return parse_hex_u8(rest).map(ProgrammerEvent::PartitionStarted);
    }
    match lower.as_str() {
        "start embedded flashing service" => return Some(ProgrammerEvent::ServiceStarted),
        "download in progress:" => return Some(ProgrammerEvent::DownloadStarted),
        "file download complete" => return Some(ProgrammerEvent::DownloadComplete),
        "flashlayout partition started successfully" => return Some(ProgrammerEvent::LayoutStarted),
        l if l == COMPLETED_LINE.to_ascii_lowercase() => return Some(ProgrammerEvent::Completed),
        _ => {}
    }
    if lower.starts_with("running program") {
        return Some(ProgrammerEvent::Running);
    }
    if lower.starts_with("flashlayout programming") {
        return Some(ProgrammerEvent::LayoutProgramming);
    }
    if lower.starts_with("reconnecting the device") {
        return Some(ProgrammerEvent::Reconnecting);
    }
    let (key, value) = line.split_once(':')?;
    let value = value.trim();
    match norm_key(key).as_str() {
        "opening and parsing file" => Some(ProgrammerEvent::OpeningFile(value.to_string())),
        "file" => Some(ProgrammerEvent::FileName(value.to_string())),
        "size" => parse_printed_size(value).map(ProgrammerEvent::Size),
        "partition id" => parse_hex_u8(value).map(ProgrammerEvent::PartitionId),
        "partid" => parse_hex_u8(value).map(ProgrammerEvent::RunningPartition),
        "time elapsed during download operation" => Some(ProgrammerEvent::Elapsed(value.to_string())),
        "usb speed" => Some(ProgrammerEvent::UsbSpeed(value.to_string())),
        "manuf. id" => Some(ProgrammerEvent::Manufacturer(value.to_string())),
        "product id" => Some(ProgrammerEvent::Product(value.to_string())),
        "sn" => Some(ProgrammerEvent::Serial(value.to_string())),
        "device id" => Some(ProgrammerEvent::DeviceId(value.to_string())),
        _ => None,
    }
}

/// A piece of output between terminators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The text, without its terminator (invalid UTF-8 replaced).
    pub text: String,
    /// Ended by `\r`: a progress-bar redraw rather than a finished line.
    pub redraw: bool,
}

/// Splits a byte stream into [`Segment`]s at `\n` and `\r` (`\r\n` counts once).
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    after_cr: bool,
}

impl LineSplitter {
    /// A splitter with nothing buffered.
    #[must_use]
    pub fn new() -> LineSplitter {
        LineSplitter::default()
    }

    /// Feed bytes; returns the segments they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Segment> {
        let mut out = Vec::new();
        for &b in bytes {
            match b {
                b'\n' if self.after_cr && self.buf.is_empty() => self.after_cr = false,
                b'\n' | b'\r' => {
                    out.push(Segment { text: String::from_utf8_lossy(&self.buf).into_owned(), redraw: b == b'\r' });
                    self.buf.clear();
                    self.after_cr = b == b'\r';
                }
                _ => {
                    self.after_cr = false;
                    self.buf.push(b);
                }
            }
        }
        out
    }

    /// The stream ended: the unterminated rest, if any.
    pub fn finish(&mut self) -> Option<Segment> {
        self.after_cr = false;
        if self.buf.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        Some(Segment { text, redraw: false })
    }
}

/// Progress of one board, as the interpreter derives it from the programmer's lines.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FlashEvent {
    /// A connection block (`Product ID` line): the first connection, or the device back after a reconnect. `product`
    /// says which stage answers (`DFU in HS Mode` for the ROM/TF-A, `USB download gadget` for U-Boot).
    Connected {
        /// The `Product ID` text.
        product: String,
    },
    /// The device's serial number (`SN` line).
    Serial {
        /// As printed.
        serial: String,
    },
    /// A file starts being sent.
    Sending {
        /// The phase/partition id.
        partition: Option<u8>,
        /// The file name as printed.
        file: String,
        /// Its size (from the layout's files when known, else as printed).
        size: Option<u64>,
    },
    /// The bar moved.
    Progress {
        /// The phase/partition id.
        partition: Option<u8>,
        /// Percent of the current file.
        percent: u8,
        /// Bytes sent so far on this board (all files).
        bytes_sent: u64,
    },
    /// `File download complete`.
    Sent {
        /// The phase/partition id.
        partition: Option<u8>,
        /// The file name.
        file: String,
    },
    /// The flash layout itself was sent and started (partition 0x00).
    LayoutSent,
    /// `Start operation done successfully at partition 0xNN`.
    PartitionStarted {
        /// The phase/partition id.
        partition: u8,
    },
    /// `reconnecting the device ...`: the board re-enumerates (ROM → TF-A → U-Boot).
    Reconnecting,
    /// An `Error:` line.
    ProgrammerError {
        /// The whole line.
        text: String,
    },
    /// `Flashing service completed successfully`.
    Completed,
}

/// What feeding one segment produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fed {
    /// Progress events, in order.
    pub events: Vec<FlashEvent>,
    /// Whether the programmer showed progress or a new stage (resets the per-stage timeout). A redrawn bar whose
    /// percentage did not move is not progress.
    pub advanced: bool,
}

/// How a programmer process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// It exited by itself (`code` is `None` when a signal ended it).
    Exited {
        /// Exit status.
        code: Option<i32>,
        /// The signal that ended it.
        signal: Option<i32>,
    },
    /// No progress within the per-stage timeout; we stopped it.
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// Ctrl-C (or SIGTERM/SIGHUP): we stopped it.
    Interrupted,
    /// It could not be started.
    SpawnFailed(String),
}

impl fmt::Display for RunEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunEnd::Exited { code: Some(c), .. } => write!(f, "exited with status {c}"),
            RunEnd::Exited { code: None, signal: Some(s) } => write!(f, "ended by signal {s}"),
            RunEnd::Exited { code: None, signal: None } => f.write_str("ended"),
            RunEnd::TimedOut { after } => write!(f, "stopped after {} without progress", humantime::format_duration(*after)),
            RunEnd::Interrupted => f.write_str("stopped by an interrupt"),
            RunEnd::SpawnFailed(why) => write!(f, "could not be started: {why}"),
        }
    }
}

/// A board's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultKind {
    /// Exit 0, the completion line, no `Error:` line.
    Success,
    /// Anything else the programmer or the board did.
    Failed,
    /// No progress within `--timeout`.
    Timeout,
    /// Stopped by Ctrl-C / SIGTERM, or never started because of it.
    Interrupted,
}

impl fmt::Display for ResultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResultKind::Success => "success",
            ResultKind::Failed => "failed",
            ResultKind::Timeout => "timeout",
            ResultKind::Interrupted => "interrupted",
        })
    }
}

/// The judgement on one board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Success, failed, timeout, interrupted.
    pub result: ResultKind,
    /// The partition (phase id) the failure happened at, when known.
    pub partition: Option<u8>,
    /// What went wrong, in one sentence that quotes the programmer (`None` on success).
    pub error: Option<String>,
    /// The programmer's `Error:` lines, verbatim.
    pub programmer_errors: Vec<String>,
    /// Advice for a known cause.
    pub hint: Option<String>,
    /// The programmer's exit status, when it exited by itself.
    pub exit_status: Option<i32>,
}

impl Verdict {
    /// A verdict for a board that was never handed to the programmer.
    #[must_use]
    pub fn not_run(result: ResultKind, error: impl Into<String>, hint: Option<String>) -> Verdict {
        Verdict { result, partition: None, error: Some(error.into()), programmer_errors: Vec::new(), hint, exit_status: None }
    }

    /// Whether the board was flashed.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.result == ResultKind::Success
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
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

/// Format a phase id as the programmer does (`0x01`).
#[must_use]
pub fn partition_hex(id: u8) -> String {
    format!("{id:#04x}")
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
                    events.push(FlashEvent::Sent { partition: c.partition, file: c.name.clone() });
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

    fn error_partition(&self) -> Option<u8> {
        self.errors
            .iter()
            .find_map(|e| e.to_ascii_lowercase().split_once("at partition").and_then(|(_, rest)| parse_hex_u8(rest)))
            .or_else(|| self.partition())
    }

    /// Judge the run once the process has ended.
    #[must_use]
    pub fn verdict(&self, end: &RunEnd) -> Verdict {
        let quoted = self.errors.iter().map(|e| format!("\"{e}\"")).collect::<Vec<_>>().join(" / ");
        let mut v = Verdict {
            result: ResultKind::Failed,
            partition: self.partition(),
            error: None,
            programmer_errors: self.errors.clone(),
            hint: None,
            exit_status: None,
        };
        match end {
            RunEnd::SpawnFailed(why) => {
                v.error = Some(format!("cannot run the programmer: {why}"));
                v.partition = None;
            }
            RunEnd::Interrupted => {
                v.result = ResultKind::Interrupted;
                v.error = Some(format!("interrupted {}; the programmer was stopped", self.position()));
                v.hint = Some(hints::INTERRUPTED.to_string());
            }
            RunEnd::TimedOut { after } => {
                v.result = ResultKind::Timeout;
                v.error = Some(format!(
                    "no progress for {} {}; the programmer was stopped",
                    humantime::format_duration(Duration::from_secs(after.as_secs().max(1))),
                    self.position()
                ));
                v.hint = Some(hints::TIMEOUT.to_string());
            }
            RunEnd::Exited { code, signal } => {
                v.exit_status = *code;
                if *code == Some(0) && self.completed && self.errors.is_empty() {
                    v.result = ResultKind::Success;
                    v.partition = None;
                    return v;
                }
                if !self.errors.is_empty() {
                    v.partition = self.error_partition();
                    let status = match (code, signal) {
                        (Some(0), _) => " (it exited with status 0 all the same)".to_string(),
                        (Some(c), _) => format!(" and exited with status {c}"),
                        (None, Some(s)) => format!(" and was ended by signal {s}"),
                        (None, None) => String::new(),
                    };
                    let place = v.partition.map_or_else(String::new, |p| format!("at partition {}: ", partition_hex(p)));
                    v.error = Some(format!("{place}the programmer said {quoted}{status}"));
                } else {
                    let how = match (code, signal) {
                        (Some(c), _) => format!("the programmer exited with status {c}"),
                        (None, Some(s)) => format!("the programmer was ended by signal {s}"),
                        (None, None) => "the programmer ended".to_string(),
                    };
                    let missing = if self.completed { "" } else { " without \"Flashing service completed successfully\"" };
                    v.error = Some(format!("{how}{missing} {}", self.position()));
                }
                v.hint = hints::for_failure(&hints::Facts {
                    errors: &self.errors,
                    partition: v.partition,
                    empty_descriptors: self.empty_descriptors,
                    during_download: self.mode == Mode::Downloading,
                    exit_zero: *code == Some(0),
                });
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::flash::test_fixture as fixture;

    fn sizes() -> BTreeMap<String, u64> {
        [("tf-a-stm32mp157c-dk2.stm32", 237_161), ("u-boot.stm32", 748_042), ("sdcard.img", 539_002_368)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    #[test]
    fn lines_of_the_guide_parse() {
        use ProgrammerEvent as E;
        assert_eq!(parse_line("                        STM32CubeProgrammer v2.2.0                  "), Some(E::Banner("2.2.0".into())));
        assert_eq!(parse_line("STM32CubeProgrammer version: 2.11.0"), Some(E::Banner("2.11.0".into())));
        assert_eq!(parse_line("SN          : 004200343338510534383330"), Some(E::Serial("004200343338510534383330".into())));
        assert_eq!(parse_line("Opening and parsing file: tf-a-stm32mp157c-dk2.stm32"), Some(E::OpeningFile("tf-a-stm32mp157c-dk2.stm32".into())));
        assert_eq!(parse_line("  Size          : 237161 Bytes"), Some(E::Size(PrintedSize { bytes: 237_161, exact: true })));
        assert_eq!(parse_line("  Size          : 220.82 KB"), Some(E::Size(PrintedSize { bytes: 226_120, exact: false })));
        assert_eq!(parse_line("  Partition ID  : 0x01 "), Some(E::PartitionId(1)));
        assert_eq!(parse_line("[==================================================] 100% "), Some(E::Percent(100)));
        assert_eq!(parse_line("[=====================                             ] 42%"), Some(E::Percent(42)));
        assert_eq!(parse_line("  PartID:      :0x03 "), Some(E::RunningPartition(3)));
        assert_eq!(parse_line("PartID: :0x01"), Some(E::RunningPartition(1)));
        assert_eq!(parse_line("RUNNING Program … "), Some(E::Running));
        assert_eq!(parse_line("Start operation done successfully at partition 0x10"), Some(E::PartitionStarted(0x10)));
        assert_eq!(parse_line("reconnecting the device ..."), Some(E::Reconnecting));
        assert_eq!(parse_line("Flashing service completed successfully"), Some(E::Completed));
        assert_eq!(
            parse_line("Error: Start operation failed at partition 0x01"),
            Some(E::Error("Error: Start operation failed at partition 0x01".into()))
        );
        assert_eq!(
            parse_line("Product ID  : USB download gadget@Device ID /0x500, @Revision ID /0x0000"),
            Some(E::Product("USB download gadget@Device ID /0x500, @Revision ID /0x0000".into()))
        );
        assert_eq!(parse_line("Memory Programming ..."), None);
        assert_eq!(parse_line("[not a bar] 12%"), None);
        assert_eq!(parse_line(""), None);
    }

    #[test]
    fn splitter_handles_redraws_and_crlf() {
        let mut s = LineSplitter::new();
        let mut segs = s.push(b"Download in Progress:\n[==   ] 4");
        segs.extend(s.push(b"0%\r[===  ] 60%\r[=====] 100% \r\nFile download complete\r\nlast"));
        segs.extend(s.finish());
        let texts: Vec<(&str, bool)> = segs.iter().map(|s| (s.text.as_str(), s.redraw)).collect();
        assert_eq!(
            texts,
            vec![
                ("Download in Progress:", false),
                ("[==   ] 40%", true),
                ("[===  ] 60%", true),
                ("[=====] 100% ", true),
                ("File download complete", true),
                ("last", false)
            ]
        );
    }

    #[test]
    fn the_guides_success_run_verbatim() {
        let text = fixture("success_guide_v2.2.0.txt");
        let mut t = Transcript::new(sizes());
        let events = t.feed_text(&text);
        let kinds: Vec<String> = events
            .iter()
            .map(|e| match e {
                FlashEvent::Connected { product } => format!("connected {}", &product[..product.find(['@']).unwrap_or(product.len())]),
                FlashEvent::Serial { serial } => format!("serial {serial}"),
                FlashEvent::Sending { partition, file, size } => format!("sending {file} {partition:?} {size:?}"),
                FlashEvent::Progress { percent, bytes_sent, .. } => format!("progress {percent} {bytes_sent}"),
                FlashEvent::Sent { file, .. } => format!("sent {file}"),
                FlashEvent::LayoutSent => "layout".into(),
                FlashEvent::PartitionStarted { partition } => format!("started {partition:#04x}"),
                FlashEvent::Reconnecting => "reconnecting".into(),
                FlashEvent::ProgrammerError { text } => format!("error {text}"),
                FlashEvent::Completed => "completed".into(),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                "connected DFU in HS Mode ",
                "serial 004200343338510534383330",
                "sending tf-a-stm32mp157c-dk2.stm32 Some(1) Some(237161)",
                "progress 100 237161",
                "sent tf-a-stm32mp157c-dk2.stm32",
                "started 0x01",
                "layout",
                "sending u-boot.stm32 Some(3) Some(748042)",
                "progress 100 985203",
                "sent u-boot.stm32",
                "reconnecting",
                "connected USB download gadget",
                "serial 004200343338510534383330",
                "started 0x03",
                "sending sdcard.img Some(16) Some(539002368)",
                "progress 100 539987571",
                "sent sdcard.img",
                "started 0x10",
                "completed",
            ]
        );
        assert_eq!(t.banner_version(), Some("2.2.0"));
        assert_eq!(t.serial(), Some("004200343338510534383330"));
        assert_eq!(t.reconnects(), 1);
        assert_eq!(t.bytes_sent(), 237_161 + 748_042 + 539_002_368);
        let v = t.verdict(&RunEnd::Exited { code: Some(0), signal: None });
        assert_eq!(v.result, ResultKind::Success, "{v:?}");
        assert_eq!(v.error, None);
        // The same text with a non-zero status is not a success.
        let v = t.verdict(&RunEnd::Exited { code: Some(1), signal: None });
        assert_eq!(v.result, ResultKind::Failed);
    }

    #[test]
    fn sizes_come_from_the_transcript_when_the_layout_does_not_know_the_file() {
        let mut t = Transcript::new(BTreeMap::new());
        t.feed_text(&fixture("success_guide_v2.2.0.txt"));
        assert_eq!(t.bytes_sent(), 237_161 + 748_042 + 539_002_368, "the guide prints exact sizes");
    }

    #[test]
    fn the_guides_user_start_failure_names_partition_and_quotes_the_programmer() {
        let mut t = Transcript::new(BTreeMap::new());
        let events = t.feed_text(&fixture("start_fail_0x01_exit1.txt"));
        assert!(events.contains(&FlashEvent::ProgrammerError { text: "Error: Start operation failed at partition 0x01".into() }));
        let v = t.verdict(&RunEnd::Exited { code: Some(1), signal: None });
        assert_eq!(v.result, ResultKind::Failed);
        assert_eq!(v.partition, Some(1));
        assert_eq!(
            v.error.as_deref(),
            Some(
                "at partition 0x01: the programmer said \"Error: Start operation failed at partition 0x01\" / \"Error: TSV flashing service failed\" and exited with status 1"
            )
        );
        assert!(v.hint.as_deref().unwrap_or("").contains("STM32MP_USB_PROGRAMMER=1"), "{v:?}");
        assert_eq!(v.programmer_errors.len(), 2);
    }

    #[test]
    fn exit_zero_after_an_error_is_a_failure() {
        let mut t = Transcript::new(BTreeMap::new());
        t.feed_text(&fixture("start_fail_0x01_exit0.txt"));
        let v = t.verdict(&RunEnd::Exited { code: Some(0), signal: None });
        assert_eq!(v.result, ResultKind::Failed);
        assert!(v.error.as_deref().unwrap_or("").ends_with("(it exited with status 0 all the same)"), "{v:?}");
        // Even with the completion line, an Error line fails the board.
        let mut t = Transcript::new(BTreeMap::new());
        t.feed_text("Error: Failed to download data!\nFlashing service completed successfully\n");
        assert_eq!(t.verdict(&RunEnd::Exited { code: Some(0), signal: None }).result, ResultKind::Failed);
    }

    #[test]
    fn the_v2_11_session_rounds_kb_and_fails_at_0x01() {
        let mut t = Transcript::new(BTreeMap::new());
        let events = t.feed_text(&fixture("start_fail_0x01_v2.11.0.txt"));
        assert!(events.contains(&FlashEvent::Sending { partition: Some(1), file: "tf-a-stm32mp157a-ev1-usb.stm32".into(), size: Some(226_120) }));
        assert_eq!(t.serial(), Some("0019002C3431511733353431"));
        let v = t.verdict(&RunEnd::Exited { code: Some(1), signal: None });
        assert_eq!(v.partition, Some(1));
    }

    #[test]
    fn a_vanished_device_is_reported_where_it_stopped() {
        let mut text = fixture("vanish_mid_transfer.txt");
        text.push_str("[==================                                ] 37%\r");
        let mut t = Transcript::new(sizes());
        t.feed_text(&text);
        assert_eq!(t.bytes_sent(), 237_161 + 748_042 + 539_002_368 * 37 / 100);
        let v = t.verdict(&RunEnd::Exited { code: Some(1), signal: None });
        assert_eq!(v.result, ResultKind::Failed);
        assert_eq!(v.partition, Some(0x10));
        assert_eq!(
            v.error.as_deref(),
            Some(
                "the programmer exited with status 1 without \"Flashing service completed successfully\" while sending sdcard.img (partition 0x10) at 37 %"
            )
        );
        assert!(v.hint.as_deref().unwrap_or("").contains("cable"), "{v:?}");
    }

    #[test]
    fn timeouts_and_interrupts_say_where() {
        let mut text = fixture("hang_mid_transfer.txt");
        text.push_str("[=====================                             ] 42%\r");
        let mut t = Transcript::new(sizes());
        t.feed_text(&text);
        let v = t.verdict(&RunEnd::TimedOut { after: Duration::from_secs(2) });
        assert_eq!(v.result, ResultKind::Timeout);
        assert_eq!(v.error.as_deref(), Some("no progress for 2s while sending sdcard.img (partition 0x10) at 42 %; the programmer was stopped"));
        let v = t.verdict(&RunEnd::Interrupted);
        assert_eq!(v.result, ResultKind::Interrupted);
        assert_eq!(v.partition, Some(0x10));
    }

    #[test]
    fn empty_descriptors_mean_power_cycle() {
        let mut t = Transcript::new(BTreeMap::new());
        t.feed_text(&fixture("bad_state_empty_descriptors.txt"));
        assert_eq!(t.serial(), None);
        let v = t.verdict(&RunEnd::Exited { code: Some(1), signal: None });
        assert!(v.hint.as_deref().unwrap_or("").contains("power"), "{v:?}");
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

    #[test]
    fn printed_sizes() {
        assert_eq!(parse_printed_size("1.5 MB"), Some(PrintedSize { bytes: 1_572_864, exact: false }));
        assert_eq!(parse_printed_size("12 parsecs"), None);
        assert_eq!(parse_printed_size("-1 KB"), None);
    }
}
