//! USB DFU 1.1 on the default control endpoint, as plain data: the class requests, the device states and status
//! codes with their meanings, the `DFU_GETSTATUS` reply and the DFU functional descriptor.
//!
//! Pure: parses and builds bytes, no I/O. No DfuSe (ST's MCU extension): the STM32MP ROM, TF-A and U-Boot all speak
//! plain DFU 1.1 (U-Boot `doc/board/st/stm32mp1.rst`: "based on USB DFU 1.1 (without the ST extensions used on MCU
//! STM32)"). Values are those of the DFU 1.1 specification, and they are the same in TF-A
//! `plat/st/common/usb_dfu.c` (`STATE_*`, `DFU_ERROR_*`, the request codes) and U-Boot
//! `drivers/usb/gadget/f_dfu.h` (`DFU_STATE_*`, `DFU_STATUS_*`).

use std::fmt;

use super::error::ProtocolError;

/// `bDescriptorType` of the DFU functional descriptor.
pub const FUNCTIONAL_DESCRIPTOR_TYPE: u8 = 0x21;
/// Length of a `DFU_GETSTATUS` reply.
pub const STATUS_LEN: usize = 6;

/// A DFU class request (`bRequest`), sent to the DFU interface (`bmRequestType` class, recipient interface).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DfuRequest {
    /// `DFU_DETACH` (0), host→device, `wValue` = timeout in ms: leave DFU mode.
    Detach,
    /// `DFU_DNLOAD` (1), host→device, `wValue` = block number: one block of a download; zero length ends it.
    Dnload,
    /// `DFU_UPLOAD` (2), device→host: read; on ST's `0xF1` alternate this is GetPhase.
    Upload,
    /// `DFU_GETSTATUS` (3), device→host, 6 bytes.
    GetStatus,
    /// `DFU_CLRSTATUS` (4), host→device: leave `dfuERROR`.
    ClrStatus,
    /// `DFU_GETSTATE` (5), device→host, 1 byte.
    GetState,
    /// `DFU_ABORT` (6), host→device: back to `dfuIDLE` from the idle states.
    Abort,
}

impl DfuRequest {
    /// The `bRequest` code.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            DfuRequest::Detach => 0,
            DfuRequest::Dnload => 1,
            DfuRequest::Upload => 2,
            DfuRequest::GetStatus => 3,
            DfuRequest::ClrStatus => 4,
            DfuRequest::GetState => 5,
            DfuRequest::Abort => 6,
        }
    }

    /// The request from its code.
    #[must_use]
    pub fn from_code(code: u8) -> Option<DfuRequest> {
        Some(match code {
            0 => DfuRequest::Detach,
            1 => DfuRequest::Dnload,
            2 => DfuRequest::Upload,
            3 => DfuRequest::GetStatus,
            4 => DfuRequest::ClrStatus,
            5 => DfuRequest::GetState,
            6 => DfuRequest::Abort,
            _ => return None,
        })
    }

    /// The specification's name (`DFU_DNLOAD`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            DfuRequest::Detach => "DFU_DETACH",
            DfuRequest::Dnload => "DFU_DNLOAD",
            DfuRequest::Upload => "DFU_UPLOAD",
            DfuRequest::GetStatus => "DFU_GETSTATUS",
            DfuRequest::ClrStatus => "DFU_CLRSTATUS",
            DfuRequest::GetState => "DFU_GETSTATE",
            DfuRequest::Abort => "DFU_ABORT",
        }
    }
}

impl fmt::Display for DfuRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `bState`: where the device's DFU state machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// 0 `appIDLE`: running the application, DFU runtime mode.
    AppIdle,
    /// 1 `appDETACH`: got DETACH, waiting for a USB reset.
    AppDetach,
    /// 2 `dfuIDLE`: in DFU mode, waiting for requests.
    DfuIdle,
    /// 3 `dfuDNLOAD-SYNC`: got a block, waiting for GETSTATUS.
    DnloadSync,
    /// 4 `dfuDNBUSY`: programming a block; poll again after `bwPollTimeout`.
    DnBusy,
    /// 5 `dfuDNLOAD-IDLE`: ready for the next block.
    DnloadIdle,
    /// 6 `dfuMANIFEST-SYNC`: got the zero-length DNLOAD, waiting for GETSTATUS to start manifestation.
    ManifestSync,
    /// 7 `dfuMANIFEST`: acting on the image (parsing, flushing, jumping).
    Manifest,
    /// 8 `dfuMANIFEST-WAIT-RESET`: manifestation done, the device waits for a USB reset (not manifestation tolerant).
    ManifestWaitReset,
    /// 9 `dfuUPLOAD-IDLE`: in an upload, waiting for the next UPLOAD.
    UploadIdle,
    /// 10 `dfuERROR`: an error happened; `bStatus` says which; leave with CLRSTATUS.
    Error,
    /// A value the specification does not define.
    Other(u8),
}

impl State {
    /// The state from `bState`.
    #[must_use]
    pub fn from_code(code: u8) -> State {
        match code {
            0 => State::AppIdle,
            1 => State::AppDetach,
            2 => State::DfuIdle,
            3 => State::DnloadSync,
            4 => State::DnBusy,
            5 => State::DnloadIdle,
            6 => State::ManifestSync,
            7 => State::Manifest,
            8 => State::ManifestWaitReset,
            9 => State::UploadIdle,
            10 => State::Error,
            other => State::Other(other),
        }
    }

    /// `bState`.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            State::AppIdle => 0,
            State::AppDetach => 1,
            State::DfuIdle => 2,
            State::DnloadSync => 3,
            State::DnBusy => 4,
            State::DnloadIdle => 5,
            State::ManifestSync => 6,
            State::Manifest => 7,
            State::ManifestWaitReset => 8,
            State::UploadIdle => 9,
            State::Error => 10,
            State::Other(c) => c,
        }
    }

    /// The specification's name (`dfuDNLOAD-IDLE`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            State::AppIdle => "appIDLE",
            State::AppDetach => "appDETACH",
            State::DfuIdle => "dfuIDLE",
            State::DnloadSync => "dfuDNLOAD-SYNC",
            State::DnBusy => "dfuDNBUSY",
            State::DnloadIdle => "dfuDNLOAD-IDLE",
            State::ManifestSync => "dfuMANIFEST-SYNC",
            State::Manifest => "dfuMANIFEST",
            State::ManifestWaitReset => "dfuMANIFEST-WAIT-RESET",
            State::UploadIdle => "dfuUPLOAD-IDLE",
            State::Error => "dfuERROR",
            State::Other(_) => "undefined state",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// `bStatus`: the result of the last request, and the reason for `dfuERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 0x00 `OK`.
    Ok,
    /// 0x01 `errTARGET`: the file is not targeted for this device.
    Target,
    /// 0x02 `errFILE`: the file fails a vendor-specific verification.
    File,
    /// 0x03 `errWRITE`: the device cannot write memory.
    Write,
    /// 0x04 `errERASE`: memory erase failed.
    Erase,
    /// 0x05 `errCHECK_ERASED`: memory erase check failed.
    CheckErased,
    /// 0x06 `errPROG`: program memory function failed.
    Prog,
    /// 0x07 `errVERIFY`: programmed memory failed verification.
    Verify,
    /// 0x08 `errADDRESS`: address out of range.
    Address,
    /// 0x09 `errNOTDONE`: a zero-length DNLOAD came, but the device thinks the firmware is incomplete.
    NotDone,
    /// 0x0A `errFIRMWARE`: the device's firmware is corrupt; it cannot return to run-time operation.
    Firmware,
    /// 0x0B `errVENDOR`: vendor-specific error (`iString` may name it).
    Vendor,
    /// 0x0C `errUSBR`: unexpected USB reset.
    UsbReset,
    /// 0x0D `errPOR`: unexpected power-on reset.
    PowerOnReset,
    /// 0x0E `errUNKNOWN`: something went wrong, the device does not know what (U-Boot's code for every write error).
    Unknown,
    /// 0x0F `errSTALLEDPKT`: the device stalled an unexpected request.
    StalledPacket,
    /// A value the specification does not define.
    Other(u8),
}

impl Status {
    /// The status from `bStatus`.
    #[must_use]
    pub fn from_code(code: u8) -> Status {
        match code {
            0x00 => Status::Ok,
            0x01 => Status::Target,
            0x02 => Status::File,
            0x03 => Status::Write,
            0x04 => Status::Erase,
            0x05 => Status::CheckErased,
            0x06 => Status::Prog,
            0x07 => Status::Verify,
            0x08 => Status::Address,
            0x09 => Status::NotDone,
            0x0A => Status::Firmware,
            0x0B => Status::Vendor,
            0x0C => Status::UsbReset,
            0x0D => Status::PowerOnReset,
            0x0E => Status::Unknown,
            0x0F => Status::StalledPacket,
            other => Status::Other(other),
        }
    }

    /// `bStatus`.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0x00,
            Status::Target => 0x01,
            Status::File => 0x02,
            Status::Write => 0x03,
            Status::Erase => 0x04,
            Status::CheckErased => 0x05,
            Status::Prog => 0x06,
            Status::Verify => 0x07,
            Status::Address => 0x08,
            Status::NotDone => 0x09,
            Status::Firmware => 0x0A,
            Status::Vendor => 0x0B,
            Status::UsbReset => 0x0C,
            Status::PowerOnReset => 0x0D,
            Status::Unknown => 0x0E,
            Status::StalledPacket => 0x0F,
            Status::Other(c) => c,
        }
    }

    /// The specification's name (`errWRITE`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Target => "errTARGET",
            Status::File => "errFILE",
            Status::Write => "errWRITE",
            Status::Erase => "errERASE",
            Status::CheckErased => "errCHECK_ERASED",
            Status::Prog => "errPROG",
            Status::Verify => "errVERIFY",
            Status::Address => "errADDRESS",
            Status::NotDone => "errNOTDONE",
            Status::Firmware => "errFIRMWARE",
            Status::Vendor => "errVENDOR",
            Status::UsbReset => "errUSBR",
            Status::PowerOnReset => "errPOR",
            Status::Unknown => "errUNKNOWN",
            Status::StalledPacket => "errSTALLEDPKT",
            Status::Other(_) => "undefined status",
        }
    }

    /// What the status means (DFU 1.1 §6.1.2).
    #[must_use]
    pub fn meaning(self) -> &'static str {
        match self {
            Status::Ok => "no error",
            Status::Target => "the file is not targeted for this device",
            Status::File => "the file fails the device's verification",
            Status::Write => "the device cannot write memory",
            Status::Erase => "memory erase failed",
            Status::CheckErased => "memory erase check failed",
            Status::Prog => "program memory function failed",
            Status::Verify => "programmed memory failed verification",
            Status::Address => "address out of range",
            Status::NotDone => "the download ended but the device thinks the firmware is incomplete",
            Status::Firmware => "the device's firmware is corrupt",
            Status::Vendor => "vendor-specific error",
            Status::UsbReset => "unexpected USB reset",
            Status::PowerOnReset => "unexpected power-on reset",
            Status::Unknown => "unknown error",
            Status::StalledPacket => "the device stalled an unexpected request",
            Status::Other(_) => "a status code the DFU specification does not define",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#04x}: {})", self.name(), self.code(), self.meaning())
    }
}

/// A `DFU_GETSTATUS` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusReply {
    /// `bStatus`.
    pub status: Status,
    /// `bwPollTimeout`: the least time, in ms, the host waits before the next GETSTATUS (24-bit little-endian).
    pub poll_timeout_ms: u32,
    /// `bState`: the state the device is in (or, on TF-A, was in before this GETSTATUS moved it on).
    pub state: State,
    /// `iString`: index of a string describing the status, 0 for none.
    pub string_index: u8,
}

impl StatusReply {
    /// Parse the 6 reply bytes.
    pub fn parse(bytes: &[u8]) -> Result<StatusReply, ProtocolError> {
        if bytes.len() < STATUS_LEN {
            return Err(ProtocolError::ShortReply { request: DfuRequest::GetStatus, expected: STATUS_LEN, actual: bytes.len() });
        }
        Ok(StatusReply {
            status: Status::from_code(bytes[0]),
            poll_timeout_ms: u32::from_le_bytes([bytes[1], bytes[2], bytes[3], 0]),
            state: State::from_code(bytes[4]),
            string_index: bytes[5],
        })
    }

    /// The 6 bytes (for test devices).
    #[must_use]
    pub fn encode(&self) -> [u8; STATUS_LEN] {
        let p = self.poll_timeout_ms.to_le_bytes();
        [self.status.code(), p[0], p[1], p[2], self.state.code(), self.string_index]
    }
}

/// The DFU functional descriptor (type 0x21) of the DFU interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FunctionalDescriptor {
    /// `bmAttributes` as sent.
    pub attributes: u8,
    /// `wDetachTimeOut` in ms.
    pub detach_timeout_ms: u16,
    /// `wTransferSize`: the most bytes one DNLOAD/UPLOAD carries.
    pub transfer_size: u16,
    /// `bcdDFUVersion` (0x0110 for DFU 1.1); 0 when the descriptor is the short DFU 1.0 form.
    pub dfu_version: u16,
}

impl FunctionalDescriptor {
    /// bit 2 `bitManifestationTolerant`: the device still answers after manifestation (no reset needed).
    #[must_use]
    pub fn manifestation_tolerant(&self) -> bool {
        self.attributes & 0x04 != 0
    }
    /// bit 3 `bitWillDetach`: on DFU_DETACH the device leaves the bus by itself; without it the host resets it.
    #[must_use]
    pub fn will_detach(&self) -> bool {
        self.attributes & 0x08 != 0
    }

    /// Parse the descriptor bytes (starting at `bLength`). DFU 1.0 devices send 7 bytes (no `bcdDFUVersion`).
    pub fn parse(bytes: &[u8]) -> Result<FunctionalDescriptor, ProtocolError> {
        let len = bytes.first().copied().map_or(0, usize::from);
        if bytes.len() < 7 || len < 7 || bytes.len() < len {
            return Err(ProtocolError::BadFunctionalDescriptor { length: bytes.len() });
        }
        if bytes[1] != FUNCTIONAL_DESCRIPTOR_TYPE {
            return Err(ProtocolError::BadFunctionalDescriptor { length: bytes.len() });
        }
        Ok(FunctionalDescriptor {
            attributes: bytes[2],
            detach_timeout_ms: u16::from_le_bytes([bytes[3], bytes[4]]),
            transfer_size: u16::from_le_bytes([bytes[5], bytes[6]]),
            dfu_version: if len >= 9 { u16::from_le_bytes([bytes[7], bytes[8]]) } else { 0 },
        })
    }

    /// The bytes of a DFU 1.1 functional descriptor (for test devices).
    #[must_use]
    pub fn encode(&self) -> [u8; 9] {
        let d = self.detach_timeout_ms.to_le_bytes();
        let t = self.transfer_size.to_le_bytes();
        let v = self.dfu_version.to_le_bytes();
        [9, FUNCTIONAL_DESCRIPTOR_TYPE, self.attributes, d[0], d[1], t[0], t[1], v[0], v[1]]
    }
}

/// The bytes one DNLOAD block carries: `wTransferSize` rounded down to a multiple of `bMaxPacketSize0` (so no block
/// ends in a short packet mid-transfer; snagboot's `protocols/dfu.py` does the same), or `wTransferSize` itself
/// when it is smaller than one packet.
pub fn block_size(transfer_size: u16, max_packet_size0: u8) -> Result<u32, ProtocolError> {
    let transfer = u32::from(transfer_size);
    let packet = u32::from(max_packet_size0);
    if transfer == 0 {
        return Err(ProtocolError::ZeroTransferSize);
    }
    if packet == 0 || transfer < packet {
        return Ok(transfer);
    }
    Ok(transfer - transfer % packet)
}

/// The `wValue` of block `index` of a download: block numbers start at 0 and wrap from 65535 to 0 (DFU 1.1 §6.1.1;
/// U-Boot `dfu_write` rejects any other sequence with "Wrong sequence number").
#[must_use]
pub fn block_number(index: u64) -> u16 {
    u16::try_from(index % 0x1_0000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DFU 1.1 §6.1.2: `bwPollTimeout` is 3 bytes, little-endian. U-Boot `dfu_set_poll_timeout` writes the low three
    /// bytes of a u32; TF-A `usb_dfu_get_status` writes 1 ms in byte 1 during manifestation.
    #[test]
    fn getstatus_poll_timeout_is_24_bit_little_endian() {
        let r = StatusReply::parse(&[0x00, 0x34, 0x12, 0x05, 0x05, 0x00]).unwrap();
        assert_eq!(r.poll_timeout_ms, 0x0005_1234);
        assert_eq!(r.state, State::DnloadIdle);
        assert_eq!(r.status, Status::Ok);
        let tfa_manifest = StatusReply::parse(&[0, 1, 0, 0, 7, 0]).unwrap();
        assert_eq!((tfa_manifest.poll_timeout_ms, tfa_manifest.state), (1, State::Manifest));
        assert_eq!(StatusReply::parse(&r.encode()).unwrap(), r);
        let short = StatusReply::parse(&[0, 0, 0, 0, 2]).unwrap_err();
        assert_eq!(short.to_string(), "DFU_GETSTATUS returned 5 bytes, at least 6 expected");
    }

    /// Every status code of DFU 1.1 §6.1.2 (TF-A `usb_dfu.c` `DFU_ERROR_*`, U-Boot `f_dfu.h` `DFU_STATUS_*`) has its
    /// name and meaning; the codes round-trip.
    #[test]
    fn every_status_has_its_name_and_meaning() {
        let names = [
            "OK",
            "errTARGET",
            "errFILE",
            "errWRITE",
            "errERASE",
            "errCHECK_ERASED",
            "errPROG",
            "errVERIFY",
            "errADDRESS",
            "errNOTDONE",
            "errFIRMWARE",
            "errVENDOR",
            "errUSBR",
            "errPOR",
            "errUNKNOWN",
            "errSTALLEDPKT",
        ];
        for (code, name) in (0u8..).zip(names) {
            let s = Status::from_code(code);
            assert_eq!(s.code(), code);
            assert_eq!(s.name(), name);
            assert!(!s.meaning().is_empty());
        }
        assert_eq!(Status::from_code(0x03).to_string(), "errWRITE (0x03: the device cannot write memory)");
        assert_eq!(Status::from_code(0x42), Status::Other(0x42));
        for code in 0u8..=10 {
            assert_eq!(State::from_code(code).code(), code);
            assert_ne!(State::from_code(code).name(), "undefined state");
        }
        assert_eq!(State::from_code(5).to_string(), "dfuDNLOAD-IDLE (5)");
        for code in 0u8..=6 {
            assert_eq!(DfuRequest::from_code(code).unwrap().code(), code);
        }
    }

    /// TF-A's descriptor (`stm32mp1_usb_dfu.c`: `DFU_BM_ATTRIBUTE` 0x0F, detach 255 ms, 1024 bytes, 0x0110) and
    /// U-Boot's (`f_dfu.c` `dfu_func`: will-detach | manifestation-tolerant | upload | download, `DFU_USB_BUFSIZ`
    /// 4096).
    #[test]
    fn functional_descriptor_attributes_and_transfer_size() {
        let tfa = FunctionalDescriptor::parse(&[9, 0x21, 0x0F, 0xFF, 0x00, 0x00, 0x04, 0x10, 0x01]).unwrap();
        assert!(tfa.will_detach() && tfa.manifestation_tolerant());
        assert_eq!((tfa.transfer_size, tfa.detach_timeout_ms, tfa.dfu_version), (1024, 255, 0x0110));
        let intolerant = FunctionalDescriptor::parse(&[9, 0x21, 0x01, 0, 0, 0x00, 0x10, 0x10, 0x01]).unwrap();
        assert!(!intolerant.will_detach() && !intolerant.manifestation_tolerant());
        assert_eq!(intolerant.transfer_size, 4096);
        let dfu10 = FunctionalDescriptor::parse(&[7, 0x21, 0x0B, 0, 0, 0x40, 0]).unwrap();
        assert_eq!((dfu10.transfer_size, dfu10.dfu_version), (64, 0));
        assert!(FunctionalDescriptor::parse(&[9, 0x21, 0x0F]).is_err());
        assert!(FunctionalDescriptor::parse(&[9, 0x04, 0x0F, 0, 0, 0, 4, 0x10, 1]).is_err());
        assert_eq!(FunctionalDescriptor::parse(&tfa.encode()).unwrap(), tfa);
    }

    /// Blocks are `wTransferSize` rounded down to a multiple of `bMaxPacketSize0` (snagboot `DFU.__init__`).
    #[test]
    fn block_size_rounds_down_to_the_packet_size() {
        assert_eq!(block_size(1024, 64).unwrap(), 1024);
        assert_eq!(block_size(4096, 64).unwrap(), 4096);
        assert_eq!(block_size(1000, 64).unwrap(), 960);
        assert_eq!(block_size(32, 64).unwrap(), 32);
        assert!(block_size(0, 64).is_err());
    }

    /// U-Boot `dfu_write`: "wrapping to zero from 65,535".
    #[test]
    fn block_numbers_wrap_at_65535() {
        assert_eq!(block_number(0), 0);
        assert_eq!(block_number(65_535), 65_535);
        assert_eq!(block_number(65_536), 0);
        assert_eq!(block_number(65_537), 1);
    }
}
