//! The traceability record: one JSON object per board and run, appended as one line to `flash-records.jsonl`.
//!
//! Pure: the type and its serialisation. Appending is `effects::flashlog`. Field names are a contract with the
//! tools that read the file (MES, spreadsheets); `schema` changes when a field changes meaning or goes away. New
//! fields may be added within a schema version.

use serde::{Deserialize, Serialize};

use super::{backend::Via, devices::UsbLocation, verdict::ResultKind};

/// The records file's name, in the log folder.
pub const RECORDS_FILE: &str = "flash-records.jsonl";
/// The current record schema.
pub const SCHEMA: u32 = 1;

/// A file and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// The name as the layout gives it (binaries) or the path as given on the command line (the layout).
    pub name: String,
    /// The absolute path that was read.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// The programmer used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammerInfo {
    /// Its path.
    pub path: String,
    /// Its version (`2.11.0`), when it could be read.
    pub version: Option<String>,
}

/// What one partition (or RAM-loaded stage) of the layout took on one board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionRecord {
    /// The phase/partition id (`0x01`).
    pub id: String,
    /// Its name in the layout, when the id is the layout's.
    pub name: Option<String>,
    /// The file as the back end named it.
    pub file: String,
    /// Bytes of it sent.
    pub bytes_sent: u64,
    /// Seconds from its first byte to its last (or to the end of the run, if it was not sent whole).
    pub seconds: f64,
    /// Whether it was sent whole.
    pub complete: bool,
}

/// One board in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlashRecord {
    /// Record schema version ([`SCHEMA`]).
    pub schema: u32,
    /// When the board's result was known (RFC 3339, UTC).
    pub time: String,
    /// When the programmer was started for this board (RFC 3339, UTC; `None` if it never was).
    pub started: Option<String>,
    /// Seconds the board took (0 if never started).
    pub duration_s: f64,
    /// Identifies the run (all boards of one `flash` command share it).
    pub run: String,
    /// The board's serial number (the ROM's 96-bit UID on STM32MP1), as the programmer reported it.
    pub board_serial: Option<String>,
    /// The programmer's index when the board was selected (`usb1`); not a physical place.
    pub port: Option<String>,
    /// Bus, address and sysfs port path.
    pub usb: Option<UsbLocation>,
    /// The flash layout.
    pub layout: FileDigest,
    /// Every binary the layout sends, in layout order.
    pub binaries: Vec<FileDigest>,
    /// Which back end flashed it.
    pub via: Via,
    /// The programmer.
    pub programmer: ProgrammerInfo,
    /// Its arguments (run from the layout's folder).
    pub args: Vec<String>,
    /// `success`, `failed`, `timeout` or `interrupted`.
    pub result: ResultKind,
    /// The partition (phase id, `0x01`) the failure happened at.
    pub partition: Option<String>,
    /// What went wrong (`None` on success).
    pub error: Option<String>,
    /// The programmer's `Error:` lines, verbatim.
    pub programmer_errors: Vec<String>,
    /// Advice for a known cause.
    pub hint: Option<String>,
    /// The programmer's exit status, when it exited by itself.
    pub exit_status: Option<i32>,
    /// Bytes of the layout's binaries sent, as far as the programmer's progress showed.
    pub bytes_sent: u64,
    /// Each partition the board was sent, in the order it was sent, with its bytes and time.
    pub partitions: Vec<PartitionRecord>,
    /// This board's log file.
    pub log: Option<String>,
    /// Anything else worth keeping (e.g. a serial mismatch).
    pub notes: Vec<String>,
    /// `stm32mp-imager X.Y.Z`.
    pub tool: String,
}

impl FlashRecord {
    /// The record as one JSON line, newline included.
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"schema\":{SCHEMA},\"error\":\"record not serialisable: {e}\"}}"));
        line.push('\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_round_trip() {
        let r = FlashRecord {
            schema: SCHEMA,
            time: "2025-01-01T12:00:00.000Z".into(),
            started: Some("2025-01-01T11:55:00.000Z".into()),
            duration_s: 300.0,
            run: "r".into(),
            board_serial: Some("004200343338510534383330".into()),
            port: Some("usb1".into()),
            usb: Some(UsbLocation { bus: 3, address: 3, path: Some("3-1".into()) }),
            layout: FileDigest { name: "flash.tsv".into(), path: "/x/flash.tsv".into(), size: 10, sha256: "00".into() },
            binaries: vec![],
            via: Via::Stm32CubeProgrammer,
            programmer: ProgrammerInfo { path: "/p".into(), version: Some("2.11.0".into()) },
            args: vec!["-c".into(), "port=usb1".into()],
            result: ResultKind::Failed,
            partition: Some("0x01".into()),
            error: Some("multi\nline \"quoted\"".into()),
            programmer_errors: vec![],
            hint: None,
            exit_status: Some(1),
            bytes_sent: 237_161,
            partitions: vec![PartitionRecord {
                id: "0x01".into(),
                name: Some("fsbl1-boot".into()),
                file: "tf-a.stm32".into(),
                bytes_sent: 237_161,
                seconds: 0.444,
                complete: true,
            }],
            log: None,
            notes: vec![],
            tool: "stm32mp-imager 0.1.0".into(),
        };
        let line = r.to_line();
        assert_eq!(line.matches('\n').count(), 1, "exactly one line: {line}");
        assert!(line.contains("\"result\":\"failed\""));
        assert!(line.contains("\"via\":\"stm32cubeprogrammer\""), "{line}");
        let back: FlashRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
    }
}
