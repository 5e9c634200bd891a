//! The plan: every partition placed (offset, size, number, type, GUIDs, source), validated against every rule.
//!
//! Pure: [`plan`] takes the parsed board description and the input facts and returns a [`Plan`] plus every
//! problem found, never stopping at the first. The placement is in [`layout`], the rules in [`rules`].

mod layout;
pub mod rules;

use std::{collections::BTreeMap, ops::Range};

use crate::{
    board::{BoardFile, Chain, FlashMode, Media, MmcDevice, Soc},
    diag::{self, Problem},
    guid::Guid,
    inputs::InputFacts,
    units::{ByteSize, Lba, Offset, SECTOR},
};

/// Number of entries in the GPT partition array (U-Boot and genimage both write 128).
pub const GPT_ENTRIES: u32 = 128;
/// Sectors used by one GPT copy: the header sector and 32 sectors of entries.
pub const GPT_SECTORS: u64 = 33;
/// First LBA a partition may use: after the protective MBR, the header and the 128-entry array.
pub const FIRST_USABLE_LBA: Lba = Lba(34);

/// The role a partition plays in the boot chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// First TF-A copy (ROM loads `fsbl*` entries on SD; `boot1` on eMMC).
    Fsbl1,
    /// Second TF-A copy.
    Fsbl2,
    /// U-Boot `.stm32` (trusted chain), found by TF-A by the name `ssbl`.
    Ssbl,
    /// FIP, found by TF-A by type GUID, then name `fip`.
    Fip,
    /// A `[[partition]]` from the description.
    User,
}

/// An input file as the plan uses it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedInput {
    /// Name as written (relative to `--images`).
    pub name: String,
    /// Size in bytes.
    pub size: ByteSize,
}

/// One GPT partition of the disk image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
    /// Unique partition GUID (PARTUUID).
    pub unique_guid: Guid,
    /// Attribute bit 2 (legacy BIOS bootable).
    pub bootable: bool,
    /// Content, if any (a partition without one stays empty).
    pub input: Option<PlannedInput>,
    /// Where it was described in the board file.
    #[serde(skip)]
    pub span: Option<Range<usize>>,
}

impl PlannedPartition {
    /// One past the last byte.
    #[must_use]
    pub fn end(&self) -> Offset {
        Offset(self.start.0.saturating_add(self.size.0))
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
        Lba((self.start.0.saturating_add(self.size.0) / SECTOR).saturating_sub(1))
    }
    /// GPT attribute bits.
    #[must_use]
    pub fn attributes(&self) -> u64 {
        if self.bootable { 1 << 2 } else { 0 }
    }
}

/// An eMMC hardware boot partition holding a TF-A copy (outside the user-area image).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HwBootPartition {
    /// Layout name (`fsbl1`, `fsbl2`).
    pub name: String,
    /// 1 for `boot1`, 2 for `boot2`.
    pub hw_part: u8,
    /// Content.
    pub input: PlannedInput,
}

/// A part of the disk that belongs to the partition table, not to a partition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Region {
    /// `[protective MBR]`, `[GPT header]`, `[GPT entries]`, `[backup GPT]`.
    pub name: &'static str,
    /// First byte.
    pub start: Offset,
    /// Length.
    pub size: ByteSize,
}

/// The disk image as a whole.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DiskPlan {
    /// Output file name.
    pub file_name: String,
    /// Image length.
    pub size: ByteSize,
    /// Disk GUID.
    pub disk_guid: Guid,
    /// First usable LBA written in both GPT headers (34).
    pub first_usable: Lba,
    /// Last usable LBA (size/512 − 34).
    pub last_usable: Lba,
    /// Alignment of automatically placed partitions.
    pub align: ByteSize,
    /// The media's erase unit (every offset must be a multiple).
    pub erase_unit: ByteSize,
}

impl DiskPlan {
    /// Number of sectors.
    #[must_use]
    pub fn total_lba(&self) -> u64 {
        self.size.0 / SECTOR
    }
}

/// The programmer stages loaded into RAM over USB before flashing (`-` lines 0x01 and 0x03).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProgrammerStages {
    /// TF-A sent to the ROM (Id 0x01).
    pub fsbl: PlannedInput,
    /// U-Boot `.stm32` or FIP sent to TF-A (Id 0x03).
    pub second: PlannedInput,
}

/// Everything needed to write the image and the layout.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
    /// Partition-table regions.
    pub reserved: Vec<Region>,
    /// RAM-loaded programmer stages.
    pub stages: ProgrammerStages,
    /// Layout file name.
    pub layout_name: String,
    /// Layout mode.
    pub flash_mode: FlashMode,
}

impl Plan {
    /// Find a partition by name.
    #[must_use]
    pub fn partition(&self, name: &str) -> Option<&PlannedPartition> {
        self.partitions.iter().find(|p| p.name == name)
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
    let draft = layout::place(board, inputs, &mut problems);
    problems.extend(rules::check_plan(board, &draft));
    let plan = (!diag::has_errors(&problems)).then_some(draft);
    PlanOutcome { plan, problems }
}

/// What the image holds at an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// LBA 0.
    ProtectiveMbr,
    /// LBA 1.
    PrimaryHeader,
    /// LBA 2–33.
    PrimaryEntries,
    /// A partition's input file.
    Input {
        /// Partition name.
        partition: String,
        /// Input name (relative to `--images`).
        name: String,
        /// Input size.
        size: ByteSize,
    },
    /// The 32 sectors before the last.
    BackupEntries,
    /// The last sector.
    BackupHeader,
}

impl Plan {
    /// Everything the image holds, in increasing offset order (what the writer copies; the rest stays a hole).
    #[must_use]
    pub fn image_contents(&self) -> Vec<(Offset, Content)> {
        let last = self.disk.total_lba().saturating_sub(1);
        let mut out =
            vec![(Offset(0), Content::ProtectiveMbr), (Offset(SECTOR), Content::PrimaryHeader), (Offset(2 * SECTOR), Content::PrimaryEntries)];
        for p in &self.partitions {
            if let Some(input) = &p.input {
                out.push((p.start, Content::Input { partition: p.name.clone(), name: input.name.clone(), size: input.size }));
            }
        }
        out.push((Offset(last.saturating_sub(GPT_SECTORS - 1) * SECTOR), Content::BackupEntries));
        out.push((Offset(last * SECTOR), Content::BackupHeader));
        out
    }

    /// Bytes STM32CubeProgrammer sends over USB for this layout: the two RAM stages, then the whole image (`raw`) or
    /// each partition's file (`partitions`), plus the eMMC boot-partition copies.
    #[must_use]
    pub fn transfer_bytes(&self, mode: FlashMode) -> u64 {
        // Saturating: sizes come from the description and the inputs (a 16 EiB `[storage] size` must not overflow).
        let sum = |sizes: &mut dyn Iterator<Item = u64>| sizes.fold(0u64, u64::saturating_add);
        let stages = self.stages.fsbl.size.0.saturating_add(self.stages.second.size.0);
        let hw = sum(&mut self.hw_boot.iter().map(|h| h.input.size.0));
        let body = match mode {
            FlashMode::Raw => self.disk.size.0,
            FlashMode::Partitions => sum(&mut self.partitions.iter().filter_map(|p| p.input.as_ref()).map(|i| i.size.0)),
        };
        stages.saturating_add(hw).saturating_add(body)
    }
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
