//! Which boards to flash and how to tell the programmer which one: the selection (`--port`, `--serial`, `--all`, or
//! the only board present), the programmer's arguments for each board, the files the layout sends, and the schedule
//! (how many at once, how far apart).
//!
//! Pure.
//!
//! Selecting a board: the programmer's `usbN` index is enumeration order, not a place, and it shifts when boards
//! re-enumerate (ROM → TF-A → U-Boot, three times per board, `flashers.md` §1.5). By default ([`SelectBy::Auto`]):
//! when exactly one board is listed, it is selected as the guide does, `-c port=usb1` (nothing else to confuse it
//! with, and the one form seen working with STM32MP1); when several are, each is selected by serial number with
//! `-c port=usb sn=<serial>`, the form ST's community uses for parallel DFU programming (MCU, v2.17). That `sn=`
//! works for the MPU `-w layout.tsv` flow is **not verified on hardware**; `--select-by index` uses `-c port=usbN`
//! for every board, and boards are then flashed one at a time.

use std::{collections::BTreeMap, time::Duration};

use super::devices::{DfuDevice, SysfsDevice, UsbLocation, locate};
use crate::flashlayout::{Ip, LayoutLine};

/// Which boards the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Nothing said: the only board in DFU mode.
    Only,
    /// `--port usbN` (repeatable): by the programmer's index.
    Ports(Vec<u32>),
    /// `--serial SN` (repeatable).
    Serials(Vec<String>),
    /// `--all`: every board listed.
    All,
}

/// How the programmer is told which board to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectBy {
    /// [`SelectBy::Index`] when exactly one board is listed, [`SelectBy::Serial`] otherwise (default).
    Auto,
    /// `-c port=usb sn=<serial>`; a board without a serial number is not run.
    Serial,
    /// `-c port=usbN`.
    Index,
}

/// One board to flash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The programmer's index when the board was selected.
    pub index: Option<u32>,
    /// The serial number, when listed.
    pub serial: Option<String>,
    /// Where it is on USB.
    pub usb: Option<UsbLocation>,
    /// Why it will not be handed to the programmer (reported as a failure), if so.
    pub blocked: Option<String>,
    /// How the programmer is told which board.
    pub select_by: SelectBy,
}

impl Target {
    /// `usb1`, when the index is known.
    #[must_use]
    pub fn port(&self) -> Option<String> {
        self.index.map(|i| format!("usb{i}"))
    }

    /// A short name for messages and file names: the port, else the serial.
    #[must_use]
    pub fn label(&self) -> String {
        self.port().or_else(|| self.serial.clone()).unwrap_or_else(|| "board".to_string())
    }

    /// The `-c …` arguments that pick this board.
    #[must_use]
    pub fn connect_args(&self) -> Vec<String> {
        match (self.select_by, &self.serial, self.index) {
            (SelectBy::Serial, Some(sn), _) => vec!["-c".into(), "port=usb".into(), format!("sn={sn}")],
            (_, _, Some(i)) => vec!["-c".into(), format!("port=usb{i}")],
            (_, Some(sn), None) => vec!["-c".into(), "port=usb".into(), format!("sn={sn}")],
            (_, None, None) => vec!["-c".into(), "port=usb1".into()],
        }
    }

    /// Whether the programmer is told the index (`port=usbN`) rather than the serial number.
    #[must_use]
    pub fn selects_by_index(&self) -> bool {
        !self.connect_args().iter().any(|a| a.starts_with("sn="))
    }

    /// The whole argument list: connect, then `-w LAYOUT` (run from the layout's folder, so the layout's relative
    /// binary paths resolve there).
    #[must_use]
    pub fn programmer_args(&self, layout_file_name: &str) -> Vec<String> {
        let mut args = self.connect_args();
        args.push("-w".into());
        args.push(layout_file_name.to_string());
        args
    }
}

/// Why the boards could not be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// Nothing in DFU mode.
    #[error("no STM32MP board in USB DFU mode")]
    NoBoards,
    /// Several boards and no choice made.
    #[error("{count} boards are in USB DFU mode ({listed}); choose with --port usbN or --serial SN, or flash them all with --all")]
    Ambiguous {
        /// How many.
        count: usize,
        /// Them, as `usb1 (serial)`.
        listed: String,
    },
    /// A board asked for is not listed.
    #[error("no board {what} in USB DFU mode (listed: {listed})")]
    NotListed {
        /// `at usb3` / `with serial X`.
        what: String,
        /// What is listed.
        listed: String,
    },
    /// The listing is needed and missing.
    #[error("the programmer's board list (`-l usb`) is needed to select boards {0}")]
    NeedListing(&'static str),
}

fn describe_listing(listing: &[DfuDevice]) -> String {
    if listing.is_empty() {
        return "none".to_string();
    }
    listing
        .iter()
        .map(|d| match d.serial() {
            Some(sn) => format!("{} {sn}", d.port()),
            None => format!("{} (no serial number)", d.port()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `by` is the effective mode (never `Auto`); `strict` says whether a board without serial number is refused.
fn target_for(d: &DfuDevice, sysfs: &[SysfsDevice], by: SelectBy, strict: bool, duplicates: &BTreeMap<&str, usize>) -> Target {
    let blocked = match d.serial() {
        None if strict => Some(format!("{} is listed without a serial number", d.port())),
        Some(sn) if by == SelectBy::Serial && duplicates.get(sn).copied().unwrap_or(0) > 1 => {
            Some(format!("{} boards report serial number {sn}; `sn=` cannot tell them apart", duplicates[sn]))
        }
        _ => None,
    };
    Target { index: Some(d.index), serial: d.serial().map(str::to_string), usb: locate(d, sysfs), blocked, select_by: by }
}

/// Choose the boards. `listing` is the programmer's `-l usb` (None when it could not be run); `sysfs` completes
/// USB locations.
pub fn select(selection: &Selection, listing: Option<&[DfuDevice]>, sysfs: &[SysfsDevice], by: SelectBy) -> Result<Vec<Target>, SelectError> {
    let Some(listing) = listing else {
        return match selection {
            Selection::Ports(ports) => Ok(dedup(ports)
                .into_iter()
                .map(|i| Target { index: Some(i), serial: None, usb: None, blocked: None, select_by: SelectBy::Index })
                .collect()),
            Selection::Serials(_) => Err(SelectError::NeedListing("by serial number")),
            Selection::All => Err(SelectError::NeedListing("with --all")),
            Selection::Only => Err(SelectError::NeedListing("without --port")),
        };
    };
    let mut duplicates: BTreeMap<&str, usize> = BTreeMap::new();
    for d in listing {
        if let Some(sn) = d.serial() {
            *duplicates.entry(sn).or_default() += 1;
        }
    }
    // Auto: the index when there is nothing to confuse the board with. A board without serial number is refused
    // unless the user asked for index selection explicitly.
    let effective = match by {
        SelectBy::Auto if listing.len() == 1 => SelectBy::Index,
        SelectBy::Auto => SelectBy::Serial,
        other => other,
    };
    let strict = by != SelectBy::Index;
    let make = |d: &DfuDevice| target_for(d, sysfs, effective, strict, &duplicates);
    match selection {
        Selection::Only => match listing {
            [] => Err(SelectError::NoBoards),
            [one] => Ok(vec![make(one)]),
            many => Err(SelectError::Ambiguous { count: many.len(), listed: describe_listing(many) }),
        },
        Selection::All if listing.is_empty() => Err(SelectError::NoBoards),
        Selection::All => Ok(listing.iter().map(make).collect()),
        Selection::Ports(ports) => dedup(ports)
            .into_iter()
            .map(|i| {
                listing
                    .iter()
                    .find(|d| d.index == i)
                    .map(make)
                    .ok_or_else(|| SelectError::NotListed { what: format!("at usb{i}"), listed: describe_listing(listing) })
            })
            .collect(),
        Selection::Serials(serials) => dedup(serials)
            .into_iter()
            .map(|sn| {
                listing
                    .iter()
                    .find(|d| d.serial().is_some_and(|s| s.eq_ignore_ascii_case(&sn)))
                    .map(make)
                    .ok_or_else(|| SelectError::NotListed { what: format!("with serial number {sn}"), listed: describe_listing(listing) })
            })
            .collect(),
    }
}

fn dedup<T: Clone + PartialEq>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

/// Parse a `--port` value: `usb1`, `USB1` or `1`.
pub fn parse_port(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let digits = t.strip_prefix("usb").or_else(|| t.strip_prefix("USB")).unwrap_or(t);
    match digits.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{text}` is not a programmer port: write usb1, usb2, … (see `stm32mp-imager devices`)")),
    }
}

/// A binary the layout makes the programmer send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentBinary {
    /// The phase/partition id.
    pub id: u32,
    /// The partition name in the layout.
    pub partition: String,
    /// The file as the layout names it (relative to the layout's folder unless absolute).
    pub binary: String,
    /// The layout line.
    pub line: usize,
}

/// The binaries the programmer sends: RAM-loaded stages (IP `none`) and lines selected for programming that are not
/// to be left empty (`P`, `PD`; not `PE`, not `-` on a device).
#[must_use]
pub fn sent_binaries(lines: &[LayoutLine]) -> Vec<SentBinary> {
    lines
        .iter()
        .filter(|l| l.ip == Ip::None || (l.opt.select && !l.opt.empty))
        .filter_map(|l| l.binary.as_ref().map(|b| SentBinary { id: l.id, partition: l.name.clone(), binary: b.clone(), line: l.line }))
        .collect()
}

/// How the boards are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// At most this many programmers at once.
    pub jobs: usize,
    /// At least this long between two starts.
    pub stagger: Duration,
}

/// The schedule for these targets; notes say what was changed and why.
#[must_use]
pub fn schedule(targets: &[Target], jobs: usize, stagger: Duration) -> (Schedule, Vec<String>) {
    let runnable = targets.iter().filter(|t| t.blocked.is_none()).count();
    let by_index = targets.iter().filter(|t| t.blocked.is_none() && t.selects_by_index()).count();
    let mut notes = Vec::new();
    let mut jobs = jobs.max(1);
    if by_index > 0 && runnable > 1 && jobs > 1 {
        jobs = 1;
        notes.push("boards selected by index (port=usbN) are flashed one at a time: indexes shift while a board re-enumerates".to_string());
    }
    (Schedule { jobs: jobs.min(runnable.max(1)), stagger }, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::{devices::parse_list, test_fixture as fixture};

    fn three() -> Vec<DfuDevice> {
        parse_list(&fixture("list_usb_3.txt")).devices
    }

    #[test]
    fn the_only_board_or_an_error() {
        let one = parse_list(&fixture("list_usb_1.txt")).devices;
        let t = select(&Selection::Only, Some(&one), &[], SelectBy::Auto).unwrap();
        assert_eq!(t[0].programmer_args("flash.tsv"), ["-c", "port=usb1", "-w", "flash.tsv"], "the guide's form");
        let t = select(&Selection::Only, Some(&one), &[], SelectBy::Serial).unwrap();
        assert_eq!(t[0].programmer_args("flash.tsv"), ["-c", "port=usb", "sn=004200343338510534383330", "-w", "flash.tsv"]);
        assert_eq!(select(&Selection::Only, Some(&[]), &[], SelectBy::Serial), Err(SelectError::NoBoards));
        let e = select(&Selection::Only, Some(&three()), &[], SelectBy::Serial).unwrap_err();
        assert_eq!(
            e.to_string(),
            "3 boards are in USB DFU mode (usb1 004200343338510534383330, usb2 0019002C3431511733353431, usb3 (no serial number)); \
choose with --port usbN or --serial SN, or flash them all with --all"
        );
    }

    #[test]
    fn all_blocks_the_board_without_serial() {
        let t = select(&Selection::All, Some(&three()), &[], SelectBy::Serial).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].blocked.as_deref(), Some("usb3 is listed without a serial number"));
        assert_eq!(t[1].connect_args(), ["-c", "port=usb", "sn=0019002C3431511733353431"]);
        let by_index = select(&Selection::All, Some(&three()), &[], SelectBy::Index).unwrap();
        assert_eq!(by_index[2].blocked, None);
        assert_eq!(by_index[2].connect_args(), ["-c", "port=usb3"]);
    }

    #[test]
    fn ports_and_serials() {
        let t = select(&Selection::Ports(vec![2, 2, 1]), Some(&three()), &[], SelectBy::Serial).unwrap();
        assert_eq!(t.iter().map(Target::label).collect::<Vec<_>>(), ["usb2", "usb1"]);
        let e = select(&Selection::Ports(vec![4]), Some(&three()), &[], SelectBy::Serial).unwrap_err();
        assert!(e.to_string().starts_with("no board at usb4 in USB DFU mode (listed: usb1 0042"), "{e}");
        let t = select(&Selection::Serials(vec!["0019002c3431511733353431".into()]), Some(&three()), &[], SelectBy::Serial).unwrap();
        assert_eq!(t[0].index, Some(2));
        // Without a listing, ports still work, by index.
        let t = select(&Selection::Ports(vec![1]), None, &[], SelectBy::Serial).unwrap();
        assert_eq!(t[0].connect_args(), ["-c", "port=usb1"]);
        assert!(select(&Selection::All, None, &[], SelectBy::Serial).is_err());
    }

    #[test]
    fn auto_uses_serials_when_several_boards_are_listed() {
        let t = select(&Selection::Ports(vec![2]), Some(&three()), &[], SelectBy::Auto).unwrap();
        assert_eq!(t[0].connect_args(), ["-c", "port=usb", "sn=0019002C3431511733353431"]);
        let t = select(&Selection::All, Some(&three()), &[], SelectBy::Auto).unwrap();
        assert!(t[2].blocked.is_some(), "no serial number: refused in auto mode");
        let mut lone = three();
        lone.truncate(1);
        lone[0].serial.clear();
        let t = select(&Selection::Only, Some(&lone), &[], SelectBy::Auto).unwrap();
        assert!(t[0].blocked.is_some(), "a lone board without serial number is in a bad state too");
    }

    #[test]
    fn duplicate_serials_cannot_be_selected_by_serial() {
        let mut l = three();
        l[1].serial = l[0].serial.clone();
        let t = select(&Selection::All, Some(&l), &[], SelectBy::Serial).unwrap();
        assert!(t[0].blocked.as_deref().unwrap_or("").contains("cannot tell them apart"));
    }

    #[test]
    fn index_selection_runs_one_at_a_time() {
        let t = select(&Selection::All, Some(&three()), &[], SelectBy::Index).unwrap();
        let (s, notes) = schedule(&t, 4, Duration::from_secs(2));
        assert_eq!(s.jobs, 1);
        assert_eq!(notes.len(), 1);
        let t = select(&Selection::All, Some(&three()), &[], SelectBy::Serial).unwrap();
        let (s, notes) = schedule(&t, 4, Duration::from_secs(2));
        assert_eq!((s.jobs, notes.len()), (2, 0), "two runnable boards");
    }

    #[test]
    fn port_values() {
        assert_eq!(parse_port("usb3"), Ok(3));
        assert_eq!(parse_port("USB1"), Ok(1));
        assert_eq!(parse_port("2"), Ok(2));
        assert!(parse_port("usb0").is_err());
        assert!(parse_port("/dev/ttyACM0").is_err());
    }

    #[test]
    fn the_guides_layout_sends_three_files() {
        let tsv = "#Opt\tId\tName\tType\tIP\tOffset\tBinary\n-\t0x01\tfsbl1-boot\tBinary\tnone\t0x0\ttf-a-stm32mp157c-dk2.stm32\n\
-\t0x03\tssbl-boot\tBinary\tnone\t0x0\tu-boot.stm32\nP\t0x10\tsdcard\tRawImage\tmmc0\t\t0x0\tsdcard.img\n\
PE\t0x11\tempty\tFileSystem\tmmc0\t0x40000000\tnone\n-\t0x12\tskipped\tFileSystem\tmmc0\t0x50000000\tskipped.ext4\n";
        let parsed = crate::flashlayout::parse("flash.tsv", tsv.as_bytes());
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        let sent: Vec<String> = sent_binaries(&parsed.lines).into_iter().map(|b| format!("{:#04x} {}", b.id, b.binary)).collect();
        assert_eq!(sent, ["0x01 tf-a-stm32mp157c-dk2.stm32", "0x03 u-boot.stm32", "0x10 sdcard.img"]);
    }
}
