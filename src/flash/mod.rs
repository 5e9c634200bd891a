//! Flashing boards: choosing them, the job decided before anything is sent, the seam its back ends plug into, their
//! progress events and verdicts, advice for known failures, the traceability record and the text people read.
//!
//! Pure: no `std::fs`, `std::process` or `std::env` here. Reading the layout and its files, running the programmer,
//! the built-in USB DFU client, scanning sysfs and USB, the runner, logs and records live in `effects::{flash_job,
//! programmer, builtin, usb_dfu, process, usb, fleet, flashlog, flash_progress}`; the commands in `cli::{flash,
//! devices, udev_rules}`.
//!
//! A reader's map:
//! * [`select`]: which boards (by index, serial number, USB path, all, or the only one) and how each is addressed;
//! * [`job`]: the [`job::FlashJob`]: layout, partitions, files, bytes, digests, boards, steps, schedule, logs, records;
//! * [`backend`]: the [`backend::Backend`] trait and what a back end reports ([`FlashEvent`], [`backend::BoardEnd`]);
//! * [`builtin`]: the built-in USB DFU client's plan: a layout's files by stage, the protocol core's job, its steps,
//!   bounds, events and verdicts;
//! * [`cubeprog`]: ST's `STM32_Programmer_CLI`: its arguments, and its output read (lines, parser, transcript, verdict,
//!   `-l usb`, version);
//! * [`devices`]: boards in DFU mode on USB (sysfs, USB paths, stage and SoC names);
//! * [`verdict`], [`hints`], [`records`], [`report`]: the result of a board, advice, the JSON Lines record, text.
//!
//! # Events
//!
//! Progress is reported as [`Event`]s, each carrying the [`BoardId`] it is about. For one `flash` run the order is:
//!
//! * one [`EventKind::Queued`] per board, in board order, before any board starts;
//! * then, per board (boards interleave): [`EventKind::Started`] when its back end starts on it (boards that are
//!   never handed to the back end skip it), any number of [`EventKind::Flash`] in the order the back end reported
//!   them, and exactly one [`EventKind::Finished`], always last.

pub mod backend;
pub mod builtin;
pub mod cubeprog;
pub mod devices;
mod event;
pub mod hints;
pub mod job;
pub mod records;
pub mod report;
pub mod select;
pub mod verdict;

pub use event::{BoardId, Event, EventKind, FlashEvent, partition_hex};
pub use verdict::{ResultKind, Verdict};

#[cfg(test)]
macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../tests/fixtures/programmer/", $name)))),*]
    };
}

/// The programmer fixtures the unit tests read (embedded: this module does no I/O, even in tests).
#[cfg(test)]
const FIXTURES: &[(&str, &str)] = fixtures!(
    "success_guide_v2.2.0.txt",
    "start_fail_0x01_exit1.txt",
    "start_fail_0x01_exit0.txt",
    "start_fail_0x01_v2.11.0.txt",
    "vanish_mid_transfer.txt",
    "hang_mid_transfer.txt",
    "bad_state_empty_descriptors.txt",
    "list_usb_0.txt",
    "list_usb_1.txt",
    "list_usb_3.txt",
    "version_2.11.0.txt",
    "version_banner_2.2.0.txt",
    "version_banner_2.2.1.txt",
);

/// A test fixture's text without its notes (`#|`) and the double's directives (`@`).
#[cfg(test)]
pub(crate) fn test_fixture(name: &str) -> String {
    let text = FIXTURES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).unwrap_or_else(|| panic!("no fixture {name}"));
    text.lines().filter(|l| !l.starts_with("#|") && !l.starts_with('@')).map(|l| format!("{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixture_versions_parse() {
        use super::{cubeprog::version, test_fixture};
        assert_eq!(version::parse_output(&test_fixture("version_2.11.0.txt")), Some(version::Version::new(2, 11, 0)));
        assert_eq!(version::parse_output(&test_fixture("version_banner_2.2.0.txt")), Some(version::Version::new(2, 2, 0)));
        let bad = version::parse_output(&test_fixture("version_banner_2.2.1.txt")).unwrap();
        assert!(version::known_bad(bad).is_some());
    }
}
