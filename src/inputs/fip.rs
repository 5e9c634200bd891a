//! TF-A Firmware Image Package (FIP): table-of-contents parsing and checks.
//!
//! Pure. Layout (TF-A `firmware_image_package.h`): a 16-byte ToC header (name `0xAA640001`, serial number, flags),
//! then 40-byte entries (16-byte UUID, u64 offset, u64 size, u64 flags), ended by an entry whose UUID is all zero.

use std::fmt;

/// The ToC header name word.
pub const TOC_MAGIC: u32 = 0xAA64_0001;
const HEADER_LEN: usize = 16;
const ENTRY_LEN: usize = 40;

/// Names fiptool gives the UUIDs, in the order of `fiptool help create` (read off Debian's `fiptool` 2.8.0 by packing one
/// image per option and reading the UUID at ToC offset 0x10).
const NAMES: &[(&str, &str)] = &[
    ("65922703-2f74-e644-8dff-579ac1ff0610", "scp-fwu-cfg"),
    ("60b3eb37-c1e5-ea41-9df3-19eda11f6801", "ap-fwu-cfg"),
    ("4f511d11-2be5-4e49-b4c5-83c2f715840a", "fwu"),
    ("71408ab2-18d6-874c-8b2e-c6dccd50f096", "fwu-cert"),
    ("5ff9ec0b-4d22-3e4d-a544-c39d81c73f0a", "tb-fw (BL2)"),
    ("9766fd3d-89be-e849-ae5d-78a140608213", "scp-fw"),
    ("47d4086d-4cfe-9846-9b95-2950cbbd5a00", "soc-fw (BL31)"),
    ("05d0e189-53dc-1347-8d2b-500a4b7a3e38", "tos-fw (BL32)"),
    ("0b70c29b-2a5a-7840-9f65-0a5682738288", "tos-fw-extra1"),
    ("8ea87bb1-cfa2-3f4d-85fd-e7bba50220d9", "tos-fw-extra2"),
    ("d6d0eea7-fcea-d54b-9782-9934f234b6e4", "nt-fw (BL33)"),
    ("6c0762a6-12f2-4b56-92cb-ba8f633606d9", "rmm-fw"),
    ("5807e16a-8459-47be-8ed5-648e8dddab0e", "fw-config"),
    ("08b8f1d9-c9cf-9349-a962-6fbc6b7265cc", "hw-config"),
    ("6c0458ff-af6b-7d4f-82ed-aa27bc69bfd2", "tb-fw-config"),
    ("9979814b-0376-fb46-8c8e-8d267f7859e0", "soc-fw-config"),
    ("26257c1a-dbc6-7f47-8d96-c4c4b0248021", "tos-fw-config"),
    ("28da9815-93e8-7e44-ac66-1aaf801550f9", "nt-fw-config"),
    ("862d1d72-f860-e411-920b-8be762160f24", "rot-cert"),
    ("827ee890-f860-e411-a1b4-777a21b4f94c", "trusted-key-cert"),
    ("024221a1-f860-e411-8d9b-f33c0e15a014", "scp-fw-key-cert"),
    ("8ab8becc-f960-e411-9ad0-eb4822d8dcf8", "soc-fw-key-cert"),
    ("9477d603-fb60-e411-85dd-b7105b8cee04", "tos-fw-key-cert"),
    ("8ad5832a-fb60-e411-8aaf-df30bbc49859", "nt-fw-key-cert"),
    ("d6e269ea-5d63-e411-8d8c-9fbabe9956a5", "tb-fw-cert"),
    ("44be6f04-5e63-e411-b28b-73d8eaae9656", "scp-fw-cert"),
    ("e2b20c20-5e63-e411-9ce8-abccf92bb666", "soc-fw-cert"),
    ("a49f4411-5e63-e411-8728-3f05722af33d", "tos-fw-cert"),
    ("8ec4c1f3-5d63-e411-a7a9-87ee40b23fa7", "nt-fw-cert"),
    ("776dfd44-8697-4c3b-91eb-c13e025a2a6f", "sip-sp-cert"),
    ("ddcbbf4a-cad6-11ea-87d0-0242ac130003", "plat-sp-cert"),
    ("36d83d85-761d-4daf-96f1-cd99d6569b00", "cca-cert"),
    ("52222d31-820f-494d-8bbc-ea6825d3c35a", "core-swd-cert"),
    ("d43cd902-5b9f-412e-8ac6-92b6d18be60d", "plat-key-cert"),
];

/// One ToC entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FipEntry {
    /// The 16 UUID bytes as stored, shown `8-4-4-4-12`.
    pub uuid: String,
    /// fiptool's name for the UUID, when known.
    pub name: Option<&'static str>,
    /// Offset from the start of the FIP.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Entry flags.
    pub flags: u64,
}

/// A parsed table of contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FipToc {
    /// ToC serial number.
    pub serial: u32,
    /// ToC flags (bits 32–47 are platform flags).
    pub flags: u64,
    /// Entries before the end marker.
    pub entries: Vec<FipEntry>,
}

/// What is wrong with a FIP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FipError {
    /// Not even a header.
    #[error("file is {actual:#x} bytes, shorter than the 0x10-byte FIP ToC header")]
    TooShort {
        /// File length.
        actual: u64,
    },
    /// Wrong ToC magic.
    #[error("field ToC name (offset 0x0): expected {TOC_MAGIC:#010x}, found {actual:#010x}")]
    BadMagic {
        /// Stored word.
        actual: u32,
    },
    /// The ToC end marker was not found in the bytes given.
    #[error("ToC has no end marker (all-zero UUID) within the {entries} entries of the {bytes:#x} bytes read")]
    NoEndMarker {
        /// Entries read.
        entries: usize,
        /// Bytes of the file read (the ToC header and the entries).
        bytes: usize,
    },
    /// An entry points past the end of the file.
    #[error("ToC entry {index} ({name}) at offset {offset:#x} size {size:#x} ends past the end of the file ({file_len:#x} bytes)")]
    EntryOutOfBounds {
        /// Entry index.
        index: usize,
        /// Entry name or UUID.
        name: String,
        /// Entry offset.
        offset: u64,
        /// Entry size.
        size: u64,
        /// File length.
        file_len: u64,
    },
}

fn le64(bytes: &[u8], offset: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(src) = bytes.get(offset..offset + 8) {
        w.copy_from_slice(src);
    }
    u64::from_le_bytes(w)
}

/// Whether the bytes start with the FIP ToC magic.
#[must_use]
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) == TOC_MAGIC
}

fn uuid_text(raw: &[u8]) -> String {
    let h = hex::encode(raw);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Parse a ToC from the first bytes of a file; `file_len` is the whole file's length for bounds checks.
pub fn parse_toc(head: &[u8], file_len: u64) -> Result<FipToc, FipError> {
    if head.len() < HEADER_LEN {
        return Err(FipError::TooShort { actual: head.len() as u64 });
    }
    // At least HEADER_LEN (16) bytes: the header fields below are in range; entries are read with `get`.
    let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    if magic != TOC_MAGIC {
        return Err(FipError::BadMagic { actual: magic });
    }
    let serial = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let flags = le64(head, 8);
    let mut entries = Vec::new();
    // The walk is bounded by the bytes given (the callers read a bounded head of the file), not by an entry count:
    // fiptool packs any number of `--blob`s. Each entry costs one 40-byte slice, so a huge or malformed ToC costs
    // at most `head.len() / 40` steps.
    for (index, raw) in head[HEADER_LEN..].chunks(ENTRY_LEN).enumerate() {
        if raw.len() < ENTRY_LEN {
            break;
        }
        if raw[..16].iter().all(|&b| b == 0) {
            return Ok(FipToc { serial, flags, entries });
        }
        let uuid = uuid_text(&raw[..16]);
        let name = NAMES.iter().find(|(u, _)| *u == uuid).map(|(_, n)| *n);
        let entry = FipEntry { name, offset: le64(raw, 16), size: le64(raw, 24), flags: le64(raw, 32), uuid };
        let end = entry.offset.checked_add(entry.size);
        if end.is_none_or(|e| e > file_len) {
            return Err(FipError::EntryOutOfBounds {
                index,
                name: entry.name.map_or_else(|| entry.uuid.clone(), str::to_string),
                offset: entry.offset,
                size: entry.size,
                file_len,
            });
        }
        entries.push(entry);
    }
    Err(FipError::NoEndMarker { entries: entries.len(), bytes: head.len() })
}

impl fmt::Display for FipEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<18} offset {:#010x} size {:#010x} uuid {}", self.name.unwrap_or("(unknown)"), self.offset, self.size, self.uuid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toc(entries: &[([u8; 16], u64, u64)]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&TOC_MAGIC.to_le_bytes());
        v.extend_from_slice(&0x1234_5678u32.to_le_bytes());
        v.extend_from_slice(&0u64.to_le_bytes());
        for (u, o, s) in entries {
            v.extend_from_slice(u);
            v.extend_from_slice(&o.to_le_bytes());
            v.extend_from_slice(&s.to_le_bytes());
            v.extend_from_slice(&0u64.to_le_bytes());
        }
        v.extend_from_slice(&[0u8; 40]);
        v
    }

    #[test]
    fn parses_and_names_entries() {
        let nt = hex::decode("d6d0eea7fcead54b97829934f234b6e4").unwrap();
        let bytes = toc(&[(nt.try_into().unwrap(), 0x58, 0x10)]);
        let t = parse_toc(&bytes, 0x68).unwrap();
        assert_eq!(t.entries.len(), 1);
        assert_eq!(t.entries[0].name, Some("nt-fw (BL33)"));
        assert!(matches!(parse_toc(&bytes, 0x60), Err(FipError::EntryOutOfBounds { .. })));
    }

    #[test]
    fn rejects_bad_magic_and_truncation() {
        assert!(matches!(parse_toc(&[0u8; 32], 32), Err(FipError::BadMagic { actual: 0 })));
        assert!(matches!(parse_toc(&[1, 0, 0x64, 0xAA], 4), Err(FipError::TooShort { .. })));
        let mut bytes = toc(&[([1; 16], 0, 0)]);
        bytes.truncate(40);
        assert!(matches!(parse_toc(&bytes, 40), Err(FipError::NoEndMarker { .. })));
    }
}
