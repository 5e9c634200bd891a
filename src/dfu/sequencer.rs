//! The board sequencer: takes one board from the ROM through TF-A to U-Boot `stm32prog` and through every partition,
//! deciding each step by what the device says (its product string, its alternates, GetPhase), never by assuming a
//! generation.
//!
//! Pure and sans-IO, in the style of `dfu-core` and probe-rs: [`Sequencer::poll`] says what to do next
//! ([`Action`]: an [`Io`] to perform, an [`Event`] to report, or the end), [`Sequencer::complete`] takes the
//! [`Reply`] to the last [`Io`]. Time is never read: waits are [`Io::Sleep`]s and bounded waits
//! ([`Io::AwaitReconnect`]) carry their bound. [`super::transport::drive`] runs it against a [`super::transport`]
//! implementation.
//!
//! # The rules, and the device code each one follows
//!
//! * **ROM** (product `DFU in ...`): the FSBL goes to the `/0x01/` alternate. After manifestation the board either
//!   keeps its USB connection and TF-A answers on it (MP15: TF-A `stm32mp1_usb_dfu.c` `usb_dfu_plat_init` "keep the
//!   configuration from ROM code"; snagboot `recoveries/stm32mp.py` talks to TF-A right after the download), or the
//!   ROM waits: GetPhase, then DFU_DETACH (MP13/MP25) and TF-A enumerates anew. So after the FSBL the sequencer
//!   reads the product string again; while it is still the ROM it asks GetPhase: a detach request or any phase but
//!   0x01 → DETACH. 0x01 again: on MP13/MP25 DETACH all the same (snagboot, the only open host, detaches whatever
//!   GetPhase says: what the closed ROM reports before DETACH is not known), and a board that then comes back as the
//!   ROM rejected the FSBL ([`FailureKind::RomRejected`]); on MP15 look again until [`Timing::rom_handover`], then
//!   [`FailureKind::RomRejected`]. A ROM that refuses the FSBL at manifestation (dfuERROR) is a device error at
//!   phase 0x01. A ROM without a `0xF1` alternate is detached (what `dfu-util -R` does).
//! * **TF-A** (product `DFU @Device ID`): GetPhase (`stm32cubeprogrammer_usb.c` `dfu_callback_upload`) decides:
//!   0x00 with an address → the layout (ST's v2.4-stm32mp MP15 line, `stm32cubeprog_usb_load` with a flash layout
//!   length); 0x02 → the DDR firmware FIP (MP25); 0x03 → the SSBL or FIP; 0x00 with address 0xFFFFFFFF and a 10th
//!   byte 0x01 → DFU_DETACH, and only then (an early DETACH ends `usb_dfu_loop` before the image is in place and
//!   BL2 panics on the missing image); 0xFF → the error text. After DETACH TF-A stops its USB core
//!   (`usb_core_stop`): the board re-enumerates as TF-A again (MP25, between the DDR firmware and the FIP: dwc3
//!   `RUN_STOP` cleared) or as U-Boot.
//! * **U-Boot** (product `USB download gadget@Device ID`): GetPhase (`stm32prog_usb.c` `stm32prog_cmd_read`): 0x00
//!   with the 10th byte 0 → the layout on `@FlashLayout/0x00` (U-Boot ≥ 2023.01 reads it at `CONFIG_SYS_LOAD_ADDR`,
//!   where TF-A never put it; up to 2022.10 it finds the one TF-A left at `STM32_DDR_BASE` and starts straight with
//!   the partitions); 0x00 with the 10th byte 1 → DFU_DETACH, then U-Boot erases, writes the GPT and
//!   re-enumerates with one alternate per partition (`stm32prog_usb_loop`, `stm32prog_dfu_init`); 0x01..0xF0 →
//!   that partition on the alternate with its `/0xID/`, unless GetPhase's offset is not 0: U-Boot would write the
//!   image from there (`dfu_initiated_callback`), a resume offset only a Start command sets (`stm32prog_set_phase`,
//!   from an earlier STM32CubeProgrammer session on a board still in `stm32prog`) → an error; 0xFE → done; 0xFF →
//!   the error text.
//! * **End**: DFU_DETACH makes U-Boot leave `stm32prog` (`run_usb_dnl_gadget` stops on `g_dnl_detach`), then a USB
//!   reset, which U-Boot's DFU takes as "reboot the board" (`dfu_usb_get_reset`, dwc2 gadgets).
//! * **DETACH** is tolerant: the device may drop off the bus before it answers (snagboot treats EIO, ENODEV and
//!   EPIPE as expected). Without `bitWillDetach` the host resets the port afterwards (DFU 1.1 §5.1).
//! * **Before GetPhase** GETSTATUS brings the device to `dfuIDLE`: CLRSTATUS only from `dfuERROR` (TF-A's
//!   `usb_dfu_clear_status` turns a CLRSTATUS in any other state into `dfuERROR`/`errUNKNOWN`, U-Boot stalls it),
//!   ABORT from `dfuDNLOAD-IDLE`/`dfuUPLOAD-IDLE`, poll through the sync/manifest states (TF-A after a refused
//!   manifestation stays in `dfuMANIFEST-SYNC`), at most 8 times and within [`Timing::poll`]'s `max_wait` in all,
//!   as a download's polling is.
//! * **Errors** name the stage, the phase, the alternate and the image. After a device error the sequencer asks
//!   GetPhase once more: TF-A's `DFU_ERROR` and U-Boot's `stm32prog_err` put their text there (0xFF). A U-Boot text
//!   that names a partition of the job (`"name (0xID): ..."`, `stm32prog.c`) puts the error at that partition.
//! * A board that comes back at an earlier stage (U-Boot → TF-A, anything → ROM) was reset: an error. One that
//!   comes back more than [`MAX_REENUMERATIONS`] times (a firmware asking to be detached again and again) too.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    fmt,
    sync::Arc,
    time::Duration,
};

use super::{
    descriptors::{Connection, DfuDevice, RawDevice, Stage},
    download::{DlStep, Download, ManifestEnd, PollLimits},
    error::{FailureKind, FlashError, Where},
    protocol::{DfuRequest, State, StatusReply},
    stm32prog::{GET_PHASE_LENGTH, PhaseId, PhaseReply, partition_named_in, wrap_layout},
};
use crate::{board::Soc, units::ByteSize};

/// An image of the job, by its index in [`BoardJob::images`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageId(pub usize);

/// What the sequencer knows of an image: a label for messages and its length. The bytes are read by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Label (the file name).
    pub label: String,
    /// Length in bytes.
    pub len: u64,
}

/// Everything one board is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardJob {
    /// The SoC the images are for; a board reporting another Device ID is refused.
    pub soc: Soc,
    /// The images.
    pub images: Vec<ImageInfo>,
    /// Phase 0x01 to the ROM: TF-A BL2 built for USB.
    pub fsbl: ImageId,
    /// Phase 0x02 to TF-A (STM32MP2): the DDR firmware FIP.
    pub ddr_firmware: Option<ImageId>,
    /// Phase 0x03 to TF-A: the FIP (or, on a pre-FIP chain, `u-boot.stm32`).
    pub ssbl: ImageId,
    /// The flash layout TSV (sent behind an STM32 header, see [`wrap_layout`]).
    pub layout: Vec<u8>,
    /// U-Boot partitions: phase id (0x01..0xF0) → image.
    pub partitions: BTreeMap<u8, ImageId>,
}

/// Waits for the board to come back one flash may go through. The flows of the sequencer tests need at most 4 (after
/// the ROM, TF-A's two on STM32MP25, U-Boot's after the layout); a ROM or TF-A that is not manifestation tolerant
/// adds one per phase it takes, 7 at most. A device that asks to be detached and comes back asking the same would be
/// waited for forever: after this many the flash stops ([`FailureKind::EndlessReenumeration`]).
pub const MAX_REENUMERATIONS: usize = 16;

/// Timeouts and bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Each control request outside a download (GetPhase, SET_INTERFACE, DETACH).
    pub request: Duration,
    /// Each DNLOAD and GETSTATUS of a download (U-Boot writes its buffer to flash while the host waits).
    pub transfer: Duration,
    /// How long a device may keep the host polling.
    pub poll: PollLimits,
    /// How long the STM32MP15 ROM may go on asking for the FSBL after its manifestation before that counts as a
    /// rejection (an STM32MP13/MP25 ROM is detached whatever it asks).
    pub rom_handover: Duration,
    /// Between two looks at a ROM that has not handed over yet.
    pub rom_retry: Duration,
    /// For the board to come back after the ROM (TF-A enumerating).
    pub after_rom: Duration,
    /// After the ROM's DETACH, how long to wait for a new enumeration before resetting the port (a TF-A that keeps
    /// the ROM's connection shows itself only after a USB reset).
    pub detach_grace: Duration,
    /// For the board to come back after TF-A's DETACH (TF-A again, or U-Boot started from the FIP).
    pub after_tfa: Duration,
    /// For U-Boot to come back after the layout's DETACH (it erases and writes the GPT first).
    pub after_layout: Duration,
    /// A progress event at least every so many bytes.
    pub progress_step: u64,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            request: Duration::from_secs(5),
            transfer: Duration::from_secs(30),
            poll: PollLimits { max_wait: Duration::from_secs(600), max_polls: 100_000 },
            rom_handover: Duration::from_secs(3),
            rom_retry: Duration::from_millis(100),
            after_rom: Duration::from_secs(15),
            detach_grace: Duration::from_millis(1500),
            after_tfa: Duration::from_secs(60),
            after_layout: Duration::from_secs(600),
            progress_step: 1 << 20,
        }
    }
}

/// Where the bytes of a DNLOAD block come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A job image, read by the driver.
    Image(ImageId),
    /// Bytes the sequencer holds (the wrapped layout).
    Bytes(Arc<Vec<u8>>),
}

impl Source {
    /// The payload of `len` bytes at `offset`.
    #[must_use]
    pub fn payload(&self, offset: u64, len: u32) -> Payload {
        match self {
            Source::Image(image) => Payload::Image { image: *image, offset, len },
            Source::Bytes(bytes) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
                let end = start.saturating_add(len as usize).min(bytes.len());
                Payload::Bytes(bytes[start..end].to_vec())
            }
        }
    }
}

/// The data stage of a host→device request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// No data (wLength 0).
    Empty,
    /// These bytes.
    Bytes(Vec<u8>),
    /// `len` bytes of an image at `offset`.
    Image {
        /// The image.
        image: ImageId,
        /// Offset in the image.
        offset: u64,
        /// Length.
        len: u32,
    },
}

/// Direction and data of a class request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestData {
    /// device→host, at most this many bytes.
    In(u16),
    /// host→device.
    Out(Payload),
}

/// A DFU class request to the DFU interface (`bmRequestType` 0x21 out / 0xA1 in, `wIndex` = interface number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `bRequest`.
    pub request: DfuRequest,
    /// `wValue`.
    pub value: u16,
    /// Data stage.
    pub data: RequestData,
    /// Timeout.
    pub timeout: Duration,
}

impl Request {
    /// A device→host request.
    #[must_use]
    pub fn input(request: DfuRequest, value: u16, length: u16, timeout: Duration) -> Request {
        Request { request, value, data: RequestData::In(length), timeout }
    }

    /// A host→device request.
    #[must_use]
    pub fn output(request: DfuRequest, value: u16, payload: Payload, timeout: Duration) -> Request {
        Request { request, value, data: RequestData::Out(payload), timeout }
    }

    /// wLength.
    #[must_use]
    pub fn data_len(&self) -> u32 {
        match &self.data {
            RequestData::In(n) => u32::from(*n),
            RequestData::Out(Payload::Empty) => 0,
            RequestData::Out(Payload::Bytes(b)) => u32::try_from(b.len()).unwrap_or(u32::MAX),
            RequestData::Out(Payload::Image { len, .. }) => *len,
        }
    }
}

/// An effect the driver performs; each gets exactly one [`Reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Io {
    /// Read the board's descriptors and strings again, from the device (→ [`Reply::Device`]).
    Describe,
    /// SET_INTERFACE on the DFU interface (→ [`Reply::Done`]).
    SelectAlt(u8),
    /// A class request (→ [`Reply::Done`] or [`Reply::Data`]).
    Request(Request),
    /// Wait, at most `timeout`, for a new enumeration of the same board at the same USB path and open it
    /// (→ [`Reply::Device`] or [`Reply::TimedOut`]).
    AwaitReconnect {
        /// The bound.
        timeout: Duration,
    },
    /// Reset the USB port (→ any reply; failures are expected).
    ResetPort,
    /// Sleep (→ [`Reply::Done`]).
    Sleep(Duration),
}

/// The outcome of an [`Io`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Done, no data.
    Done,
    /// Done, with the bytes the device sent.
    Data(Vec<u8>),
    /// The board, read.
    Device(RawDevice),
    /// The device stalled the request (EPIPE).
    Stall,
    /// The device is gone (ENODEV, ESHUTDOWN).
    Gone,
    /// The request or the wait timed out.
    TimedOut,
    /// Another USB failure (EIO, EPROTO, permissions...).
    Failed(String),
    /// The host could not read an image.
    HostFailed(String),
}

impl fmt::Display for Reply {
    /// The reply in words, for messages (the transport's own text for a failure).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Done => f.write_str("done"),
            Reply::Data(b) => write!(f, "{} bytes of data", b.len()),
            Reply::Device(_) => f.write_str("a device description"),
            Reply::Stall => f.write_str("the device stalled the request"),
            Reply::Gone => f.write_str("the device left the bus"),
            Reply::TimedOut => f.write_str("timed out"),
            Reply::Failed(m) => f.write_str(m),
            Reply::HostFailed(m) => write!(f, "reading the image: {m}"),
        }
    }
}

/// Something to report; the front end timestamps events as they come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A stage answers (first contact, or a new enumeration).
    Stage {
        /// The stage.
        stage: Stage,
        /// Its product string.
        product: String,
        /// Bus and address.
        connection: Option<Connection>,
        /// Serial number.
        serial: Option<String>,
    },
    /// A download starts.
    PhaseStarted {
        /// The stage taking it.
        stage: Stage,
        /// The phase.
        phase: PhaseId,
        /// The alternate's string.
        alternate: String,
        /// The image label.
        image: String,
        /// Bytes to send.
        total: ByteSize,
    },
    /// Bytes acknowledged so far.
    PhaseProgress {
        /// The phase.
        phase: PhaseId,
        /// Bytes acknowledged.
        sent: ByteSize,
        /// Bytes to send.
        total: ByteSize,
    },
    /// The download and its manifestation are done.
    PhaseDone {
        /// The stage that took it.
        stage: Stage,
        /// The phase.
        phase: PhaseId,
        /// Bytes sent.
        sent: ByteSize,
    },
    /// DFU_DETACH sent.
    Detached {
        /// The stage told to go.
        stage: Stage,
    },
    /// A USB reset of the board's port.
    PortReset {
        /// The stage that answered last.
        stage: Stage,
        /// Why.
        why: &'static str,
    },
    /// Waiting for the board to come back.
    Waiting {
        /// The stage that left.
        after: Stage,
        /// The bound.
        timeout: Duration,
    },
}

/// One phase sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseRecord {
    /// The stage that took it.
    pub stage: Stage,
    /// The phase.
    pub phase: PhaseId,
    /// The image label.
    pub image: String,
    /// Bytes sent.
    pub bytes: ByteSize,
}

/// A board flashed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// Stages in the order they answered.
    pub stages: Vec<Stage>,
    /// Phases in the order they were sent.
    pub phases: Vec<PhaseRecord>,
    /// Bytes sent in all.
    pub bytes: ByteSize,
    /// The board's serial number.
    pub serial: Option<String>,
}

/// What [`Sequencer::poll`] asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Report this, then poll again.
    Event(Event),
    /// Perform this, then [`Sequencer::complete`] with its reply.
    Io(Io),
    /// The end.
    Finished(Result<Summary, FlashError>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Look {
    First,
    AfterRomManifest,
    Reconnect(Stage),
    /// The ROM was told to DETACH and may keep its connection for TF-A: a short wait, then a USB reset and the
    /// rest of the bound.
    RomDetached(Duration),
}

impl Look {
    /// When the descriptors were read, for messages.
    fn during(&self) -> &'static str {
        match self {
            Look::First => "at first contact",
            Look::AfterRomManifest => "after the ROM's manifestation of the FSBL",
            Look::Reconnect(_) | Look::RomDetached(_) => "as it came back",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QStep {
    Select,
    Status,
    /// CLRSTATUS or ABORT was sent (`Some`), or a `bwPollTimeout` slept (`None`).
    Settle(Option<DfuRequest>),
    Upload,
}

#[derive(Debug, Clone)]
struct Query {
    alt: u8,
    step: QStep,
    rounds: u8,
    timeout: Duration,
    limits: PollLimits,
    waited: Duration,
}

enum QOut {
    Io(Io),
    Done(PhaseReply),
    Fail(FailureKind),
}

impl Query {
    fn start(device: &DfuDevice, timeout: Duration, limits: PollLimits) -> Result<(Query, Io), FailureKind> {
        let alt =
            device.alternate_for(PhaseId::CMD).ok_or_else(|| FailureKind::NoAlternate { phase: PhaseId::CMD, offered: device.offered() })?.setting;
        Ok((Query { alt, step: QStep::Select, rounds: 0, timeout, limits, waited: Duration::ZERO }, Io::SelectAlt(alt)))
    }

    fn status(&mut self) -> QOut {
        self.step = QStep::Status;
        QOut::Io(Io::Request(Request::input(DfuRequest::GetStatus, 0, 6, self.timeout)))
    }

    fn fail(request: DfuRequest, reply: Reply) -> QOut {
        let during = "while asking GetPhase".to_string();
        QOut::Fail(match reply {
            Reply::Gone => FailureKind::DeviceLeft { during },
            Reply::Stall => FailureKind::Stalled { request, during, device_says: None },
            Reply::TimedOut => FailureKind::TimedOut { request, during },
            Reply::Failed(m) | Reply::HostFailed(m) => FailureKind::Transport(format!("{request} failed {during}: {m}")),
            other => FailureKind::Transport(format!("unexpected reply to {request} {during}: {other}")),
        })
    }

    fn resume(&mut self, reply: Reply) -> QOut {
        match self.step {
            QStep::Select => match reply {
                Reply::Done => self.status(),
                Reply::Gone => QOut::Fail(FailureKind::DeviceLeft { during: format!("at SET_INTERFACE {}", self.alt) }),
                other => QOut::Fail(FailureKind::Transport(format!("SET_INTERFACE {} for the 0xF1 alternate failed: {other}", self.alt))),
            },
            QStep::Status => {
                let bytes = match reply {
                    Reply::Data(b) => b,
                    other => return Query::fail(DfuRequest::GetStatus, other),
                };
                let status = match StatusReply::parse(&bytes) {
                    Ok(s) => s,
                    Err(e) => return QOut::Fail(e.into()),
                };
                self.rounds += 1;
                if self.rounds > 8 {
                    return QOut::Fail(FailureKind::UnexpectedState {
                        state: status.state,
                        during: "after 8 attempts to reach dfuIDLE for GetPhase".into(),
                    });
                }
                let settle = |q: &mut Query, request: DfuRequest| {
                    q.step = QStep::Settle(Some(request));
                    QOut::Io(Io::Request(Request::output(request, 0, Payload::Empty, q.timeout)))
                };
                match status.state {
                    State::DfuIdle => {
                        self.step = QStep::Upload;
                        QOut::Io(Io::Request(Request::input(DfuRequest::Upload, 0, GET_PHASE_LENGTH, self.timeout)))
                    }
                    State::Error => settle(self, DfuRequest::ClrStatus),
                    State::DnloadIdle | State::UploadIdle => settle(self, DfuRequest::Abort),
                    State::DnloadSync | State::DnBusy | State::ManifestSync | State::Manifest => {
                        // bwPollTimeout is the device's word (up to 2^24 ms, 4.6 hours): bounded like a download's.
                        let wait = Duration::from_millis(u64::from(status.poll_timeout_ms));
                        self.waited += wait;
                        if self.waited > self.limits.max_wait {
                            return QOut::Fail(FailureKind::PollLimit { state: status.state, waited: self.waited, during: "before GetPhase".into() });
                        }
                        if wait.is_zero() {
                            return self.status();
                        }
                        self.step = QStep::Settle(None);
                        QOut::Io(Io::Sleep(wait))
                    }
                    other => QOut::Fail(FailureKind::UnexpectedState { state: other, during: "before GetPhase".into() }),
                }
            }
            QStep::Settle(request) => match (reply, request) {
                (Reply::Done, _) => self.status(),
                (other, Some(request)) => Query::fail(request, other),
                (other, None) => QOut::Fail(FailureKind::Transport(format!("unexpected reply to a wait before GetPhase: {other}"))),
            },
            QStep::Upload => match reply {
                Reply::Data(bytes) => match PhaseReply::parse(&bytes) {
                    Ok(r) => QOut::Done(r),
                    Err(e) => QOut::Fail(e.into()),
                },
                other => Query::fail(DfuRequest::Upload, other),
            },
        }
    }
}

#[derive(Debug, Clone)]
struct Sending {
    phase: PhaseId,
    image: String,
    /// The alternate setting selected for it.
    setting: u8,
    selected: bool,
    reported: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// After DETACH (and maybe a reset), wait for the board.
    Reconnect(Stage, Duration),
    /// After DETACH (and maybe a reset), the end.
    Finish,
    /// After a USB reset, go on waiting for the board (the wait was announced already).
    Resume(Stage, Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DetachStep {
    Detach,
    Reset,
}

enum Mode {
    Look(Look),
    Query(Query),
    Download(Box<Download>, Sending),
    Explain(Query, FailureKind),
    Leave(DetachStep, Next),
    RomPause,
    Over,
}

/// The board sequencer (see the module docs).
pub struct Sequencer {
    job: BoardJob,
    layout: Arc<Vec<u8>>,
    timing: Timing,
    events: VecDeque<Event>,
    pending: Option<Io>,
    finished: Option<Result<Summary, FlashError>>,
    mode: Mode,
    device: Option<DfuDevice>,
    fsbl_sent: bool,
    sent_here: BTreeSet<PhaseId>,
    partitions_sent: BTreeSet<u8>,
    rom_waited: Duration,
    /// The ROM was told to DETACH while its GetPhase still asked for the FSBL (MP13/MP25).
    rom_detached_asking: bool,
    reenumerations: usize,
    at: Where,
    summary: Summary,
}

fn stage_rank(stage: Stage) -> u8 {
    match stage {
        Stage::Rom => 0,
        Stage::Tfa => 1,
        Stage::Uboot => 2,
        Stage::Unknown => 3,
    }
}

impl Sequencer {
    /// A sequencer for one board. Refuses a job that cannot be sent: an image id out of range, an empty image
    /// (no device takes a zero-length download), a partition id outside 0x01..0xF0, an empty layout.
    pub fn new(job: BoardJob, timing: Timing) -> Result<Sequencer, FlashError> {
        let bad = |m: String| FlashError { at: Where::default(), kind: FailureKind::BadJob(m) };
        let mut used: Vec<(String, ImageId)> = vec![("FSBL (0x01)".into(), job.fsbl), ("SSBL/FIP (0x03)".into(), job.ssbl)];
        used.extend(job.ddr_firmware.map(|d| ("DDR firmware (0x02)".to_string(), d)));
        for (&phase, &image) in &job.partitions {
            if !(0x01..=0xF0).contains(&phase) {
                return Err(bad(format!("partition id {phase:#04x} is outside 0x01..0xf0, the ids U-Boot stm32prog asks for")));
            }
            used.push((format!("partition {phase:#04x}"), image));
        }
        for (what, image) in used {
            let info = job.images.get(image.0).ok_or_else(|| bad(format!("{what} names image #{} of {}", image.0, job.images.len())))?;
            if info.len == 0 {
                return Err(bad(format!("{what}: {} is empty; ROM, TF-A and U-Boot all refuse a download of no bytes", info.label)));
            }
        }
        if job.layout.is_empty() {
            return Err(bad("the flash layout is empty".into()));
        }
        let layout = wrap_layout(&job.layout).map_err(|e| bad(format!("the flash layout cannot be wrapped: {e}")))?;
        Ok(Sequencer {
            job,
            layout: Arc::new(layout),
            timing,
            events: VecDeque::new(),
            pending: Some(Io::Describe),
            finished: None,
            mode: Mode::Look(Look::First),
            device: None,
            fsbl_sent: false,
            sent_here: BTreeSet::new(),
            partitions_sent: BTreeSet::new(),
            rom_waited: Duration::ZERO,
            rom_detached_asking: false,
            reenumerations: 0,
            at: Where::default(),
            summary: Summary::default(),
        })
    }

    /// What to do next. Events come first; an [`Action::Io`] is repeated until [`Sequencer::complete`] is called.
    pub fn poll(&mut self) -> Action {
        if let Some(e) = self.events.pop_front() {
            return Action::Event(e);
        }
        if let Some(r) = &self.finished {
            return Action::Finished(r.clone());
        }
        match &self.pending {
            Some(io) => Action::Io(io.clone()),
            None => Action::Finished(Err(self.error(FailureKind::Transport("the sequencer has nothing to do (a bug)".into())))),
        }
    }

    /// The reply to the last [`Action::Io`].
    pub fn complete(&mut self, reply: Reply) {
        if self.finished.is_some() || self.pending.take().is_none() {
            return;
        }
        let mode = std::mem::replace(&mut self.mode, Mode::Over);
        match mode {
            Mode::Look(look) => self.on_look(look, reply),
            Mode::Query(q) => self.on_query(q, reply),
            Mode::Download(dl, sending) => self.on_download(dl, sending, reply),
            Mode::Explain(q, kind) => self.on_explain(q, kind, reply),
            Mode::Leave(step, next) => self.on_leave(step, next),
            Mode::RomPause => self.look(Look::AfterRomManifest),
            Mode::Over => {}
        }
    }

    /// Stop: the run was interrupted.
    pub fn interrupt(&mut self) {
        if self.finished.is_none() {
            self.fail(FailureKind::Interrupted);
        }
    }

    fn error(&self, kind: FailureKind) -> FlashError {
        FlashError { at: self.at.clone(), kind }
    }

    fn fail(&mut self, kind: FailureKind) {
        self.mode = Mode::Over;
        self.pending = None;
        self.finished = Some(Err(self.error(kind)));
    }

    fn io(&mut self, mode: Mode, io: Io) {
        self.mode = mode;
        self.pending = Some(io);
    }

    fn stage(&self) -> Stage {
        self.at.stage.unwrap_or(Stage::Unknown)
    }

    fn look(&mut self, look: Look) {
        self.io(Mode::Look(look), Io::Describe);
    }

    /// Count a wait for the board to come back; false (and the flash failed) past [`MAX_REENUMERATIONS`].
    fn count_reenumeration(&mut self) -> bool {
        self.reenumerations += 1;
        if self.reenumerations > MAX_REENUMERATIONS {
            self.fail(FailureKind::EndlessReenumeration { count: MAX_REENUMERATIONS });
            return false;
        }
        true
    }

    fn reconnect(&mut self, after: Stage, timeout: Duration) {
        if !self.count_reenumeration() {
            return;
        }
        self.events.push_back(Event::Waiting { after, timeout });
        self.io(Mode::Look(Look::Reconnect(after)), Io::AwaitReconnect { timeout });
    }

    /// After the ROM's DETACH: wait [`Timing::detach_grace`] for TF-A to enumerate; if it does not, reset the port
    /// (what snagboot does after GetPhase and DETACH on MP13/MP25, and `dfu-util -R`) and wait for the rest of
    /// `timeout`. TF-A on STM32MP25 keeps the ROM's USB connection (`stm32mp2_usb_dfu.c` `usb_dfu_plat_init`): the
    /// kernel sees its descriptors only when a reset makes it read them again.
    fn reconnect_after_rom_detach(&mut self, timeout: Duration) {
        if !self.count_reenumeration() {
            return;
        }
        self.events.push_back(Event::Waiting { after: Stage::Rom, timeout });
        let grace = self.timing.detach_grace.min(timeout);
        self.io(Mode::Look(Look::RomDetached(timeout)), Io::AwaitReconnect { timeout: grace });
    }

    fn on_look(&mut self, look: Look, reply: Reply) {
        if let Look::RomDetached(timeout) = look {
            if reply == Reply::TimedOut {
                let rest = timeout.saturating_sub(self.timing.detach_grace);
                self.events.push_back(Event::PortReset {
                    stage: Stage::Rom,
                    why: "nothing enumerated after the ROM's DETACH: TF-A may have kept its connection",
                });
                return self.io(Mode::Leave(DetachStep::Reset, Next::Resume(Stage::Rom, rest)), Io::ResetPort);
            }
            return self.on_look(Look::Reconnect(Stage::Rom), reply);
        }
        let raw = match reply {
            Reply::Device(raw) => raw,
            Reply::Gone if look == Look::AfterRomManifest => return self.reconnect(Stage::Rom, self.timing.after_rom),
            Reply::Gone => return self.fail(FailureKind::DeviceLeft { during: "while its descriptors were read".into() }),
            Reply::TimedOut => {
                let (after, waited) = match look {
                    Look::Reconnect(Stage::Rom) if self.rom_detached_asking => (
                        "the ROM was told to detach while its GetPhase still asked for the FSBL (phase 0x01): it may have rejected it".to_string(),
                        self.timing.after_rom,
                    ),
                    Look::Reconnect(Stage::Rom) => ("the ROM loaded the FSBL".to_string(), self.timing.after_rom),
                    Look::Reconnect(Stage::Tfa) => ("TF-A was told to detach".to_string(), self.timing.after_tfa),
                    Look::Reconnect(s) => (format!("{s} was told to detach"), self.timing.after_layout),
                    // A read of a board that is there, not a wait for one to come back.
                    Look::First | Look::AfterRomManifest | Look::RomDetached(_) => {
                        return self.fail(FailureKind::DescriptorsTimedOut { during: look.during().into() });
                    }
                };
                return self.fail(FailureKind::ReconnectTimeout { waited, after });
            }
            Reply::Failed(m) | Reply::HostFailed(m) => {
                return self.fail(FailureKind::Transport(format!("reading its descriptors {}: {m}", look.during())));
            }
            other => return self.fail(FailureKind::Transport(format!("unexpected reply to reading its descriptors {}: {other}", look.during()))),
        };
        let device = match DfuDevice::parse(&raw) {
            Ok(d) => d,
            Err(e) => return self.fail(e.into()),
        };
        self.enter(device, &look);
    }

    fn enter(&mut self, device: DfuDevice, look: &Look) {
        let stage = device.product.stage;
        self.at = Where { stage: Some(stage), ..Where::default() };
        if stage == Stage::Unknown {
            return self.fail(FailureKind::UnknownStage { product: device.product_text.clone() });
        }
        if let Some(id) = device.product.device_id {
            let found = device.product.soc();
            if found != Some(self.job.soc) {
                return self.fail(FailureKind::SocMismatch {
                    expected: self.job.soc.label(),
                    found: found.map_or("an unknown SoC", Soc::label),
                    device_id: id,
                });
            }
        }
        if let Look::Reconnect(before) = look {
            let regressed = stage_rank(stage) < stage_rank(*before) || (stage == Stage::Rom && *before == Stage::Rom);
            if regressed && stage == Stage::Rom && *before == Stage::Rom && self.rom_detached_asking {
                let alternate = self.device.as_ref().and_then(|d| d.alternate_for(PhaseId::FSBL)).map(|a| a.text.clone());
                let image = Some(self.job.images[self.job.fsbl.0].label.clone());
                self.at = Where { stage: Some(Stage::Rom), phase: Some(PhaseId::FSBL), alternate, image };
                return self.fail(FailureKind::RomRejected {
                    evidence: "told to detach while its GetPhase still asked for the FSBL (phase 0x01), it came back as the ROM".into(),
                });
            }
            if regressed {
                return self.fail(FailureKind::DeviceLeft {
                    during: format!("after {before}: it came back as the {stage}, so it was reset (the stage crashed or rejected its image)"),
                });
            }
        }
        let previous = self.device.as_ref().map(|d| (d.connection, d.product.stage));
        let new_connection = previous.is_none_or(|(c, _)| c != device.connection);
        if new_connection || previous.is_some_and(|(_, s)| s != stage) {
            self.sent_here.clear();
            self.events.push_back(Event::Stage {
                stage,
                product: device.product_text.clone(),
                connection: device.connection,
                serial: device.serial.clone(),
            });
            if self.summary.stages.last() != Some(&stage) {
                self.summary.stages.push(stage);
            }
        }
        if self.summary.serial.is_none() {
            self.summary.serial.clone_from(&device.serial);
        }
        if stage == Stage::Uboot {
            let has_partitions = device.alternates.iter().any(|a| a.parsed.as_ref().is_some_and(|p| (0x01..=0xF0).contains(&p.phase.0)));
            if has_partitions {
                let missing: Vec<PhaseId> = self.job.partitions.keys().map(|&p| PhaseId(p)).filter(|&p| device.alternate_for(p).is_none()).collect();
                if let Some(&phase) = missing.first() {
                    self.device = Some(device.clone());
                    return self.fail(FailureKind::NoAlternate { phase, offered: device.offered() });
                }
            }
        }
        self.device = Some(device);
        if stage == Stage::Rom && !self.fsbl_sent {
            let fsbl = self.job.fsbl;
            return self.send(PhaseId::FSBL, Source::Image(fsbl));
        }
        self.query();
    }

    fn query(&mut self) {
        let Some(device) = &self.device else { return self.fail(FailureKind::Transport("no device".into())) };
        match Query::start(device, self.timing.request, self.timing.poll) {
            Ok((q, io)) => self.io(Mode::Query(q), io),
            // A ROM that offers no GetPhase: leave DFU mode the standard way (dfu-util -R).
            Err(_) if self.stage() == Stage::Rom => self.leave(Next::Reconnect(Stage::Rom, self.timing.after_rom)),
            Err(kind) => self.fail(kind),
        }
    }

    fn on_query(&mut self, mut q: Query, reply: Reply) {
        match q.resume(reply) {
            QOut::Io(io) => self.io(Mode::Query(q), io),
            QOut::Fail(kind) => self.fail(kind),
            QOut::Done(r) => self.on_phase(&r),
        }
    }

    fn on_phase(&mut self, r: &PhaseReply) {
        if r.phase == PhaseId::RESET {
            // `at` still names the phase sent last: the error is about it, or about what the device did after it,
            // unless U-Boot's text names another partition of the job (`"%s (0x%x): ..."`, e.g. the next one failing
            // to erase): then the error is at that partition.
            let text = r.error.clone().unwrap_or_default();
            if self.stage() == Stage::Uboot
                && let Some(named) = partition_named_in(&text)
                && self.at.phase != Some(named)
                && let Some(&image) = self.job.partitions.get(&named.0)
            {
                let alternate = self.device.as_ref().and_then(|d| d.alternate_for(named)).map(|a| a.text.clone());
                let image = Some(self.job.images[image.0].label.clone());
                self.at = Where { stage: Some(Stage::Uboot), phase: Some(named), alternate, image };
            }
            return self.fail(FailureKind::DeviceSays { text });
        }
        self.at = Where { stage: self.at.stage, phase: Some(r.phase), ..Where::default() };
        let stage = self.stage();
        if r.phase == PhaseId::LAYOUT && r.detach_requested {
            let timeout = match stage {
                Stage::Rom => self.timing.after_rom,
                Stage::Tfa => self.timing.after_tfa,
                _ => self.timing.after_layout,
            };
            return self.leave(Next::Reconnect(stage, timeout));
        }
        match stage {
            Stage::Rom => {
                if r.phase != PhaseId::FSBL {
                    return self.leave(Next::Reconnect(Stage::Rom, self.timing.after_rom));
                }
                if self.job.soc != Soc::Stm32mp15 {
                    // MP13/MP25: detach whatever GetPhase says (snagboot does); a ROM that rejected the FSBL shows
                    // itself by coming back as the ROM.
                    self.rom_detached_asking = true;
                    return self.leave(Next::Reconnect(Stage::Rom, self.timing.after_rom));
                }
                if self.rom_waited >= self.timing.rom_handover {
                    return self.fail(FailureKind::RomRejected {
                        evidence: format!("it still asks for it (GetPhase phase 0x01) {:?} after its manifestation", self.rom_waited),
                    });
                }
                self.rom_waited += self.timing.rom_retry;
                self.io(Mode::RomPause, Io::Sleep(self.timing.rom_retry));
            }
            Stage::Tfa => match r.phase {
                PhaseId::LAYOUT => self.send_layout(r.phase),
                PhaseId::DDR_FW => match self.job.ddr_firmware {
                    Some(image) => self.send(r.phase, Source::Image(image)),
                    None => self.fail(FailureKind::NoImage { phase: r.phase, what: "the DDR firmware FIP".into() }),
                },
                PhaseId::SSBL => {
                    let ssbl = self.job.ssbl;
                    self.send(r.phase, Source::Image(ssbl));
                }
                other => self.fail(FailureKind::UnexpectedPhase { phase: other, stage }),
            },
            Stage::Uboot => match r.phase {
                PhaseId::LAYOUT => self.send_layout(r.phase),
                PhaseId::END => self.finish(),
                PhaseId(p @ 0x01..=0xF0) => match self.job.partitions.get(&p) {
                    Some(&image) if r.offset != 0 => {
                        // `dfu_initiated_callback` starts the download at this offset in the partition: our image
                        // would land there. Only a Start command sets it, and this client sends none.
                        self.at.alternate = self.device.as_ref().and_then(|d| d.alternate_for(r.phase)).map(|a| a.text.clone());
                        self.at.image = Some(self.job.images[image.0].label.clone());
                        self.fail(FailureKind::ResumeOffset { phase: r.phase, offset: r.offset })
                    }
                    Some(&image) => self.send(r.phase, Source::Image(image)),
                    None => {
                        let what = self
                            .device
                            .as_ref()
                            .and_then(|d| d.alternate_for(r.phase))
                            .map_or_else(|| "a partition".to_string(), |a| format!("alternate `{}`", a.text));
                        self.fail(FailureKind::NoImage { phase: r.phase, what })
                    }
                },
                other => self.fail(FailureKind::UnexpectedPhase { phase: other, stage }),
            },
            Stage::Unknown => self.fail(FailureKind::UnexpectedPhase { phase: r.phase, stage }),
        }
    }

    fn send_layout(&mut self, phase: PhaseId) {
        let layout = Arc::clone(&self.layout);
        self.send(phase, Source::Bytes(layout));
    }

    fn send(&mut self, phase: PhaseId, source: Source) {
        let stage = self.stage();
        if self.sent_here.contains(&phase) {
            return self.fail(FailureKind::PhaseRepeated { phase });
        }
        let (label, total) = match &source {
            Source::Image(id) => {
                let info = &self.job.images[id.0];
                (info.label.clone(), info.len)
            }
            Source::Bytes(b) => ("flash layout (STM32 header v1.0 + TSV)".to_string(), b.len() as u64),
        };
        let Some(device) = &self.device else { return self.fail(FailureKind::Transport("no device".into())) };
        let Some(alt) = device.alternate_for(phase) else {
            return self.fail(FailureKind::NoAlternate { phase, offered: device.offered() });
        };
        let (setting, alt_text) = (alt.setting, alt.text.clone());
        self.at = Where { stage: Some(stage), phase: Some(phase), alternate: Some(alt_text.clone()), image: Some(label.clone()) };
        let block = match device.block_size() {
            Ok(b) => b,
            Err(e) => return self.fail(e.into()),
        };
        self.events.push_back(Event::PhaseStarted { stage, phase, alternate: alt_text, image: label.clone(), total: ByteSize::new(total) });
        let dl = Download::new(source, total, block, self.timing.poll, self.timing.transfer);
        self.io(Mode::Download(Box::new(dl), Sending { phase, image: label, setting, selected: false, reported: 0 }), Io::SelectAlt(setting));
    }

    fn on_download(&mut self, mut dl: Box<Download>, mut sending: Sending, reply: Reply) {
        let step = if sending.selected {
            dl.resume(reply)
        } else {
            match reply {
                Reply::Done => {
                    sending.selected = true;
                    dl.start()
                }
                Reply::Gone => DlStep::Fail(FailureKind::DeviceLeft { during: format!("at SET_INTERFACE {}", sending.setting) }),
                other => DlStep::Fail(FailureKind::Transport(format!("SET_INTERFACE {setting} failed: {other}", setting = sending.setting))),
            }
        };
        if dl.sent() >= sending.reported + self.timing.progress_step && dl.sent() < dl.total() {
            sending.reported = dl.sent();
            self.events.push_back(Event::PhaseProgress { phase: sending.phase, sent: ByteSize::new(dl.sent()), total: ByteSize::new(dl.total()) });
        }
        match step {
            DlStep::Io(io) => self.io(Mode::Download(dl, sending), io),
            DlStep::Fail(kind) => self.explain(kind),
            DlStep::Done(end) => self.downloaded(&dl, &sending, end),
        }
    }

    fn downloaded(&mut self, dl: &Download, sending: &Sending, end: ManifestEnd) {
        let stage = self.stage();
        let phase = sending.phase;
        self.events.push_back(Event::PhaseProgress { phase, sent: ByteSize::new(dl.sent()), total: ByteSize::new(dl.total()) });
        self.events.push_back(Event::PhaseDone { stage, phase, sent: ByteSize::new(dl.sent()) });
        self.summary.phases.push(PhaseRecord { stage, phase, image: sending.image.clone(), bytes: ByteSize::new(dl.sent()) });
        self.summary.bytes = ByteSize::new(self.summary.bytes.get() + dl.sent());
        self.sent_here.insert(phase);
        if stage == Stage::Rom {
            self.fsbl_sent = true;
        }
        if stage == Stage::Uboot && phase != PhaseId::LAYOUT {
            self.partitions_sent.insert(phase.0);
        }
        let tolerant = self.device.as_ref().is_some_and(|d| d.functional.manifestation_tolerant());
        let timeout = match stage {
            Stage::Rom => self.timing.after_rom,
            Stage::Tfa => self.timing.after_tfa,
            _ => self.timing.after_layout,
        };
        match end {
            ManifestEnd::Idle if stage == Stage::Rom => self.look(Look::AfterRomManifest),
            ManifestEnd::Idle => self.query(),
            ManifestEnd::WaitReset => {
                self.events.push_back(Event::PortReset { stage, why: "the device waits for a USB reset after manifestation" });
                self.io(Mode::Leave(DetachStep::Reset, Next::Reconnect(stage, timeout)), Io::ResetPort);
            }
            // A ROM hands over to TF-A during its manifestation, and a stage that is not manifestation tolerant may
            // stop answering, or leave, while it does (DFU 1.1 §7); a tolerant stage must keep answering. A ROM that
            // stopped answering is looked at again where it is (on STM32MP15 TF-A keeps its connection; one that
            // re-enumerates is then gone and waited for), any other is waited for.
            ManifestEnd::Unanswered(_) if stage == Stage::Rom => self.look(Look::AfterRomManifest),
            ManifestEnd::Left | ManifestEnd::Unanswered(_) if stage == Stage::Rom || !tolerant => self.reconnect(stage, timeout),
            ManifestEnd::Left => self.fail(FailureKind::DeviceLeft {
                during: "during manifestation, though its functional descriptor says it is manifestation tolerant".into(),
            }),
            ManifestEnd::Unanswered(kind) => self.fail(kind),
        }
    }

    /// After a device error, ask GetPhase once for the device's own words, if it can still answer.
    fn explain(&mut self, kind: FailureKind) {
        let askable = matches!(kind, FailureKind::DeviceStatus { .. } | FailureKind::Stalled { .. } | FailureKind::PollLimit { .. });
        let started = askable.then(|| self.device.as_ref().map(|d| Query::start(d, self.timing.request, self.timing.poll))).flatten();
        match started {
            Some(Ok((q, io))) => self.io(Mode::Explain(q, kind), io),
            _ => self.fail(kind),
        }
    }

    fn on_explain(&mut self, mut q: Query, kind: FailureKind, reply: Reply) {
        match q.resume(reply) {
            QOut::Io(io) => self.io(Mode::Explain(q, kind), io),
            QOut::Fail(_) => self.fail(kind),
            QOut::Done(r) => {
                let text = r.error.clone();
                let kind = match kind {
                    FailureKind::DeviceStatus { status, state, during, .. } => FailureKind::DeviceStatus { status, state, during, device_says: text },
                    FailureKind::Stalled { request, during, .. } => FailureKind::Stalled { request, during, device_says: text },
                    other => other,
                };
                self.fail(kind);
            }
        }
    }

    fn leave(&mut self, next: Next) {
        let stage = self.stage();
        let timeout_ms = self.device.as_ref().map_or(0, |d| d.functional.detach_timeout_ms);
        self.events.push_back(Event::Detached { stage });
        let io = Io::Request(Request::output(DfuRequest::Detach, timeout_ms, Payload::Empty, self.timing.request));
        self.io(Mode::Leave(DetachStep::Detach, next), io);
    }

    fn on_leave(&mut self, step: DetachStep, next: Next) {
        // Whatever DETACH and the reset returned: the device may be gone before it answers.
        let will_detach = self.device.as_ref().is_some_and(|d| d.functional.will_detach());
        let reset = match next {
            // DETACH then a USB reset: U-Boot reboots the board.
            Next::Finish => true,
            Next::Reconnect(..) => !will_detach,
            Next::Resume(..) => false,
        };
        if step == DetachStep::Detach && reset {
            let why = match next {
                Next::Finish => "the end: U-Boot reboots the board",
                _ => "after DETACH: the device does not detach by itself (no bitWillDetach)",
            };
            self.events.push_back(Event::PortReset { stage: self.stage(), why });
            return self.io(Mode::Leave(DetachStep::Reset, next), Io::ResetPort);
        }
        match next {
            Next::Reconnect(Stage::Rom, timeout) if step == DetachStep::Detach => self.reconnect_after_rom_detach(timeout),
            Next::Resume(stage, timeout) => self.io(Mode::Look(Look::Reconnect(stage)), Io::AwaitReconnect { timeout }),
            Next::Reconnect(stage, timeout) => self.reconnect(stage, timeout),
            Next::Finish => {
                self.mode = Mode::Over;
                self.finished = Some(Ok(self.summary.clone()));
            }
        }
    }

    fn finish(&mut self) {
        let missing: Vec<PhaseId> = self.job.partitions.keys().filter(|p| !self.partitions_sent.contains(p)).map(|&p| PhaseId(p)).collect();
        if !missing.is_empty() {
            return self.fail(FailureKind::MissedPartitions { missing });
        }
        self.leave(Next::Finish);
    }
}
