//! ST's layer on top of DFU, shared by TF-A and U-Boot `stm32prog`: phase ids, GetPhase (an UPLOAD on the `0xF1`
//! alternate) and the flash layout wrapped in an STM32 header. The host never sends Start (a 5-byte DNLOAD to
//! `0xF1`, U-Boot `stm32prog_cmd_write`): it is how STM32CubeProgrammer jumps to an address or resumes a partition
//! at an offset, neither of which this client does.
//!
//! Pure. Written from TF-A `plat/st/common/stm32cubeprogrammer_usb.c` (`dfu_callback_upload`) and
//! `include/stm32cubeprogrammer.h`, and U-Boot `arch/arm/mach-stm32mp/cmd_stm32prog/stm32prog_usb.c`
//! (`stm32prog_cmd_read`, `stm32prog_cmd_write`), `stm32prog.h` and `stm32prog.c` (`parse_flash_layout`,
//! `stm32prog_header_check`).

use std::fmt;

use serde::Serialize;

use super::{error::ProtocolError, protocol::DfuRequest};
use crate::inputs::stm32::{self, HeaderFields, HeaderVersion};

/// A phase id: what an alternate's `/0xID/` and GetPhase's first byte name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PhaseId(pub u8);

impl PhaseId {
    /// 0x00: the flash layout (TSV behind an STM32 header), in RAM.
    pub const LAYOUT: PhaseId = PhaseId(0x00);
    /// 0x01: the FSBL (TF-A BL2 `.stm32`), loaded by the ROM.
    pub const FSBL: PhaseId = PhaseId(0x01);
    /// 0x02: the DDR firmware FIP (STM32MP2 TF-A).
    pub const DDR_FW: PhaseId = PhaseId(0x02);
    /// 0x03: the SSBL (`u-boot.stm32`) or the FIP, loaded by TF-A.
    pub const SSBL: PhaseId = PhaseId(0x03);
    /// 0xF1: the command alternate (`@virtual`): GetPhase and Start.
    pub const CMD: PhaseId = PhaseId(0xF1);
    /// 0xF2: OTP.
    pub const OTP: PhaseId = PhaseId(0xF2);
    /// 0xF3: secure secret provisioning (TF-A SSP builds).
    pub const SSP: PhaseId = PhaseId(0xF3);
    /// 0xF4: PMIC NVM.
    pub const PMIC: PhaseId = PhaseId(0xF4);
    /// 0xFE: every selected partition is done (`PHASE_END`).
    pub const END: PhaseId = PhaseId(0xFE);
    /// 0xFF: reset / error; GetPhase then carries the error text (`PHASE_RESET`).
    pub const RESET: PhaseId = PhaseId(0xFF);

    /// What the phase is.
    #[must_use]
    pub fn meaning(self) -> &'static str {
        match self.0 {
            0x00 => "flash layout",
            0x01 => "FSBL",
            0x02 => "DDR firmware FIP",
            0x03 => "SSBL or FIP",
            0x04..=0x0F => "partition",
            0x10..=0xF0 => "user partition",
            0xF1 => "command (GetPhase / Start)",
            0xF2 => "OTP",
            0xF3 => "secure secret provisioning",
            0xF4 => "PMIC NVM",
            0xFE => "end",
            0xFF => "reset / error",
            _ => "undefined phase",
        }
    }
}

impl fmt::Display for PhaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#04x}", self.0)
    }
}

/// GetPhase's wLength: the size of the `@virtual /0xF1/1*512Ba` alternate (U-Boot `CMD_SIZE`). Longer than any
/// reply (TF-A's buffer is `UCHAR_MAX` bytes), so the reply is a short frame and both TF-A (`usb_dfu_upload`) and
/// U-Boot (`state_dfu_idle`) go back to `dfuIDLE` after it.
pub const GET_PHASE_LENGTH: u16 = 512;
/// The fixed part of a GetPhase reply (`GET_PHASE_LEN` in TF-A, `PHASE_MIN_SIZE` in U-Boot).
pub const GET_PHASE_MIN: usize = 9;
/// The address meaning "none" (`UNDEFINED_DOWN_ADDR`, `DEFAULT_ADDRESS`).
pub const NO_ADDRESS: u32 = 0xFFFF_FFFF;

/// The partition id an error text of U-Boot `stm32prog` names: its `stm32prog_err` messages about a partition
/// start `"%s (0x%x): "` with the partition's name and id (`stm32prog.c`: "MMC erase failed", "Invalid partition",
/// "erase invalid", ...). `None` when the text has no `(0xID)` or the id is not a partition id (0x01..0xF0).
#[must_use]
pub fn partition_named_in(text: &str) -> Option<PhaseId> {
    let at = text.find("(0x")?;
    let rest = &text[at + 3..];
    let end = rest.find(')')?;
    let id = u8::from_str_radix(&rest[..end], 16).ok()?;
    (0x01..=0xF0).contains(&id).then_some(PhaseId(id))
}

/// A GetPhase reply: `[phase u8][address u32 LE][offset u32 LE]` and what follows. The address (TF-A's download
/// address, U-Boot's layout address or 0xFFFFFFFF) is not needed by the host and is not kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseReply {
    /// The phase the device wants next.
    pub phase: PhaseId,
    /// U-Boot's resume offset (`stm32prog_data->offset`): where in the partition the next download starts
    /// (`dfu_initiated_callback`). 0 unless a Start command set it (`stm32prog_set_phase`); 0 in TF-A.
    pub offset: u32,
    /// The 10th byte when the phase is 0x00: TF-A's "send DFU_DETACH" (address 0xFFFFFFFF, byte 0x01), U-Boot's
    /// "a layout is already parsed" (byte 1); in both cases the host detaches next. (Byte 0 is U-Boot without a
    /// layout: it gets one.)
    pub detach_requested: bool,
    /// With phase 0xFF: the device's error text.
    pub error: Option<String>,
}

impl PhaseReply {
    /// Parse a reply.
    pub fn parse(bytes: &[u8]) -> Result<PhaseReply, ProtocolError> {
        if bytes.len() < GET_PHASE_MIN {
            return Err(ProtocolError::ShortReply { request: DfuRequest::Upload, expected: GET_PHASE_MIN, actual: bytes.len() });
        }
        let phase = PhaseId(bytes[0]);
        let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let extra = &bytes[GET_PHASE_MIN..];
        let (mut detach_requested, mut error) = (false, None);
        if phase == PhaseId::LAYOUT {
            detach_requested = extra.first() == Some(&1);
        } else if phase == PhaseId::RESET {
            let end = extra.iter().position(|&b| b == 0).unwrap_or(extra.len());
            let text = String::from_utf8_lossy(&extra[..end]).trim().to_string();
            error = Some(if text.is_empty() { "no error text".to_string() } else { text });
        }
        Ok(PhaseReply { phase, offset: word(5), detach_requested, error })
    }

    /// A reply's bytes (for test devices).
    #[must_use]
    pub fn encode(phase: PhaseId, address: u32, offset: u32, extra: &[u8]) -> Vec<u8> {
        let mut out = vec![phase.0];
        out.extend_from_slice(&address.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(extra);
        out
    }
}

/// The flash layout as sent on phase 0x00: the TSV text behind an STM32 header **v1.0**, whatever the SoC.
///
/// U-Boot's `parse_flash_layout` (mainline at 6073c36b2c8d, ST's v2021.10/v2022.10/v2023.10-stm32mp branches)
/// strips the header and checks the payload checksum only when `stm32prog_header_check` finds a **v1** header
/// (`HEADER_STM32IMAGE`); a v2 header (`HEADER_STM32IMAGE_V2`, recognised for 0x00020000 only) is left in front of
/// the text and the parse fails on its first bytes. ST's TF-A v2.4-stm32mp (MP15 only) checks the layout with
/// `stm32mp_check_header`: magic, major version 1, and the payload checksum since `option_flags` is 1. TF-A on
/// MP13/MP25 never takes a layout. So v1 is what every device that takes a layout accepts. `load_address` and
/// `image_entry_point` are 0 (neither reads them). A layout that already starts with the STM32 magic is sent as is.
pub fn wrap_layout(tsv: &[u8]) -> Result<Vec<u8>, stm32::HeaderError> {
    if stm32::has_magic(tsv) {
        return Ok(tsv.to_vec());
    }
    stm32::encode_header(HeaderVersion { major: 1, minor: 0 }, HeaderFields::default(), tsv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// U-Boot's partition errors name the partition as `name (0xID):` (`stm32prog_err` calls in `stm32prog.c`).
    #[test]
    fn uboot_error_texts_name_their_partition() {
        assert_eq!(partition_named_in("fip (0x6): MMC erase failed"), Some(PhaseId(0x06)));
        assert_eq!(partition_named_in("rootfs (0x10): Invalid partition"), Some(PhaseId(0x10)));
        assert_eq!(partition_named_in("Wrong sequence number"), None);
        assert_eq!(partition_named_in("x (0xff): y"), None);
        assert_eq!(partition_named_in("x (0x): y"), None);
    }

    /// TF-A `dfu_callback_upload`: phase, address LE, offset 0; in phase 0x00 with address 0xFFFFFFFF a 10th byte
    /// 0x01 "Send detach request".
    #[test]
    fn tfa_get_phase_and_detach_flag() {
        let want_fip = PhaseReply::parse(&PhaseReply::encode(PhaseId::SSBL, 0xC000_0000, 0, &[])).unwrap();
        assert_eq!((want_fip.phase, want_fip.offset, want_fip.detach_requested), (PhaseId::SSBL, 0, false));
        let detach = PhaseReply::parse(&[0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0x01]).unwrap();
        assert!(detach.detach_requested);
        // ST v2.4-stm32mp: phase 0x00 with the layout address and no 10th byte: send the layout.
        let layout = PhaseReply::parse(&PhaseReply::encode(PhaseId::LAYOUT, 0xC000_0000, 0, &[])).unwrap();
        assert!(!layout.detach_requested);
    }

    /// U-Boot `stm32prog_cmd_read`: in phase 0x00 one more byte, 1 when a layout is parsed; the offset is the
    /// resume offset.
    #[test]
    fn uboot_get_phase_layout_byte_and_offset() {
        let missing = PhaseReply::parse(&PhaseReply::encode(PhaseId::LAYOUT, 0xC200_0000, 0, &[0])).unwrap();
        assert!(!missing.detach_requested);
        let parsed = PhaseReply::parse(&PhaseReply::encode(PhaseId::LAYOUT, 0xC200_0000, 0, &[1])).unwrap();
        assert!(parsed.detach_requested);
        let part = PhaseReply::parse(&PhaseReply::encode(PhaseId(0x12), NO_ADDRESS, 0x4000, &[])).unwrap();
        assert_eq!((part.phase, part.offset), (PhaseId(0x12), 0x4000));
    }

    /// Phase 0xFF carries the error text after the 9 fixed bytes (TF-A `DFU_ERROR`, U-Boot `stm32prog_get_error`,
    /// which says "Unspecified" when it has nothing).
    #[test]
    fn reset_phase_carries_the_error_text() {
        let tfa = PhaseReply::parse(&PhaseReply::encode(PhaseId::RESET, NO_ADDRESS, 0, b"FIP Header check failed for phase 3\0\0")).unwrap();
        assert_eq!(tfa.error.as_deref(), Some("FIP Header check failed for phase 3"));
        let uboot = PhaseReply::parse(&PhaseReply::encode(PhaseId::RESET, NO_ADDRESS, 0, b"Layout: invalid FlashLayout")).unwrap();
        assert_eq!(uboot.error.as_deref(), Some("Layout: invalid FlashLayout"));
        let bare = PhaseReply::parse(&PhaseReply::encode(PhaseId::RESET, NO_ADDRESS, 0, &[])).unwrap();
        assert_eq!(bare.error.as_deref(), Some("no error text"));
        assert_eq!(PhaseReply::parse(&[0xFF, 0, 0]).unwrap_err().to_string(), "DFU_UPLOAD returned 3 bytes, at least 9 expected");
    }

    /// What U-Boot `parse_flash_layout` does with the wrapped layout: a v1 header is recognised
    /// (`stm32prog_is_stm32_header_v1`: magic, version 0x00010000, reserved and padding zero), stripped, and the
    /// payload's byte sum equals `image_checksum`.
    #[test]
    fn layout_gets_a_v1_header_uboot_strips() {
        let tsv = b"#Opt\tId\tName\tType\tIP\tOffset\tBinary\n-\t0x01\tfsbl-boot\tBinary\tnone\t0x0\ttf-a.stm32\n";
        let wrapped = wrap_layout(tsv).unwrap();
        let h = stm32::parse_header(&wrapped).unwrap();
        assert_eq!((h.version, h.header_len), (HeaderVersion { major: 1, minor: 0 }, 256));
        assert_eq!(&wrapped[256..], tsv);
        assert_eq!(h.checksum, stm32::payload_checksum(tsv));
        assert_eq!(u32::from_le_bytes(wrapped[0x64..0x68].try_into().unwrap()), 1, "option_flags 1: TF-A checks the checksum");
        assert!(wrapped[0x6c..0xff].iter().all(|&b| b == 0), "padding zero (stm32prog_is_stm32_header_v1)");
        assert_eq!(wrap_layout(&wrapped).unwrap(), wrapped, "not wrapped twice");
    }
}
