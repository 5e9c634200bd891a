//! The checks the firmware makes on what it receives: STM32 image headers (v1, v2.x) and the FIP ToC header.
//!
//! Sources: U-Boot `arch/arm/mach-stm32mp/cmd_stm32prog/stm32prog.c` (`stm32prog_is_stm32_header_v1`,
//! `stm32prog_is_stm32_header_v2`, `stm32prog_header_check`, `stm32prog_header_checksum`, `stm32prog.h` structs
//! `stm32_header_v1`/`stm32_header_v2`); TF-A `plat/st/common/stm32cubeprogrammer_usb.c` (`is_valid_header`) and
//! `plat/st/stm32mp{1,2}/include/boot_api.h` (`BOOT_API_IMAGE_HEADER_MAGIC_NB`, `BOOT_API_HEADER_VERSION`:
//! 0x00010000 MP15, 0x00020000 MP13, 0x00020200 MP25).

pub const MAGIC: u32 = 0x324d_5453; // "STM2"
pub const FIP_TOC_NAME: u32 = 0xaa64_0001;
pub const HEADER_V1_LEN: usize = 256;

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `stm32prog_header_check`'s verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    None,
    Fip,
    /// v1: checksum, payload length, header length (256).
    Stm32V1 {
        checksum: u32,
        image_length: u32,
        header_len: usize,
    },
    Stm32V2 {
        checksum: u32,
        image_length: u32,
        header_len: usize,
    },
}

/// TF-A `is_valid_header` / U-Boot `stm32prog_is_fip_header`: ToC name and a non-zero serial number.
pub fn is_fip(b: &[u8]) -> bool {
    b.len() >= 8 && le32(b, 0) == FIP_TOC_NAME && le32(b, 4) != 0
}

/// U-Boot `stm32prog_header_check`: FIP first, then v1 (version exactly 1.0, reserved fields and the 83-byte
/// padding zero), then v2 (version exactly 2.0, reserved fields and the 16-byte padding zero).
pub fn header_check(b: &[u8]) -> Header {
    if is_fip(b) {
        return Header::Fip;
    }
    if b.len() < HEADER_V1_LEN || le32(b, 0) != MAGIC {
        return Header::None;
    }
    let version = le32(b, 0x48);
    let reserved_zero = le32(b, 0x54) == 0 && le32(b, 0x5c) == 0;
    if version == 0x0001_0000 && reserved_zero && b[0xac..0xff].iter().all(|&x| x == 0) {
        return Header::Stm32V1 { checksum: le32(b, 0x44), image_length: le32(b, 0x4c), header_len: HEADER_V1_LEN };
    }
    if version == 0x0002_0000 && reserved_zero && b[0x70..0x80].iter().all(|&x| x == 0) {
        return Header::Stm32V2 { checksum: le32(b, 0x44), image_length: le32(b, 0x4c), header_len: HEADER_V1_LEN + le32(b, 0x68) as usize };
    }
    Header::None
}

/// `stm32prog_header_checksum`: the byte sum of the payload, wrapping at 32 bits.
pub fn checksum(payload: &[u8]) -> u32 {
    payload.iter().fold(0u32, |a, &x| a.wrapping_add(x as u32))
}

/// Why the boot ROM refuses an FSBL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsblError {
    TooShort(usize),
    Magic(u32),
    Version { found: u32, expected: u32 },
    Length { header_len: usize, image_length: u32, received: usize },
    Checksum { computed: u32, expected: u32 },
}

impl std::fmt::Display for FsblError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FsblError::TooShort(n) => write!(f, "only {n} bytes, shorter than an STM32 header"),
            FsblError::Magic(m) => write!(f, "magic 0x{m:08x}, not 'STM2'"),
            FsblError::Version { found, expected } => {
                write!(f, "header version 0x{found:08x}, this SoC's ROM wants 0x{expected:08x}")
            }
            FsblError::Length { header_len, image_length, received } => {
                write!(f, "header (0x{header_len:x}) + image length 0x{image_length:x} > 0x{received:x} bytes received")
            }
            FsblError::Checksum { computed, expected } => {
                write!(f, "checksum 0x{computed:08x}, header says 0x{expected:08x}")
            }
        }
    }
}

/// Where a v2 header's fixed part ends (TF-A `plat/st/stm32mp1/include/boot_api.h` and `stm32mp2/include/boot_api.h`:
/// `boot_api_image_header_t` "Pad up to 128 byte total size", "Followed by extension header"); the extension
/// headers (`extension_headers_length` bytes) follow, then the payload. TF-A's `tools/stm32image` and U-Boot's
/// mkimage write 0x180 of padding extension: the payload starts at 0x200.
pub const HEADER_V2_FIXED_LEN: usize = 0x80;

/// The boot ROM's check of an FSBL (closed code: the fields checked are the documented header fields; the
/// order is the emulator's reading of it). The v2 payload starts at 128 + extension_headers_length, as TF-A's
/// `boot_api_image_header_t` lays it out (U-Boot's `stm32prog_header_check` computes 256 + that length for its own
/// purposes, see [`header_check`]; the ROM boots images made by `stm32image`, whose payload is at 0x200).
pub fn rom_check(b: &[u8], expected_version: u32) -> Result<(), FsblError> {
    if b.len() < HEADER_V1_LEN {
        return Err(FsblError::TooShort(b.len()));
    }
    if le32(b, 0) != MAGIC {
        return Err(FsblError::Magic(le32(b, 0)));
    }
    let version = le32(b, 0x48);
    if version != expected_version {
        return Err(FsblError::Version { found: version, expected: expected_version });
    }
    let header_len = if version >> 16 >= 2 { HEADER_V2_FIXED_LEN + le32(b, 0x68) as usize } else { HEADER_V1_LEN };
    let image_length = le32(b, 0x4c);
    let end = header_len.checked_add(image_length as usize);
    match end {
        Some(end) if end <= b.len() => {
            let computed = checksum(&b[header_len..end]);
            let expected = le32(b, 0x44);
            if computed == expected { Ok(()) } else { Err(FsblError::Checksum { computed, expected }) }
        }
        _ => Err(FsblError::Length { header_len, image_length, received: b.len() }),
    }
}

/// Builds an STM32 header in front of a payload (tests, and the emulator's unit tests of the stages).
#[cfg(test)]
/// A header as TF-A's `stm32image` writes it: v1 256 bytes; v2 the 128-byte fixed part and a 0x180-byte padding
/// extension (flags bit 31, type 0xFFFF5453), payload at 0x200.
pub fn wrap(payload: &[u8], version: u32) -> Vec<u8> {
    let v2 = version >> 16 >= 2;
    let mut h = vec![0u8; if v2 { 0x200 } else { HEADER_V1_LEN }];
    if v2 {
        h[0x64..0x68].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        h[0x68..0x6c].copy_from_slice(&0x180u32.to_le_bytes());
        h[0x80..0x84].copy_from_slice(&0xFFFF_5453u32.to_le_bytes());
        h[0x84..0x88].copy_from_slice(&0x180u32.to_le_bytes());
    }
    h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    h[0x44..0x48].copy_from_slice(&checksum(payload).to_le_bytes());
    h[0x48..0x4c].copy_from_slice(&version.to_le_bytes());
    h[0x4c..0x50].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h.extend_from_slice(payload);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_header_is_recognised_and_checked() {
        let img = wrap(b"hello", 0x0001_0000);
        assert_eq!(header_check(&img), Header::Stm32V1 { checksum: checksum(b"hello"), image_length: 5, header_len: 256 });
        assert_eq!(rom_check(&img, 0x0001_0000), Ok(()));
        assert!(matches!(rom_check(&img, 0x0002_0000), Err(FsblError::Version { .. })));
        let mut bad = img.clone();
        bad[300 - 44] ^= 1;
        assert!(matches!(rom_check(&bad, 0x0001_0000), Err(FsblError::Checksum { .. })));
        assert!(matches!(rom_check(&img[..200], 0x0001_0000), Err(FsblError::TooShort(200))));
        assert!(matches!(rom_check(&img[..258], 0x0001_0000), Err(FsblError::Length { .. })));
        let mut m = img.clone();
        m[0] = b'X';
        assert!(matches!(rom_check(&m, 0x0001_0000), Err(FsblError::Magic(_))));
    }

    /// Regression: the ROM took a v2 payload to start at 256 + extension_headers_length (U-Boot's reading), so it
    /// refused every FSBL made by TF-A's `stm32image` or U-Boot's mkimage (payload at 0x200, extension length
    /// 0x180) with errFILE. These two samples were made by those tools (scripts/make-v2-fixtures.sh).
    #[test]
    fn the_rom_takes_v2_fsbls_made_by_the_real_tools() {
        let mp13 = include_bytes!("../../../samples/tf-a-stm32mp135f-dk-usb.stm32");
        let mp25 = include_bytes!("../../../samples/tf-a-stm32mp257f-dk-usb.stm32");
        assert_eq!(le32(mp13, 0x68), 0x180);
        assert_eq!(rom_check(mp13, 0x0002_0000), Ok(()));
        assert_eq!(rom_check(mp25, 0x0002_0200), Ok(()));
        let mut bad = mp13.to_vec();
        bad[0x200] ^= 1;
        assert!(matches!(rom_check(&bad, 0x0002_0000), Err(FsblError::Checksum { .. })), "the payload starts at 0x200");
        assert!(matches!(rom_check(&mp13[..mp13.len() - 1], 0x0002_0000), Err(FsblError::Length { header_len: 0x200, .. })));
    }

    #[test]
    fn v2_and_fip_and_nonzero_padding() {
        let img = wrap(b"x", 0x0002_0000);
        // U-Boot's stm32prog_header_check: sizeof(struct stm32_header_v1) + extension_headers_length.
        assert!(matches!(header_check(&img), Header::Stm32V2 { header_len: 0x280, .. }));
        assert_eq!(rom_check(&img, 0x0002_0000), Ok(()), "the ROM: 0x80 + extension_headers_length");
        // v2.2 (MP25) is not a header stm32prog_header_check knows
        assert_eq!(header_check(&wrap(b"x", 0x0002_0200)), Header::None);
        let mut v1 = wrap(b"x", 0x0001_0000);
        v1[0xb0] = 1;
        assert_eq!(header_check(&v1), Header::None);
        let mut fip = vec![0u8; 16];
        fip[0..4].copy_from_slice(&FIP_TOC_NAME.to_le_bytes());
        assert!(!is_fip(&fip));
        fip[4] = 0x78;
        assert!(is_fip(&fip));
        assert_eq!(header_check(&fip), Header::Fip);
    }
}
