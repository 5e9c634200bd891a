//! The plan as JSON for scripts (`check --json`): every partition with its bytes and GUIDs, the eMMC boot
//! partitions, the layout lines, and every problem with its code and place. The schema is documented in
//! `docs/check-json.md`; its `schema` field changes when a field changes meaning or goes away (fields may be added).
//!
//! Pure: values in, a serialisable value out.

use serde::Serialize;

use super::layout::{self, BinaryPaths};
use crate::{
    board::{Chain, FlashMode},
    diag::{Problem, SourceFile},
    flashlayout::TsvOffset,
    guid,
    plan::{InputSet, Plan, PlannedInput},
};

/// Version of the document's shape.
pub const SCHEMA: u32 = 1;

/// The whole document.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The board description, as named on the command line.
    pub board_file: String,
    /// No error: a build would write the plan below.
    pub ok: bool,
    /// The plan, when there is no error.
    pub plan: Option<PlanJson>,
    /// Errors, warnings and notes, errors first.
    pub problems: Vec<ProblemJson>,
}

/// The plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanJson {
    /// `[board] name`.
    pub board: String,
    /// `stm32mp13`, `stm32mp15` or `stm32mp25`.
    pub soc: String,
    /// `trusted` or `fip`.
    pub chain: String,
    /// `sdcard` or `emmc`.
    pub media: String,
    /// U-Boot device, `mmc0`.
    pub device: String,
    /// The disk image.
    pub image: ImageJson,
    /// GPT partitions in number order.
    pub partitions: Vec<PartitionJson>,
    /// eMMC hardware boot partitions (empty on SD).
    pub emmc_boot_partitions: Vec<BootPartitionJson>,
    /// The layout.
    pub layout: LayoutJson,
}

/// The disk image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageJson {
    /// File name.
    pub file: String,
    /// Bytes.
    pub size: u64,
    /// Disk GUID, upper case.
    pub disk_guid: String,
    /// Bytes per sector (512).
    pub sector_size: u64,
    /// First LBA a partition may use (34).
    pub first_usable_lba: u64,
    /// Last LBA a partition may use.
    pub last_usable_lba: u64,
    /// Alignment of partitions placed automatically, bytes.
    pub align: u64,
    /// Erase unit every partition start is a multiple of, bytes.
    pub erase_unit: u64,
}

/// An input file.
#[derive(Debug, Clone, Serialize)]
pub struct SourceJson {
    /// Name as written in the description (relative to the images folder).
    pub file: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex (`check` hashes every input).
    pub sha256: Option<String>,
    /// Made by the tool (the FWU metadata), written next to the layout; not read from the images folder.
    pub generated: bool,
}

/// One GPT partition.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionJson {
    /// GPT entry number, 1-based.
    pub number: u32,
    /// Name.
    pub name: String,
    /// `fsbl1`, `fsbl2`, `ssbl`, `fip` (made from `[boot]`) or `user`.
    pub role: String,
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Bytes.
    pub size: u64,
    /// First sector.
    pub first_lba: u64,
    /// Last sector (inclusive).
    pub last_lba: u64,
    /// Type GUID, upper case.
    pub type_guid: String,
    /// Type name as `type` accepts it (`linux`, `fip`…), when the GUID has one.
    pub type_name: Option<String>,
    /// Unique partition GUID (PARTUUID), upper case.
    pub unique_guid: String,
    /// GPT attribute bits.
    pub attributes: u64,
    /// Attribute bit 2.
    pub bootable: bool,
    /// Content; none for an empty partition.
    pub source: Option<SourceJson>,
}

/// An eMMC hardware boot partition.
#[derive(Debug, Clone, Serialize)]
pub struct BootPartitionJson {
    /// Layout name (`fsbl1`).
    pub name: String,
    /// `boot1` or `boot2`.
    pub hw_partition: String,
    /// Content.
    pub source: SourceJson,
}

/// The flash layout.
#[derive(Debug, Clone, Serialize)]
pub struct LayoutJson {
    /// File name.
    pub file: String,
    /// `raw` or `partitions`.
    pub mode: String,
    /// Data lines in file order.
    pub lines: Vec<LineJson>,
}

/// One data line of the layout.
#[derive(Debug, Clone, Serialize)]
pub struct LineJson {
    /// Column 1 (`-`, `P`, `PE`, `PED`).
    pub opt: String,
    /// Column 2.
    pub id: u32,
    /// Column 3.
    pub name: String,
    /// Column 4.
    #[serde(rename = "type")]
    pub part_type: String,
    /// Column 5.
    pub ip: String,
    /// Column 6 when it is an address, bytes.
    pub offset: Option<u64>,
    /// Column 6 when it names an eMMC boot partition (`boot1`, `boot2`).
    pub hw_partition: Option<String>,
    /// Column 7: a file name next to the layout; none for `none`.
    pub binary: Option<String>,
}

/// One problem.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemJson {
    /// Stable code, `layer::name`.
    pub code: String,
    /// `error`, `warning` or `note`.
    pub severity: String,
    /// What is wrong.
    pub message: String,
    /// What to change.
    pub help: Option<String>,
    /// The file it is about, when known.
    pub file: Option<String>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters), when known.
    pub column: Option<usize>,
}

fn chain_name(chain: Chain) -> &'static str {
    match chain {
        Chain::Trusted => "trusted",
        Chain::Fip => "fip",
    }
}

fn mode_name(mode: FlashMode) -> &'static str {
    match mode {
        FlashMode::Raw => "raw",
        FlashMode::Partitions => "partitions",
    }
}

fn source(inputs: &InputSet, name: &str, size: u64) -> SourceJson {
    let sha256 = inputs.facts.get(name).and_then(|f| f.sha256).map(hex::encode);
    SourceJson { file: name.to_string(), size, sha256, generated: false }
}

fn partition_source(plan: &Plan, inputs: &InputSet, input: &PlannedInput) -> SourceJson {
    match plan.generated.iter().find(|g| input.is_generated() && g.name == input.name) {
        Some(g) => SourceJson {
            file: g.name.clone(),
            size: g.bytes.len() as u64,
            sha256: Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&g.bytes))),
            generated: true,
        },
        None => source(inputs, &input.name, input.size.get()),
    }
}

/// A problem located in `source` (its span, or the place it was given).
#[must_use]
pub fn problem(p: &Problem, source: &SourceFile) -> ProblemJson {
    let (file, line, column) = match &p.span {
        Some(span) => {
            let (line, col) = source.line_col(span.start);
            (Some(source.name.clone()), Some(line), Some(col))
        }
        None => (p.location.clone().or_else(|| Some(source.name.clone())), None, None),
    };
    ProblemJson { code: p.code.to_string(), severity: p.severity.to_string(), message: p.message.clone(), help: p.help.clone(), file, line, column }
}

/// The plan as JSON: its partitions, boot partitions and layout (binaries named as in `paths`).
#[must_use]
pub fn plan(plan: &Plan, inputs: &InputSet, paths: &BinaryPaths) -> PlanJson {
    let geometry = plan.disk.geometry();
    let partitions = plan
        .partitions
        .iter()
        .map(|p| PartitionJson {
            number: p.number,
            name: p.name.clone(),
            role: p.role.name().to_string(),
            start: p.start.get(),
            end: p.end().get(),
            size: p.size.get(),
            first_lba: p.first_lba().get(),
            last_lba: p.last_lba().get(),
            type_guid: p.type_guid.to_string(),
            type_name: guid::type_name(p.type_guid).map(str::to_string),
            unique_guid: p.unique_guid.to_string(),
            attributes: p.attributes(),
            bootable: p.bootable,
            source: p.input.as_ref().map(|i| partition_source(plan, inputs, i)),
        })
        .collect();
    let emmc_boot_partitions = plan
        .hw_boot
        .iter()
        .map(|h| BootPartitionJson {
            name: h.name.clone(),
            hw_partition: format!("boot{}", h.hw_part),
            source: source(inputs, &h.input.name, h.input.size.get()),
        })
        .collect();
    let lines = layout::lines(plan, paths)
        .into_iter()
        .map(|l| LineJson {
            opt: l.opt.to_string(),
            id: l.id,
            name: l.name,
            part_type: l.part_type.to_string(),
            ip: l.ip.to_string(),
            offset: match l.offset {
                TsvOffset::Addr(a) => Some(a.get()),
                TsvOffset::Boot1 | TsvOffset::Boot2 => None,
            },
            hw_partition: match l.offset {
                TsvOffset::Addr(_) => None,
                other => Some(other.to_string()),
            },
            binary: l.binary,
        })
        .collect();
    PlanJson {
        board: plan.board.clone(),
        soc: plan.soc.name().to_string(),
        chain: chain_name(plan.chain).to_string(),
        media: plan.media.name().to_string(),
        device: plan.device.to_string(),
        image: ImageJson {
            file: plan.disk.file_name.clone(),
            size: plan.disk.size.get(),
            disk_guid: plan.disk.disk_guid.to_string(),
            sector_size: crate::units::SECTOR.get(),
            first_usable_lba: geometry.first_usable().get(),
            last_usable_lba: geometry.last_usable().get(),
            align: plan.disk.align.get(),
            erase_unit: plan.disk.erase_unit.get(),
        },
        partitions,
        emmc_boot_partitions,
        layout: LayoutJson { file: plan.layout_name.clone(), mode: mode_name(plan.flash_mode).to_string(), lines },
    }
}

/// The whole document for a description: its plan (when there is one) and every problem, errors first.
#[must_use]
pub fn report(source: &SourceFile, plan_: Option<&Plan>, inputs: &InputSet, problems: &[Problem]) -> CheckReport {
    let mut sorted = problems.to_vec();
    crate::diag::sort(&mut sorted);
    let ok = !crate::diag::has_errors(problems) && plan_.is_some();
    CheckReport {
        schema: SCHEMA,
        board_file: source.name.clone(),
        ok,
        plan: plan_.filter(|_| ok).map(|p| plan(p, inputs, &BinaryPaths::beside(p))),
        problems: sorted.iter().map(|p| problem(p, source)).collect(),
    }
}
