//! The errors of the DFU layer: [`ProtocolError`] for bytes that do not parse (descriptors, replies, paths) and
//! [`FlashError`] for a board that could not be flashed, naming the stage, the phase and what the device said.

use std::{fmt, time::Duration};

use super::{
    descriptors::Stage,
    protocol::{DfuRequest, State, Status},
    stm32prog::PhaseId,
};

/// Bytes from the device (or a path from the user) that do not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A reply shorter than its fixed part.
    #[error("{request} returned {actual} bytes, at least {expected} expected")]
    ShortReply {
        /// The request.
        request: DfuRequest,
        /// The least length.
        expected: usize,
        /// What came.
        actual: usize,
    },
    /// The DFU functional descriptor is malformed.
    #[error("the DFU functional descriptor (type 0x21) is malformed ({length} bytes)")]
    BadFunctionalDescriptor {
        /// Bytes found.
        length: usize,
    },
    /// `wTransferSize` is 0.
    #[error("the DFU functional descriptor says wTransferSize 0: no block could be sent")]
    ZeroTransferSize,
    /// The device descriptor is malformed.
    #[error("the device descriptor is {length} bytes, 18 expected")]
    BadDeviceDescriptor {
        /// Bytes found.
        length: usize,
    },
    /// The configuration descriptor is malformed.
    #[error("the configuration descriptor is malformed at offset {offset:#x}: {reason}")]
    BadConfiguration {
        /// Where.
        offset: usize,
        /// What.
        reason: &'static str,
    },
    /// No interface with class 0xFE, subclass 0x01, protocol 0x02 (DFU mode).
    #[error("the configuration has no DFU-mode interface (class 0xfe, subclass 0x01, protocol 0x02)")]
    NoDfuInterface,
    /// The DFU interface has no functional descriptor.
    #[error("the DFU interface has no DFU functional descriptor (type 0x21)")]
    NoFunctionalDescriptor,
    /// A USB path that is not `BUS-PORT[.PORT…]`.
    #[error("USB path `{0}` is not BUS-PORT[.PORT...] (for example 3-1 or 1-2.4, as in /sys/bus/usb/devices)")]
    BadUsbPath(String),
}

/// Where on its way through the boot stages a board was when something went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Where {
    /// The program answering on USB.
    pub stage: Option<Stage>,
    /// The phase being sent or asked for.
    pub phase: Option<PhaseId>,
    /// The alternate's `iInterface` string.
    pub alternate: Option<String>,
    /// The image being sent (its label, usually the file name).
    pub image: Option<String>,
}

impl fmt::Display for Where {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stage {
            Some(s) => write!(f, "stage {s}")?,
            None => write!(f, "before the first stage was known")?,
        }
        if let Some(p) = self.phase {
            write!(f, ", phase {p} ({})", p.meaning())?;
        }
        if let Some(a) = &self.alternate {
            write!(f, ", alternate `{a}`")?;
        }
        if let Some(i) = &self.image {
            write!(f, ", image {i}")?;
        }
        Ok(())
    }
}

/// A board that could not be flashed: where, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{at}: {kind}")]
pub struct FlashError {
    /// Stage, phase, alternate and image.
    pub at: Where,
    /// What happened.
    pub kind: FailureKind,
}

fn says(text: &Option<String>) -> String {
    match text {
        Some(t) => format!("; the device says: \"{t}\""),
        None => String::new(),
    }
}

/// Why a board could not be flashed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FailureKind {
    /// GETSTATUS reported an error status.
    #[error("the device reports {status} in state {state} {during}{}", says(device_says))]
    DeviceStatus {
        /// `bStatus`.
        status: Status,
        /// `bState`.
        state: State,
        /// What the host had just done.
        during: String,
        /// GetPhase's error text, when the device gave one.
        device_says: Option<String>,
    },
    /// The device stalled a request.
    #[error("the device refused (stalled) {request} {during}{}", says(device_says))]
    Stalled {
        /// The request.
        request: DfuRequest,
        /// What the host was doing.
        during: String,
        /// GetPhase's error text, when the device gave one.
        device_says: Option<String>,
    },
    /// GetPhase answered 0xFF with an error text (TF-A `DFU_ERROR`, U-Boot `stm32prog_err`).
    #[error("the device reports an error (GetPhase 0xff): \"{text}\"")]
    DeviceSays {
        /// The text after the 9 fixed bytes.
        text: String,
    },
    /// The device left the bus when it should not have.
    #[error("the board left the USB bus {during}")]
    DeviceLeft {
        /// What the host was doing.
        during: String,
    },
    /// A request timed out.
    #[error("{request} timed out {during}")]
    TimedOut {
        /// The request.
        request: DfuRequest,
        /// What the host was doing.
        during: String,
    },
    /// Reading the board's descriptors and strings from a board that is there timed out.
    #[error("reading the board's descriptors (GET_DESCRIPTOR) timed out {during}")]
    DescriptorsTimedOut {
        /// When.
        during: String,
    },
    /// GETSTATUS gave a state the protocol does not allow here.
    #[error("the device is in state {state} {during}, which DFU does not allow there")]
    UnexpectedState {
        /// The state.
        state: State,
        /// What the host was doing.
        during: String,
    },
    /// The device kept the host polling for too long.
    #[error("the device stayed in state {state} for {waited:?} of polling {during}")]
    PollLimit {
        /// The last state.
        state: State,
        /// The waits the device asked for, added up.
        waited: Duration,
        /// What the host was doing.
        during: String,
    },
    /// GetPhase asked for a phase this stage does not take.
    #[error("the device asks for phase {phase} ({}), which stage {stage} does not take", phase.meaning())]
    UnexpectedPhase {
        /// The phase.
        phase: PhaseId,
        /// The stage.
        stage: Stage,
    },
    /// No alternate carries the phase's `/0xID/`.
    #[error("the device asks for phase {phase} but none of its alternates is `/{phase}/` (it offers: {})", offered.join(", "))]
    NoAlternate {
        /// The phase.
        phase: PhaseId,
        /// The `iInterface` strings it offers.
        offered: Vec<String>,
    },
    /// The device asks for a phase the job has no image for.
    #[error("the device asks for phase {phase} ({what}) but the job has no image for it")]
    NoImage {
        /// The phase.
        phase: PhaseId,
        /// What it is (the alternate's name).
        what: String,
    },
    /// The device asked for a phase again after it was sent and manifested.
    #[error("the device asks for phase {phase} again after it was sent and manifested: it did not take it")]
    PhaseRepeated {
        /// The phase.
        phase: PhaseId,
    },
    /// The board kept leaving and coming back without the flash getting anywhere.
    #[error(
        "the board left the bus and came back {count} times without the flash ending: its firmware keeps asking to be \
         detached (or re-enumerates by itself) without taking what it asks for"
    )]
    EndlessReenumeration {
        /// Re-enumerations waited for.
        count: usize,
    },
    /// The ROM did not run the FSBL: it kept asking for it after manifestation (STM32MP15), or came back as the ROM
    /// after the DETACH that should have started it (STM32MP13/MP25).
    #[error(
        "the ROM rejected the FSBL: {evidence} (check that it is a TF-A BL2 built for this SoC with \
         STM32MP_USB_PROGRAMMER=1, its STM32 header and checksum, and its signature on a closed chip)"
    )]
    RomRejected {
        /// What the ROM did.
        evidence: String,
    },
    /// U-Boot asks for a partition with a non-zero resume offset: it would write the image from there.
    #[error(
        "U-Boot asks for partition {phase} from offset {offset:#x}, not from its start: a resume offset set by an earlier \
         session's Start command (STM32CubeProgrammer) on a board still in stm32prog; the image would be written at \
         that offset, so nothing was sent (reset the board into USB boot and flash again)"
    )]
    ResumeOffset {
        /// The partition.
        phase: PhaseId,
        /// GetPhase's offset.
        offset: u32,
    },
    /// U-Boot reached END without asking for some partitions of the job.
    #[error("the device reached END (0xfe) without asking for {}: the layout it used differs from the job's", list_phases(missing))]
    MissedPartitions {
        /// The phases never asked for.
        missing: Vec<PhaseId>,
    },
    /// The board did not come back at its USB path.
    #[error("the board did not come back at its USB path within {waited:?} after {after}")]
    ReconnectTimeout {
        /// The wait.
        waited: Duration,
        /// What it was expected to do.
        after: String,
    },
    /// The board is another SoC than the job's.
    #[error("the board is {found} (Device ID {device_id:#05x}) but the job is for {expected}")]
    SocMismatch {
        /// The job's SoC.
        expected: &'static str,
        /// The board's SoC.
        found: &'static str,
        /// The Device ID in its product string.
        device_id: u16,
    },
    /// The product string names no known stage.
    #[error(
        "the product string \"{product}\" names none of the ROM (\"DFU in ...\"), TF-A (\"DFU @Device ID ...\") or \
         U-Boot stm32prog (\"USB download gadget@Device ID ...\")"
    )]
    UnknownStage {
        /// The string.
        product: String,
    },
    /// Malformed descriptors or replies.
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    /// The USB transport failed.
    #[error("USB: {0}")]
    Transport(String),
    /// The host could not supply an image's bytes.
    #[error("reading the image: {0}")]
    Host(String),
    /// The job is not flashable as given.
    #[error("the job cannot be sent: {0}")]
    BadJob(String),
    /// The run was interrupted.
    #[error("interrupted")]
    Interrupted,
}

fn list_phases(phases: &[PhaseId]) -> String {
    phases.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
