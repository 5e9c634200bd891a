//! Input files as facts (size, SHA-256, STM32 header, FIP table of contents) and the checks a boot stage's file must pass.
//!
//! Pure: the bytes are read by `effects::inputs`; this module only interprets what was read.

pub mod fip;
pub mod stm32;

use std::path::PathBuf;

use crate::{board::Soc, diag::Problem, units::ByteSize};

/// What an input file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputKind {
    /// Starts with the STM32 magic; the header parsed (or failed to, with the reason).
    Stm32 {
        /// The header, when it parsed.
        header: Option<stm32::Stm32Header>,
        /// Why it did not parse, or why the payload does not match it.
        error: Option<String>,
    },
    /// Starts with the FIP ToC magic.
    Fip {
        /// The ToC, when it parsed.
        toc: Option<fip::FipToc>,
        /// Why it did not parse.
        error: Option<String>,
    },
    /// An ext2/3/4 file system (superblock magic 0xEF53 at byte 0x438).
    ExtFs,
    /// Anything else (other file systems, raw blobs).
    Other,
}

/// One input file, as read.
#[derive(Debug, Clone)]
pub struct InputFacts {
    /// The name as written in the board description.
    pub name: String,
    /// Where it was read (symlinks followed).
    pub path: PathBuf,
    /// Size in bytes.
    pub size: ByteSize,
    /// SHA-256 of the content, when it was computed (always for boot stages; for large files only when asked).
    pub sha256: Option<[u8; 32]>,
    /// Header facts.
    pub kind: InputKind,
    /// The first bytes (up to [`HEAD_LEN`]): enough for the formats without a magic the rules read whole, such as FWU
    /// metadata (120 bytes).
    pub head: Vec<u8>,
}

/// Bytes read from the start of each input to classify it; enough for a v2 header and a full FIP ToC.
pub const HEAD_LEN: usize = 4096;

impl InputFacts {
    /// Classify a file from its first bytes (up to [`HEAD_LEN`]), its length and, for STM32 images, the computed payload sum.
    #[must_use]
    pub fn classify(name: &str, path: PathBuf, size: u64, head: &[u8], payload_sum: Option<u32>, sha256: Option<[u8; 32]>) -> InputFacts {
        let kind = if stm32::has_magic(head) {
            match stm32::parse_header(head) {
                Ok(header) => {
                    let error = payload_sum.and_then(|sum| stm32::verify_payload(&header, size, sum).err()).map(|e| e.to_string());
                    InputKind::Stm32 { header: Some(header), error }
                }
                Err(e) => InputKind::Stm32 { header: None, error: Some(e.to_string()) },
            }
        } else if fip::has_magic(head) {
            match fip::parse_toc(head, size) {
                Ok(toc) => InputKind::Fip { toc: Some(toc), error: None },
                Err(e) => InputKind::Fip { toc: None, error: Some(e.to_string()) },
            }
        } else if head.get(0x438..0x43a) == Some(&[0x53, 0xEF]) {
            InputKind::ExtFs
        } else {
            InputKind::Other
        };
        InputFacts { name: name.to_string(), path, size: ByteSize::new(size), sha256, kind, head: head[..head.len().min(HEAD_LEN)].to_vec() }
    }

    /// Short description for tables: `STM32 v1.0`, `FIP (3 entries)`, `data`.
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.kind {
            InputKind::Stm32 { header: Some(h), .. } => format!("STM32 {}", h.version),
            InputKind::Stm32 { header: None, .. } => "STM32 (bad header)".to_string(),
            InputKind::Fip { toc: Some(t), .. } if t.entries.len() == 1 => "FIP (1 entry)".to_string(),
            InputKind::Fip { toc: Some(t), .. } => format!("FIP ({} entries)", t.entries.len()),
            InputKind::Fip { toc: None, .. } => "FIP (bad ToC)".to_string(),
            InputKind::ExtFs => "ext2/3/4".to_string(),
            InputKind::Other => "data".to_string(),
        }
    }
}

/// The STM32 header version a SoC's ROM expects.
#[must_use]
pub fn expected_header_version(soc: Soc) -> stm32::HeaderVersion {
    match soc {
        Soc::Stm32mp15 => stm32::HeaderVersion { major: 1, minor: 0 },
        Soc::Stm32mp13 => stm32::HeaderVersion { major: 2, minor: 0 },
        Soc::Stm32mp25 => stm32::HeaderVersion { major: 2, minor: 2 },
    }
}

fn version_word(v: stm32::HeaderVersion) -> u32 {
    (u32::from(v.major) << 16) | (u32::from(v.minor) << 8)
}

/// Which boot stage a file is used as; decides what it must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageRole {
    /// TF-A BL2, loaded by the ROM.
    Fsbl,
    /// U-Boot `.stm32` loaded by TF-A (trusted chain).
    Ssbl,
    /// FIP loaded by TF-A.
    Fip,
}

/// Check a boot stage's file: STM32 header (magic, version for the SoC, length, checksum, MP15 FSBL size) or FIP ToC.
/// Problems name the file, the field, and the expected and actual values.
#[must_use]
pub fn check_stage(facts: &InputFacts, role: StageRole, soc: Soc) -> Vec<Problem> {
    let file = &facts.name;
    let mut out = Vec::new();
    match role {
        StageRole::Fsbl | StageRole::Ssbl => {
            let what = if role == StageRole::Fsbl { "FSBL (TF-A)" } else { "SSBL (U-Boot)" };
            match &facts.kind {
                InputKind::Stm32 { header, error } => {
                    if let Some(e) = error {
                        out.push(Problem::error("input::bad_stm32_header", format!("{file}: {e}")).with_help(format!(
                            "rebuild the {what} image, or re-wrap it with `mkimage -T stm32image` (MP15) / TF-A's stm32image tool"
                        )));
                    }
                    if let Some(h) = header {
                        let want = expected_header_version(soc);
                        if h.version != want {
                            out.push(
                                Problem::error(
                                    "input::bad_stm32_header",
                                    format!(
                                        "{file}: field header_version (offset 0x48): expected {:#010x} ({want}) for {}, found {:#010x} ({})",
                                        version_word(want),
                                        soc.name(),
                                        h.version_word,
                                        h.version
                                    ),
                                )
                                .with_help(format!(
                                    "this image was built for another SoC; set `[board] soc` to match, or use the {} build",
                                    soc.name()
                                )),
                            );
                        }
                        if role == StageRole::Fsbl && soc == Soc::Stm32mp15 && u64::from(h.image_length) > stm32::MP15_FSBL_MAX_PAYLOAD {
                            out.push(
                                Problem::error(
                                    "input::fsbl_too_large",
                                    format!(
                                        "{file}: field image_length (offset 0x4c): the STM32MP15 ROM loads at most {:#x} bytes (247 KiB), found {:#x}",
                                        stm32::MP15_FSBL_MAX_PAYLOAD,
                                        h.image_length
                                    ),
                                )
                                .with_help("build TF-A BL2 smaller (drop debug, unused drivers), or check that this is TF-A BL2"),
                            );
                        }
                    }
                }
                InputKind::Fip { .. } => out.push(
                    Problem::error("input::not_stm32", format!("{file}: is a FIP, but the {what} must be an STM32 image (magic \"STM2\")"))
                        .with_help(if role == StageRole::Ssbl {
                            "use `chain = \"fip\"` and `fip = ...` for a FIP"
                        } else {
                            "point `fsbl` at TF-A's `.stm32` file"
                        }),
                ),
                InputKind::Other | InputKind::ExtFs => {
                    let found = facts_magic_hint(facts);
                    out.push(
                        Problem::error("input::not_stm32", format!("{file}: field magic (offset 0x0): expected 0x324d5453 (\"STM2\"), {found}"))
                            .with_help(format!("the {what} must carry an STM32 header; build the `.stm32` output (Buildroot: `*.stm32` in the TF-A/U-Boot image list)")),
                    );
                }
            }
        }
        StageRole::Fip => match &facts.kind {
            InputKind::Fip { error: Some(e), .. } => {
                out.push(Problem::error("input::bad_fip", format!("{file}: {e}")).with_help("rebuild fip.bin with TF-A's `fiptool create`"))
            }
            InputKind::Fip { .. } => {}
            _ => out.push(
                Problem::error(
                    "input::not_fip",
                    format!("{file}: field ToC name (offset 0x0): expected {:#010x}, {}", fip::TOC_MAGIC, facts_magic_hint(facts)),
                )
                .with_help("`fip` must be a TF-A firmware image package (fip.bin); for U-Boot `.stm32` use `chain = \"trusted\"`"),
            ),
        },
    }
    out
}

fn facts_magic_hint(facts: &InputFacts) -> String {
    match &facts.kind {
        InputKind::Stm32 { .. } => "found an STM32 image".to_string(),
        InputKind::Fip { .. } => "found a FIP".to_string(),
        InputKind::ExtFs => "found an ext2/3/4 file system".to_string(),
        InputKind::Other if facts.size.get() == 0 => "found an empty file".to_string(),
        InputKind::Other => "found something else".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::stm32::tests::v1_image;

    fn facts(bytes: &[u8]) -> InputFacts {
        let header_len = stm32::parse_header(bytes).map_or(256, |h| h.header_len as usize);
        let sum = stm32::has_magic(bytes).then(|| stm32::payload_checksum(bytes.get(header_len..).unwrap_or(&[])));
        InputFacts::classify("x.stm32", PathBuf::from("x.stm32"), bytes.len() as u64, &bytes[..bytes.len().min(HEAD_LEN)], sum, None)
    }

    #[test]
    fn good_fsbl_passes() {
        assert!(check_stage(&facts(&v1_image(&[1, 2, 3])), StageRole::Fsbl, Soc::Stm32mp15).is_empty());
    }

    #[test]
    fn wrong_soc_version_is_named() {
        let p = check_stage(&facts(&v1_image(&[1, 2, 3])), StageRole::Fsbl, Soc::Stm32mp13);
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("expected 0x00020000 (v2.0) for stm32mp13, found 0x00010000 (v1.0)"), "{}", p[0].message);
    }

    #[test]
    fn v2_headers_match_their_soc() {
        use crate::inputs::stm32::tests::v2_image;
        let mp13 = facts(&v2_image(&[1, 2, 3], 0));
        assert!(check_stage(&mp13, StageRole::Fsbl, Soc::Stm32mp13).is_empty());
        let mp25 = facts(&v2_image(&[1, 2, 3], 2));
        assert!(check_stage(&mp25, StageRole::Fsbl, Soc::Stm32mp25).is_empty());
        let p = check_stage(&mp13, StageRole::Fsbl, Soc::Stm32mp25);
        assert!(p[0].message.contains("expected 0x00020200 (v2.2) for stm32mp25, found 0x00020000 (v2.0)"), "{}", p[0].message);
        let p = check_stage(&mp25, StageRole::Fsbl, Soc::Stm32mp15);
        assert!(p[0].message.contains("expected 0x00010000 (v1.0) for stm32mp15, found 0x00020200 (v2.2)"), "{}", p[0].message);
    }

    #[test]
    fn oversized_mp15_fsbl_is_refused() {
        let p = check_stage(&facts(&v1_image(&vec![0u8; 247 * 1024 + 1])), StageRole::Fsbl, Soc::Stm32mp15);
        assert_eq!(p[0].code, "input::fsbl_too_large");
    }

    #[test]
    fn a_fip_is_described_with_its_entry_count() {
        let fip = |n: usize| {
            let mut v = [fip::TOC_MAGIC.to_le_bytes().as_slice(), &[0; 12]].concat();
            for i in 0..n {
                let offset = 16 + 40 * (n as u64 + 1) + 16 * i as u64;
                v.extend([[0xAB; 16].as_slice(), &offset.to_le_bytes(), &16u64.to_le_bytes(), &[0; 8]].concat());
            }
            v.extend([0; 40]);
            v.resize(v.len() + 16 * n, 0);
            InputFacts::classify("fip.bin", PathBuf::from("fip.bin"), v.len() as u64, &v, None, None).describe()
        };
        assert_eq!(fip(1), "FIP (1 entry)");
        assert_eq!(fip(3), "FIP (3 entries)");
    }

    #[test]
    fn raw_file_as_fsbl_is_refused() {
        let p = check_stage(&facts(b"\x7fELF...................."), StageRole::Fsbl, Soc::Stm32mp15);
        assert_eq!(p[0].code, "input::not_stm32");
    }
}
