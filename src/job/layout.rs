//! The flash layout a plan implies, in `raw` or `partitions` mode (`flashlayout-spec.md` §7, §9; the guide's DK2
//! layout), rendered and checked with U-Boot's own rules before anyone sees it.
//!
//! Pure. It sits above both the planner and [`crate::flashlayout`], which know nothing of each other.

use std::collections::BTreeMap;

use crate::{
    board::{Chain, FlashMode, LineOpt, Media},
    diag::Problem,
    flashlayout::{self, Ip, LayoutLine, LintOptions, Opt, TsvOffset, TsvType},
    plan::{Plan, PlannedPartition},
    render::{self, RenderError},
    units::Offset,
};

/// Column 7 for each file: the name the layout gives it. A build places every binary the layout names in the
/// layout's own folder, so these are plain file names ([`super::placement`] decides them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinaryPaths {
    /// Input name (as in the board description) → file name next to the layout.
    pub inputs: BTreeMap<String, String>,
    /// The disk image's file name.
    pub image: String,
}

impl BinaryPaths {
    /// The names a build into the images folder itself gives (the default `--output`): plain input names as they
    /// are, inputs in sub-folders under the name [`super::placement`] gives them.
    #[must_use]
    pub fn beside(plan: &Plan) -> BinaryPaths {
        let named = layout_inputs(plan);
        let mut all: Vec<&str> = plan.stages.all().into_iter().map(|s| s.name.as_str()).collect();
        all.extend(plan.partitions.iter().filter_map(|p| p.input.as_ref()).filter(|i| !i.is_generated()).map(|i| i.name.as_str()));
        let reserved = super::output_names(plan, true);
        // A clash is an error of `check` and `build` alike (`super::placement_problems`); shown here, the names are as
        // written.
        let inputs = super::placement::place_names(&named, &all, &reserved)
            .unwrap_or_else(|_| named.iter().map(|n| ((*n).to_string(), (*n).to_string())).collect());
        BinaryPaths { inputs, image: plan.disk.file_name.clone() }
    }

    fn input(&self, name: &str) -> String {
        self.inputs.get(name).cloned().unwrap_or_else(|| name.to_string())
    }
}

/// Every input of the images folder the layout of a plan names (column 7), once each, in the order the layout names
/// them. Files the tool makes ([`Plan::generated`]) are not inputs: they are written next to the layout.
#[must_use]
pub fn layout_inputs(plan: &Plan) -> Vec<&str> {
    let mut names: Vec<&str> = plan.stages.all().into_iter().map(|s| s.name.as_str()).collect();
    names.extend(plan.hw_boot.iter().map(|h| h.input.name.as_str()));
    if plan.flash_mode == FlashMode::Partitions {
        names.extend(plan.partitions.iter().filter_map(|p| p.input.as_ref()).filter(|i| !i.is_generated()).map(|i| i.name.as_str()));
    }
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(*n));
    names
}

const SELECT: Opt = Opt { select: true, empty: false, delete: false };
const EMPTY: Opt = Opt { select: true, empty: true, delete: true };
const NOT_SELECTED: Opt = Opt { select: false, empty: false, delete: false };

/// The layout's column 1 for an `opt` of the description.
fn opt(o: LineOpt) -> Opt {
    Opt { select: true, empty: o.empty(), delete: o.delete() }
}

/// The names of the programmer's RAM lines (0x01, 0x02, 0x03): ST's for the FIP chain (`fsbl-boot`, `fip-ddr`,
/// `fip-boot`, `docs/st-layouts.md` §5), the guide's for the trusted chain (`fsbl1-boot`, `ssbl-boot`).
#[must_use]
pub fn ram_line_names(chain: Chain) -> [&'static str; 3] {
    match chain {
        Chain::Trusted => ["fsbl1-boot", "ddr-boot", "ssbl-boot"],
        Chain::Fip => ["fsbl-boot", "fip-ddr", "fip-boot"],
    }
}

/// Ids as ST's generator counts them: boot-loader types (Binary, FIP, ENV, FWU_MDATA) from 0x04, the rest from 0x10,
/// in file order, skipping the Ids the description gives explicitly (`docs/st-layouts.md` §2).
struct IdCounter {
    binary: u32,
    other: u32,
    taken: Vec<u32>,
}

impl IdCounter {
    fn next(&mut self, binary_range: bool) -> u32 {
        loop {
            let id = if binary_range && self.binary <= 0x0F {
                self.binary += 1;
                self.binary - 1
            } else {
                self.other += 1;
                self.other - 1
            };
            if !self.taken.contains(&id) {
                return id;
            }
        }
    }
}

/// The layout lines for a plan (line numbers 0: not yet written).
#[must_use]
pub fn lines(plan: &Plan, paths: &BinaryPaths) -> Vec<LayoutLine> {
    let ip = Ip::Mmc(plan.device.0);
    let legacy = |t: TsvType| if plan.legacy_types { t.legacy() } else { t };
    let ram = |id: u32, name: &str, part_type: TsvType, input: &str| LayoutLine {
        line: 0,
        opt: NOT_SELECTED,
        id,
        name: name.to_string(),
        part_type,
        ip: Ip::None,
        offset: TsvOffset::Addr(Offset::ZERO),
        binary: Some(paths.input(input)),
    };
    let [fsbl_boot, ddr_boot, second_boot] = ram_line_names(plan.chain);
    let second_type = match plan.chain {
        Chain::Trusted => TsvType::Binary,
        Chain::Fip => legacy(TsvType::Fip),
    };
    let mut lines = vec![ram(0x01, fsbl_boot, TsvType::Binary, &plan.stages.fsbl.name)];
    if let Some(ddr) = &plan.stages.ddr {
        lines.push(ram(0x02, ddr_boot, legacy(TsvType::Fip), &ddr.name));
    }
    lines.push(ram(0x03, second_boot, second_type, &plan.stages.second.name));
    let explicit: Vec<u32> = match plan.flash_mode {
        FlashMode::Partitions => plan.partitions.iter().filter_map(|p| p.id).collect(),
        FlashMode::Raw => Vec::new(),
    };
    let mut ids = IdCounter { binary: 0x04, other: 0x10, taken: explicit };
    let mut take_id = |binary_range: bool| ids.next(binary_range);
    for hw in &plan.hw_boot {
        lines.push(LayoutLine {
            line: 0,
            opt: SELECT,
            id: take_id(true),
            name: hw.name.clone(),
            part_type: TsvType::Binary,
            ip: ip.clone(),
            offset: if hw.hw_part == 1 { TsvOffset::Boot1 } else { TsvOffset::Boot2 },
            binary: Some(paths.input(&hw.input.name)),
        });
    }
    match plan.flash_mode {
        FlashMode::Raw => {
            lines.push(LayoutLine {
                line: 0,
                opt: SELECT,
                id: take_id(false),
                name: match plan.media {
                    Media::Sdcard => "sdcard".to_string(),
                    Media::Emmc => "emmc".to_string(),
                },
                part_type: TsvType::RawImage,
                ip,
                offset: TsvOffset::Addr(Offset::ZERO),
                binary: Some(paths.image.clone()),
            });
        }
        FlashMode::Partitions => {
            for p in &plan.partitions {
                let part_type = legacy(TsvType::for_gpt_type(p.type_guid, p.bootable).unwrap_or(TsvType::Binary));
                let id = p.id.unwrap_or_else(|| take_id(part_type.is_binary_range()));
                lines.push(partition_line(p, part_type, id, &ip, paths));
            }
        }
    }
    lines
}

fn partition_line(p: &PlannedPartition, part_type: TsvType, id: u32, ip: &Ip, paths: &BinaryPaths) -> LayoutLine {
    let binary = p.input.as_ref().map(|i| paths.input(&i.name));
    LayoutLine {
        line: 0,
        opt: match (p.opt, &binary) {
            (Some(o), _) => opt(o),
            (None, Some(_)) => SELECT,
            (None, None) => EMPTY,
        },
        id,
        name: p.name.clone(),
        part_type,
        ip: ip.clone(),
        offset: TsvOffset::Addr(p.start),
        binary,
    }
}

/// Why a plan's layout could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The template failed (a bug).
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The layout this tool made breaks U-Boot's rules (a bug): every problem found.
    #[error("the generated layout breaks U-Boot's rules: {}", .0.first().map_or("", |p| p.message.as_str()))]
    BreaksRules(Vec<Problem>),
}

/// Render a plan's flash layout and check it with U-Boot's own rules before anyone sees it: a layout this tool
/// writes that U-Boot would refuse or misread (or that draws any lint) is a bug, reported as one.
pub fn text(plan: &Plan, paths: &BinaryPaths) -> Result<String, LayoutError> {
    let tsv = render::flash_tsv(&lines(plan, paths))?;
    let parsed = flashlayout::parse(&plan.layout_name, tsv.as_bytes());
    let mut problems = parsed.problems;
    problems.extend(flashlayout::lint(&plan.layout_name, &parsed.lines, &LintOptions::default()));
    if problems.is_empty() { Ok(tsv) } else { Err(LayoutError::BreaksRules(problems)) }
}
