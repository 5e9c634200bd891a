//! Which boards to flash: the selection (by the programmer's index, serial number, USB port path, every board, or the
//! only board present) resolved against the boards listed in USB DFU mode, and how each chosen board is to be
//! addressed ([`SelectBy`]).
//!
//! Pure.
//!
//! Addressing a board: the programmer's `usbN` index is enumeration order, not a place, and it shifts when boards
//! re-enumerate (ROM → TF-A → U-Boot, three times per board, `flashers.md` §1.5). By default ([`SelectBy::Auto`]):
//! when exactly one board is listed, it is addressed by index, as the guide does (nothing else to confuse it with,
//! and the one form seen working with STM32MP1); when several are, each is addressed by serial number, the form ST's
//! community uses for parallel DFU programming (MCU, v2.17). That selection by serial number works for the MPU
//! `-w layout.tsv` flow is **not verified on hardware**; [`SelectBy::Index`] addresses every board by index, and
//! boards are then flashed one at a time. A USB port path (`3-1.2`) is where the cable is: it is the same across
//! re-enumerations, and chooses a board whichever way it is then addressed.

use std::collections::BTreeMap;

use super::devices::{DfuDevice, SysfsDevice, UsbLocation, locate};

/// Which boards the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Nothing said: the only board in DFU mode.
    Only,
    /// By the programmer's index (`usbN`).
    Ports(Vec<u32>),
    /// By serial number.
    Serials(Vec<String>),
    /// By USB port path (`3-1.2`, as sysfs names it).
    UsbPaths(Vec<String>),
    /// Every board listed.
    All,
}

/// How the programmer is told which board to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectBy {
    /// [`SelectBy::Index`] when exactly one board is listed, [`SelectBy::Serial`] otherwise (default).
    Auto,
    /// By serial number (ST's programmer: `-c port=usb sn=<serial>`); a board without a serial number is not run.
    Serial,
    /// By the programmer's index (`-c port=usbN`).
    Index,
    /// By the USB port path (the built-in client, which follows the board there across its re-enumerations); a
    /// board without a USB path is not run, a board without a serial number is.
    UsbPath,
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
    /// `usb1`, when the programmer's index is known (never for [`SelectBy::UsbPath`]: the built-in client has no
    /// index).
    #[must_use]
    pub fn port(&self) -> Option<String> {
        if self.select_by == SelectBy::UsbPath {
            return None;
        }
        self.index.map(|i| format!("usb{i}"))
    }

    /// The sysfs port path, when known.
    #[must_use]
    pub fn usb_path(&self) -> Option<&str> {
        self.usb.as_ref().and_then(|u| u.path.as_deref())
    }

    /// A short name for messages and file names: the port, else the USB path, else the serial.
    #[must_use]
    pub fn label(&self) -> String {
        self.port().or_else(|| self.usb_path().map(str::to_string)).or_else(|| self.serial.clone()).unwrap_or_else(|| "board".to_string())
    }

    /// Whether the board is addressed by the programmer's index rather than by its serial number or its USB path
    /// (indexes shift while other boards re-enumerate: such boards go one at a time).
    #[must_use]
    pub fn selects_by_index(&self) -> bool {
        if self.select_by == SelectBy::UsbPath {
            return false;
        }
        let by_serial = (self.select_by == SelectBy::Serial || self.index.is_none()) && self.serial.is_some();
        !by_serial
    }
}

/// Why the boards could not be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// Nothing in DFU mode.
    #[error("no STM32MP board in USB DFU mode")]
    NoBoards,
    /// Several boards and no choice made.
    #[error("{count} boards are in USB DFU mode ({listed})")]
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
    #[error("the board list is needed to select boards {0}")]
    NeedListing(&'static str),
}

fn describe_listing(listing: &[DfuDevice]) -> String {
    if listing.is_empty() {
        return "none".to_string();
    }
    listing
        .iter()
        .map(|d| match d.serial() {
            Some(sn) => format!("{} {sn}", d.name()),
            None => format!("{} (no serial number)", d.name()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The listed boards by USB path: `3-1 (usb1), 3-2 (usb2), usb3 (no USB path)`.
fn describe_paths(listing: &[DfuDevice], sysfs: &[SysfsDevice]) -> String {
    if listing.is_empty() {
        return "none".to_string();
    }
    listing
        .iter()
        .map(|d| match locate(d, sysfs).and_then(|u| u.path) {
            Some(path) => format!("{path} ({})", d.port()),
            None => format!("{} (no USB path)", d.port()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `by` is the effective mode (never `Auto`); `strict` says whether a board without serial number is refused.
fn target_for(d: &DfuDevice, sysfs: &[SysfsDevice], by: SelectBy, strict: bool, duplicates: &BTreeMap<&str, usize>) -> Target {
    let usb = locate(d, sysfs);
    if by == SelectBy::UsbPath {
        let blocked = match usb.as_ref().and_then(|u| u.path.as_deref()) {
            Some(_) => None,
            None => Some(format!("{} has no USB port path (bus and address not found in sysfs)", d.port())),
        };
        return Target { index: Some(d.index), serial: d.serial().map(str::to_string), usb, blocked, select_by: by };
    }
    let blocked = match d.serial() {
        None if strict => Some(format!("{} is listed without a serial number", d.name())),
        Some(sn) if by == SelectBy::Serial && duplicates.get(sn).copied().unwrap_or(0) > 1 => {
            Some(format!("{} boards report serial number {sn}; `sn=` cannot tell them apart", duplicates[sn]))
        }
        _ => None,
    };
    Target { index: Some(d.index), serial: d.serial().map(str::to_string), usb, blocked, select_by: by }
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
            Selection::UsbPaths(_) => Err(SelectError::NeedListing("by USB path")),
            Selection::All => Err(SelectError::NeedListing("all at once")),
            Selection::Only => Err(SelectError::NeedListing("without naming them")),
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
    let strict = !matches!(by, SelectBy::Index | SelectBy::UsbPath);
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
        Selection::UsbPaths(paths) => dedup(paths)
            .into_iter()
            .map(|path| {
                listing
                    .iter()
                    .find(|d| locate(d, sysfs).and_then(|u| u.path).as_deref() == Some(path.as_str()))
                    .map(make)
                    .ok_or_else(|| SelectError::NotListed { what: format!("at USB path {path}"), listed: describe_paths(listing, sysfs) })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::{
        cubeprog::{connect_args, flash_args, listing::parse_list},
        devices::SysfsDevice,
        test_fixture as fixture,
    };

    fn three() -> Vec<DfuDevice> {
        parse_list(&fixture("list_usb_3.txt")).devices
    }

    #[test]
    fn the_only_board_or_an_error() {
        let one = parse_list(&fixture("list_usb_1.txt")).devices;
        let t = select(&Selection::Only, Some(&one), &[], SelectBy::Auto).unwrap();
        assert_eq!(flash_args(&t[0], "flash.tsv"), ["-c", "port=usb1", "-w", "flash.tsv"], "the guide's form");
        let t = select(&Selection::Only, Some(&one), &[], SelectBy::Serial).unwrap();
        assert_eq!(flash_args(&t[0], "flash.tsv"), ["-c", "port=usb", "sn=004200343338510534383330", "-w", "flash.tsv"]);
        assert_eq!(select(&Selection::Only, Some(&[]), &[], SelectBy::Serial), Err(SelectError::NoBoards));
        let e = select(&Selection::Only, Some(&three()), &[], SelectBy::Serial).unwrap_err();
        assert_eq!(
            e.to_string(),
            "3 boards are in USB DFU mode (usb1 004200343338510534383330, usb2 0019002C3431511733353431, usb3 (no serial number))"
        );
    }

    #[test]
    fn all_blocks_the_board_without_serial() {
        let t = select(&Selection::All, Some(&three()), &[], SelectBy::Serial).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].blocked.as_deref(), Some("usb3 is listed without a serial number"));
        assert_eq!(connect_args(&t[1]), ["-c", "port=usb", "sn=0019002C3431511733353431"]);
        let by_index = select(&Selection::All, Some(&three()), &[], SelectBy::Index).unwrap();
        assert_eq!(by_index[2].blocked, None);
        assert_eq!(connect_args(&by_index[2]), ["-c", "port=usb3"]);
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
        assert_eq!(connect_args(&t[0]), ["-c", "port=usb1"]);
        assert!(select(&Selection::All, None, &[], SelectBy::Serial).is_err());
    }

    #[test]
    fn auto_uses_serials_when_several_boards_are_listed() {
        let t = select(&Selection::Ports(vec![2]), Some(&three()), &[], SelectBy::Auto).unwrap();
        assert_eq!(connect_args(&t[0]), ["-c", "port=usb", "sn=0019002C3431511733353431"]);
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
    fn by_usb_path() {
        let sys = |path: &str, bus, address| SysfsDevice {
            path: path.into(),
            bus,
            address,
            vendor: crate::flash::devices::ST_VENDOR,
            product_id: crate::flash::devices::DFU_PRODUCT,
            serial: None,
            product: None,
        };
        let sysfs = [sys("3-1", 3, 3), sys("3-2", 3, 4)];
        let t = select(&Selection::UsbPaths(vec!["3-2".into()]), Some(&three()), &sysfs, SelectBy::Auto).unwrap();
        assert_eq!((t[0].index, t[0].usb.as_ref().and_then(|u| u.path.as_deref())), (Some(2), Some("3-2")));
        assert_eq!(connect_args(&t[0]), ["-c", "port=usb", "sn=0019002C3431511733353431"], "several listed: by serial number");
        let e = select(&Selection::UsbPaths(vec!["1-9".into()]), Some(&three()), &sysfs, SelectBy::Auto).unwrap_err();
        assert_eq!(e.to_string(), "no board at USB path 1-9 in USB DFU mode (listed: 3-1 (usb1), 3-2 (usb2), usb3 (no USB path))");
        assert_eq!(select(&Selection::UsbPaths(vec!["3-1".into()]), None, &sysfs, SelectBy::Auto), Err(SelectError::NeedListing("by USB path")));
    }
}
