//! The seam between the shared flashing machinery and what talks to the boards. The job ([`super::job`]), the runner
//! (`effects::fleet`: schedule, per-board logs, `flash-records.jsonl`, events for the display), the final table and
//! the exit status are the same whatever flashes; a [`Backend`] only lists boards, says what it will do to each
//! board ([`Step`]s, fixed when the job is built, shown by `flash --dry-run`), flashes one board at a time when the
//! runner asks, reporting [`FlashEvent`]s and raw lines to a [`BoardReport`], and judges it ([`BoardEnd`]).
//!
//! Back ends: ST's `STM32_Programmer_CLI` (`effects::programmer::CubeProgrammer`: one process per board, its output
//! read by `cubeprog`), and the built-in USB DFU client (`effects::builtin::Builtin`, planned by `super::builtin`):
//! its steps are the stages and partitions it sends itself (ROM → TF-A → U-Boot `stm32prog`, GetPhase/DNLOAD per
//! partition); it follows a board by its USB path ([`super::devices::UsbLocation::path`]) across re-enumerations and
//! reports the same events.
//!
//! Pure: traits and values; the implementations are effects.

use std::{fmt, path::PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    FlashEvent,
    devices::DfuDevice,
    job::{FlashJob, JobBoard, JobLayout},
    records::ProgrammerInfo,
    select::Target,
    verdict::Verdict,
};
use crate::cancel::Cancel;

/// Which back end flashed a board (in every record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// ST's `STM32_Programmer_CLI`.
    Stm32CubeProgrammer,
    /// The built-in USB DFU client (`crate::dfu` on `nusb`).
    Builtin,
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Via::Stm32CubeProgrammer => "stm32cubeprogrammer",
            Via::Builtin => "builtin",
        })
    }
}

/// What a back end says about itself, for the job, the logs and the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// Which one.
    pub via: Via,
    /// For people: `STM32CubeProgrammer 2.11.0`.
    pub name: String,
    /// The program it runs and its version (in the records).
    pub programmer: ProgrammerInfo,
}

/// One thing a back end does to a board, fixed when the job is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Run a program (never through a shell) from a folder.
    Run {
        /// The executable.
        program: PathBuf,
        /// Its arguments.
        args: Vec<String>,
        /// Its working folder.
        cwd: PathBuf,
    },
    /// What the built-in USB DFU client does at one boot stage of the board (or around them).
    Dfu {
        /// Who answers: `ROM`, `TF-A`, `U-Boot`, or `USB` for the connection itself and `end` for the last step.
        stage: String,
        /// What is sent or done there, in one line.
        action: String,
    },
}

impl Step {
    /// The step as one line for people and logs: the command line for a program, `stage: action` for a DFU step.
    #[must_use]
    pub fn command_line(&self) -> String {
        match self {
            Step::Run { program, args, .. } => {
                let mut line = program.display().to_string();
                for a in args {
                    line.push(' ');
                    line.push_str(a);
                }
                line
            }
            Step::Dfu { stage, action } => format!("{stage}: {action}"),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Run { cwd, .. } => write!(f, "run `{}` in {}", self.command_line(), cwd.display()),
            Step::Dfu { .. } => f.write_str(&self.command_line()),
        }
    }
}

/// What the back end's discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The boards in USB DFU mode, in the back end's order; `Err` says why they could not be listed.
    pub boards: Result<Vec<DfuDevice>, String>,
    /// Anything odd in the listing, worth a warning.
    pub warnings: Vec<String>,
}

/// What a back end hands back for one board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardEnd {
    /// The judgement.
    pub verdict: Verdict,
    /// The serial number the device reported while it was flashed, if it did.
    pub serial: Option<String>,
    /// Bytes sent to the board, as far as the back end knows.
    pub bytes_sent: u64,
    /// How the back end's work ended, for the board's log (`programmer: exited with status 0`).
    pub end: String,
}

/// Where a back end reports what happens to the board it flashes. The runner implements it: it shows the events,
/// keeps each partition's bytes and time for the record, and writes the board's log.
pub trait BoardReport {
    /// A progress event, in the order it happened.
    fn event(&mut self, event: FlashEvent);
    /// One line of raw output for the board's log: `source` says where it came from (`out`, `err`; the built-in
    /// client: `usb`), `redraw` marks a line redrawn in place (a progress bar).
    fn output(&mut self, source: &str, text: &str, redraw: bool);
}

/// A way to flash boards.
pub trait Backend: Sync {
    /// Which back end, and its program and version.
    fn info(&self) -> BackendInfo;

    /// The boards in USB DFU mode (ST's programmer: `-l usb`, a query that leaves the boards as they are).
    fn discover(&self) -> Discovery;

    /// What flashing `target` with `layout` will do, fixed when the job is built. No I/O.
    fn steps(&self, layout: &JobLayout, target: &Target) -> Vec<Step>;

    /// What the runner shows when it starts on `board` (the `started:` line and the log's `command:`): by default
    /// its steps, one after the other.
    fn start_line(&self, board: &JobBoard) -> String {
        board.steps.iter().map(Step::command_line).collect::<Vec<_>>().join("; ")
    }

    /// Flash one board of `job` by its steps (`board.steps`), reporting to `report`; no stage may go longer than
    /// `job.stage_timeout` without progress; stop soon after `cancel` is raised.
    fn flash(&self, job: &FlashJob, board: &JobBoard, cancel: &Cancel, report: &mut dyn BoardReport) -> BoardEnd;
}
