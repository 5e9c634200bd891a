//! Placement: boot slots from ST's defaults, user partitions after them, GUIDs, types, image size.

use super::{DiskPlan, HwBootPartition, InputSet, Plan, PlannedInput, PlannedPartition, ProgrammerStages, Role};
use crate::{
    board::{BoardFile, Chain, Media, Spanned},
    diag::Problem,
    geometry::DiskGeometry,
    guid::{self, Guid},
    units::{ByteSize, Offset},
};

/// ST's slot defaults (`flashlayout-spec.md` §7): 256 KiB fsbl slots, ssbl 2 MiB, fip 4 MiB, placed from the
/// medium's first offset (SD 0x4400, eMMC 0x80000: [`crate::geometry::Medium::first_offset`]).
const FSBL_SLOT: ByteSize = ByteSize::new(256 * 1024);
const SSBL_SLOT: ByteSize = ByteSize::new(2 * 1024 * 1024);
const FIP_SLOT: ByteSize = ByteSize::new(4 * 1024 * 1024);
/// Images end on a 4 KiB boundary, as genimage rounds them (for fastboot and 4K-sector tools).
const IMAGE_ROUND: ByteSize = ByteSize::new(4096);

fn planned_input(inputs: &InputSet, name: &str) -> PlannedInput {
    let size = inputs.facts.get(name).map_or(ByteSize::ZERO, |f| f.size);
    PlannedInput { name: name.to_string(), size }
}

fn size_or(value: Option<&Spanned<ByteSize>>, default: ByteSize) -> ByteSize {
    value.map_or(default, |s| s.value)
}

/// Place every partition. Always returns a draft (with zero sizes where information is missing) so the rules can
/// report every problem; problems met while placing are pushed to `problems`.
pub(super) fn place(board: &BoardFile, inputs: &InputSet, problems: &mut Vec<Problem>) -> Plan {
    let media = board.storage.media.value;
    let device = board.storage.device.value;
    let board_name = board.board.name.value.as_str();
    let medium = super::medium(media);
    let (first_offset, erase_unit) = (medium.first_offset(), medium.erase_unit());
    let align = board.storage.align.as_ref().map_or(erase_unit, |a| a.value);

    let fsbl = planned_input(inputs, &board.boot.fsbl.value);
    let fsbl_slot = size_or(board.boot.fsbl_size.as_ref(), FSBL_SLOT);
    let (second_name, second_input, second_slot, second_role, second_span) = match board.boot.chain.value {
        Chain::Trusted => {
            let s = board.boot.ssbl.as_ref().map_or("", |s| s.value.as_str());
            ("ssbl", s, size_or(board.boot.ssbl_size.as_ref(), SSBL_SLOT), Role::Ssbl, board.boot.ssbl.as_ref().map(|s| s.span.clone()))
        }
        Chain::Fip => {
            let s = board.boot.fip.as_ref().map_or("", |s| s.value.as_str());
            ("fip", s, size_or(board.boot.fip_size.as_ref(), FIP_SLOT), Role::Fip, board.boot.fip.as_ref().map(|s| s.span.clone()))
        }
    };
    let second = planned_input(inputs, second_input);

    let mut parts: Vec<PlannedPartition> = Vec::new();
    let mut hw_boot = Vec::new();
    let mut cursor = first_offset;
    let boot_part = |name: &str, role: Role, start: Offset, size: ByteSize, input: &PlannedInput, span| PlannedPartition {
        number: 0,
        name: name.to_string(),
        role,
        start,
        size,
        type_guid: if role == Role::Fip { guid::FIP } else { guid::LINUX_RESERVED },
        unique_guid: Guid::derive(&[board_name, "partition", name]),
        bootable: false,
        input: Some(input.clone()),
        span,
    };
    let fsbl_span = Some(board.boot.fsbl.span.clone());
    match media {
        Media::Sdcard => {
            for (name, role) in [("fsbl1", Role::Fsbl1), ("fsbl2", Role::Fsbl2)] {
                parts.push(boot_part(name, role, cursor, fsbl_slot, &fsbl, fsbl_span.clone()));
                cursor = cursor.saturating_add(fsbl_slot);
            }
        }
        Media::Emmc => {
            for (name, hw_part) in [("fsbl1", 1), ("fsbl2", 2)] {
                hw_boot.push(HwBootPartition { name: name.to_string(), hw_part, input: fsbl.clone() });
            }
        }
    }
    parts.push(boot_part(second_name, second_role, cursor, second_slot, &second, second_span));
    cursor = cursor.saturating_add(second_slot);

    for spec in &board.partitions {
        let input = spec.image.as_ref().map(|i| planned_input(inputs, &i.value));
        let start = match &spec.offset {
            Some(o) => o.value,
            None => cursor.align_up(align).unwrap_or(cursor),
        };
        let size = match (&spec.size, &input) {
            (Some(s), _) => s.value,
            (None, Some(i)) => i.size.align_up(align).unwrap_or(i.size),
            (None, None) => {
                problems.push(
                    Problem::error("plan::no_size", format!("partition `{}` has neither `size` nor `image`", spec.name.value))
                        .with_span(Some(spec.name.span.clone()))
                        .with_help("add `size = \"…\"` (an empty partition), or `image = \"…\"` to size it from its content"),
                );
                ByteSize::ZERO
            }
        };
        let name = spec.name.value.clone();
        let type_guid = spec.part_type.as_ref().map_or(guid::LINUX_FS, |t| t.value.0);
        let fixed_rootfs = (name == "rootfs").then(|| guid::uboot_rootfs_partuuid(device.0)).flatten();
        let unique_guid = spec.uuid.as_ref().map(|u| u.value).or(fixed_rootfs).unwrap_or_else(|| Guid::derive(&[board_name, "partition", &name]));
        parts.push(PlannedPartition {
            number: 0,
            name,
            role: Role::User,
            start,
            size,
            type_guid,
            unique_guid,
            bootable: spec.bootable.as_ref().is_some_and(|b| b.value),
            input,
            span: Some(spec.span.clone()),
        });
        cursor = start.saturating_add(size);
    }

    // GPT numbers follow offsets, as U-Boot's stm32prog numbers them; a stable sort keeps file order on ties.
    parts.sort_by_key(|p| p.start);
    for (i, p) in parts.iter_mut().enumerate() {
        p.number = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }

    let content_end = parts.iter().map(PlannedPartition::end).max().unwrap_or(first_offset);
    let size = match &board.storage.size {
        Some(s) => s.value,
        None => content_end
            .saturating_add(DiskGeometry::backup_table_size())
            .align_up(IMAGE_ROUND)
            .map_or(ByteSize::new(u64::MAX), |end| end - Offset::ZERO),
    };
    let disk = DiskPlan {
        file_name: board.storage.image.value.clone(),
        size,
        disk_guid: board.storage.uuid.as_ref().map_or_else(|| Guid::derive(&[board_name, "disk"]), |u| u.value),
        align,
        erase_unit,
    };

    Plan {
        board: board_name.to_string(),
        soc: board.board.soc.value,
        chain: board.boot.chain.value,
        media,
        device,
        disk,
        partitions: parts,
        hw_boot,
        stages: ProgrammerStages { fsbl, second },
        layout_name: board.flash.layout.value.clone(),
        flash_mode: board.flash.mode.value,
    }
}
