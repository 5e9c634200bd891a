//! Progress as the runner and the display see it, whichever back end flashes: [`Event`]s, each about one board
//! ([`BoardId`]), in the order documented in `crate::flash`.
//!
//! Pure.

use std::time::Duration;

use super::verdict::Verdict;

/// Which board an event is about: its position in the job's board list.
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

/// What happened (see `crate::flash` for the order).
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
    /// The back end started on this board.
    Started {
        /// What it runs, for humans (ST's programmer: its command line; the process is started without a shell).
        command: String,
    },
    /// What the back end reported.
    Flash(FlashEvent),
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

/// What a back end reports about one board while it flashes it (ST's programmer: derived from its output by
/// `cubeprog::transcript`; the built-in client: from the protocol itself).
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
    /// A file was sent whole (`File download complete`).
    Sent {
        /// The phase/partition id.
        partition: Option<u8>,
        /// The file name.
        file: String,
        /// Its bytes (0 when its size is unknown).
        bytes: u64,
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
    /// An `Error:` line (or the device's error text).
    ProgrammerError {
        /// The whole line.
        text: String,
    },
    /// `Flashing service completed successfully`.
    Completed,
}

/// Format a phase id as the programmer does (`0x01`).
#[must_use]
pub fn partition_hex(id: u8) -> String {
    format!("{id:#04x}")
}
