//! Placement: boot slots from ST's defaults (and the A/B firmware-update set), user partitions after them, the last
//! one grown to where `stm32prog` ends it, GUIDs as `stm32prog` gives them, types, image size, the FWU metadata.

use super::{DiskPlan, FwuPlan, GeneratedFile, HwBootPartition, InputSet, Origin, Plan, PlannedInput, PlannedPartition, ProgrammerStages, Role};
use crate::{
    board::{BoardFile, Chain, Media, SizeSpec, Soc, Spanned},
    diag::Problem,
    fwu::{self, Metadata},
    geometry::DiskGeometry,
    guid::{self, Guid},
    units::{ByteSize, Offset},
};

/// ST's slot defaults (`flashlayout-spec.md` §7, `docs/st-layouts.md` §1): 256 KiB fsbl slots, ssbl 2 MiB, fip 4 MiB,
/// placed from the medium's first offset (SD 0x4400, eMMC 0x80000: [`crate::geometry::Medium::first_offset`]).
const FSBL_SLOT: ByteSize = ByteSize::new(256 * 1024);
const SSBL_SLOT: ByteSize = ByteSize::new(2 * 1024 * 1024);
const FIP_SLOT: ByteSize = ByteSize::new(4 * 1024 * 1024);
/// ST's FWU metadata slots (`STM32MP_METADATA_SIZE`, 256 KiB each) and U-Boot environment (`STM32MP_UENV_SIZE`).
const METADATA_SLOT: ByteSize = ByteSize::new(256 * 1024);
const ENV_SLOT: ByteSize = ByteSize::new(512 * 1024);
/// Images end on a 4 KiB boundary, as genimage rounds them (for fastboot and 4K-sector tools).
const IMAGE_ROUND: ByteSize = ByteSize::new(4096);
/// The name of the FWU metadata the tool writes next to the layout (as ST's and TF-A's builds call it).
pub const METADATA_FILE: &str = "metadata.bin";

fn planned_input(inputs: &InputSet, name: &str) -> PlannedInput {
    let size = inputs.facts.get(name).map_or(ByteSize::ZERO, |f| f.size);
    PlannedInput { name: name.to_string(), size, origin: Origin::Images }
}

/// The names of the two TF-A copies: `fsbl1`/`fsbl2`, `fsbla1`/`fsbla2` on STM32MP25 (whose ROM looks for the A7…
/// A35 FSBL by that name; `docs/st-layouts.md` §1).
#[must_use]
pub fn fsbl_names(soc: Soc) -> [&'static str; 2] {
    match soc {
        Soc::Stm32mp25 => ["fsbla1", "fsbla2"],
        Soc::Stm32mp13 | Soc::Stm32mp15 => ["fsbl1", "fsbl2"],
    }
}

/// A boot slot's size: as written, from its input (`auto`: rounded up to the erase unit, as genimage sizes a
/// partition without `size` to its default 512-byte alignment), or ST's default rounded up to the erase unit (a
/// 256 KiB slot takes one 512 KiB erase group on eMMC, as ST's generator places the next one).
fn slot_size(spec: Option<&Spanned<SizeSpec>>, default: ByteSize, input: Option<&PlannedInput>, erase: ByteSize) -> ByteSize {
    let round = |b: ByteSize| b.align_up(erase).unwrap_or(b);
    match spec.map(|s| s.value) {
        Some(SizeSpec::Bytes(b)) => b,
        Some(SizeSpec::Auto) => round(input.map_or(ByteSize::ZERO, |i| i.size)),
        Some(SizeSpec::Fill) | None => round(default),
    }
}

/// Place every partition. Always returns a draft (with zero sizes where information is missing) so the rules can
/// report every problem; problems met while placing are pushed to `problems`.
pub(super) fn place(board: &BoardFile, inputs: &InputSet, problems: &mut Vec<Problem>) -> Plan {
    let media = board.storage.media.value;
    let device = board.storage.device.value;
    let soc = board.board.soc.value;
    let board_name = board.board.name.value.as_str();
    // Derived GUIDs name the board AND its storage: a board with an SD card and an eMMC (the EV1) has two
    // descriptions with one board name, and one Linux sees both media, so their GUIDs must differ. GUIDs `stm32prog`
    // fixes (fip-a, fip-b, rootfs per MMC instance; `assign_stm32prog_guids`) are not derived.
    let device_name = device.to_string();
    let storage = [board_name, media.name(), device_name.as_str()];
    let derive = |what: &[&str]| Guid::derive(&[&storage[..], what].concat());
    let medium = super::medium(media);
    let (first_offset, erase_unit) = (medium.first_offset(), medium.erase_unit());
    // An `align` that is not a multiple of the erase unit is refused (`plan::misaligned`, at `align`): the partitions
    // are placed with the erase unit instead, so they draw no misalignment of their own for that one cause.
    let align = board.storage.align.as_ref().map(|a| a.value).filter(|a| *a > ByteSize::ZERO && a.is_aligned(erase_unit)).unwrap_or(erase_unit);
    let boot = &board.boot;
    let legacy = board.flash.legacy_types();
    let type_or = |t: Option<&Spanned<crate::board::PartType>>, default: Guid| t.map_or(default, |t| t.value.guid);

    let fsbl = planned_input(inputs, &boot.fsbl.value);
    let fsbl_slot = slot_size(boot.fsbl_size.as_ref(), FSBL_SLOT, Some(&fsbl), erase_unit);
    let fsbl_type = type_or(boot.fsbl_type.as_ref(), guid::LINUX_RESERVED);
    let (second_input, second_slot, second_type, second_span) = match boot.chain.value {
        Chain::Trusted => {
            let input = planned_input(inputs, boot.ssbl.as_ref().map_or("", |s| s.value.as_str()));
            let slot = slot_size(boot.ssbl_size.as_ref(), SSBL_SLOT, Some(&input), erase_unit);
            (input, slot, type_or(boot.ssbl_type.as_ref(), guid::LINUX_RESERVED), boot.ssbl.as_ref().map(|s| s.span.clone()))
        }
        Chain::Fip => {
            let input = planned_input(inputs, boot.fip.as_ref().map_or("", |s| s.value.as_str()));
            let slot = slot_size(boot.fip_size.as_ref(), FIP_SLOT, Some(&input), erase_unit);
            // U-Boot before 2022.07 has no `FIP` layout type: its stm32prog creates the fip as `Binary`, and TF-A finds
            // it by the name `fip`.
            let default = if legacy { guid::LINUX_RESERVED } else { guid::FIP };
            (input, slot, type_or(boot.fip_type.as_ref(), default), boot.fip.as_ref().map(|s| s.span.clone()))
        }
    };

    let mut parts: Vec<PlannedPartition> = Vec::new();
    let mut hw_boot = Vec::new();
    let mut cursor = first_offset;
    let mut slot = |name: &str, role: Role, size: ByteSize, type_guid: Guid, input: Option<PlannedInput>, span| {
        parts.push(PlannedPartition {
            number: 0,
            name: name.to_string(),
            role,
            start: cursor,
            size,
            type_guid,
            type_written: None,
            unique_guid: derive(&["partition", name]),
            bootable: false,
            input,
            span,
            opt: None,
            id: None,
        });
        cursor = cursor.saturating_add(size);
    };
    let fsbl_span = Some(boot.fsbl.span.clone());
    let [fsbl1, fsbl2] = fsbl_names(soc);
    match media {
        Media::Sdcard => {
            slot(fsbl1, Role::Fsbl1, fsbl_slot, fsbl_type, Some(fsbl.clone()), fsbl_span.clone());
            slot(fsbl2, Role::Fsbl2, fsbl_slot, fsbl_type, Some(fsbl.clone()), fsbl_span.clone());
        }
        Media::Emmc => {
            for (name, hw_part) in [(fsbl1, 1), (fsbl2, 2)] {
                hw_boot.push(HwBootPartition { name: name.to_string(), hw_part, input: fsbl.clone() });
            }
        }
    }
    let fwu_plan = boot.fwu().then(|| {
        let version = boot.metadata_version.as_ref().map_or(fwu::Version::V2, |v| v.value);
        let metadata = match &boot.metadata {
            Some(given) => planned_input(inputs, &given.value),
            None => PlannedInput {
                name: METADATA_FILE.to_string(),
                size: ByteSize::new(Metadata::st_fip_ab(version, guid::FIP_A_PARTUUID, guid::FIP_B_PARTUUID).encoded_len() as u64),
                origin: Origin::Generated,
            },
        };
        FwuPlan { version, metadata }
    });
    let metadata_span = boot.metadata.as_ref().map(|m| m.span.clone()).or_else(|| boot.fwu.as_ref().map(|f| f.span.clone()));
    match (&boot.chain.value, &fwu_plan) {
        (Chain::Trusted, _) => slot("ssbl", Role::Ssbl, second_slot, second_type, Some(second_input.clone()), second_span),
        (Chain::Fip, None) => slot("fip", Role::Fip, second_slot, second_type, Some(second_input.clone()), second_span),
        (Chain::Fip, Some(f)) => {
            // ST's order and sizes (`docs/st-layouts.md` §1, §4): metadata1, metadata2, fip-a, fip-b, u-boot-env.
            let metadata_slot = slot_size(None, METADATA_SLOT, None, erase_unit);
            slot("metadata1", Role::Metadata, metadata_slot, guid::FWU_MDATA, Some(f.metadata.clone()), metadata_span.clone());
            slot("metadata2", Role::Metadata, metadata_slot, guid::FWU_MDATA, Some(f.metadata.clone()), metadata_span);
            slot("fip-a", Role::Fip, second_slot, second_type, Some(second_input.clone()), second_span.clone());
            slot("fip-b", Role::FipB, second_slot, second_type, None, second_span);
            slot(
                "u-boot-env",
                Role::Env,
                slot_size(None, ENV_SLOT, None, erase_unit),
                guid::UBOOT_ENV,
                None,
                boot.fwu.as_ref().map(|f| f.span.clone()),
            );
        }
    }

    let mut fill = None;
    for spec in &board.partitions {
        let input = spec.image.as_ref().map(|i| planned_input(inputs, &i.value));
        let start = match &spec.offset {
            Some(o) => o.value,
            None => cursor.align_up(align).unwrap_or(cursor),
        };
        let size = match (spec.size.as_ref().map(|s| s.value), &input) {
            (Some(SizeSpec::Bytes(b)), _) => b,
            (Some(SizeSpec::Fill), _) => {
                fill = Some(spec.name.value.clone());
                ByteSize::ZERO
            }
            (Some(SizeSpec::Auto) | None, Some(i)) => i.size.align_up(align).unwrap_or(i.size),
            (Some(SizeSpec::Auto) | None, None) => {
                problems.push(
                    Problem::error("plan::no_size", format!("partition `{}` has neither `size` nor `image`", spec.name.value))
                        .with_span(Some(spec.name.span.clone()))
                        .with_help("add `size = \"…\"` (an empty partition), or `image = \"…\"` to size it from its content"),
                );
                ByteSize::ZERO
            }
        };
        let name = spec.name.value.clone();
        let type_guid = spec.part_type.as_ref().map_or(guid::LINUX_FS, |t| t.value.guid);
        parts.push(PlannedPartition {
            number: 0,
            unique_guid: spec.uuid.as_ref().map_or_else(|| derive(&["partition", &name]), |u| u.value),
            name,
            role: Role::User,
            start,
            size,
            type_guid,
            type_written: spec.part_type.as_ref().map(|t| t.value.written.clone()),
            bootable: spec.bootable.as_ref().is_some_and(|b| b.value),
            input,
            span: Some(spec.span.clone()),
            opt: spec.opt.as_ref().map(|o| o.value),
            id: spec.id.as_ref().map(|i| i.value),
        });
        cursor = start.saturating_add(size);
    }

    // GPT numbers follow offsets, as U-Boot's stm32prog numbers them; a stable sort keeps file order on ties.
    parts.sort_by_key(|p| p.start);
    for (i, p) in parts.iter_mut().enumerate() {
        p.number = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
    assign_stm32prog_guids(board, &mut parts, device.0, legacy);

    let content_end = parts.iter().map(PlannedPartition::end).max().unwrap_or(first_offset);
    let size = match &board.storage.size {
        Some(s) => s.value,
        None => content_end
            .saturating_add(DiskGeometry::backup_table_size())
            .align_up(IMAGE_ROUND)
            .map_or(ByteSize::new(u64::MAX), |end| end - Offset::ZERO),
    };
    // `size = "fill"`: up to where stm32prog ends the last partition on a card of `[storage] size` (the rules report a
    // fill without that size, or not on the last partition).
    if let (Some(name), Some(_), Some(last)) = (&fill, &board.storage.size, parts.last_mut())
        && &last.name == name
    {
        let end = medium.stm32prog_end(size.whole_sectors());
        last.size = end.checked_sub(last.start).unwrap_or(ByteSize::ZERO);
    }
    let disk = DiskPlan {
        file_name: board.storage.image.value.clone(),
        size,
        disk_guid: board.storage.uuid.as_ref().map_or_else(|| derive(&["disk"]), |u| u.value),
        align,
        erase_unit,
        size_given: board.storage.size.is_some(),
    };

    let generated = fwu_plan.as_ref().filter(|f| f.metadata.is_generated()).map(|f| metadata_file(f, &parts)).into_iter().collect();
    let programmer = &board.programmer;
    let stage = |given: Option<&Spanned<String>>, flashed: &PlannedInput| given.map_or_else(|| flashed.clone(), |g| planned_input(inputs, &g.value));
    let second_given = match boot.chain.value {
        Chain::Trusted => programmer.ssbl.as_ref(),
        Chain::Fip => programmer.fip.as_ref(),
    };
    let stages = ProgrammerStages {
        fsbl: stage(programmer.fsbl.as_ref(), &fsbl),
        ddr: programmer.fip_ddr.as_ref().map(|d| planned_input(inputs, &d.value)),
        second: stage(second_given, &second_input),
    };

    Plan {
        board: board_name.to_string(),
        soc,
        chain: boot.chain.value,
        media,
        device,
        disk,
        partitions: parts,
        hw_boot,
        stages,
        layout_name: board.flash.layout.value.clone(),
        flash_mode: board.flash.mode.value,
        legacy_types: legacy,
        fwu: fwu_plan,
        generated,
    }
}

/// Give partitions without a `uuid` the unique GUIDs U-Boot's `stm32prog` gives them when it writes the GPT
/// (`create_gpt_partitions`), so the image's GPT is the one a `partitions`-mode flash writes: the first partition in
/// address order named `rootfs` or `rootfs-a` gets the fixed PARTUUID of its MMC instance, and a `FIP`-type partition
/// named `fip-a` or `fip-b` the GUID the FWU metadata names. The others keep their derived GUID.
fn assign_stm32prog_guids(board: &BoardFile, parts: &mut [PlannedPartition], mmc: u8, legacy: bool) {
    let explicit = |name: &str| board.partitions.iter().any(|s| s.name.value == name && s.uuid.is_some());
    if let Some(p) = parts.iter_mut().find(|p| guid::is_stm32prog_rootfs_name(&p.name))
        && !explicit(&p.name)
        && let Some(fixed) = guid::uboot_rootfs_partuuid(mmc)
    {
        p.unique_guid = fixed;
    }
    for p in parts.iter_mut() {
        // `stm32prog` keys on the layout type: a FIP written as `Binary` for an older U-Boot gets a random GUID.
        let fip_line = p.type_guid == guid::FIP && !legacy;
        if let (true, false, Some(fixed)) = (fip_line, explicit(&p.name), guid::stm32prog_fip_partuuid(&p.name)) {
            p.unique_guid = fixed;
        }
    }
}

/// The FWU metadata for the plan's fip-a and fip-b, as ST's flow makes it (`fwu::Metadata::st_fip_ab`): from the
/// partitions' own unique GUIDs, so it cannot drift from the GPT.
fn metadata_file(f: &FwuPlan, parts: &[PlannedPartition]) -> GeneratedFile {
    let unique = |name: &str| parts.iter().find(|p| p.name == name).map_or(Guid(uuid::Uuid::nil()), |p| p.unique_guid);
    let metadata = Metadata::st_fip_ab(f.version, unique("fip-a"), unique("fip-b"));
    // `st_fip_ab` has one image with two banks and valid indices: encoding cannot fail.
    let bytes = metadata.encode().unwrap_or_default();
    GeneratedFile {
        name: f.metadata.name.clone(),
        what: format!("FWU metadata v{} for fip-a/fip-b (metadata1, metadata2)", f.version.number()),
        bytes,
    }
}
