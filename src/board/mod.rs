//! The board description: the TOML file's model (values with their source spans) and its parser.
//!
//! Pure: [`parse_board`] takes text and returns values; reading the file is the caller's business.
//! The schema is documented in `board/README.md`.

mod parse;

use std::{fmt, ops::Range};

pub use parse::parse_board;

use crate::{fwu, guid::Guid, units::ByteSize, units::Offset};

/// A value from the board file and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Byte range of the value in the file.
    pub span: Range<usize>,
}

impl<T> Spanned<T> {
    /// Pair a value with its span.
    pub fn new(value: T, span: Range<usize>) -> Spanned<T> {
        Spanned { value, span }
    }
}

/// The STM32MP family; decides the STM32 header version and the boot chains that exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Soc {
    /// STM32MP13x: header v2.0, FIP chain only.
    #[serde(rename = "stm32mp13")]
    Stm32mp13,
    /// STM32MP15x: header v1.0, trusted or FIP chain.
    #[serde(rename = "stm32mp15")]
    Stm32mp15,
    /// STM32MP25x: header v2.2, FIP chain only.
    #[serde(rename = "stm32mp25")]
    Stm32mp25,
}

impl Soc {
    /// The names accepted in `[board] soc`.
    pub const NAMES: &'static [&'static str] = &["stm32mp13", "stm32mp15", "stm32mp25"];

    /// The board-file spelling.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Soc::Stm32mp13 => "stm32mp13",
            Soc::Stm32mp15 => "stm32mp15",
            Soc::Stm32mp25 => "stm32mp25",
        }
    }

    /// The family as ST writes it (`STM32MP15`).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Soc::Stm32mp13 => "STM32MP13",
            Soc::Stm32mp15 => "STM32MP15",
            Soc::Stm32mp25 => "STM32MP25",
        }
    }

    /// The Device ID (`DBGMCU_IDC.DEV_ID`) the ROM, TF-A and U-Boot put in their USB product string.
    #[must_use]
    pub fn device_id(self) -> u16 {
        match self {
            Soc::Stm32mp13 => 0x501,
            Soc::Stm32mp15 => 0x500,
            Soc::Stm32mp25 => 0x505,
        }
    }

    /// The family a Device ID names.
    #[must_use]
    pub fn from_device_id(id: u16) -> Option<Soc> {
        [Soc::Stm32mp13, Soc::Stm32mp15, Soc::Stm32mp25].into_iter().find(|s| s.device_id() == id)
    }
}

/// How TF-A finds the second stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// TF-A BL2 + U-Boot `.stm32` in a partition named `ssbl` (TF-A ≤ v2.5, or v2.6/v2.7 built with
    /// `STM32MP_USE_STM32IMAGE=1`: the guide's chain).
    Trusted,
    /// TF-A BL2 + `fip.bin` (BL32 + U-Boot) in a partition named `fip` with the FIP type GUID.
    Fip,
}

impl Chain {
    /// The names accepted in `[boot] chain`.
    pub const NAMES: &'static [&'static str] = &["trusted", "fip"];
}

/// The storage the image is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// SD card: FSBL copies in GPT partitions `fsbl1`/`fsbl2`, 512-byte erase unit.
    Sdcard,
    /// eMMC: FSBL copies in the hardware boot partitions, user area aligned to the 512 KiB erase group.
    Emmc,
}

impl Media {
    /// The names accepted in `[storage] media`.
    pub const NAMES: &'static [&'static str] = &["sdcard", "emmc"];

    /// The board-file spelling.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Media::Sdcard => "sdcard",
            Media::Emmc => "emmc",
        }
    }
}

/// How `flash.tsv` describes the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashMode {
    /// One `RawImage` line that writes the whole disk image (the guide's layout).
    Raw,
    /// One line per partition; U-Boot `stm32prog` writes the GPT itself.
    Partitions,
}

impl FlashMode {
    /// The names accepted in `[flash] mode`.
    pub const NAMES: &'static [&'static str] = &["raw", "partitions"];
}

/// An MMC device as U-Boot numbers it (`mmc0` = SDMMC1 = SD on ST boards, `mmc1` = eMMC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmcDevice(pub u8);

impl fmt::Display for MmcDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mmc{}", self.0)
    }
}

/// A partition type: the GUID, and the name or GUID as the description wrote it (messages quote it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartType {
    /// The GPT type GUID.
    pub guid: Guid,
    /// As written (`vfat`, `linux`, a GUID).
    pub written: String,
}

impl PartType {
    /// As messages show it: `` `vfat` (EBD0A0A2-…) ``, or the GUID alone when that is what was written.
    #[must_use]
    pub fn describe(&self) -> String {
        describe_written_type(self.guid, Some(&self.written))
    }
}

/// A type as messages show it: the name the description used with its GUID, the GUID alone when the description
/// wrote a GUID, or the canonical name when it wrote nothing (a default).
#[must_use]
pub fn describe_written_type(guid: Guid, written: Option<&str>) -> String {
    match written {
        Some(w) if Guid::parse(w).is_none() => format!("`{w}` ({guid})"),
        Some(_) => guid.to_string(),
        None => crate::guid::describe_type(guid),
    }
}

/// A size as written: a number of bytes, `"auto"` (the input's size, rounded up as genimage rounds a partition
/// without `size`), or `"fill"` (the last partition grows to where U-Boot's `stm32prog` ends it on the storage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeSpec {
    /// Exactly this many bytes.
    Bytes(ByteSize),
    /// From the input: its size rounded up to the alignment.
    Auto,
    /// Up to the end of the storage (`[storage] size`), as `stm32prog` stretches the last partition.
    Fill,
}

impl SizeSpec {
    /// The byte count, when one was written.
    #[must_use]
    pub fn bytes(self) -> Option<ByteSize> {
        match self {
            SizeSpec::Bytes(b) => Some(b),
            SizeSpec::Auto | SizeSpec::Fill => None,
        }
    }
}

/// Column 1 of a partition's layout line: program it (`P`), erase it first (`PD`), keep it empty (`PE`), or erase it
/// and keep it empty (`PED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum LineOpt {
    /// `P`.
    #[serde(rename = "P")]
    P,
    /// `PD`.
    #[serde(rename = "PD")]
    Pd,
    /// `PE`.
    #[serde(rename = "PE")]
    Pe,
    /// `PED`.
    #[serde(rename = "PED")]
    Ped,
}

impl LineOpt {
    /// The spellings accepted in `opt`.
    pub const NAMES: &'static [&'static str] = &["P", "PD", "PE", "PED"];
    /// The values, in the order of [`LineOpt::NAMES`].
    pub const ALL: [LineOpt; 4] = [LineOpt::P, LineOpt::Pd, LineOpt::Pe, LineOpt::Ped];

    /// Whether the partition is left empty (`E`): `stm32prog` writes nothing into it.
    #[must_use]
    pub fn empty(self) -> bool {
        matches!(self, LineOpt::Pe | LineOpt::Ped)
    }

    /// Whether the partition is erased before it is written (`D`).
    #[must_use]
    pub fn delete(self) -> bool {
        matches!(self, LineOpt::Pd | LineOpt::Ped)
    }

    /// The layout spelling.
    #[must_use]
    pub fn name(self) -> &'static str {
        Self::NAMES[Self::ALL.iter().position(|o| *o == self).unwrap_or(0)]
    }
}

/// `[board]`.
#[derive(Debug, Clone)]
pub struct BoardSection {
    /// Board name; used in messages and to derive GUIDs.
    pub name: Spanned<String>,
    /// SoC family.
    pub soc: Spanned<Soc>,
}

/// `[boot]`.
#[derive(Debug, Clone)]
pub struct BootSection {
    /// Boot chain.
    pub chain: Spanned<Chain>,
    /// TF-A BL2 `.stm32` (written to fsbl1 and fsbl2, and sent to the ROM as Id 0x01).
    pub fsbl: Spanned<String>,
    /// U-Boot `.stm32` (trusted chain).
    pub ssbl: Option<Spanned<String>>,
    /// FIP (fip chain).
    pub fip: Option<Spanned<String>>,
    /// Size of each fsbl slot (default 256 KiB; `Auto`: from the TF-A file). Never `Fill`.
    pub fsbl_size: Option<Spanned<SizeSpec>>,
    /// Size of the ssbl slot (default 2 MiB). Never `Fill`.
    pub ssbl_size: Option<Spanned<SizeSpec>>,
    /// Size of the fip slot, or of each of fip-a and fip-b (default 4 MiB). Never `Fill`.
    pub fip_size: Option<Spanned<SizeSpec>>,
    /// GPT type of fsbl1/fsbl2 (default `binary`, what `stm32prog` gives them).
    pub fsbl_type: Option<Spanned<PartType>>,
    /// GPT type of ssbl (default `binary`).
    pub ssbl_type: Option<Spanned<PartType>>,
    /// GPT type of the fip slot(s) (default `fip`; `binary` with `[flash] legacy_types`).
    pub fip_type: Option<Spanned<PartType>>,
    /// ST's A/B firmware-update set: metadata1, metadata2, fip-a, fip-b, u-boot-env after fsbl1/fsbl2.
    pub fwu: Option<Spanned<bool>>,
    /// A given FWU metadata file for metadata1/metadata2 (checked against the GPT); without it the tool writes one.
    pub metadata: Option<Spanned<String>>,
    /// FWU metadata version the target reads (default 2).
    pub metadata_version: Option<Spanned<fwu::Version>>,
}

impl BootSection {
    /// Whether the A/B firmware-update set is described.
    #[must_use]
    pub fn fwu(&self) -> bool {
        self.fwu.as_ref().is_some_and(|f| f.value)
    }
}

/// `[programmer]`: what STM32CubeProgrammer loads into RAM over USB before flashing (the `-` lines), when it is not
/// the flashed files.
#[derive(Debug, Clone, Default)]
pub struct ProgrammerSection {
    /// TF-A sent to the ROM on Id 0x01 (a TF-A built with `STM32MP_USB_PROGRAMMER=1`); default `[boot] fsbl`.
    pub fsbl: Option<Spanned<String>>,
    /// U-Boot `.stm32` sent on Id 0x03 (trusted chain); default `[boot] ssbl`.
    pub ssbl: Option<Spanned<String>>,
    /// FIP sent on Id 0x03 (fip chain); default `[boot] fip`.
    pub fip: Option<Spanned<String>>,
    /// STM32MP25: the DDR firmware FIP sent on Id 0x02 (`fip-ddr`).
    pub fip_ddr: Option<Spanned<String>>,
}

/// `[storage]`.
#[derive(Debug, Clone)]
pub struct StorageSection {
    /// SD card or eMMC.
    pub media: Spanned<Media>,
    /// The U-Boot device in `flash.tsv`.
    pub device: Spanned<MmcDevice>,
    /// Output image file name.
    pub image: Spanned<String>,
    /// Exact image size (default: last partition end + backup GPT, rounded up to 4 KiB).
    pub size: Option<Spanned<ByteSize>>,
    /// Disk GUID (default: derived from the board name and the storage's medium and device).
    pub uuid: Option<Spanned<Guid>>,
    /// Alignment of partitions placed automatically after the boot slots (default: the media's erase unit).
    pub align: Option<Spanned<ByteSize>>,
}

/// `[flash]`.
#[derive(Debug, Clone)]
pub struct FlashSection {
    /// Output layout file name.
    pub layout: Spanned<String>,
    /// Raw or per-partition layout.
    pub mode: Spanned<FlashMode>,
    /// Layout types as U-Boot before 2022.07 knows them: `FIP`, `ENV`, `ESP`, `FWU_MDATA` written as `Binary`.
    pub legacy_types: Option<Spanned<bool>>,
}

impl FlashSection {
    /// Whether `legacy_types = true`.
    #[must_use]
    pub fn legacy_types(&self) -> bool {
        self.legacy_types.as_ref().is_some_and(|l| l.value)
    }
}

/// One `[[partition]]`.
#[derive(Debug, Clone)]
pub struct PartitionSpec {
    /// Span of the whole table (its `[[partition]]` header and keys).
    pub span: Range<usize>,
    /// GPT and layout name.
    pub name: Spanned<String>,
    /// Input file, relative to `--images`.
    pub image: Option<Spanned<String>>,
    /// Partition size (default, and `Auto`: the input's size rounded up to the alignment; `Fill`: to the end).
    pub size: Option<Spanned<SizeSpec>>,
    /// Start offset (default: after the previous partition, aligned).
    pub offset: Option<Spanned<Offset>>,
    /// Partition type (default: `linux`).
    pub part_type: Option<Spanned<PartType>>,
    /// Unique partition GUID (default: derived, or U-Boot's fixed one for `rootfs`).
    pub uuid: Option<Spanned<Guid>>,
    /// Legacy BIOS bootable attribute (bit 2).
    pub bootable: Option<Spanned<bool>>,
    /// Column 1 of its layout line (default `P` with an image, `PED` without).
    pub opt: Option<Spanned<LineOpt>>,
    /// Column 2 of its layout line (default: ST's counters, 0x04… for boot-loader types, 0x10… for the rest).
    pub id: Option<Spanned<u32>>,
}

/// A whole board description, as written (types checked, semantics not yet).
#[derive(Debug, Clone)]
pub struct BoardFile {
    /// `[board]`.
    pub board: BoardSection,
    /// `[boot]`.
    pub boot: BootSection,
    /// `[storage]`.
    pub storage: StorageSection,
    /// `[flash]`.
    pub flash: FlashSection,
    /// `[programmer]` (all keys optional).
    pub programmer: ProgrammerSection,
    /// `[[partition]]` in file order.
    pub partitions: Vec<PartitionSpec>,
}

impl BoardFile {
    /// Every input file the description names, with the span that names it, in file order (duplicates kept).
    #[must_use]
    pub fn input_names(&self) -> Vec<&Spanned<String>> {
        let mut names = vec![&self.boot.fsbl];
        names.extend(self.boot.ssbl.iter());
        names.extend(self.boot.fip.iter());
        names.extend(self.boot.metadata.iter());
        names.extend(self.programmer_inputs().into_iter().map(|(n, _)| n));
        names.extend(self.partitions.iter().filter_map(|p| p.image.as_ref()));
        names
    }

    /// The programmer's own files (`[programmer]`), each with the stage it is loaded as, in layout order.
    #[must_use]
    pub fn programmer_inputs(&self) -> Vec<(&Spanned<String>, ProgrammerStage)> {
        let p = &self.programmer;
        let mut out: Vec<(&Spanned<String>, ProgrammerStage)> = Vec::new();
        out.extend(p.fsbl.iter().map(|n| (n, ProgrammerStage::Fsbl)));
        out.extend(p.fip_ddr.iter().map(|n| (n, ProgrammerStage::FipDdr)));
        out.extend(p.ssbl.iter().map(|n| (n, ProgrammerStage::Ssbl)));
        out.extend(p.fip.iter().map(|n| (n, ProgrammerStage::Fip)));
        out
    }

    /// The files that are boot stages (checked as STM32 images or FIPs, always hashed), with what they are.
    #[must_use]
    pub fn boot_stage_inputs(&self) -> Vec<(&Spanned<String>, ProgrammerStage)> {
        let mut out = vec![(&self.boot.fsbl, ProgrammerStage::Fsbl)];
        out.extend(self.boot.ssbl.iter().map(|n| (n, ProgrammerStage::Ssbl)));
        out.extend(self.boot.fip.iter().map(|n| (n, ProgrammerStage::Fip)));
        out.extend(self.programmer_inputs());
        out
    }
}

/// What a boot-stage file is loaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgrammerStage {
    /// TF-A BL2 (`.stm32`).
    Fsbl,
    /// U-Boot `.stm32` (trusted chain).
    Ssbl,
    /// A FIP with the second stage.
    Fip,
    /// STM32MP25's DDR firmware FIP.
    FipDdr,
}
