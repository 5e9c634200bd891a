//! The plan: every partition placed (offset, size, number, type, GUIDs, source), validated against every rule.
//!
//! Pure: [`plan`] takes the parsed board description and the input facts and returns a [`Plan`] plus every
//! problem found, never stopping at the first. The placement is in `layout`, the rules in [`rules`]; where the
//! partition table itself lies is [`crate::geometry`]'s. What a build writes from a plan is [`crate::job`]'s.

mod layout;
pub mod rules;

use std::{collections::BTreeMap, ops::Range};

use crate::{
    board::{BoardFile, Chain, FlashMode, LineOpt, Media, MmcDevice, Soc},
    diag::{self, Problem},
    fwu,
    geometry::{DiskGeometry, Medium},
    guid::Guid,
    inputs::InputFacts,
    units::{ByteSize, Lba, Offset},
};

/// The geometry medium of a board's storage.
#[must_use]
pub fn medium(media: Media) -> Medium {
    match media {
        Media::Sdcard => Medium::SdCard,
        Media::Emmc => Medium::Emmc,
    }
}

/// The role a partition plays in the boot chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// First TF-A copy (ROM loads `fsbl*` entries on SD; `boot1` on eMMC).
    Fsbl1,
    /// Second TF-A copy.
    Fsbl2,
    /// U-Boot `.stm32` (trusted chain), found by TF-A by the name `ssbl`.
    Ssbl,
    /// FIP, found by TF-A by type GUID, then name `fip` (with the A/B set: `fip-a`, bank 0).
    Fip,
    /// The A/B set's second FIP bank, `fip-b` (empty: an update writes it).
    FipB,
    /// FWU metadata copy (`metadata1`, `metadata2`), found by TF-A by name.
    Metadata,
    /// U-Boot's environment (`u-boot-env`, empty).
    Env,
    /// A `[[partition]]` from the description.
    User,
}

impl Role {
    /// How scripts name it (`check --json`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Role::Fsbl1 => "fsbl1",
            Role::Fsbl2 => "fsbl2",
            Role::Ssbl => "ssbl",
            Role::Fip => "fip",
            Role::FipB => "fip-b",
            Role::Metadata => "metadata",
            Role::Env => "u-boot-env",
            Role::User => "user",
        }
    }
}

/// Where a partition's or a stage's content comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A file of the images folder, named in the description.
    Images,
    /// Made by the tool from the description ([`Plan::generated`]): written next to the layout, never read.
    Generated,
}

/// An input file as the plan uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedInput {
    /// Name as written (relative to the images folder), or the generated file's name.
    pub name: String,
    /// Size in bytes.
    pub size: ByteSize,
    /// Read from the images folder, or made by the tool.
    pub origin: Origin,
}

impl PlannedInput {
    /// Whether the tool makes this content itself.
    #[must_use]
    pub fn is_generated(&self) -> bool {
        self.origin == Origin::Generated
    }
}

/// A file the tool makes from the description (the FWU metadata), written next to the layout and into the
/// partitions that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// File name next to the layout (a plain name).
    pub name: String,
    /// What it is, for messages.
    pub what: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// ST's A/B firmware update: FWU metadata in metadata1/metadata2 naming fip-a and fip-b.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwuPlan {
    /// The metadata version the target reads.
    pub version: fwu::Version,
    /// The metadata's content: generated from the plan, or the description's `metadata` file (checked).
    pub metadata: PlannedInput,
}

/// One GPT partition of the disk image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPartition {
    /// GPT entry number, 1-based, in offset order (as `stm32prog` numbers them).
    pub number: u32,
    /// GPT and layout name.
    pub name: String,
    /// Boot-chain role.
    pub role: Role,
    /// First byte.
    pub start: Offset,
    /// Length.
    pub size: ByteSize,
    /// GPT type GUID.
    pub type_guid: Guid,
    /// The type as the description wrote it (`vfat`), for messages; `None` for a default.
    pub type_written: Option<String>,
    /// Unique partition GUID (PARTUUID).
    pub unique_guid: Guid,
    /// Attribute bit 2 (legacy BIOS bootable).
    pub bootable: bool,
    /// Content, if any (a partition without one stays empty).
    pub input: Option<PlannedInput>,
    /// Where it was described in the board file.
    pub span: Option<Range<usize>>,
    /// Column 1 of its layout line, when the description sets it.
    pub opt: Option<LineOpt>,
    /// Column 2 of its layout line, when the description sets it.
    pub id: Option<u32>,
}

impl PlannedPartition {
    /// The type as messages show it: `` `vfat` (EBD0A0A2-…) `` as written, else its canonical name and GUID.
    #[must_use]
    pub fn describe_type(&self) -> String {
        crate::board::describe_written_type(self.type_guid, self.type_written.as_deref())
    }

    /// One past the last byte.
    #[must_use]
    pub fn end(&self) -> Offset {
        self.start.saturating_add(self.size)
    }
    /// First sector.
    #[must_use]
    pub fn first_lba(&self) -> Lba {
        self.start.lba()
    }
    /// Last sector (inclusive). In a valid plan every partition is at least one sector and ends inside the image;
    /// on other values this saturates rather than overflow.
    #[must_use]
    pub fn last_lba(&self) -> Lba {
        self.end().lba().saturating_sub(1)
    }
    /// GPT attribute bits.
    #[must_use]
    pub fn attributes(&self) -> u64 {
        if self.bootable { 1 << 2 } else { 0 }
    }
}

/// An eMMC hardware boot partition holding a TF-A copy (outside the user-area image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HwBootPartition {
    /// Layout name (`fsbl1`, `fsbl2`).
    pub name: String,
    /// 1 for `boot1`, 2 for `boot2`.
    pub hw_part: u8,
    /// Content.
    pub input: PlannedInput,
}

/// The disk image as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskPlan {
    /// Output file name.
    pub file_name: String,
    /// Image length.
    pub size: ByteSize,
    /// Disk GUID.
    pub disk_guid: Guid,
    /// Alignment of automatically placed partitions.
    pub align: ByteSize,
    /// The media's erase unit (every offset must be a multiple).
    pub erase_unit: ByteSize,
    /// `[storage] size` was given: the image is as long as the card or eMMC user area.
    pub size_given: bool,
}

impl DiskPlan {
    /// Where the partition table lies, and which sectors are usable (first usable LBA 34, last usable size/512 − 34).
    #[must_use]
    pub fn geometry(&self) -> DiskGeometry {
        DiskGeometry::for_size(self.size)
    }
}

/// The programmer stages loaded into RAM over USB before flashing (`-` lines 0x01, 0x02 and 0x03).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammerStages {
    /// TF-A sent to the ROM (Id 0x01): `[programmer] fsbl`, else the flashed one.
    pub fsbl: PlannedInput,
    /// STM32MP25: the DDR firmware FIP sent to TF-A (Id 0x02).
    pub ddr: Option<PlannedInput>,
    /// U-Boot `.stm32` or FIP sent to TF-A (Id 0x03): `[programmer] ssbl`/`fip`, else the flashed one.
    pub second: PlannedInput,
}

impl ProgrammerStages {
    /// Every stage, in the order the programmer sends them.
    #[must_use]
    pub fn all(&self) -> Vec<&PlannedInput> {
        let mut out = vec![&self.fsbl];
        out.extend(self.ddr.iter());
        out.push(&self.second);
        out
    }
}

/// Everything needed to write the image and the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Board name.
    pub board: String,
    /// SoC family.
    pub soc: Soc,
    /// Boot chain.
    pub chain: Chain,
    /// Target media.
    pub media: Media,
    /// U-Boot MMC device.
    pub device: MmcDevice,
    /// The image.
    pub disk: DiskPlan,
    /// GPT partitions, in number order.
    pub partitions: Vec<PlannedPartition>,
    /// eMMC hardware boot partitions (empty on SD).
    pub hw_boot: Vec<HwBootPartition>,
    /// RAM-loaded programmer stages.
    pub stages: ProgrammerStages,
    /// Layout file name.
    pub layout_name: String,
    /// Layout mode.
    pub flash_mode: FlashMode,
    /// Layout types for U-Boot before 2022.07 (`FIP`… written as `Binary`).
    pub legacy_types: bool,
    /// The A/B firmware-update set, when described.
    pub fwu: Option<FwuPlan>,
    /// Files the tool makes (the FWU metadata), written next to the layout.
    pub generated: Vec<GeneratedFile>,
}

impl Plan {
    /// Find a partition by name.
    #[must_use]
    pub fn partition(&self, name: &str) -> Option<&PlannedPartition> {
        self.partitions.iter().find(|p| p.name == name)
    }

    /// The medium, for geometry.
    #[must_use]
    pub fn medium(&self) -> Medium {
        medium(self.media)
    }

    /// Bytes STM32CubeProgrammer sends over USB for this layout: the two RAM stages, then the whole image (`raw`) or
    /// each partition's file (`partitions`), plus the eMMC boot-partition copies.
    #[must_use]
    pub fn transfer_bytes(&self, mode: FlashMode) -> ByteSize {
        // Saturating: sizes come from the description and the inputs (a 16 EiB `[storage] size` must not overflow).
        let sum = |sizes: &mut dyn Iterator<Item = ByteSize>| sizes.fold(ByteSize::ZERO, ByteSize::saturating_add);
        let stages = sum(&mut self.stages.all().into_iter().map(|s| s.size));
        let hw = sum(&mut self.hw_boot.iter().map(|h| h.input.size));
        let body = match mode {
            FlashMode::Raw => self.disk.size,
            FlashMode::Partitions => sum(&mut self.partitions.iter().filter_map(|p| p.input.as_ref()).map(|i| i.size)),
        };
        stages.saturating_add(hw).saturating_add(body)
    }
}

/// The inputs as read, keyed by the name written in the description.
#[derive(Debug, Clone, Default)]
pub struct InputSet {
    /// Files that were read.
    pub facts: BTreeMap<String, InputFacts>,
    /// Files that could not be read, with the reason.
    pub missing: BTreeMap<String, String>,
}

/// The result of planning: a plan when there is no error, and every problem found.
#[derive(Debug, Clone)]
pub struct PlanOutcome {
    /// The plan, when no rule failed.
    pub plan: Option<Plan>,
    /// Errors, warnings and notes, in discovery order.
    pub problems: Vec<Problem>,
}

/// Plan the disk image and layout for a board description and its inputs.
#[must_use]
pub fn plan(board: &BoardFile, inputs: &InputSet) -> PlanOutcome {
    let mut problems = Vec::new();
    problems.extend(rules::check_inputs(board, inputs));
    // TF-A copies described as user-area partitions on eMMC: one error, and the rest is planned without them (kept,
    // they would draw a misalignment, an overlap and a duplicate name each).
    let (misplaced, problem) = rules::reject_emmc_fsbl_partitions(board);
    problems.extend(problem);
    let trimmed;
    let board = if misplaced.is_empty() {
        board
    } else {
        let mut b = board.clone();
        b.partitions = b.partitions.into_iter().enumerate().filter(|(i, _)| !misplaced.contains(i)).map(|(_, p)| p).collect();
        trimmed = b;
        &trimmed
    };
    let draft = layout::place(board, inputs, &mut problems);
    problems.extend(rules::check_plan(board, inputs, &draft));
    let plan = (!diag::has_errors(&problems)).then_some(draft);
    PlanOutcome { plan, problems }
}

/// USB throughput seen in the guide's transcript: 539,002,368 bytes in 4 min 31.583 s (STM32CubeProgrammer 2.2.0,
/// DK2, SD card). Used only for estimates.
pub const GUIDE_BYTES_PER_SECOND: f64 = 539_002_368.0 / 271.583;

/// Short descriptions of the inputs (`STM32 v1.0`, `FIP (3 entries)`, `data`) for display.
#[derive(Debug, Clone, Default)]
pub struct PlanInputKinds(pub BTreeMap<String, String>);

impl PlanInputKinds {
    /// From the inputs as read.
    #[must_use]
    pub fn from_inputs(inputs: &InputSet) -> PlanInputKinds {
        PlanInputKinds(inputs.facts.iter().map(|(k, v)| (k.clone(), v.describe())).collect())
    }

    /// The description of one input.
    #[must_use]
    pub fn describe(&self, name: &str) -> &str {
        self.0.get(name).map_or("?", String::as_str)
    }
}
