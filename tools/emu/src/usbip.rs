//! The USB/IP wire format spoken with the kernel's vhci_hcd: 48-byte big-endian headers, pure encode/decode.
//!
//! Source: the kernel's `Documentation/usb/usbip_protocol.rst` and `drivers/usb/usbip/usbip_common.h`
//! (`struct usbip_header_basic`, `usbip_header_cmd_submit`, `usbip_header_ret_submit`, `usbip_header_cmd_unlink`,
//! `usbip_header_ret_unlink`). Only what a control-only device needs: no isochronous packet descriptors.

use std::fmt;

pub const CMD_SUBMIT: u32 = 0x0000_0001;
pub const CMD_UNLINK: u32 = 0x0000_0002;
pub const RET_SUBMIT: u32 = 0x0000_0003;
pub const RET_UNLINK: u32 = 0x0000_0004;
/// Every header, command or reply, is 48 bytes.
pub const HEADER_LEN: usize = 48;
/// `-EPIPE`: a stall.
pub const STATUS_STALL: i32 = -32;

/// A command from vhci_hcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Submit(Submit),
    Unlink { seqnum: u32, victim: u32 },
}

/// USBIP_CMD_SUBMIT: one URB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    pub seqnum: u32,
    pub devid: u32,
    /// `USBIP_DIR_IN` (1): the device sends data.
    pub dir_in: bool,
    pub ep: u32,
    pub transfer_flags: u32,
    /// `transfer_buffer_length`: bytes of OUT data that follow the header, or bytes the host can take IN.
    pub length: u32,
    pub setup: [u8; 8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    UnknownCommand(u32),
    NegativeLength(i32),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::UnknownCommand(c) => write!(f, "unknown USB/IP command 0x{c:08x}"),
            WireError::NegativeLength(l) => write!(f, "negative transfer_buffer_length {l}"),
        }
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decodes one 48-byte command header.
pub fn parse_header(h: &[u8; HEADER_LEN]) -> Result<Command, WireError> {
    let command = be32(h, 0);
    let seqnum = be32(h, 4);
    match command {
        CMD_SUBMIT => {
            let length = be32(h, 24) as i32;
            if length < 0 {
                return Err(WireError::NegativeLength(length));
            }
            let mut setup = [0u8; 8];
            setup.copy_from_slice(&h[40..48]);
            Ok(Command::Submit(Submit {
                seqnum,
                devid: be32(h, 8),
                dir_in: be32(h, 12) == 1,
                ep: be32(h, 16),
                transfer_flags: be32(h, 20),
                length: length as u32,
                setup,
            }))
        }
        CMD_UNLINK => Ok(Command::Unlink { seqnum, victim: be32(h, 20) }),
        other => Err(WireError::UnknownCommand(other)),
    }
}

impl Submit {
    /// Bytes of OUT data that follow this header on the wire.
    pub fn out_len(&self) -> usize {
        if self.dir_in { 0 } else { self.length as usize }
    }
}

/// USBIP_RET_SUBMIT: `status` 0 or negative errno; `data` is the IN data (empty for OUT); `actual` is the
/// actual length reported (for OUT: the bytes accepted).
pub fn ret_submit(seqnum: u32, status: i32, actual: u32, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN + data.len());
    v.extend_from_slice(&RET_SUBMIT.to_be_bytes());
    v.extend_from_slice(&seqnum.to_be_bytes());
    v.extend_from_slice(&[0u8; 12]); // devid, direction, ep: 0 in replies
    v.extend_from_slice(&status.to_be_bytes());
    v.extend_from_slice(&actual.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes()); // start_frame
    v.extend_from_slice(&0u32.to_be_bytes()); // number_of_packets (not isochronous)
    v.extend_from_slice(&0u32.to_be_bytes()); // error_count
    v.extend_from_slice(&[0u8; 8]); // padding
    v.extend_from_slice(data);
    v
}

/// USBIP_RET_UNLINK: status 0 when the victim had already completed, `STATUS_UNLINKED` when it was dropped.
pub fn ret_unlink(seqnum: u32, status: i32) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN);
    v.extend_from_slice(&RET_UNLINK.to_be_bytes());
    v.extend_from_slice(&seqnum.to_be_bytes());
    v.extend_from_slice(&[0u8; 12]);
    v.extend_from_slice(&status.to_be_bytes());
    v.extend_from_slice(&[0u8; 24]);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit_header(seq: u32, dir_in: bool, len: u32, setup: [u8; 8]) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(&CMD_SUBMIT.to_be_bytes());
        h[4..8].copy_from_slice(&seq.to_be_bytes());
        h[8..12].copy_from_slice(&0x0001_0002u32.to_be_bytes());
        h[12..16].copy_from_slice(&(dir_in as u32).to_be_bytes());
        h[24..28].copy_from_slice(&len.to_be_bytes());
        h[40..48].copy_from_slice(&setup);
        h
    }

    #[test]
    fn decodes_a_control_in_submit() {
        let setup = [0x80, 6, 0, 1, 0, 0, 18, 0];
        let h = submit_header(7, true, 18, setup);
        let Command::Submit(s) = parse_header(&h).unwrap() else { panic!() };
        assert_eq!((s.seqnum, s.devid, s.dir_in, s.ep, s.length, s.setup), (7, 0x10002, true, 0, 18, setup));
        assert_eq!(s.out_len(), 0);
    }

    #[test]
    fn out_submit_announces_its_data() {
        let h = submit_header(8, false, 1024, [0x21, 1, 0, 0, 0, 0, 0, 4]);
        let Command::Submit(s) = parse_header(&h).unwrap() else { panic!() };
        assert_eq!(s.out_len(), 1024);
    }

    #[test]
    fn decodes_unlink_and_rejects_unknown() {
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(&CMD_UNLINK.to_be_bytes());
        h[4..8].copy_from_slice(&9u32.to_be_bytes());
        h[20..24].copy_from_slice(&8u32.to_be_bytes());
        assert_eq!(parse_header(&h).unwrap(), Command::Unlink { seqnum: 9, victim: 8 });
        h[3] = 5;
        assert_eq!(parse_header(&h), Err(WireError::UnknownCommand(5)));
    }

    #[test]
    fn ret_submit_layout_is_big_endian_and_carries_in_data() {
        let r = ret_submit(3, STATUS_STALL, 0, &[]);
        assert_eq!(r.len(), HEADER_LEN);
        assert_eq!(&r[0..4], &[0, 0, 0, 3]);
        assert_eq!(&r[4..8], &[0, 0, 0, 3]);
        assert_eq!(&r[20..24], &(-32i32).to_be_bytes());
        let r = ret_submit(4, 0, 2, &[0xaa, 0xbb]);
        assert_eq!(&r[24..28], &[0, 0, 0, 2]);
        assert_eq!(&r[48..], &[0xaa, 0xbb]);
        let u = ret_unlink(5, 0);
        assert_eq!((u.len(), &u[0..4]), (HEADER_LEN, &[0u8, 0, 0, 4][..]));
    }
}
