//! The hand-off to ST's `STM32_Programmer_CLI`: choosing boards, reading the programmer's output, judging each run,
//! advice for known failures, and the traceability record.
//!
//! Pure: no `std::fs`, `std::process` or `std::env` here. Running the programmer, scanning sysfs, writing logs and
//! records live in `effects::{programmer, usb, fleet, flashlog, flash_progress}`; the commands in `cli::{flash,
//! devices, udev_rules}`.
//!
//! **What this is verified against.** `STM32_Programmer_CLI` is closed and cannot be installed here. Everything in
//! this module was written from, and is tested against, published transcripts only: the guide's v2.2.0 session
//! (`shared/reference/000_7159536dc5b6d5cf.txt`: `-l usb`, a full success run with a reconnect, a user's TF-A start
//! failure) and the v2.11.0 mailing-list session summarised in `flashers.md` §1.2. The test double
//! `tests/doubles/fake_stm32_programmer_cli.py` replays those texts. Not verified on a board: `sn=` selection for
//! the MPU flow, the real timing of each stage, re-enumeration between stages with several boards, the exact text
//! and exit status of newer versions, what the programmer prints when a device vanishes, how it reacts to SIGTERM.
//! `docs/flashing.md` keeps the full list.
//!
//! # Events
//!
//! Progress is reported as [`Event`]s, each carrying the [`BoardId`] it is about. For one `flash` run the order is:
//!
//! * one [`EventKind::Queued`] per board, in board order, before any board starts;
//! * then, per board (boards interleave): [`EventKind::Started`] when its programmer is spawned (boards that are
//!   never handed to the programmer skip it), any number of [`EventKind::Programmer`] in the order the programmer
//!   printed them, and exactly one [`EventKind::Finished`], always last.

pub mod devices;
pub mod hints;
pub mod output;
pub mod plan;
pub mod records;
pub mod report;
pub mod version;

use std::time::Duration;

pub use output::{FlashEvent, ResultKind, Verdict};

/// Which board an event is about: its position in the run's board list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoardId(pub usize);

/// Something that happened to one board.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The board.
    pub board: BoardId,
    /// What happened.
    pub kind: EventKind,
}

/// What happened (see the module docs for the order).
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The board is part of the run.
    Queued {
        /// Short name (`usb1`).
        label: String,
        /// Serial number, when known.
        serial: Option<String>,
        /// USB location, as text.
        usb: Option<String>,
        /// Bytes the layout sends to each board.
        total_bytes: u64,
    },
    /// The programmer was started for this board.
    Started {
        /// The command line, for humans (the process is started without a shell).
        command: String,
    },
    /// What the programmer reported.
    Programmer(FlashEvent),
    /// The board's result; the last event for it.
    Finished {
        /// The judgement.
        verdict: Verdict,
        /// Time from start to end (zero if never started).
        duration: Duration,
        /// Bytes sent.
        bytes_sent: u64,
    },
}

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
        use super::{test_fixture, version};
        assert_eq!(version::parse_output(&test_fixture("version_2.11.0.txt")), Some(version::Version::new(2, 11, 0)));
        assert_eq!(version::parse_output(&test_fixture("version_banner_2.2.0.txt")), Some(version::Version::new(2, 2, 0)));
        let bad = version::parse_output(&test_fixture("version_banner_2.2.1.txt")).unwrap();
        assert!(version::known_bad(bad).is_some());
    }
}
