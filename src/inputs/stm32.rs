//! STM32 image header (`.stm32` files): v1.0 (STM32MP15, 256 bytes) and v2.x (STM32MP13 v2.0, STM32MP25 v2.2, 512 bytes).
//!
//! Pure: parses and checks bytes. Field offsets follow `stm32-header-spec.md` (U-Boot `tools/stm32image.c`, TF-A
//! `boot_api.h`). All fields are little-endian; the checksum is the wrapping 32-bit sum of the payload bytes.

use std::fmt;

/// `"STM\x32"` as the first four bytes.
pub const MAGIC: [u8; 4] = *b"STM2";
/// Size of a v1 header.
pub const V1_HEADER_LEN: usize = 256;
/// Size of a v2.0 / v2.2 header.
pub const V2_HEADER_LEN: usize = 512;
/// Largest STM32MP15 FSBL payload the ROM accepts (ST wiki "STM32MP15 Flash mapping": 247 KiB).
pub const MP15_FSBL_MAX_PAYLOAD: u64 = 247 * 1024;

/// Header version as the `header_version` field encodes it (byte 1 minor, byte 2 major).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderVersion {
    /// Major version (1 for MP15, 2 for MP13/MP2x).
    pub major: u8,
    /// Minor version (0 for MP13, 2 for MP25, 3 for MP21).
    pub minor: u8,
}

impl fmt::Display for HeaderVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}", self.major, self.minor)
    }
}

/// The fields of an STM32 header that matter to us.
#[doc(alias = "boot_api_image_header_t")]
#[doc(alias = "stm32_header_v1")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stm32Header {
    /// Header version.
    pub version: HeaderVersion,
    /// Raw `header_version` word.
    pub version_word: u32,
    /// Header length in bytes (256 or 512).
    pub header_len: u32,
    /// `image_checksum`: stored byte sum of the payload.
    pub checksum: u32,
    /// `image_length`: payload length.
    pub image_length: u32,
    /// `image_entry_point`.
    pub entry_point: u32,
    /// `load_address`.
    pub load_address: u32,
    /// `version_number` (anti-rollback).
    pub version_number: u32,
    /// v1 `option_flags` / v2 `extension_flags`.
    pub option_flags: u32,
    /// v1 `ecdsa_algorithm` / v2 `extension_headers_length`.
    pub algorithm_or_ext_len: u32,
    /// `binary_type` (0x00 from mkimage, 0x10 for TF-A BL2 from TF-A's tool).
    pub binary_type: u32,
    /// Whether the signature field is all zero (unsigned image).
    pub unsigned: bool,
}

/// What is wrong with a header; each names the field, the expected and the actual value in hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer bytes than a header.
    #[error("file is {actual:#x} bytes, shorter than the {expected:#x}-byte STM32 header")]
    TooShort {
        /// Header size needed.
        expected: u64,
        /// File size.
        actual: u64,
    },
    /// Wrong magic.
    #[error("field magic (offset 0x0): expected 0x324d5453 (\"STM2\"), found {actual:#010x}")]
    BadMagic {
        /// The first four bytes as a little-endian word.
        actual: u32,
    },
    /// Unknown header version.
    #[error("field header_version (offset 0x48): expected {expected}, found {actual:#010x}")]
    BadVersion {
        /// What the SoC needs (`0x00010000 (v1.0)`, ...).
        expected: String,
        /// The stored word.
        actual: u32,
    },
    /// image_length disagrees with the file.
    #[error("field image_length (offset 0x4c): expected {expected:#x} (file size minus {header_len:#x}-byte header), found {actual:#x}")]
    BadLength {
        /// Payload bytes in the file.
        expected: u64,
        /// Stored length.
        actual: u32,
        /// Header length.
        header_len: u32,
    },
    /// Payload checksum mismatch.
    #[error("field image_checksum (offset 0x44): payload bytes sum to {expected:#010x}, header says {actual:#010x}")]
    BadChecksum {
        /// Computed sum.
        expected: u32,
        /// Stored checksum.
        actual: u32,
    },
    /// A reserved field is not zero.
    #[error("field {field} (offset {offset:#x}): expected 0x0, found {actual:#x}")]
    ReservedNotZero {
        /// Field name.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// Stored value.
        actual: u32,
    },
    /// v2 padding extension malformed.
    #[error("field {field} (offset {offset:#x}): expected {expected:#x}, found {actual:#x}")]
    BadExtension {
        /// Field name.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// Expected value.
        expected: u32,
        /// Stored value.
        actual: u32,
    },
}

fn le32(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(src) = bytes.get(offset..offset + 4) {
        word.copy_from_slice(src);
    }
    u32::from_le_bytes(word)
}

/// Whether the bytes start with the STM32 magic.
#[must_use]
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes[..4] == MAGIC
}

/// Byte sum of a payload, as the ROM, TF-A, U-Boot and mkimage compute it.
#[must_use]
pub fn payload_checksum(payload: &[u8]) -> u32 {
    payload.iter().fold(0u32, |acc, &b| acc.wrapping_add(u32::from(b)))
}

/// Parse the header fields from the first bytes of a file (at least 512 bytes, or the whole file if smaller).
/// Checks magic, version and reserved fields; the payload checks are in [`verify_payload`].
pub fn parse_header(head: &[u8]) -> Result<Stm32Header, HeaderError> {
    if head.len() < V1_HEADER_LEN {
        return Err(HeaderError::TooShort { expected: V1_HEADER_LEN as u64, actual: head.len() as u64 });
    }
    if !has_magic(head) {
        return Err(HeaderError::BadMagic { actual: le32(head, 0) });
    }
    let version_word = le32(head, 0x48);
    let major = u8::try_from((version_word >> 16) & 0xff).unwrap_or(0);
    let minor = u8::try_from((version_word >> 8) & 0xff).unwrap_or(0);
    let known = matches!((major, minor), (1, 0) | (2, 0) | (2, 2)) && version_word & 0xff00_00ff == 0;
    if !known {
        return Err(HeaderError::BadVersion {
            expected: "0x00010000 (v1.0), 0x00020000 (v2.0) or 0x00020200 (v2.2)".to_string(),
            actual: version_word,
        });
    }
    let header_len = if major == 1 { V1_HEADER_LEN } else { V2_HEADER_LEN };
    if head.len() < header_len {
        return Err(HeaderError::TooShort { expected: header_len as u64, actual: head.len() as u64 });
    }
    for (field, offset) in [("reserved1", 0x54), ("reserved2", 0x5c)] {
        let v = le32(head, offset);
        if v != 0 {
            return Err(HeaderError::ReservedNotZero { field, offset, actual: v });
        }
    }
    // `head` holds at least `header_len` (256 or 512) bytes from here on, so the fixed offsets below are in range.
    let binary_type = if major == 1 {
        u32::from(head[0xff])
    } else {
        let ext_magic = le32(head, 0x80);
        if ext_magic != 0xFFFF_5453 {
            return Err(HeaderError::BadExtension { field: "extension header type", offset: 0x80, expected: 0xFFFF_5453, actual: ext_magic });
        }
        le32(head, 0x6c)
    };
    Ok(Stm32Header {
        version: HeaderVersion { major, minor },
        version_word,
        header_len: u32::try_from(header_len).unwrap_or(0),
        checksum: le32(head, 0x44),
        image_length: le32(head, 0x4c),
        entry_point: le32(head, 0x50),
        load_address: le32(head, 0x58),
        version_number: le32(head, 0x60),
        option_flags: le32(head, 0x64),
        algorithm_or_ext_len: le32(head, 0x68),
        binary_type,
        unsigned: head[4..0x44].iter().all(|&b| b == 0),
    })
}

/// Check `image_length` against the file size and the stored checksum against the computed payload sum.
pub fn verify_payload(header: &Stm32Header, file_len: u64, computed_checksum: u32) -> Result<(), HeaderError> {
    let payload = file_len.saturating_sub(u64::from(header.header_len));
    if u64::from(header.image_length) != payload {
        return Err(HeaderError::BadLength { expected: payload, actual: header.image_length, header_len: header.header_len });
    }
    if computed_checksum != header.checksum {
        return Err(HeaderError::BadChecksum { expected: computed_checksum, actual: header.checksum });
    }
    Ok(())
}

/// The fields a header builder fills besides magic, checksum, version and length (which follow from the payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderFields {
    /// `image_entry_point`.
    pub entry_point: u32,
    /// `load_address`.
    pub load_address: u32,
    /// `version_number` (anti-rollback).
    pub version_number: u32,
    /// `binary_type` (a byte at 0xFF in v1, a word at 0x6C in v2).
    pub binary_type: u32,
}

/// Put an unsigned STM32 header in front of `payload`, as mkimage (v1) and TF-A's `stm32image` tool (v2.0, v2.2)
/// write it (`stm32-header-spec.md`, "A minimal re-implementation"): v1 with `option_flags` 1 (no signature check)
/// and `ecdsa_algorithm` 1; v2 with the padding extension (flags 0x80000000, length 0x180, type `ST\xFF\xFF`).
/// Fails for a version other than v1.0, v2.0 and v2.2, or a payload of 4 GiB or more.
pub fn encode_header(version: HeaderVersion, fields: HeaderFields, payload: &[u8]) -> Result<Vec<u8>, HeaderError> {
    let version_word = (u32::from(version.major) << 16) | (u32::from(version.minor) << 8);
    let header_len = match (version.major, version.minor) {
        (1, 0) => V1_HEADER_LEN,
        (2, 0) | (2, 2) => V2_HEADER_LEN,
        _ => {
            return Err(HeaderError::BadVersion {
                expected: "0x00010000 (v1.0), 0x00020000 (v2.0) or 0x00020200 (v2.2)".to_string(),
                actual: version_word,
            });
        }
    };
    let length = u32::try_from(payload.len()).map_err(|_| HeaderError::BadLength {
        expected: payload.len() as u64,
        actual: u32::MAX,
        header_len: header_len as u32,
    })?;
    let mut out = vec![0u8; header_len];
    let mut put = |offset: usize, value: u32| out[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    put(0x44, payload_checksum(payload));
    put(0x48, version_word);
    put(0x4c, length);
    put(0x50, fields.entry_point);
    put(0x58, fields.load_address);
    put(0x60, fields.version_number);
    if version.major == 1 {
        put(0x64, 1);
        put(0x68, 1);
    } else {
        put(0x64, 0x8000_0000);
        put(0x68, 0x180);
        put(0x6c, fields.binary_type);
        put(0x80, 0xFFFF_5453);
        put(0x84, 0x180);
    }
    out[..4].copy_from_slice(&MAGIC);
    if version.major == 1 {
        out[0xff] = u8::try_from(fields.binary_type & 0xff).unwrap_or(0);
    }
    out.extend_from_slice(payload);
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The builder writes what the test helpers below (and so mkimage / TF-A's tool, per the spec) write.
    #[test]
    fn encode_header_matches_mkimage_and_tfa_tool() {
        let payload = b"Hello STM32MP1 payload!\n";
        let v1 = encode_header(HeaderVersion { major: 1, minor: 0 }, HeaderFields::default(), payload).unwrap();
        assert_eq!(v1, v1_image(payload));
        for minor in [0u8, 2] {
            let fields = HeaderFields { binary_type: 0x10, ..HeaderFields::default() };
            let v2 = encode_header(HeaderVersion { major: 2, minor }, fields, payload).unwrap();
            assert_eq!(v2, v2_image(payload, minor));
            let h = parse_header(&v2).unwrap();
            verify_payload(&h, v2.len() as u64, payload_checksum(payload)).unwrap();
        }
        assert!(encode_header(HeaderVersion { major: 2, minor: 3 }, HeaderFields::default(), payload).is_err());
    }

    /// Build a v1 header the way mkimage does (used by tests only; real fixtures come from mkimage itself).
    pub(crate) fn v1_image(payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; V1_HEADER_LEN];
        h[..4].copy_from_slice(&MAGIC);
        h[0x44..0x48].copy_from_slice(&payload_checksum(payload).to_le_bytes());
        h[0x48..0x4c].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[0x4c..0x50].copy_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
        h[0x64] = 1;
        h[0x68] = 1;
        h.extend_from_slice(payload);
        h
    }

    /// A v2.x header as TF-A's stm32image tool writes it (`stm32-header-spec.md`: 512 bytes, padding extension).
    pub(crate) fn v2_image(payload: &[u8], minor: u8) -> Vec<u8> {
        let mut h = vec![0u8; V2_HEADER_LEN];
        h[..4].copy_from_slice(&MAGIC);
        h[0x44..0x48].copy_from_slice(&payload_checksum(payload).to_le_bytes());
        h[0x48..0x4c].copy_from_slice(&[0, minor, 2, 0]);
        h[0x4c..0x50].copy_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
        h[0x64..0x68].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        h[0x68..0x6c].copy_from_slice(&0x180u32.to_le_bytes());
        h[0x6c..0x70].copy_from_slice(&0x10u32.to_le_bytes());
        h[0x80..0x84].copy_from_slice(&[0x53, 0x54, 0xFF, 0xFF]);
        h[0x84..0x88].copy_from_slice(&0x180u32.to_le_bytes());
        h.extend_from_slice(payload);
        h
    }

    #[test]
    fn v2_headers_for_mp13_and_mp25() {
        for minor in [0u8, 2] {
            let img = v2_image(b"Hello STM32MP1 payload!\n", minor);
            let h = parse_header(&img).unwrap();
            assert_eq!(h.version, HeaderVersion { major: 2, minor });
            assert_eq!(h.header_len, 512);
            assert_eq!(h.checksum, 0x770, "the same payload sums to the same checksum in v1 and v2");
            assert_eq!(h.binary_type, 0x10);
            verify_payload(&h, img.len() as u64, payload_checksum(&img[512..])).unwrap();
        }
        let mut bad = v2_image(b"x", 0);
        bad[0x80] = 0;
        assert!(matches!(parse_header(&bad), Err(HeaderError::BadExtension { offset: 0x80, .. })));
    }

    #[test]
    fn worked_example_from_the_spec() {
        let img = v1_image(b"Hello STM32MP1 payload!\n");
        let h = parse_header(&img).unwrap();
        assert_eq!(h.checksum, 0x770);
        assert_eq!(h.image_length, 24);
        assert_eq!(h.version, HeaderVersion { major: 1, minor: 0 });
        verify_payload(&h, img.len() as u64, payload_checksum(&img[256..])).unwrap();
    }

    #[test]
    fn each_field_error_names_field_and_values() {
        let mut img = v1_image(b"abc");
        img[0] = b'X';
        let e = parse_header(&img).unwrap_err();
        assert!(e.to_string().contains("magic"), "{e}");
        let mut img = v1_image(b"abc");
        img[0x4a] = 9;
        assert!(matches!(parse_header(&img), Err(HeaderError::BadVersion { actual: 0x0009_0000, .. })));
        let img = v1_image(b"abc");
        let h = parse_header(&img).unwrap();
        let e = verify_payload(&h, img.len() as u64 + 1, 0).unwrap_err();
        assert_eq!(e.to_string(), "field image_length (offset 0x4c): expected 0x4 (file size minus 0x100-byte header), found 0x3");
        let e = verify_payload(&h, img.len() as u64, 7).unwrap_err();
        assert!(matches!(e, HeaderError::BadChecksum { expected: 7, actual: 0x126 }));
        assert!(matches!(parse_header(&img[..100]), Err(HeaderError::TooShort { .. })));
    }
}
