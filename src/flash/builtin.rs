//! The built-in USB DFU back end's pure side: which file of a layout goes to which boot stage and partition (the
//! [`BoardJob`] the protocol core runs), the steps `flash --dry-run` shows for it, the protocol's bounds from the
//! stage timeout, the core's events as the runner's [`FlashEvent`]s and log lines, and the verdict on a board.
//!
//! Pure. The effects (`effects::builtin`) read the FSBL's header and the layout, open the board on USB and run
//! [`crate::dfu::drive`].
//!
//! How a layout maps onto the stages (U-Boot `stm32prog.h` phase ids, `flashers.md` §2.2): a line with IP `none` is
//! loaded into RAM by a boot stage: `0x01` is the FSBL the ROM takes, `0x02` the DDR firmware FIP TF-A takes on
//! STM32MP25, `0x03` the SSBL or FIP TF-A takes. Every other line sent is a partition U-Boot `stm32prog` asks for by
//! its id (0x01..0xF0). The layout itself is sent on phase 0x00 behind an STM32 header **v1.0** on every SoC: U-Boot's
//! `parse_flash_layout` strips only a v1 header (a v2 header's bytes would be parsed as TSV), and ST's v2.4 TF-A
//! checks a v1 header.

use std::{collections::BTreeMap, fmt::Write, time::Duration};

use super::{
    FlashEvent,
    backend::Step,
    hints,
    job::{JobLayout, JobPartition},
    records::FileDigest,
    select::Target,
    verdict::{ResultKind, Verdict},
};
use crate::{
    board::Soc,
    dfu::{BoardJob, Event, FailureKind, FlashError, ImageId, ImageInfo, Summary, Timing, download::PollLimits, stm32prog::PhaseId},
    inputs::stm32::HeaderVersion,
    units::human_bytes,
};

/// The SoC an FSBL is built for, from its STM32 header version: v1.0 STM32MP15, v2.0 STM32MP13, v2.2 STM32MP25
/// (TF-A `plat/st/stm32mp1/platform.mk` and `plat/st/stm32mp2/platform.mk`, `STM32_HEADER_VERSION_MAJOR/MINOR`).
#[must_use]
pub fn soc_of_fsbl(version: HeaderVersion) -> Option<Soc> {
    match (version.major, version.minor) {
        (1, 0) => Some(Soc::Stm32mp15),
        (2, 0) => Some(Soc::Stm32mp13),
        (2, 2) => Some(Soc::Stm32mp25),
        _ => None,
    }
}

/// Why a layout cannot be sent by the built-in client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No RAM-loaded 0x01 line.
    #[error(
        "{layout}: no FSBL for the ROM: the built-in client needs a line `-  0x01  fsbl1-boot  Binary  none  0x0  \
         tf-a-<board>-usb.stm32` (TF-A built with STM32MP_USB_PROGRAMMER=1)"
    )]
    NoFsbl {
        /// The layout as named.
        layout: String,
    },
    /// No RAM-loaded 0x03 line.
    #[error(
        "{layout}: no second stage for TF-A: the built-in client needs a line `-  0x03  fip-boot  FIP  none  0x0  fip.bin` (or ssbl-boot u-boot.stm32)"
    )]
    NoSsbl {
        /// The layout as named.
        layout: String,
    },
    /// A RAM-loaded line with an id no boot stage takes.
    #[error(
        "{layout}:{line}: `{name}` ({id:#04x}) has IP `none` but no boot stage loads phase {id:#04x} (0x01 FSBL, 0x02 DDR firmware, 0x03 SSBL/FIP)"
    )]
    UnknownRamPhase {
        /// The layout as named.
        layout: String,
        /// Its line.
        line: usize,
        /// Its name.
        name: String,
        /// Its id.
        id: u32,
    },
    /// A partition with an id U-Boot never asks for.
    #[error("{layout}:{line}: partition `{name}` has id {id:#x}; U-Boot stm32prog asks only for 0x01..0xf0")]
    BadPartitionId {
        /// The layout as named.
        layout: String,
        /// Its line.
        line: usize,
        /// Its name.
        name: String,
        /// Its id.
        id: u32,
    },
    /// An empty file: no stage takes a download of no bytes.
    #[error("{layout}:{line}: `{file}` ({id:#04x} {name}) is empty; the ROM, TF-A and U-Boot all refuse a download of no bytes")]
    EmptyFile {
        /// The layout as named.
        layout: String,
        /// Its line.
        line: usize,
        /// The partition name.
        name: String,
        /// Its id.
        id: u32,
        /// The file.
        file: String,
    },
    /// A DDR firmware line for a SoC whose TF-A does not ask for one.
    #[error("{layout}:{line}: `{name}` (0x02, DDR firmware) is for STM32MP25; this FSBL is for {soc}, whose TF-A never asks for phase 0x02")]
    DdrFirmwareNotMp25 {
        /// The layout as named.
        layout: String,
        /// Its line.
        line: usize,
        /// Its name.
        name: String,
        /// The FSBL's SoC.
        soc: &'static str,
    },
}

/// What a layout sends, by stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagePlan<'a> {
    /// 0x01 to the ROM.
    pub fsbl: &'a JobPartition,
    /// 0x02 to TF-A (STM32MP25).
    pub ddr_firmware: Option<&'a JobPartition>,
    /// 0x03 to TF-A.
    pub ssbl: &'a JobPartition,
    /// What U-Boot asks for, by id.
    pub partitions: Vec<&'a JobPartition>,
}

/// Sort a layout's files into stages; `soc` (from the FSBL, when known) refuses a DDR firmware line elsewhere than
/// on STM32MP25.
pub fn stages(layout: &JobLayout, soc: Option<Soc>) -> Result<StagePlan<'_>, PlanError> {
    let name = || layout.shown.clone();
    let mut fsbl = None;
    let mut ddr = None;
    let mut ssbl = None;
    let mut partitions = Vec::new();
    for p in &layout.partitions {
        if p.file.size == 0 {
            return Err(PlanError::EmptyFile { layout: name(), line: p.line, name: p.name.clone(), id: p.id, file: p.file.name.clone() });
        }
        if p.ram {
            match p.id {
                0x01 => fsbl = Some(p),
                0x02 => ddr = Some(p),
                0x03 => ssbl = Some(p),
                id => return Err(PlanError::UnknownRamPhase { layout: name(), line: p.line, name: p.name.clone(), id }),
            }
        } else if (0x01..=0xF0).contains(&p.id) {
            partitions.push(p);
        } else {
            return Err(PlanError::BadPartitionId { layout: name(), line: p.line, name: p.name.clone(), id: p.id });
        }
    }
    if let (Some(d), Some(soc)) = (ddr, soc)
        && soc != Soc::Stm32mp25
    {
        return Err(PlanError::DdrFirmwareNotMp25 { layout: name(), line: d.line, name: d.name.clone(), soc: soc.label() });
    }
    partitions.sort_by_key(|p| p.id);
    Ok(StagePlan {
        fsbl: fsbl.ok_or_else(|| PlanError::NoFsbl { layout: name() })?,
        ddr_firmware: ddr,
        ssbl: ssbl.ok_or_else(|| PlanError::NoSsbl { layout: name() })?,
        partitions,
    })
}

/// The protocol core's job for one board, and the file of each of its images (by [`ImageId`]) as the job recorded
/// it (absolute path, size, SHA-256): one image per distinct file, `tsv` the layout's bytes as read.
pub fn board_job(layout: &JobLayout, tsv: Vec<u8>, soc: Soc) -> Result<(BoardJob, Vec<FileDigest>), PlanError> {
    let plan = stages(layout, Some(soc))?;
    let mut images: Vec<ImageInfo> = Vec::new();
    let mut files: Vec<FileDigest> = Vec::new();
    let mut id_of = |p: &JobPartition| -> ImageId {
        if let Some(i) = files.iter().position(|q| q.path == p.file.path) {
            return ImageId(i);
        }
        images.push(ImageInfo { label: p.file.name.clone(), len: p.file.size });
        files.push(p.file.clone());
        ImageId(files.len() - 1)
    };
    let fsbl = id_of(plan.fsbl);
    let ddr_firmware = plan.ddr_firmware.map(&mut id_of);
    let ssbl = id_of(plan.ssbl);
    let mut partitions = BTreeMap::new();
    for p in &plan.partitions {
        let image = id_of(p);
        partitions.insert(u8::try_from(p.id).unwrap_or(0xFF), image);
    }
    Ok((BoardJob { soc, images, fsbl, ddr_firmware, ssbl, layout: tsv, partitions }, files))
}

fn file(p: &JobPartition) -> String {
    format!("{:#04x} {} ← {} ({})", p.id, p.name, p.file.name, human_bytes(p.file.size))
}

/// What the built-in client will do to `target`, for the job and `flash --dry-run`: where it finds the board, what
/// each stage is sent (each only when its GetPhase asks for it), and the end.
#[must_use]
pub fn steps(layout: &JobLayout, soc: Option<Soc>, target: &Target) -> Vec<Step> {
    let step = |stage: &str, action: String| Step::Dfu { stage: stage.to_string(), action };
    let plan = match stages(layout, soc) {
        Ok(p) => p,
        Err(e) => return vec![step("error", e.to_string())],
    };
    let mut out = Vec::new();
    let at = target.usb_path().map_or_else(|| "(unknown USB path)".to_string(), |p| format!("USB path {p}"));
    let serial = target.serial.as_ref().map_or_else(String::new, |s| format!(", serial {s}"));
    out.push(step(
        "USB",
        format!(
            "open the board at {at}{serial} ({}), and follow it there across its re-enumerations",
            soc.map_or("SoC from the FSBL's header", Soc::label)
        ),
    ));
    out.push(step("ROM", format!("{}, then TF-A takes over (MP15: on the same connection; MP13/MP25: DETACH, re-enumeration)", file(plan.fsbl))));
    let mut tfa = Vec::new();
    if soc.is_none_or(|s| s == Soc::Stm32mp15) {
        tfa.push(format!("0x00 the layout ({}, STM32 header v1.0) when it asks (ST's v2.4 TF-A)", layout.file_name));
    }
    if let Some(d) = plan.ddr_firmware {
        tfa.push(format!("{}, DETACH, TF-A again", file(d)));
    }
    tfa.push(file(plan.ssbl));
    out.push(step("TF-A", format!("{}; DETACH when GetPhase asks for it", tfa.join("; "))));
    out.push(step(
        "U-Boot",
        format!(
            "0x00 the layout ({}, STM32 header v1.0) when it asks (U-Boot 2023.01 and later), DETACH; U-Boot writes the GPT and re-enumerates",
            layout.file_name
        ),
    ));
    for p in &plan.partitions {
        out.push(step("U-Boot", format!("{} when GetPhase asks for {:#04x}", file(p), p.id)));
    }
    out.push(step("end", "at END (GetPhase 0xfe): DFU_DETACH, then a USB reset (U-Boot reboots the board)".to_string()));
    out
}

/// A progress event (and a log line) at least every so many bytes of a phase.
pub const PROGRESS_STEP: u64 = 256 << 10;

/// The core's bounds for a stage timeout: every wait for the board (after the ROM, after TF-A, after the layout) and
/// the polls of one wait are bounded by it; each DNLOAD and GETSTATUS of a download by at most 30 s
/// ([`Timing::transfer`]), every other control request by at most 5 s ([`Timing::request`]), both never more than
/// the stage timeout.
#[must_use]
pub fn timing(stage_timeout: Duration) -> Timing {
    let d = Timing::default();
    Timing {
        request: d.request.min(stage_timeout),
        transfer: d.transfer.min(stage_timeout),
        poll: PollLimits { max_wait: stage_timeout, max_polls: d.poll.max_polls },
        rom_handover: d.rom_handover.min(stage_timeout),
        after_rom: stage_timeout,
        after_tfa: stage_timeout,
        after_layout: stage_timeout,
        progress_step: PROGRESS_STEP,
        ..d
    }
}

fn percent(sent: u64, total: u64) -> u8 {
    if total == 0 { 100 } else { u8::try_from((u128::from(sent) * 100 / u128::from(total)).min(100)).unwrap_or(100) }
}

/// Follows one board's protocol events: what the runner is told, and the log's line for each.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// Bytes of phases done, on this board.
    done: u64,
    /// Bytes of the phase in flight, as far as acknowledged.
    in_flight: u64,
    /// The phase being sent and its file.
    current: Option<(PhaseId, String)>,
    /// The serial number, as the board reported it.
    serial: Option<String>,
}

impl Tracker {
    /// A tracker for a board nothing was sent to yet.
    #[must_use]
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// Bytes sent to this board so far (whole phases and the one in flight as far as acknowledged).
    #[must_use]
    pub fn bytes_done(&self) -> u64 {
        self.done + self.in_flight
    }

    /// The serial number the board reported.
    #[must_use]
    pub fn serial(&self) -> Option<&str> {
        self.serial.as_deref()
    }

    /// The runner's events for one core event, and the log line.
    pub fn map(&mut self, event: &Event) -> (Vec<FlashEvent>, String) {
        match event {
            Event::Stage { stage, product, connection, serial } => {
                let mut out = vec![FlashEvent::Connected { product: product.clone() }];
                if let Some(sn) = serial {
                    out.push(FlashEvent::Serial { serial: sn.clone() });
                    self.serial.get_or_insert_with(|| sn.clone());
                }
                let mut line = format!("{stage} answers");
                if let Some(c) = connection {
                    let _ = write!(line, " at {c}");
                }
                let _ = write!(line, ": product \"{product}\"");
                if let Some(sn) = serial {
                    let _ = write!(line, ", serial {sn}");
                }
                (out, line)
            }
            Event::PhaseStarted { stage, phase, alternate, image, total } => {
                self.current = Some((*phase, image.clone()));
                self.in_flight = 0;
                let e = FlashEvent::Sending { partition: Some(phase.0), file: image.clone(), size: Some(total.get()) };
                (vec![e], format!("{stage}: sending {image} ({} bytes) as phase {phase} on alternate `{alternate}`", total.get()))
            }
            Event::PhaseProgress { phase, sent, total } => {
                self.in_flight = sent.get();
                let e =
                    FlashEvent::Progress { partition: Some(phase.0), percent: percent(sent.get(), total.get()), bytes_sent: self.done + sent.get() };
                (vec![e], format!("phase {phase}: {} of {} bytes acknowledged", sent.get(), total.get()))
            }
            Event::PhaseDone { stage, phase, sent } => {
                self.done += sent.get();
                self.in_flight = 0;
                let file = match self.current.take() {
                    Some((p, f)) if p == *phase => f,
                    _ => String::new(),
                };
                let mut out = vec![FlashEvent::Sent { partition: Some(phase.0), file: file.clone(), bytes: sent.get() }];
                if *phase == PhaseId::LAYOUT {
                    out.push(FlashEvent::LayoutSent);
                }
                (out, format!("{stage}: phase {phase} {file}: {} bytes sent and manifested", sent.get()))
            }
            Event::Detached { stage } => (Vec::new(), format!("DFU_DETACH sent to {stage}")),
            Event::PortReset { stage, why } => (Vec::new(), format!("USB reset of the port ({stage} answered last): {why}")),
            Event::Waiting { after, timeout } => (
                vec![FlashEvent::Reconnecting],
                format!("waiting up to {} for the board to come back after {after}", humantime::format_duration(*timeout)),
            ),
        }
    }
}

/// The device's own words in a failure (GetPhase 0xFF's text), if any.
#[must_use]
pub fn device_words(kind: &FailureKind) -> Option<&str> {
    match kind {
        FailureKind::DeviceSays { text } => Some(text),
        FailureKind::DeviceStatus { device_says, .. } | FailureKind::Stalled { device_says, .. } => device_says.as_deref(),
        _ => None,
    }
}

fn hint(e: &FlashError) -> Option<String> {
    let text = match &e.kind {
        FailureKind::Interrupted => hints::INTERRUPTED,
        FailureKind::ReconnectTimeout { .. }
        | FailureKind::TimedOut { .. }
        | FailureKind::DescriptorsTimedOut { .. }
        | FailureKind::PollLimit { .. } => hints::TIMEOUT,
        FailureKind::DeviceLeft { .. } => hints::VANISHED_USB,
        FailureKind::RomRejected { .. } => hints::ROM_REFUSED,
        FailureKind::SocMismatch { .. } => hints::SOC_MISMATCH,
        FailureKind::Transport(m) if m.contains("permission denied") => hints::PERMISSIONS,
        FailureKind::DeviceSays { .. } | FailureKind::DeviceStatus { .. } | FailureKind::Stalled { .. } => match e.at.phase {
            Some(PhaseId::FSBL) if e.at.stage == Some(crate::dfu::Stage::Rom) => hints::ROM_REFUSED,
            Some(PhaseId::FSBL) => hints::START_FAILED_FSBL,
            Some(PhaseId::SSBL | PhaseId::DDR_FW) => hints::START_FAILED_SSBL,
            _ => hints::START_FAILED_OTHER,
        },
        _ => return None,
    };
    Some(text.to_string())
}

/// The verdict on one board: success, or the failure's kind, the partition, the error naming the stage, phase,
/// alternate, file and what the device said, its words verbatim, and a hint.
#[must_use]
pub fn verdict(result: &Result<Summary, FlashError>) -> Verdict {
    match result {
        Ok(_) => Verdict { result: ResultKind::Success, partition: None, error: None, programmer_errors: Vec::new(), hint: None, exit_status: None },
        Err(e) => {
            let result = match e.kind {
                FailureKind::Interrupted => ResultKind::Interrupted,
                FailureKind::ReconnectTimeout { .. }
                | FailureKind::TimedOut { .. }
                | FailureKind::DescriptorsTimedOut { .. }
                | FailureKind::PollLimit { .. } => ResultKind::Timeout,
                _ => ResultKind::Failed,
            };
            Verdict {
                result,
                partition: e.at.phase.map(|p| p.0),
                error: Some(e.to_string()),
                programmer_errors: device_words(&e.kind).map(str::to_string).into_iter().collect(),
                hint: hint(e),
                exit_status: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        dfu::{
            descriptors::{Connection, Stage},
            error::Where,
        },
        flash::records::FileDigest,
        units::ByteSize,
    };

    fn part(id: u32, name: &str, file: &str, size: u64, ram: bool) -> JobPartition {
        JobPartition {
            id,
            name: name.into(),
            line: id as usize,
            ram,
            file: FileDigest { name: file.into(), path: format!("/imgs/{file}"), size, sha256: "00".into() },
        }
    }

    fn layout(parts: Vec<JobPartition>) -> JobLayout {
        JobLayout {
            shown: "flash.tsv".into(),
            dir: "/imgs".into(),
            file_name: "flash.tsv".into(),
            digest: FileDigest { name: "flash.tsv".into(), path: "/imgs/flash.tsv".into(), size: 10, sha256: "00".into() },
            partitions: parts,
        }
    }

    fn fip_layout() -> JobLayout {
        layout(vec![
            part(0x01, "fsbl1-boot", "tf-a.stm32", 4096, true),
            part(0x03, "fip-boot", "fip.bin", 8192, true),
            part(0x04, "fsbl1", "tf-a.stm32", 4096, false),
            part(0x05, "fsbl2", "tf-a.stm32", 4096, false),
            part(0x10, "rootfs", "rootfs.ext4", 1 << 20, false),
            part(0x06, "fip", "fip.bin", 8192, false),
        ])
    }

    #[test]
    fn fsbl_header_versions_name_the_soc() {
        assert_eq!(soc_of_fsbl(HeaderVersion { major: 1, minor: 0 }), Some(Soc::Stm32mp15));
        assert_eq!(soc_of_fsbl(HeaderVersion { major: 2, minor: 0 }), Some(Soc::Stm32mp13));
        assert_eq!(soc_of_fsbl(HeaderVersion { major: 2, minor: 2 }), Some(Soc::Stm32mp25));
        assert_eq!(soc_of_fsbl(HeaderVersion { major: 2, minor: 1 }), None);
    }

    #[test]
    fn ram_lines_go_to_the_boot_stages_and_files_are_sent_once_each() {
        let (job, files) = board_job(&fip_layout(), b"tsv".to_vec(), Soc::Stm32mp15).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/imgs/tf-a.stm32", "/imgs/fip.bin", "/imgs/rootfs.ext4"]);
        assert_eq!((job.fsbl, job.ssbl, job.ddr_firmware), (ImageId(0), ImageId(1), None));
        assert_eq!(job.partitions.iter().map(|(k, v)| (*k, v.0)).collect::<Vec<_>>(), [(0x04, 0), (0x05, 0), (0x06, 1), (0x10, 2)]);
        assert_eq!(job.images[2], ImageInfo { label: "rootfs.ext4".into(), len: 1 << 20 });
        assert_eq!(job.layout, b"tsv");
        // The core takes it as it is.
        assert!(crate::dfu::Sequencer::new(job, Timing::default()).is_ok());
    }

    #[test]
    fn what_cannot_be_sent_is_said_before_anything_runs() {
        let mut l = fip_layout();
        l.partitions.remove(0);
        assert!(matches!(stages(&l, None), Err(PlanError::NoFsbl { .. })));
        let mut l = fip_layout();
        l.partitions.push(part(0x02, "fip-ddr-boot", "ddr.bin", 100, true));
        let e = stages(&l, Some(Soc::Stm32mp15)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "flash.tsv:2: `fip-ddr-boot` (0x02, DDR firmware) is for STM32MP25; this FSBL is for STM32MP15, whose TF-A never asks for phase 0x02"
        );
        assert_eq!(stages(&l, Some(Soc::Stm32mp25)).unwrap().ddr_firmware.unwrap().file.name, "ddr.bin");
        let mut l = fip_layout();
        l.partitions.push(part(0x07, "otp", "otp.bin", 100, true));
        assert!(matches!(stages(&l, None), Err(PlanError::UnknownRamPhase { id: 0x07, .. })));
        let mut l = fip_layout();
        l.partitions[4].file.size = 0;
        assert!(stages(&l, None).unwrap_err().to_string().contains("`rootfs.ext4` (0x10 rootfs) is empty"));
    }

    #[test]
    fn steps_name_every_stage_and_partition() {
        let target = Target {
            index: Some(1),
            serial: Some("0027".into()),
            usb: Some(crate::flash::devices::UsbLocation { bus: 1, address: 2, path: Some("1-1".into()) }),
            blocked: None,
            select_by: crate::flash::select::SelectBy::UsbPath,
        };
        let lines: Vec<String> = steps(&fip_layout(), Some(Soc::Stm32mp15), &target).iter().map(ToString::to_string).collect();
        assert!(lines[0].starts_with("USB: open the board at USB path 1-1, serial 0027 (STM32MP15)"), "{lines:#?}");
        assert!(lines[1].starts_with("ROM: 0x01 fsbl1-boot ← tf-a.stm32 (4 KiB)"), "{lines:#?}");
        assert!(
            lines[2].starts_with("TF-A: 0x00 the layout (flash.tsv, STM32 header v1.0) when it asks (ST's v2.4 TF-A); 0x03 fip-boot ← fip.bin"),
            "{lines:#?}"
        );
        assert_eq!(lines[4..8].iter().map(|l| &l[..12]).collect::<Vec<_>>(), ["U-Boot: 0x04", "U-Boot: 0x05", "U-Boot: 0x06", "U-Boot: 0x10"]);
        assert!(lines[8].starts_with("end: at END"));
        let mp13: Vec<String> = steps(&fip_layout(), Some(Soc::Stm32mp13), &target).iter().map(ToString::to_string).collect();
        assert!(mp13[2].starts_with("TF-A: 0x03 fip-boot"), "no layout phase on MP13: {mp13:#?}");
    }

    #[test]
    fn the_stage_timeout_bounds_every_wait() {
        let t = timing(Duration::from_secs(7));
        assert_eq!(
            (t.after_rom, t.after_tfa, t.after_layout, t.poll.max_wait),
            (Duration::from_secs(7), Duration::from_secs(7), Duration::from_secs(7), Duration::from_secs(7))
        );
        assert_eq!((t.request, t.transfer, t.rom_handover), (Duration::from_secs(5), Duration::from_secs(7), Duration::from_secs(3)));
        let t = timing(Duration::from_secs(1));
        assert_eq!((t.request, t.rom_handover), (Duration::from_secs(1), Duration::from_secs(1)));
    }

    #[test]
    fn events_become_the_runners_with_board_bytes() {
        let mut t = Tracker::new();
        let (e, line) = t.map(&Event::Stage {
            stage: Stage::Rom,
            product: "DFU in HS Mode @Device ID /0x500, @Revision ID /0x0000".into(),
            connection: Some(Connection { bus: 1, address: 2 }),
            serial: Some("0027".into()),
        });
        assert_eq!(e.len(), 2);
        assert_eq!(t.serial(), Some("0027"));
        assert!(line.starts_with("ROM answers at "), "{line}");
        let (e, _) = t.map(&Event::PhaseStarted {
            stage: Stage::Rom,
            phase: PhaseId::FSBL,
            alternate: "@FSBL /0x01/1*1Me".into(),
            image: "tf-a.stm32".into(),
            total: ByteSize::new(4096),
        });
        assert_eq!(e, [FlashEvent::Sending { partition: Some(1), file: "tf-a.stm32".into(), size: Some(4096) }]);
        let (e, _) = t.map(&Event::PhaseDone { stage: Stage::Rom, phase: PhaseId::FSBL, sent: ByteSize::new(4096) });
        assert_eq!(e, [FlashEvent::Sent { partition: Some(1), file: "tf-a.stm32".into(), bytes: 4096 }]);
        let (e, _) = t.map(&Event::PhaseProgress { phase: PhaseId(0x10), sent: ByteSize::new(512), total: ByteSize::new(2048) });
        assert_eq!(e, [FlashEvent::Progress { partition: Some(0x10), percent: 25, bytes_sent: 4096 + 512 }]);
        let (e, _) = t.map(&Event::PhaseDone { stage: Stage::Uboot, phase: PhaseId::LAYOUT, sent: ByteSize::new(300) });
        assert_eq!(e[1], FlashEvent::LayoutSent);
        assert_eq!(t.bytes_done(), 4396);
        t.map(&Event::PhaseStarted {
            stage: Stage::Uboot,
            phase: PhaseId(0x10),
            alternate: "@rootfs/0x10".into(),
            image: "r".into(),
            total: ByteSize::new(2048),
        });
        t.map(&Event::PhaseProgress { phase: PhaseId(0x10), sent: ByteSize::new(1024), total: ByteSize::new(2048) });
        assert_eq!(t.bytes_done(), 4396 + 1024, "a phase cut short counts what was acknowledged");
        let (e, line) = t.map(&Event::Waiting { after: Stage::Tfa, timeout: Duration::from_secs(20) });
        assert_eq!((e, line.as_str()), (vec![FlashEvent::Reconnecting], "waiting up to 20s for the board to come back after TF-A"));
    }

    #[test]
    fn a_failure_names_stage_partition_and_the_devices_words() {
        let err = FlashError {
            at: Where {
                stage: Some(Stage::Uboot),
                phase: Some(PhaseId(0x05)),
                alternate: Some("@fsbl2/0x05/1*256Ke".into()),
                image: Some("tf-a.stm32".into()),
            },
            kind: FailureKind::DeviceSays { text: "fip (0x6): MMC erase failed".into() },
        };
        let v = verdict(&Err(err));
        assert_eq!((v.result, v.partition), (ResultKind::Failed, Some(0x05)));
        assert_eq!(v.programmer_errors, ["fip (0x6): MMC erase failed"]);
        let text = v.error.unwrap();
        assert!(text.starts_with("stage U-Boot, phase 0x05"), "{text}");
        assert!(text.contains("\"fip (0x6): MMC erase failed\""), "{text}");
        let timeout = FlashError {
            at: Where::default(),
            kind: FailureKind::ReconnectTimeout { waited: Duration::from_secs(3), after: "TF-A was told to detach".into() },
        };
        assert_eq!(verdict(&Err(timeout)).result, ResultKind::Timeout);
        assert!(verdict(&Ok(Summary::default())).is_success());
    }
}
