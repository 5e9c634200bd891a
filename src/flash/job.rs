//! The flashing job, decided before anything is sent to a board: the layout and the partitions it sends (id, name,
//! file, bytes, SHA-256), the bytes per board, the boards chosen and how each is addressed, the schedule (how many at
//! once, how far apart), the per-stage timeout, where the logs and the records go, and the exact steps the back end
//! will take for each board. `flash --dry-run` prints it; the runner (`effects::fleet`) executes it.
//!
//! Pure: built from values the effects gathered (`effects::flash_job`: the layout read, linted and hashed, the boards
//! listed) and from the back end's pure [`Backend::steps`].

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use super::{
    BoardId,
    backend::{Backend, BackendInfo, Step},
    records::{FileDigest, RECORDS_FILE},
    select::Target,
};
use crate::flashlayout::{Ip, LayoutLine};

/// A binary the layout makes the back end send.
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
    /// Whether a boot stage loads it into RAM (IP `none`: the FSBL, the DDR firmware, the SSBL/FIP) rather than
    /// U-Boot writing it to a device.
    pub ram: bool,
}

/// The binaries a layout sends: RAM-loaded stages (IP `none`) and lines selected for programming that are not to be
/// left empty (`P`, `PD`; not `PE`, not `-` on a device).
#[must_use]
pub fn sent_binaries(lines: &[LayoutLine]) -> Vec<SentBinary> {
    lines
        .iter()
        .filter(|l| l.ip == Ip::None || (l.opt.select && !l.opt.empty))
        .filter_map(|l| {
            l.binary.as_ref().map(|b| SentBinary { id: l.id, partition: l.name.clone(), binary: b.clone(), line: l.line, ram: l.ip == Ip::None })
        })
        .collect()
}

/// A layout binary's path: absolute as written, else relative to the layout's folder.
#[must_use]
pub fn binary_path(layout_dir: &Path, binary: &str) -> PathBuf {
    let p = Path::new(binary);
    if p.is_absolute() { p.to_path_buf() } else { layout_dir.join(p) }
}

/// One partition (or RAM-loaded stage) the layout sends, with its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPartition {
    /// The phase/partition id (`0x01`).
    pub id: u32,
    /// Its name in the layout.
    pub name: String,
    /// The layout line.
    pub line: usize,
    /// Whether a boot stage loads it into RAM (IP `none`) rather than U-Boot writing it to a device.
    pub ram: bool,
    /// The file: the name the layout gives, the absolute path, its bytes and SHA-256.
    pub file: FileDigest,
}

/// The layout a job sends, checked and hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLayout {
    /// As the user named it.
    pub shown: String,
    /// Its folder, absolute: the layout's binaries are found there, and ST's programmer runs there.
    pub dir: PathBuf,
    /// Its file name (`flash.tsv`).
    pub file_name: String,
    /// Its own digest.
    pub digest: FileDigest,
    /// What it sends, in layout order.
    pub partitions: Vec<JobPartition>,
}

impl JobLayout {
    /// Every file it sends once, in layout order.
    #[must_use]
    pub fn binaries(&self) -> Vec<FileDigest> {
        let mut out: Vec<FileDigest> = Vec::new();
        for p in &self.partitions {
            if !out.iter().any(|d| d.name == p.file.name) {
                out.push(p.file.clone());
            }
        }
        out
    }

    /// The bytes each board is sent (a file sent to two partitions counts twice).
    #[must_use]
    pub fn bytes_per_board(&self) -> u64 {
        self.partitions.iter().map(|p| p.file.size).sum()
    }

    /// The files' sizes by the name the layout gives them.
    #[must_use]
    pub fn sizes(&self) -> BTreeMap<String, u64> {
        self.partitions.iter().map(|p| (p.file.name.clone(), p.file.size)).collect()
    }

    /// The partition with this id.
    #[must_use]
    pub fn partition(&self, id: u32) -> Option<&JobPartition> {
        self.partitions.iter().find(|p| p.id == id)
    }
}

/// How the boards are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// At most this many boards at once.
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

/// Keep letters, digits, `-`, `_` and `.` (for file names made of labels and serial numbers).
#[must_use]
pub fn file_safe(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

/// One board of the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobBoard {
    /// Its place in the job (events name it).
    pub id: BoardId,
    /// The selection's result: index, serial number, USB location, how it is addressed, or why it is not flashed.
    pub target: Target,
    /// Short name for messages (`usb1`).
    pub label: String,
    /// What the back end will do (empty for a blocked board).
    pub steps: Vec<Step>,
    /// Its log file's name in the log folder, without `.log` (`-2`, … is added if it exists); `None` for a
    /// blocked board, which gets a record but no log.
    pub log_name: Option<String>,
}

/// What the caller decides besides the layout and the boards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOptions {
    /// At most this many boards at once.
    pub jobs: usize,
    /// At least this long between two starts.
    pub stagger: Duration,
    /// How long a stage may go without progress.
    pub stage_timeout: Duration,
    /// Where logs and records go (absolute).
    pub log_dir: PathBuf,
    /// The run's id, in every record.
    pub run_id: String,
    /// The run's stamp, at the start of every log file name (`20250101T120000Z`).
    pub run_stamp: String,
}

/// Everything a flash run will do, before it does it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashJob {
    /// The layout and what it sends.
    pub layout: JobLayout,
    /// The back end.
    pub backend: BackendInfo,
    /// The boards, in selection order.
    pub boards: Vec<JobBoard>,
    /// How they are run.
    pub schedule: Schedule,
    /// Why the schedule differs from what was asked.
    pub notes: Vec<String>,
    /// How long a stage may go without progress.
    pub stage_timeout: Duration,
    /// Where logs and records go.
    pub log_dir: PathBuf,
    /// The records file.
    pub records: PathBuf,
    /// The run's id.
    pub run_id: String,
}

impl FlashJob {
    /// The bytes each board is sent.
    #[must_use]
    pub fn bytes_per_board(&self) -> u64 {
        self.layout.bytes_per_board()
    }

    /// A board's log file as the job intends it (a `-2`, … suffix is added at run time if it exists).
    #[must_use]
    pub fn log_path(&self, board: &JobBoard) -> Option<PathBuf> {
        board.log_name.as_ref().map(|n| self.log_dir.join(format!("{n}.log")))
    }
}

/// Build the job: each target's steps from the back end, its log name, and the schedule.
#[must_use]
pub fn build(layout: JobLayout, targets: Vec<Target>, backend: &dyn Backend, options: &JobOptions) -> FlashJob {
    let (schedule, notes) = schedule(&targets, options.jobs, options.stagger);
    let boards = targets
        .into_iter()
        .enumerate()
        .map(|(i, target)| {
            let label = target.label();
            let runnable = target.blocked.is_none();
            let steps = if runnable { backend.steps(&layout, &target) } else { Vec::new() };
            let log_name = runnable.then(|| {
                let name = match &target.serial {
                    Some(sn) if target.port().is_some() => format!("{}-{label}-{sn}", options.run_stamp),
                    _ => format!("{}-{label}", options.run_stamp),
                };
                file_safe(&name)
            });
            JobBoard { id: BoardId(i), target, label, steps, log_name }
        })
        .collect();
    FlashJob {
        backend: backend.info(),
        layout,
        boards,
        schedule,
        notes,
        stage_timeout: options.stage_timeout,
        records: options.log_dir.join(RECORDS_FILE),
        log_dir: options.log_dir.clone(),
        run_id: options.run_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::{
        cubeprog::listing::parse_list,
        select::{SelectBy, Selection, select},
        test_fixture as fixture,
    };

    fn three() -> Vec<crate::flash::devices::DfuDevice> {
        parse_list(&fixture("list_usb_3.txt")).devices
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
    fn the_guides_layout_sends_three_files() {
        let tsv = "#Opt\tId\tName\tType\tIP\tOffset\tBinary\n-\t0x01\tfsbl1-boot\tBinary\tnone\t0x0\ttf-a-stm32mp157c-dk2.stm32\n\
-\t0x03\tssbl-boot\tBinary\tnone\t0x0\tu-boot.stm32\nP\t0x10\tsdcard\tRawImage\tmmc0\t\t0x0\tsdcard.img\n\
PE\t0x11\tempty\tFileSystem\tmmc0\t0x40000000\tnone\n-\t0x12\tskipped\tFileSystem\tmmc0\t0x50000000\tskipped.ext4\n";
        let parsed = crate::flashlayout::parse("flash.tsv", tsv.as_bytes());
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        let sent: Vec<String> = sent_binaries(&parsed.lines).into_iter().map(|b| format!("{:#04x} {}", b.id, b.binary)).collect();
        assert_eq!(sent, ["0x01 tf-a-stm32mp157c-dk2.stm32", "0x03 u-boot.stm32", "0x10 sdcard.img"]);
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_safe("a/b c"), "a_b_c");
        assert_eq!(file_safe("20250101T120000Z-usb1-0042"), "20250101T120000Z-usb1-0042");
    }
}
