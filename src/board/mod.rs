//! The board description: the TOML file's model (values with their source spans) and its parser.
//!
//! Pure: [`parse_board`] takes text and returns values; reading the file is the caller's business.
//! The schema is documented in `board/README.md`.

mod parse;

use std::{fmt, ops::Range};

pub use parse::parse_board;

use crate::{guid::Guid, units::ByteSize, units::Offset};

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
}

/// How TF-A finds the second stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// TF-A BL2 + U-Boot `.stm32` in a partition named `ssbl` (TF-A < 2.8, the guide's chain).
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

/// A partition type as written: a known name or a GUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartType(pub Guid);

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
    /// Size of each fsbl slot (default 256 KiB).
    pub fsbl_size: Option<Spanned<ByteSize>>,
    /// Size of the ssbl slot (default 2 MiB).
    pub ssbl_size: Option<Spanned<ByteSize>>,
    /// Size of the fip slot (default 4 MiB).
    pub fip_size: Option<Spanned<ByteSize>>,
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
    /// Disk GUID (default: derived from the board name).
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
    /// Partition size (default: the input's size rounded up to the alignment).
    pub size: Option<Spanned<ByteSize>>,
    /// Start offset (default: after the previous partition, aligned).
    pub offset: Option<Spanned<Offset>>,
    /// Partition type (default: `linux`).
    pub part_type: Option<Spanned<PartType>>,
    /// Unique partition GUID (default: derived, or U-Boot's fixed one for `rootfs`).
    pub uuid: Option<Spanned<Guid>>,
    /// Legacy BIOS bootable attribute (bit 2).
    pub bootable: Option<Spanned<bool>>,
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
        names.extend(self.partitions.iter().filter_map(|p| p.image.as_ref()));
        names
    }
}
