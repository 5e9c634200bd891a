//! The built-in USB DFU client as a flashing back end ([`Builtin`]): boards listed straight from USB (`nusb`), and
//! each board flashed by the pure protocol core (`crate::dfu`: ROM → TF-A → U-Boot `stm32prog`, GetPhase, DNLOAD per
//! partition) through `effects::usb_dfu`, followed by its USB path (and serial number) across its re-enumerations.
//! The plan, the events and the verdicts are `crate::flash::builtin`'s; this module reads files and runs the core.
//!
//! Verified end to end against `stm32mp-emu` (emulated ROM, TF-A and U-Boot stages written from their sources)
//! through a real Linux USB stack (`tests/usb_vm.rs` in a QEMU guest, `vhci_hcd`), not against a real board.

use std::{
    fs::File,
    io::Read,
    path::{Path, PathBuf},
};

use super::{
    flash_job::hash_reader,
    usb_dfu::{self, FileImages, UsbDfuBoard, UsbSettings},
};
use crate::{
    board::Soc,
    cancel::Cancel,
    dfu::{self, Sequencer, UsbPath},
    flash::{
        backend::{Backend, BackendInfo, BoardEnd, BoardReport, Discovery, Step, Via},
        builtin::{self, Tracker, soc_of_fsbl},
        devices::DfuDevice,
        job::{FlashJob, JobBoard, JobLayout},
        records::ProgrammerInfo,
        select::Target,
        verdict::{ResultKind, Verdict},
    },
    inputs::stm32,
};

/// What the records say ran: no external program.
pub const BUILTIN_PATH: &str = "built-in";

/// The built-in client.
#[derive(Debug, Clone, Default)]
pub struct Builtin {
    soc: Option<Soc>,
    settings: UsbSettings,
}

/// Why the SoC of a layout's FSBL is not known.
#[derive(Debug, thiserror::Error)]
pub enum FsblSocError {
    /// The file could not be read.
    #[error("cannot read the FSBL {}: {source}", path.display())]
    Read {
        /// The FSBL.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No valid STM32 header.
    #[error("the FSBL {} has no valid STM32 header ({reason}): the ROM would refuse it; use TF-A's `.stm32` image built for USB", path.display())]
    Header {
        /// The FSBL.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A header version no STM32MP ROM takes.
    #[error("the FSBL {} has STM32 header v{major}.{minor}, which names no STM32MP13/15/25", path.display())]
    Version {
        /// The FSBL.
        path: PathBuf,
        /// Header version, major.
        major: u8,
        /// Header version, minor.
        minor: u8,
    },
}

/// Read an FSBL's STM32 header and say which SoC it is for.
pub fn fsbl_soc(path: &Path) -> Result<Soc, FsblSocError> {
    let mut head = Vec::with_capacity(512);
    File::open(path).and_then(|f| f.take(512).read_to_end(&mut head)).map_err(|source| FsblSocError::Read { path: path.to_path_buf(), source })?;
    let header = stm32::parse_header(&head).map_err(|e| FsblSocError::Header { path: path.to_path_buf(), reason: e.to_string() })?;
    soc_of_fsbl(header.version).ok_or(FsblSocError::Version { path: path.to_path_buf(), major: header.version.major, minor: header.version.minor })
}

impl Builtin {
    /// The client, for a layout whose FSBL is for `soc` (see [`fsbl_soc`]); `None` reads it when a board is flashed.
    #[must_use]
    pub fn new(soc: Option<Soc>) -> Builtin {
        Builtin { soc, settings: UsbSettings::default() }
    }

    /// The SoC the job's FSBL is for, as given or read now.
    fn soc(&self, layout: &JobLayout) -> Result<Soc, String> {
        if let Some(s) = self.soc {
            return Ok(s);
        }
        let plan = builtin::stages(layout, None).map_err(|e| e.to_string())?;
        fsbl_soc(Path::new(&plan.fsbl.file.path)).map_err(|e| e.to_string())
    }
}

/// A board as the scan saw it, in the shape the selection reads (index = place in USB path order, from 1).
fn listed(index: usize, raw: &dfu::RawDevice) -> DfuDevice {
    let product = raw.product.clone().unwrap_or_default();
    let device_id = dfu::descriptors::Product::parse(&product).device_id.map(|id| format!("{id:#06x}")).unwrap_or_default();
    DfuDevice {
        index: u32::try_from(index + 1).unwrap_or(u32::MAX),
        bus: raw.connection.map(|c| u16::from(c.bus)),
        address: raw.connection.map(|c| u16::from(c.address)),
        product,
        serial: raw.serial.clone().unwrap_or_default(),
        firmware: String::new(),
        device_id,
        usb_path: raw.path.as_ref().map(|p| p.as_str().to_string()),
    }
}

fn failed(error: String, end: &str) -> BoardEnd {
    BoardEnd { verdict: Verdict::not_run(ResultKind::Failed, error, None), serial: None, bytes_sent: 0, end: format!("built-in client: {end}") }
}

fn sha256_hex(mut bytes: &[u8]) -> String {
    hash_reader(&mut bytes).map(|(_, sha256)| sha256).unwrap_or_default()
}

impl Backend for Builtin {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            via: Via::Builtin,
            name: format!("the built-in USB DFU client (stm32mp-imager {})", env!("CARGO_PKG_VERSION")),
            programmer: ProgrammerInfo { path: BUILTIN_PATH.to_string(), version: Some(env!("CARGO_PKG_VERSION").to_string()) },
        }
    }

    fn discover(&self) -> Discovery {
        match usb_dfu::present() {
            Ok(raws) => Discovery { boards: Ok(raws.iter().enumerate().map(|(i, r)| listed(i, r)).collect()), warnings: Vec::new() },
            Err(e) => Discovery { boards: Err(format!("cannot list the USB devices: {e}")), warnings: Vec::new() },
        }
    }

    fn steps(&self, layout: &JobLayout, target: &Target) -> Vec<Step> {
        builtin::steps(layout, self.soc, target)
    }

    fn start_line(&self, board: &JobBoard) -> String {
        let at = board.target.usb_path().unwrap_or("(unknown USB path)");
        match self.soc {
            Some(soc) => format!("built-in USB DFU client, board at USB path {at}, {}", soc.label()),
            None => format!("built-in USB DFU client, board at USB path {at}"),
        }
    }

    fn flash(&self, job: &FlashJob, board: &JobBoard, cancel: &Cancel, report: &mut dyn BoardReport) -> BoardEnd {
        let soc = match self.soc(&job.layout) {
            Ok(s) => s,
            Err(e) => return failed(e, "not started"),
        };
        let tsv = match std::fs::read(&job.layout.digest.path) {
            Ok(b) => b,
            Err(e) => return failed(format!("cannot read the layout {}: {e}", job.layout.digest.path), "not started"),
        };
        if sha256_hex(&tsv) != job.layout.digest.sha256 {
            return failed(format!("the layout {} changed since the job was made; run again", job.layout.digest.path), "not started");
        }
        let (board_job, files) = match builtin::board_job(&job.layout, tsv, soc) {
            Ok(j) => j,
            Err(e) => return failed(e.to_string(), "not started"),
        };
        let mut images = match FileImages::open(&files) {
            Ok(i) => i,
            Err(e) => return failed(e, "not started"),
        };
        let Some(usb_path) = board.target.usb_path() else {
            return failed(format!("{} has no USB port path to follow it by", board.label), "not started");
        };
        let usb_path = match UsbPath::parse(usb_path) {
            Ok(p) => p,
            Err(e) => return failed(e.to_string(), "not started"),
        };
        let mut sequencer = match Sequencer::new(board_job, builtin::timing(job.stage_timeout)) {
            Ok(s) => s,
            Err(e) => return failed(e.to_string(), "not started"),
        };
        report.output("usb", &format!("opening the board at USB path {usb_path}"), false);
        let mut transport = match UsbDfuBoard::open(&usb_path, board.target.serial.as_deref(), self.settings, cancel) {
            Ok(t) => t,
            Err(_) if cancel.is_cancelled() => {
                let verdict = Verdict::not_run(ResultKind::Interrupted, format!("USB path {usb_path}: interrupted while opening the board"), None);
                return BoardEnd { verdict, serial: None, bytes_sent: 0, end: "built-in client: interrupted before anything was sent".into() };
            }
            Err(e) => return failed(format!("USB path {usb_path}: {e}"), "the board could not be opened"),
        };
        let mut tracker = Tracker::new();
        let result = dfu::drive(
            &mut sequencer,
            &mut transport,
            &mut images,
            &mut |event| {
                let (events, line) = tracker.map(&event);
                report.output("usb", &line, false);
                for e in events {
                    report.event(e);
                }
            },
            &|| cancel.is_cancelled(),
        );
        drop(transport);
        let mut verdict = builtin::verdict(&result);
        if verdict.is_success()
            && let Err(e) = images.recheck(&files)
        {
            // Rewritten in place while it was sent: the board may hold other bytes than the record names.
            report.output("usb", &format!("after flashing: {e}"), false);
            verdict = Verdict { result: ResultKind::Failed, error: Some(e), hint: None, ..verdict };
        }
        let end = match &result {
            Ok(summary) => {
                let stages: Vec<String> = summary.stages.iter().map(ToString::to_string).collect();
                format!("built-in client: done, stages {}, {} phases sent, {} bytes", stages.join(" → "), summary.phases.len(), summary.bytes.get())
            }
            Err(e) => {
                report.output("usb", &format!("failed: {e}"), false);
                format!("built-in client: {}", verdict.result)
            }
        };
        let serial = match &result {
            Ok(s) => s.serial.clone(),
            Err(_) => None,
        }
        .or_else(|| tracker.serial().map(str::to_string));
        BoardEnd { verdict, serial, bytes_sent: tracker.bytes_done(), end }
    }
}
