//! The layout a plan implies, in `raw` or `partitions` mode (`flashlayout-spec.md` §7, §9; the guide's DK2 layout).

use std::collections::BTreeMap;

use super::{Ip, LayoutLine, Opt, TsvOffset, TsvType, tsv_type_for};
use crate::{
    board::{Chain, FlashMode, Media},
    plan::{Plan, PlannedPartition},
};

/// Column 7 for each file: its path relative to the layout's folder.
#[derive(Debug, Clone, Default)]
pub struct BinaryPaths {
    /// Input name (as in the board description) → path relative to the layout.
    pub inputs: BTreeMap<String, String>,
    /// The disk image → path relative to the layout.
    pub image: String,
}

impl BinaryPaths {
    /// Paths for a layout written next to the inputs and the image (the default `--output` = `--images`).
    #[must_use]
    pub fn beside(plan: &Plan) -> BinaryPaths {
        let mut inputs = BTreeMap::new();
        for name in plan
            .partitions
            .iter()
            .filter_map(|p| p.input.as_ref().map(|i| i.name.clone()))
            .chain([plan.stages.fsbl.name.clone(), plan.stages.second.name.clone()])
        {
            inputs.insert(name.clone(), name);
        }
        BinaryPaths { inputs, image: plan.disk.file_name.clone() }
    }

    fn input(&self, name: &str) -> String {
        self.inputs.get(name).cloned().unwrap_or_else(|| name.to_string())
    }
}

const SELECT: Opt = Opt { select: true, empty: false, delete: false };
const EMPTY: Opt = Opt { select: true, empty: true, delete: true };
const NOT_SELECTED: Opt = Opt { select: false, empty: false, delete: false };

/// The layout lines for a plan (line numbers 0: not yet written).
#[must_use]
pub fn from_plan(plan: &Plan, paths: &BinaryPaths) -> Vec<LayoutLine> {
    let ip = Ip::Mmc(plan.device.0);
    let mut lines = vec![
        LayoutLine {
            line: 0,
            opt: NOT_SELECTED,
            id: 0x01,
            name: "fsbl1-boot".to_string(),
            part_type: TsvType::Binary,
            ip: Ip::None,
            offset: TsvOffset::Addr(0),
            binary: Some(paths.input(&plan.stages.fsbl.name)),
        },
        match plan.chain {
            Chain::Trusted => LayoutLine {
                line: 0,
                opt: NOT_SELECTED,
                id: 0x03,
                name: "ssbl-boot".to_string(),
                part_type: TsvType::Binary,
                ip: Ip::None,
                offset: TsvOffset::Addr(0),
                binary: Some(paths.input(&plan.stages.second.name)),
            },
            Chain::Fip => LayoutLine {
                line: 0,
                opt: NOT_SELECTED,
                id: 0x03,
                name: "fip-boot".to_string(),
                part_type: TsvType::Fip,
                ip: Ip::None,
                offset: TsvOffset::Addr(0),
                binary: Some(paths.input(&plan.stages.second.name)),
            },
        },
    ];
    let mut next_binary = 0x04u32;
    let mut next_other = 0x10u32;
    let mut take_id = |binary_range: bool| {
        if binary_range && next_binary <= 0x0F {
            next_binary += 1;
            next_binary - 1
        } else {
            next_other += 1;
            next_other - 1
        }
    };
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
                offset: TsvOffset::Addr(0),
                binary: Some(paths.image.clone()),
            });
        }
        FlashMode::Partitions => {
            for p in &plan.partitions {
                let part_type = tsv_type_for(p.type_guid, p.bootable).unwrap_or(TsvType::Binary);
                lines.push(partition_line(p, part_type, take_id(part_type.is_binary_range()), &ip, paths));
            }
        }
    }
    lines
}

fn partition_line(p: &PlannedPartition, part_type: TsvType, id: u32, ip: &Ip, paths: &BinaryPaths) -> LayoutLine {
    let binary = p.input.as_ref().map(|i| paths.input(&i.name));
    LayoutLine {
        line: 0,
        opt: if binary.is_some() { SELECT } else { EMPTY },
        id,
        name: p.name.clone(),
        part_type,
        ip: ip.clone(),
        offset: TsvOffset::Addr(p.start.0),
        binary,
    }
}
