//! The rules a plan must obey, one small named function each (`ensure_…`, `reject_…`, `warn_…`).
//!
//! Each returns the problems it finds; none stops at the first. Sources: `flashlayout-spec.md` §4/§6/§10,
//! `genimage.md`, `stm32-header-spec.md`, and the field failures in the guide.

use std::{
    ops::Range,
    path::{Component, Path},
};

use super::{InputSet, Plan, PlannedPartition, Role, layout::METADATA_FILE};
use crate::{
    board::{BoardFile, Chain, FlashMode, Media, ProgrammerStage, SizeSpec, Soc, Spanned},
    diag::Problem,
    fwu::{self, BankPartition, Metadata},
    geometry::{DiskGeometry, GPT_ENTRIES, Medium},
    guid::{self, Guid, TsvType},
    inputs::{self, StageRole},
    units::{ByteSize, Offset, SECTOR},
};

/// Longest partition name `stm32prog` accepts (`name[16+1]`).
pub const MAX_NAME_LEN: usize = 16;

/// Rules on the input files themselves.
#[must_use]
pub fn check_inputs(board: &BoardFile, inputs: &InputSet) -> Vec<Problem> {
    let mut out = ensure_input_paths_safe(board);
    out.extend(ensure_inputs_present(board, inputs));
    out.extend(ensure_boot_stages_valid(board, inputs));
    out
}

/// Rules on the placed plan.
#[must_use]
pub fn check_plan(board: &BoardFile, inputs: &InputSet, plan: &Plan) -> Vec<Problem> {
    let mut out = Vec::new();
    // The rules that compare partitions pairwise are quadratic, and so is what they report: thousands of
    // `[[partition]]` at one offset made millions of overlap problems (3000 took 35 s and 4.6 GB). Beyond what a GPT
    // holds the description is refused anyway (`plan::too_many_partitions`), so they are skipped.
    let too_many = reject_too_many_partitions(plan);
    let pairwise = too_many.is_empty();
    out.extend(ensure_output_names_safe(board));
    out.extend(reject_chain_soc_mismatch(board));
    // A refused chain is one cause: what depends on it (the MP25 DDR FIP it would load) is not reported on top.
    if !chain_refused(board) {
        out.extend(require_mp25_ddr_fip(board));
    }
    out.extend(reject_fip_ddr_soc(board));
    out.extend(reject_fill_without_storage_size(board));
    out.extend(reject_fill_not_last(board, plan));
    out.extend(reject_fill_past_end(board, plan));
    out.extend(ensure_fwu_metadata_matches(board, inputs, plan));
    out.extend(ensure_partition_names_valid(plan));
    if pairwise {
        out.extend(reject_duplicate_names(board, plan));
    }
    out.extend(too_many);
    out.extend(ensure_alignment(board, plan));
    out.extend(ensure_first_offset(plan));
    if pairwise {
        out.extend(reject_overlaps(board, plan));
    }
    out.extend(ensure_within_image(board, plan));
    if pairwise {
        out.extend(reject_empty_partitions(board, inputs, plan));
    }
    out.extend(ensure_image_fits_a_file(board, plan));
    out.extend(ensure_inputs_fit(board, plan));
    if pairwise {
        out.extend(reject_duplicate_guids(plan));
    }
    out.extend(ensure_line_opts_consistent(plan));
    if pairwise {
        out.extend(ensure_line_ids_valid(board, plan));
    }
    out.extend(warn_line_keys_in_raw_mode(board, plan));
    out.extend(warn_rootfs_partuuid(plan));
    out.extend(warn_bootable_type(plan));
    out.extend(warn_fsbl_named_user_partition(plan));
    out.extend(warn_partitions_mode_divergence(board, plan));
    out.extend(warn_last_partition_end(board, plan));
    out
}

/// Why an input name is refused, if it is (absolute, `..`, control characters, empty).
#[must_use]
pub fn ensure_input_paths_safe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name.chars().any(char::is_control) {
        return Some("it contains a control character (a TAB or newline would break flash.tsv)");
    }
    let path = Path::new(name);
    if path.is_absolute() {
        return Some("it is absolute; inputs are named relative to the images folder");
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Some("it contains `..`; inputs must stay inside the images folder");
    }
    None
}

/// Input names are relative paths inside the images folder, without `..` or characters that break `flash.tsv`.
#[must_use]
pub fn ensure_input_paths_safe(board: &BoardFile) -> Vec<Problem> {
    board
        .input_names()
        .into_iter()
        .filter_map(|n| {
            ensure_input_paths_safe_name(&n.value).map(|why| {
                Problem::error("plan::unsafe_path", format!("input `{}` is refused: {why}", n.value.escape_default()))
                    .with_span(Some(n.span.clone()))
                    .with_help("name the file relative to the images folder, e.g. `\"rootfs.ext4\"` or `\"fip/fip.bin\"`")
            })
        })
        .collect()
}

/// Output names (`[storage] image`, `[flash] layout`) are plain file names, so nothing is written outside the output folder.
#[must_use]
pub fn ensure_output_names_safe(board: &BoardFile) -> Vec<Problem> {
    let mut out = Vec::new();
    for (key, name) in [("image", &board.storage.image), ("layout", &board.flash.layout)] {
        let bad = name.value.is_empty()
            || name.value == "."
            || name.value == ".."
            || name.value.starts_with('.')
            || name.value.contains(['/', '\\'])
            || name.value.chars().any(char::is_control);
        if bad {
            out.push(
                Problem::error("plan::unsafe_output_name", format!("`{key} = \"{}\"` is not a plain file name", name.value.escape_default()))
                    .with_span(Some(name.span.clone()))
                    .with_help(
                        "outputs are written only into the output folder: give a file name without `/`, `..` or a leading dot, e.g. `\"sdcard.img\"`",
                    ),
            );
        }
    }
    // Every output its own name: two outputs of one name would leave one of them, silently.
    let image = &board.storage.image;
    let mut outputs = vec![
        ("the image (`[storage] image`)", image.value.clone(), image.span.clone()),
        ("the image's block map", format!("{}.bmap", image.value), image.span.clone()),
    ];
    if board.boot.fwu() && board.boot.metadata.is_none() {
        let span = board.boot.fwu.as_ref().map_or(0..0, |f| f.span.clone());
        outputs.push(("the FWU metadata this tool writes", METADATA_FILE.to_string(), span));
    }
    let layout = &board.flash.layout;
    if let Some((what, name, _)) = outputs.iter().find(|(_, name, _)| *name == layout.value) {
        out.push(
            Problem::error("plan::unsafe_output_name", format!("`[flash] layout = \"{name}\"` is also the name of {what}"))
                .with_span(Some(layout.span.clone()))
                .with_help("give `[flash] layout` its own name, e.g. `\"flash.tsv\"`"),
        );
    }
    if image.value == METADATA_FILE && outputs.len() == 3 {
        out.push(
            Problem::error(
                "plan::unsafe_output_name",
                format!("`[storage] image = \"{METADATA_FILE}\"` is also the name of the FWU metadata this tool writes"),
            )
            .with_span(Some(image.span.clone()))
            .with_help("give the image its own name, e.g. `\"sdcard.img\"`"),
        );
    }
    out
}

/// Every named input was read.
#[must_use]
pub fn ensure_inputs_present(board: &BoardFile, inputs: &InputSet) -> Vec<Problem> {
    let mut seen = std::collections::BTreeSet::new();
    board
        .input_names()
        .into_iter()
        .filter(|n| seen.insert(n.value.as_str()))
        .filter_map(|n| {
            inputs.missing.get(&n.value).map(|why| {
                Problem::error("input::missing", format!("input `{}`: {why}", n.value))
                    .with_span(Some(n.span.clone()))
                    .with_help("build it first, fix the name, or take the inputs from the folder that holds it")
            })
        })
        .collect()
}

/// TF-A, U-Boot and FIP files, flashed or sent by the programmer, have valid headers for this SoC.
#[must_use]
pub fn ensure_boot_stages_valid(board: &BoardFile, inputs: &InputSet) -> Vec<Problem> {
    let soc = board.board.soc.value;
    let stages: Vec<(&Spanned<String>, StageRole)> = board
        .boot_stage_inputs()
        .into_iter()
        .map(|(name, stage)| {
            let role = match stage {
                ProgrammerStage::Fsbl => StageRole::Fsbl,
                ProgrammerStage::Ssbl => StageRole::Ssbl,
                ProgrammerStage::Fip | ProgrammerStage::FipDdr => StageRole::Fip,
            };
            (name, role)
        })
        .collect();
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (name, role) in stages {
        // The programmer's files default to the flashed ones: check each file once. A U-Boot `.stm32` for a chain
        // the SoC does not have (`plan::chain_soc`) is not checked against that SoC's header version as well.
        if !seen.insert((name.value.as_str(), role as u8)) || (role == StageRole::Ssbl && chain_refused(board)) {
            continue;
        }
        if let Some(facts) = inputs.facts.get(&name.value) {
            out.extend(inputs::check_stage(facts, role, soc).into_iter().map(|p| p.with_span(Some(name.span.clone()))));
        }
    }
    out
}

/// On eMMC the boot ROM loads TF-A from the hardware boot partitions, where this tool writes `[boot] fsbl` itself
/// (`boot1`, `boot2`): `[[partition]]` tables for TF-A in the user area (named `fsbl…`, or holding the `fsbl` file),
/// as an SD description has them, are refused with one error. Returns their indexes in `board.partitions`, which
/// the planner then leaves out.
#[must_use]
pub fn reject_emmc_fsbl_partitions(board: &BoardFile) -> (Vec<usize>, Option<Problem>) {
    if board.storage.media.value != Media::Emmc {
        return (Vec::new(), None);
    }
    let fsbl = &board.boot.fsbl.value;
    let misplaced: Vec<usize> = board
        .partitions
        .iter()
        .enumerate()
        .filter(|(_, p)| p.name.value.starts_with("fsbl") || p.image.as_ref().is_some_and(|i| &i.value == fsbl))
        .map(|(i, _)| i)
        .collect();
    let Some(&first) = misplaced.first() else { return (misplaced, None) };
    let names: Vec<String> = misplaced.iter().map(|&i| format!("`{}`", board.partitions[i].name.value)).collect();
    let (what, them) = if names.len() == 1 { ("partition", "it") } else { ("partitions", "them") };
    let problem = Problem::error(
        "plan::emmc_fsbl_partition",
        format!(
            "{what} {} in the eMMC user area: on eMMC the boot ROM loads TF-A from the hardware boot partitions, and this tool writes `[boot] fsbl` to boot1 and boot2 itself",
            names.join(" and ")
        ),
    )
    .with_span(Some(board.partitions[first].span.clone()))
    .with_help(format!(
        "remove {them}: the user area starts with `ssbl` (or `fip`, or `metadata1` with `fwu`) at {}, and flash.tsv gets the fsbl lines for boot1/boot2",
        Medium::Emmc.first_offset()
    ));
    (misplaced, Some(problem))
}

/// Whether `reject_chain_soc_mismatch` refuses the description's chain.
fn chain_refused(board: &BoardFile) -> bool {
    board.boot.chain.value == Chain::Trusted && board.board.soc.value != Soc::Stm32mp15
}

/// The `[boot]` key that sizes a boot slot, as problems about the slot name it.
struct BootKey<'a> {
    /// `fsbl_size`, `ssbl_size` or `fip_size`.
    key: &'static str,
    /// The key as written, if it is.
    given: Option<&'a Spanned<SizeSpec>>,
    /// Where to point: the key, else the slot's file in `[boot]`.
    span: Option<Range<usize>>,
}

/// A boot slot takes no `offset` and cannot be removed: it starts where the one before it ends and is sized by a
/// `[boot]` key, which is what its problems name. `None` for the FWU metadata and environment slots (fixed sizes)
/// and user partitions.
fn boot_size_key(board: &BoardFile, role: Role) -> Option<BootKey<'_>> {
    let boot = &board.boot;
    let (key, given, file) = match role {
        Role::Fsbl1 | Role::Fsbl2 => ("fsbl_size", boot.fsbl_size.as_ref(), Some(&boot.fsbl)),
        Role::Ssbl => ("ssbl_size", boot.ssbl_size.as_ref(), boot.ssbl.as_ref()),
        Role::Fip | Role::FipB => ("fip_size", boot.fip_size.as_ref(), boot.fip.as_ref()),
        Role::Metadata | Role::Env | Role::User => return None,
    };
    let span = given.map(|g| g.span.clone()).or_else(|| file.map(|f| f.span.clone()));
    Some(BootKey { key, given, span })
}

/// The names of the boot slots sized by `key`, for messages: `` `fsbl1` and `fsbl2` ``.
fn slots_of(board: &BoardFile, plan: &Plan, key: &str) -> String {
    let names: Vec<String> =
        plan.partitions.iter().filter(|q| boot_size_key(board, q.role).is_some_and(|k| k.key == key)).map(|q| format!("`{}`", q.name)).collect();
    names.join(" and ")
}

/// The largest file: `off_t` holds 2^63 − 1 bytes.
const MAX_FILE: u64 = i64::MAX as u64;

/// Whether a partition, with the backup GPT after it, ends beyond what a file can hold: its one error is
/// `plan::image_too_large` (or `plan::past_end` with `[storage] size`), so its alignment and overlaps are not
/// reported (a size near 2^64 wraps every rounding and overlaps the backup GPT placed after a saturated end).
fn beyond_a_file(p: &PlannedPartition) -> bool {
    p.start.get().checked_add(p.size.get()).and_then(|end| end.checked_add(DiskGeometry::backup_table_size().get())).is_none_or(|end| end > MAX_FILE)
}

/// The trusted chain (U-Boot `.stm32` in `ssbl`) exists only on STM32MP15.
#[must_use]
pub fn reject_chain_soc_mismatch(board: &BoardFile) -> Vec<Problem> {
    let soc = board.board.soc.value;
    if board.boot.chain.value == Chain::Trusted && soc != Soc::Stm32mp15 {
        return vec![
            Problem::error(
                "plan::chain_soc",
                format!("`chain = \"trusted\"` does not exist on {}: its TF-A loads U-Boot only from a FIP", soc.name()),
            )
            .with_span(Some(board.boot.chain.span.clone()))
            .with_help("use `chain = \"fip\"` with `fip = \"fip.bin\"`"),
        ];
    }
    Vec::new()
}

/// Names are 1–16 printable ASCII characters without spaces (GPT name, DFU alternate, `flash.tsv` column 3).
#[must_use]
pub fn ensure_partition_names_valid(plan: &Plan) -> Vec<Problem> {
    let mut out = Vec::new();
    for p in plan.partitions.iter().filter(|p| p.role == Role::User) {
        if p.name.len() > MAX_NAME_LEN {
            out.push(
                Problem::error(
                    "plan::name_too_long",
                    format!("partition name `{}` is {} characters; U-Boot's stm32prog accepts at most {MAX_NAME_LEN}", p.name, p.name.len()),
                )
                .with_span(p.span.clone())
                .with_help(format!("shorten it, e.g. `{}`", p.name.chars().take(MAX_NAME_LEN).collect::<String>())),
            );
        }
        if p.name.is_empty() || !p.name.bytes().all(|b| b.is_ascii_graphic()) {
            out.push(
                Problem::error("plan::bad_name", format!("partition name `{}` must be printable ASCII without spaces", p.name.escape_default()))
                    .with_span(p.span.clone())
                    .with_help("use letters, digits, `-` and `_`, e.g. `rootfs`, `u-boot-env`"),
            );
        }
    }
    out
}

/// Names are unique, and the boot partitions' names are taken by `[boot]`.
#[must_use]
pub fn reject_duplicate_names(board: &BoardFile, plan: &Plan) -> Vec<Problem> {
    let mut out = Vec::new();
    let boot_names: Vec<&str> = plan
        .partitions
        .iter()
        .filter(|p| p.role != Role::User)
        .map(|p| p.name.as_str())
        .chain(plan.hw_boot.iter().map(|h| h.name.as_str()))
        .collect();
    for (i, spec) in board.partitions.iter().enumerate() {
        let name = spec.name.value.as_str();
        if boot_names.contains(&name) {
            out.push(
                Problem::error("plan::duplicate_name", format!("partition `{name}` is already made from [boot]"))
                    .with_span(Some(spec.name.span.clone()))
                    .with_help("remove this [[partition]] (size the boot slots with `fsbl_size`, `ssbl_size` or `fip_size` in [boot]) or rename it"),
            );
        } else if board.partitions[..i].iter().any(|o| o.name.value == name) {
            out.push(
                Problem::error("plan::duplicate_name", format!("partition name `{name}` is used twice"))
                    .with_span(Some(spec.name.span.clone()))
                    .with_help("give each partition its own name: TF-A and U-Boot look partitions up by name"),
            );
        }
    }
    out
}

/// A GPT holds 128 entries.
#[must_use]
pub fn reject_too_many_partitions(plan: &Plan) -> Vec<Problem> {
    let n = plan.partitions.len();
    if n > GPT_ENTRIES as usize {
        return vec![
            Problem::error("plan::too_many_partitions", format!("{n} partitions, but the GPT holds {GPT_ENTRIES}"))
                .with_span(plan.partitions.get(GPT_ENTRIES as usize).and_then(|p| p.span.clone()))
                .with_help(format!("merge partitions or drop some: this is partition {}", GPT_ENTRIES + 1)),
        ];
    }
    Vec::new()
}

/// Every start is a multiple of the erase unit (512 B on SD, the 512 KiB erase group on eMMC) and every size of 512.
#[must_use]
pub fn ensure_alignment(board: &BoardFile, plan: &Plan) -> Vec<Problem> {
    let mut out = Vec::new();
    let erase = plan.disk.erase_unit;
    let media = plan.media.name();
    if let Some(a) = &board.storage.align
        && (a.value == ByteSize::ZERO || !a.value.is_aligned(erase))
    {
        out.push(
            Problem::error("plan::misaligned", format!("`align = {}` is not a multiple of the {media} erase unit {erase}", a.value.describe()))
                .with_span(Some(a.span.clone()))
                .with_help(format!("use a multiple of {erase}, e.g. `\"1M\"`")),
        );
    }
    if let Some(s) = &board.storage.size
        && !s.value.is_aligned(SECTOR)
    {
        out.push(
            Problem::error("plan::misaligned", format!("image size {} is not a whole number of 512-byte sectors", s.value.describe()))
                .with_span(Some(s.span.clone()))
                .with_help(format!("use {}", s.value.align_up(SECTOR).unwrap_or(s.value))),
        );
    }
    let mut blamed: Vec<&str> = Vec::new();
    for (i, p) in plan.partitions.iter().enumerate() {
        if beyond_a_file(p) {
            continue;
        }
        if p.role != Role::User {
            out.extend(boot_slot_alignment(board, plan, i, &mut blamed));
            continue;
        }
        // An eMMC partition below the first usable offset has `plan::below_first_offset`, whose offset is aligned.
        let below_first = plan.medium() == Medium::Emmc && p.start < plan.medium().first_offset();
        if !p.start.is_aligned(erase) && !below_first {
            let fix = p.start.align_up(erase).unwrap_or(p.start);
            out.push(
                Problem::error(
                    "plan::misaligned",
                    format!("partition `{}` starts at {}, not a multiple of the {media} erase unit {erase}", p.name, p.start),
                )
                .with_span(p.span.clone())
                .with_help(format!("U-Boot refuses it (\"not aligned address\"); use `offset = \"{fix}\"`")),
            );
        }
        if !p.size.is_aligned(SECTOR) {
            out.push(
                Problem::error(
                    "plan::misaligned",
                    format!("partition `{}` size {} is not a whole number of 512-byte sectors", p.name, p.size.describe()),
                )
                .with_span(p.span.clone())
                .with_help(format!("use `size = \"{}\"`", p.size.align_up(SECTOR).unwrap_or(p.size))),
            );
        }
    }
    out
}

/// A boot slot has no `offset`: it starts where the slot before it ends, so a start off the erase unit or a size off
/// whole sectors comes from a `[boot]` size key. One error at that key however many slots it moves (`fip_size`
/// moves fip-b and u-boot-env); `blamed` holds the keys already reported.
fn boot_slot_alignment(board: &BoardFile, plan: &Plan, i: usize, blamed: &mut Vec<&'static str>) -> Option<Problem> {
    let erase = plan.disk.erase_unit;
    let p = &plan.partitions[i];
    let cause = if p.size.is_aligned(SECTOR) {
        if p.start.is_aligned(erase) {
            return None;
        }
        // The nearest boot slot before it whose size is off the erase unit.
        plan.partitions[..i].iter().rposition(|q| q.role != Role::User && !q.size.is_aligned(erase))?
    } else {
        i
    };
    let c = &plan.partitions[cause];
    // A slot too small for its input has `plan::input_too_large` at the same key, whose fix is whole erase units.
    if c.input.as_ref().is_some_and(|i| i.size > c.size) {
        return None;
    }
    let key = boot_size_key(board, c.role)?;
    if blamed.contains(&key.key) {
        return None;
    }
    blamed.push(key.key);
    let value = key.given.and_then(|g| g.value.bytes()).unwrap_or(c.size);
    let slots = slots_of(board, plan, key.key);
    // Round to the erase unit when a boot slot follows, so the fix does not move the misalignment on.
    let follows = plan.partitions.get(cause + 1).is_some_and(|n| n.role != Role::User);
    let fix = value.align_up(if follows { erase } else { SECTOR }).unwrap_or(value);
    let problem = if c.size.is_aligned(SECTOR) {
        Problem::error(
            "plan::misaligned",
            format!(
                "`{} = {}` (the size of {slots}) is not a multiple of the {} erase unit {erase}: `{}` after it starts at {}",
                key.key,
                value.describe(),
                plan.media.name(),
                p.name,
                p.start
            ),
        )
        .with_help(format!(
            "U-Boot refuses a partition there (\"not aligned address\"); boot slots have no `offset` (each starts where the one before it ends): use `{} = \"{fix}\"` in [boot]",
            key.key
        ))
    } else {
        Problem::error("plan::misaligned", format!("`{} = {}` ({slots}) is not a whole number of 512-byte sectors", key.key, value.describe()))
            .with_help(format!("use `{} = \"{fix}\"` in [boot]", key.key))
    };
    Some(problem.with_span(key.span))
}

/// The first partition starts at or after 0x4400 on SD (after the GPT) and 0x80000 on eMMC (one erase group).
#[must_use]
pub fn ensure_first_offset(plan: &Plan) -> Vec<Problem> {
    let min = plan.medium().first_offset();
    plan.partitions
        .iter()
        .filter(|p| p.start < min && plan.medium() == Medium::Emmc)
        .map(|p| {
            // The first byte after the boot slots (which start at `min`): where a user partition can start. Its
            // overlaps with them are this cause's, so `reject_overlaps` leaves them to this error.
            let free = plan.partitions.iter().filter(|q| q.role != Role::User).map(PlannedPartition::end).max().unwrap_or(min);
            let free = free.align_up(plan.disk.erase_unit).unwrap_or(free).max(min);
            let after = if free > min { " (after the boot slots)" } else { "" };
            Problem::error(
                "plan::below_first_offset",
                format!("partition `{}` starts at {}, below the eMMC user area's first usable offset {min}", p.name, p.start),
            )
            .with_span(p.span.clone())
            .with_help(format!("U-Boot's stm32prog refuses it (\"invalid address (min=…)\"); start at `offset = \"{free}\"`{after} or later"))
        })
        .collect()
}

/// No two partitions, and no partition and the partition table, share a byte.
#[must_use]
pub fn reject_overlaps(board: &BoardFile, plan: &Plan) -> Vec<Problem> {
    struct Area<'a> {
        name: String,
        start: Offset,
        end: Offset,
        part: Option<&'a PlannedPartition>,
    }
    // The protective MBR, the primary header and the entry array are one obstacle for the user, the backup entries
    // and header another.
    let geometry = plan.disk.geometry();
    let (table_start, table_end) = geometry.primary_table();
    let (backup_start, backup_end) = geometry.backup_table();
    let mut areas: Vec<Area> = vec![
        Area { name: "the partition table (protective MBR + primary GPT)".to_string(), start: table_start, end: table_end, part: None },
        Area { name: "the backup GPT".to_string(), start: backup_start, end: backup_end, part: None },
    ];
    areas.extend(plan.partitions.iter().filter(|p| p.size > ByteSize::ZERO && !beyond_a_file(p)).map(|p| Area {
        name: format!("partition `{}`", p.name),
        start: p.start,
        end: p.end(),
        part: Some(p),
    }));
    areas.sort_by_key(|a| (a.start, a.end));
    let erase = plan.disk.erase_unit;
    let backup_help = || {
        format!(
            "the backup GPT takes the last {} sectors: enlarge `[storage] size` or shrink the partition",
            DiskGeometry::backup_table_size().whole_sectors()
        )
    };
    // One error per partition blamed, at its first overlap (a partition at `offset = 0` covers the table and every boot
    // slot: one cause); the others it covers are listed in that error.
    struct Blamed {
        number: u32,
        problem: Problem,
        also: Vec<String>,
        /// Every area it covers is the primary table or a boot slot (which never move): where the first free byte is.
        fixed_end: Option<Offset>,
    }
    let mut blamed: Vec<Blamed> = Vec::new();
    for (i, a) in areas.iter().enumerate() {
        for b in &areas[i + 1..] {
            if b.start >= a.end {
                break;
            }
            // Blame the partition that comes later on the disk; the table regions and the boot slots (placed from
            // `[boot]`, without `offset`) never move, so a `[[partition]]` over a boot slot is the one blamed.
            let user = |x: &Area| x.part.is_some_and(|p| p.role == Role::User);
            let keeps_a = user(a) && !user(b);
            let (culprit, other) = if b.part.is_some() && !keeps_a { (b, a) } else { (a, b) };
            if culprit.part.is_none() {
                continue;
            }
            // A partition running past the end of the image has `plan::past_end`, whose help counts the backup GPT.
            if other.part.is_none() && other.start > Offset::ZERO && culprit.end > Offset::ZERO.saturating_add(plan.disk.size) {
                continue;
            }
            // On eMMC a partition starting below 0x80000 has `plan::below_first_offset`, which says where to start it.
            if culprit.start < plan.medium().first_offset() && plan.medium() == Medium::Emmc {
                continue;
            }
            let next = other.end.align_up(erase).unwrap_or(other.end);
            // A boot slot is shrunk by its `[boot]` key; the metadata and environment slots are fixed.
            let shrink_other = match other.part {
                Some(o) if o.role == Role::User => format!(", or shrink {}", other.name),
                Some(o) => boot_size_key(board, o.role).map(|k| format!(", or shrink `{}` in [boot]", k.key)).unwrap_or_default(),
                None => String::new(),
            };
            let help = match other.part {
                None if other.start > Offset::ZERO => backup_help(),
                None => format!(
                    "start it at `offset = \"{next}\"` or later: the protective MBR and the primary GPT take the first {} sectors",
                    DiskGeometry::backup_table_size().whole_sectors() + 1
                ),
                Some(_) if other.start <= culprit.start => format!("start it at `offset = \"{next}\"` or later{shrink_other}"),
                Some(o) if o.role != Role::User => {
                    format!("shrink it to at most {} bytes, or start it at `offset = \"{next}\"` or later", other.start - culprit.start)
                }
                Some(_) => format!("shrink it to at most {} bytes, or move {}", other.start - culprit.start, other.name),
            };
            let number = culprit.part.map_or(0, |p| p.number);
            let fixed = match other.part {
                Some(o) => o.role != Role::User,
                None => other.start == Offset::ZERO,
            };
            if let Some(b) = blamed.iter_mut().find(|b| b.number == number) {
                b.also.push(other.name.clone());
                b.fixed_end = b.fixed_end.filter(|_| fixed).map(|e| e.max(other.end));
                continue;
            }
            let problem = Problem::error(
                "plan::overlap",
                format!("{} ({}..{}) overlaps {} ({}..{})", culprit.name, culprit.start, culprit.end, other.name, other.start, other.end),
            )
            .with_span(culprit.part.and_then(|p| p.span.clone()))
            .with_help(help);
            blamed.push(Blamed { number, problem, also: Vec::new(), fixed_end: fixed.then_some(other.end) });
        }
    }
    blamed
        .into_iter()
        .map(|b| {
            let mut problem = b.problem;
            if !b.also.is_empty() {
                problem.message = format!("{}, and also {}", problem.message, b.also.join(", "));
                if let Some(end) = b.fixed_end {
                    let next = end.align_up(erase).unwrap_or(end);
                    problem.help = Some(format!(
                        "start it at `offset = \"{next}\"` or later: the partition table and the boot slots (placed from [boot]) take everything before"
                    ));
                }
            }
            problem
        })
        .collect()
}

/// Every partition ends inside the image.
#[must_use]
pub fn ensure_within_image(board: &BoardFile, plan: &Plan) -> Vec<Problem> {
    let size = plan.disk.size;
    let span = board.storage.size.as_ref().map(|s| s.span.clone());
    plan.partitions
        .iter()
        .filter(|p| p.end() > Offset::ZERO.saturating_add(size))
        // Beyond a file without `[storage] size`: `plan::image_too_large`; a `fill` starting past stm32prog's end:
        // `plan::fill_past_end`.
        .filter(|p| (plan.disk.size_given || !beyond_a_file(p)) && !fills_past_end(board, plan, p))
        .map(|p| {
            let backup = DiskGeometry::backup_table_size();
            let shrink = match p.role {
                Role::User => ", or shrink the partition".to_string(),
                role => boot_size_key(board, role).map(|k| format!(", or shrink `{}` in [boot]", k.key)).unwrap_or_default(),
            };
            Problem::error(
                "plan::past_end",
                format!("partition `{}` ({}..{}) ends past the end of the image, which is {}", p.name, p.start, p.end(), size.describe()),
            )
            .with_span(p.span.clone().or_else(|| span.clone()))
            .with_help(format!(
                "set `[storage] size` to at least {} (partition end + {}-sector backup GPT){shrink}",
                (p.end().saturating_add(backup) - Offset::ZERO).describe(),
                backup.whole_sectors()
            ))
        })
        .collect()
}

/// Whether `p` is the last partition, written `size = "fill"` with `[storage] size`, and starts at or past where
/// `stm32prog` ends the last partition (so it was given no bytes).
fn fills_past_end(board: &BoardFile, plan: &Plan, p: &PlannedPartition) -> bool {
    plan.disk.size_given
        && p.role == Role::User
        && p.size == ByteSize::ZERO
        && plan.partitions.last().is_some_and(|l| l.name == p.name)
        && board.partitions.iter().any(|s| s.name.value == p.name && s.size.as_ref().is_some_and(|z| z.value == SizeSpec::Fill))
}

/// A `size = "fill"` partition runs from its start to where `stm32prog` ends the last partition on a device of
/// `[storage] size` (`Medium::stm32prog_end`): starting there or later it has nothing to fill.
#[must_use]
pub fn reject_fill_past_end(board: &BoardFile, plan: &Plan) -> Option<Problem> {
    let p = plan.partitions.last().filter(|p| fills_past_end(board, plan, p))?;
    let spec = board.partitions.iter().find(|s| s.name.value == p.name)?;
    let end = plan.medium().stm32prog_end(plan.disk.size.whole_sectors());
    let span = spec.offset.as_ref().map(|o| o.span.clone()).or_else(|| spec.size.as_ref().map(|s| s.span.clone()));
    Some(
        Problem::error(
            "plan::fill_past_end",
            format!(
                "partition `{}` has `size = \"fill\"` but starts at {}, at or past {}, where stm32prog ends the last partition on a {} {}",
                p.name,
                p.start,
                end,
                plan.disk.size.describe(),
                plan.medium().name()
            ),
        )
        .with_span(span)
        .with_help(format!("start it before {end} (lower its `offset`), or set `[storage] size` to the size of a larger card or eMMC")),
    )
}

/// A GPT entry covers at least one sector: a partition of 0 bytes (written `size = 0`, or sized from an empty input)
/// would end before it begins, which U-Boot, TF-A and sgdisk refuse.
#[must_use]
pub fn reject_empty_partitions(board: &BoardFile, inputs: &InputSet, plan: &Plan) -> Vec<Problem> {
    let spec = |name: &str| board.partitions.iter().find(|s| s.name.value == name);
    let mut blamed: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for p in plan.partitions.iter().filter(|p| p.size == ByteSize::ZERO) {
        // A [[partition]] with neither `size` nor `image` already has `plan::no_size`, a `fill` without the storage's
        // size `plan::fill_needs_size`, one not last `plan::fill_not_last`, one past the end `plan::fill_past_end`.
        let reported = p.role == Role::User
            && spec(&p.name).is_some_and(|s| {
                let size = s.size.as_ref().map(|z| z.value);
                (matches!(size, None | Some(SizeSpec::Auto)) && s.image.is_none()) || size == Some(SizeSpec::Fill)
            });
        // An input that was not read (missing, unreadable, refused) has its own error; its size is unknown, not 0.
        let unread = p.input.as_ref().is_some_and(|i| !i.is_generated() && !inputs.facts.contains_key(&i.name));
        if reported || unread {
            continue;
        }
        if let Some(key) = boot_size_key(board, p.role) {
            if blamed.contains(&key.key) {
                continue;
            }
            blamed.push(key.key);
            let why = match (key.given.map(|g| g.value), &p.input) {
                (Some(SizeSpec::Auto), Some(input)) => format!("`{} = \"auto\"` sizes them from `{}`, which is empty", key.key, input.name),
                _ => format!("`{} = 0`", key.key),
            };
            out.push(
                Problem::error("plan::empty_partition", format!("boot slots {} would be 0 bytes: {why}", slots_of(board, plan, key.key)))
                    .with_span(key.span)
                    .with_help(format!("set `{}` in [boot] to at least one 512-byte sector, or leave it out for ST's default slot size", key.key)),
            );
            continue;
        }
        let why = match (&p.input, spec(&p.name).and_then(|s| s.size.as_ref()).and_then(|s| s.value.bytes())) {
            (Some(input), None) if p.role == Role::User => format!("its input `{}` is empty", input.name),
            _ => "its size is 0".to_string(),
        };
        out.push(
            Problem::error("plan::empty_partition", format!("partition `{}` is 0 bytes: {why}; its GPT entry would end before it begins", p.name))
                .with_span(p.span.clone())
                .with_help("give it a `size` of at least one 512-byte sector, or remove it"),
        );
    }
    out
}

/// The image is a file: its size must fit a file offset (`off_t`, 2^63 − 1 bytes). Without `[storage] size` the
/// image is as long as its partitions, so the error is at each partition that ends beyond a file.
#[must_use]
pub fn ensure_image_fits_a_file(board: &BoardFile, plan: &Plan) -> Vec<Problem> {
    let max = ByteSize::new(MAX_FILE);
    if plan.disk.size <= max {
        return Vec::new();
    }
    if let Some(size) = &board.storage.size {
        return vec![
            Problem::error("plan::image_too_large", format!("image size {} is larger than a file can be ({max} bytes)", plan.disk.size))
                .with_span(Some(size.span.clone()))
                .with_help("set `[storage] size` to the size of the card or eMMC"),
        ];
    }
    let mut culprits: Vec<&PlannedPartition> = plan.partitions.iter().filter(|p| beyond_a_file(p)).collect();
    if culprits.is_empty() {
        // Rounding the image up to 4 KiB crossed the limit: the partition that ends last forced it.
        culprits.extend(plan.partitions.iter().max_by_key(|p| p.end()));
    }
    culprits
        .into_iter()
        .map(|p| {
            let spec = board.partitions.iter().find(|s| p.role == Role::User && s.name.value == p.name);
            let span = spec.and_then(|s| s.size.as_ref().map(|z| z.span.clone()).or_else(|| s.offset.as_ref().map(|o| o.span.clone())));
            let end = p.start.get().checked_add(p.size.get()).map_or_else(|| "beyond 2^64".to_string(), |e| format!("at {e:#x}"));
            Problem::error(
                "plan::image_too_large",
                format!(
                    "partition `{}` ({} at {}) ends {end}: the image, sized to its partitions, would be larger than a file can be ({max} bytes)",
                    p.name,
                    p.size.describe(),
                    p.start
                ),
            )
            .with_span(span.or_else(|| p.span.clone()))
            .with_help("give the partition the size of its content (at most the card's or eMMC's size)")
        })
        .collect()
}

/// Every input fits its partition.
#[must_use]
pub fn ensure_inputs_fit(board: &BoardFile, plan: &Plan) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut blamed: Vec<&str> = Vec::new();
    for p in &plan.partitions {
        // A partition of 0 bytes has its own problem (`empty_partition`, `no_size`, `fill_…`): its cause, not its input.
        let Some(input) = p.input.as_ref().filter(|i| i.size > p.size && p.size > ByteSize::ZERO) else { continue };
        let at_least = input.size.align_up(plan.disk.erase_unit.max(SECTOR)).unwrap_or(input.size).describe();
        // One error per key that sizes the slots: fsbl1 and fsbl2 share `fsbl_size`, metadata1 and metadata2 the file.
        let (group, names, help, span) = match p.role {
            Role::User => (p.name.as_str(), format!("partition `{}`", p.name), format!("set `size` to at least {at_least}"), p.span.clone()),
            Role::Metadata => (
                "metadata",
                "partitions `metadata1` and `metadata2`".to_string(),
                format!(
                    "set `metadata` in [boot] to an FWU metadata file of at most {} (ST's is a few hundred bytes), or leave `metadata` out so the tool writes it",
                    p.size.describe()
                ),
                p.span.clone(),
            ),
            role => {
                // u-boot-env and fip-b have no input.
                let Some(key) = boot_size_key(board, role) else { continue };
                let slots = slots_of(board, plan, key.key);
                let names = if slots.contains(" and ") { format!("boot slots {slots}") } else { format!("boot slot {slots}") };
                (key.key, names, format!("set `{}` in [boot] to at least {at_least}", key.key), key.span)
            }
        };
        if blamed.contains(&group) {
            continue;
        }
        blamed.push(group);
        out.push(
            Problem::error(
                "plan::input_too_large",
                format!("input `{}` is {} and does not fit {names}: {} at {}", input.name, input.size.describe(), p.size.describe(), p.start),
            )
            .with_span(span)
            .with_help(help),
        );
    }
    out
}

/// Unique partition GUIDs are unique, and differ from the disk GUID.
#[must_use]
pub fn reject_duplicate_guids(plan: &Plan) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut seen: Vec<(Guid, &str)> = vec![(plan.disk.disk_guid, "the disk")];
    for p in &plan.partitions {
        // Duplicate names derive the same GUID; `reject_duplicate_names` already reports them.
        if seen.iter().any(|(_, n)| *n == p.name) {
            continue;
        }
        if let Some((_, other)) = seen.iter().find(|(g, _)| *g == p.unique_guid) {
            out.push(
                Problem::error("plan::duplicate_uuid", format!("partition `{}` has the same GUID {} as {other}", p.name, p.unique_guid))
                    .with_span(p.span.clone())
                    .with_help("give each partition its own `uuid`, or remove `uuid` to have one derived"),
            );
        }
        seen.push((p.unique_guid, &p.name));
    }
    out
}

/// A root file-system GUID other than U-Boot's fixed one breaks `root=PARTUUID=` after a `partitions`-mode flash:
/// `stm32prog` gives it to the first partition (in address order) named `rootfs` or `rootfs-a`.
#[must_use]
pub fn warn_rootfs_partuuid(plan: &Plan) -> Vec<Problem> {
    let Some(fixed) = guid::uboot_rootfs_partuuid(plan.device.0) else { return Vec::new() };
    plan.partitions
        .iter()
        .find(|p| guid::is_stm32prog_rootfs_name(&p.name))
        .filter(|p| p.unique_guid != fixed)
        .map(|p| {
            Problem::warning(
                "plan::rootfs_partuuid",
                format!(
                    "partition `{}` has GUID {}, but U-Boot's stm32prog gives `{}` on {} the GUID {fixed}",
                    p.name, p.unique_guid, p.name, plan.device
                ),
            )
            .with_span(p.span.clone())
            .with_help("remove `uuid` so `root=PARTUUID=` works whichever flash mode wrote the partition")
        })
        .into_iter()
        .collect()
}

/// U-Boot sets the bootable attribute only on Linux (`System`) partitions.
#[must_use]
pub fn warn_bootable_type(plan: &Plan) -> Vec<Problem> {
    plan.partitions
        .iter()
        .filter(|p| p.bootable && p.type_guid != guid::LINUX_FS)
        .map(|p| {
            Problem::warning(
                "plan::bootable_type",
                format!("partition `{}` is bootable but its type is {}, not `linux`", p.name, p.describe_type()),
            )
            .with_span(p.span.clone())
            .with_help(
                "stm32prog sets `bootable` only on `System` (linux) partitions; U-Boot's extlinux scan looks for it on the partition holding /boot",
            )
        })
        .collect()
}

/// On SD the ROM loads the FSBL from GPT entries whose name begins with `fsbl`.
#[must_use]
pub fn warn_fsbl_named_user_partition(plan: &Plan) -> Vec<Problem> {
    if plan.media != Media::Sdcard {
        return Vec::new();
    }
    plan.partitions
        .iter()
        .filter(|p| p.role == Role::User && p.name.starts_with("fsbl"))
        .map(|p| {
            Problem::warning("plan::fsbl_name", format!("partition `{}` starts with `fsbl`: the boot ROM may try to load TF-A from it", p.name))
                .with_span(p.span.clone())
                .with_help("rename it")
        })
        .collect()
}

/// Where `stm32prog` would build a different GPT from the same layout in `partitions` mode.
#[must_use]
pub fn warn_partitions_mode_divergence(board: &BoardFile, plan: &Plan) -> Vec<Problem> {
    if plan.flash_mode != FlashMode::Partitions {
        return Vec::new();
    }
    let mut out = Vec::new();
    for pair in plan.partitions.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        // A boot slot ending off the erase unit already has its error at the `[boot]` key that sized it
        // (`plan::misaligned`): the gap up to the next aligned start is that cause's, not a second one.
        if a.role != Role::User && !a.end().is_aligned(plan.disk.erase_unit) {
            continue;
        }
        if a.end() < b.start {
            let grown = b.start - a.start;
            // A boot slot has no `size`: it is sized by its `[boot]` key, or fixed (metadata, u-boot-env).
            let (span, help) = match (a.role, boot_size_key(board, a.role)) {
                (Role::User, _) => (a.span.clone(), format!("set `size = \"{grown}\"` on `{}` so both GPTs agree", a.name)),
                (_, Some(k)) => (k.span, format!("set `{} = \"{grown}\"` in [boot] so both GPTs agree", k.key)),
                (_, None) => {
                    (b.span.clone(), format!("`{}` has a fixed size: start `{}` at `offset = \"{}\"` so both GPTs agree", a.name, b.name, a.end()))
                }
            };
            out.push(
                Problem::warning(
                    "plan::layout_gap",
                    format!(
                        "partition `{}` ends at {} but `{}` starts at {}: a flash layout has no gaps, so stm32prog makes `{}` {}",
                        a.name,
                        a.end(),
                        b.name,
                        b.start,
                        a.name,
                        grown.describe()
                    ),
                )
                .with_span(span)
                .with_help(help),
            );
        }
    }
    for p in &plan.partitions {
        if TsvType::for_gpt_type_in(p.type_guid, p.bootable, plan.legacy_types).is_none() {
            let layout = if plan.legacy_types { "a flash layout for U-Boot before 2022.07 (`legacy_types`)" } else { "a flash layout" };
            let help = if plan.legacy_types {
                "use `binary`, `linux` or a type a layout can express (set `fip_type = \"binary\"` for the fip), drop `legacy_types`, or flash in `raw` mode"
            } else {
                "use a type name from board/README.md, or flash in `raw` mode"
            };
            out.push(
                Problem::warning(
                    "plan::layout_type",
                    format!(
                        "partition `{}` has type {}, which {layout} cannot express; stm32prog will create it as `Binary` ({})",
                        p.name,
                        p.describe_type(),
                        guid::describe_type(guid::LINUX_RESERVED)
                    ),
                )
                .with_span(p.span.clone())
                .with_help(help),
            );
        }
    }
    out
}

/// STM32MP25's TF-A asks the programmer for the DDR firmware FIP (Id 0x02, `fip-ddr`) before the FIP: a layout
/// without it stops there (`docs/st-layouts.md` §5).
#[must_use]
pub fn require_mp25_ddr_fip(board: &BoardFile) -> Option<Problem> {
    if board.board.soc.value != Soc::Stm32mp25 || board.programmer.fip_ddr.is_some() {
        return None;
    }
    Some(
        Problem::error(
            "plan::mp25_ddr_fip",
            "STM32MP25: USB flashing loads the DDR firmware FIP on Id 0x02 (`fip-ddr`) before the FIP, and the description names none",
        )
        .with_span(Some(board.board.soc.span.clone()))
        .with_help(
            "add `[programmer]` with `fip_ddr = \"fip-<board>-ddr-optee-<medium>.bin\"` (TF-A's DDR firmware FIP, `fip/` in ST's deploy folder)",
        ),
    )
}

/// Only STM32MP25 loads a separate DDR firmware FIP.
#[must_use]
pub fn reject_fip_ddr_soc(board: &BoardFile) -> Option<Problem> {
    let soc = board.board.soc.value;
    let ddr = board.programmer.fip_ddr.as_ref().filter(|_| soc != Soc::Stm32mp25)?;
    Some(
        Problem::error(
            "plan::fip_ddr_soc",
            format!("`fip_ddr` is given but {} has no separate DDR firmware FIP: its TF-A never asks for Id 0x02", soc.name()),
        )
        .with_span(Some(ddr.span.clone()))
        .with_help("remove `fip_ddr` (only STM32MP25 loads one), or set `[board] soc = \"stm32mp25\"`"),
    )
}

/// `size = "fill"` grows a partition to the end of the storage, which only `[storage] size` tells.
#[must_use]
pub fn reject_fill_without_storage_size(board: &BoardFile) -> Vec<Problem> {
    if board.storage.size.is_some() {
        return Vec::new();
    }
    board
        .partitions
        .iter()
        .filter_map(|p| p.size.as_ref().filter(|s| s.value == SizeSpec::Fill).map(|s| (p, s)))
        .map(|(p, s)| {
            Problem::error("plan::fill_needs_size", format!("partition `{}` has `size = \"fill\"` but the storage's size is not given", p.name.value))
                .with_span(Some(s.span.clone()))
                .with_help("set `[storage] size` to the card's or eMMC user area's size in bytes (`blockdev --getsize64 /dev/sdX`), or give the partition a size")
        })
        .collect()
}

/// Only the last partition (the highest offset) can run to the end of the storage.
#[must_use]
pub fn reject_fill_not_last(board: &BoardFile, plan: &Plan) -> Vec<Problem> {
    let last = plan.partitions.last().map(|p| p.name.as_str());
    board
        .partitions
        .iter()
        .filter(|p| p.size.as_ref().is_some_and(|s| s.value == SizeSpec::Fill) && Some(p.name.value.as_str()) != last)
        .map(|p| {
            Problem::error(
                "plan::fill_not_last",
                format!("partition `{}` has `size = \"fill\"` but `{}` comes after it", p.name.value, last.unwrap_or("another partition")),
            )
            .with_span(p.size.as_ref().map(|s| s.span.clone()))
            .with_help("only the last partition can fill the storage: move this one last, or give it a size")
        })
        .collect()
}

/// A given FWU metadata file (`[boot] metadata`) must be what TF-A and U-Boot read (the version, a valid CRC) and name,
/// bank by bank, the unique GUIDs of this image's fip-a and fip-b: otherwise TF-A finds no FIP to boot.
#[must_use]
pub fn ensure_fwu_metadata_matches(board: &BoardFile, inputs: &InputSet, plan: &Plan) -> Option<Problem> {
    let fwu_plan = plan.fwu.as_ref()?;
    let given = board.boot.metadata.as_ref()?;
    let facts = inputs.facts.get(&given.value)?;
    // A file larger than the metadata slot has its error (`plan::input_too_large`): that it is not metadata either is
    // the same cause.
    if plan.partitions.iter().any(|p| p.role == Role::Metadata && facts.size > p.size) {
        return None;
    }
    let banks: Vec<BankPartition> =
        ["fip-a", "fip-b"].iter().filter_map(|n| plan.partition(n)).map(|p| BankPartition { name: p.name.clone(), unique: p.unique_guid }).collect();
    let result = Metadata::decode(&facts.head, fwu::ST_GEOMETRY).and_then(|m| m.check_banks(fwu_plan.version, guid::FIP, &banks));
    let e = result.err()?;
    let guids = |b: &[BankPartition]| b.iter().map(|b| b.unique.to_string().to_ascii_lowercase()).collect::<Vec<_>>().join(",");
    Some(Problem::error("plan::fwu_metadata", format!("FWU metadata `{}`: {e}", given.value)).with_span(Some(given.span.clone())).with_help(format!(
        "remove `metadata` so the tool writes it from this description, or remake it with `mkfwumdata -g -i 1 -b 2 -v {} {},{},{}`",
        fwu_plan.version.number(),
        guid::FWU_MDATA.to_string().to_ascii_lowercase(),
        guid::FIP.to_string().to_ascii_lowercase(),
        guids(&banks)
    )))
}

/// `opt` agrees with the content: `P`/`PD` program a file, so need an `image`; `PE`/`PED` keep the partition empty,
/// so its `image` would be in the disk image but never flashed.
#[must_use]
pub fn ensure_line_opts_consistent(plan: &Plan) -> Vec<Problem> {
    plan.partitions
        .iter()
        .filter_map(|p| {
            let opt = p.opt?;
            match (opt.empty(), &p.input) {
                (false, None) => Some(
                    Problem::error("plan::bad_opt", format!("partition `{}` has `opt = \"{}\"` but no `image` to program", p.name, opt.name()))
                        .with_span(p.span.clone())
                        .with_help("add `image = \"…\"`, or write `opt = \"PED\"` (erased and left empty, the default without an image)"),
                ),
                (true, Some(input)) => Some(
                    Problem::error(
                        "plan::bad_opt",
                        format!("partition `{}` has `opt = \"{}\"` (left empty) but `image = \"{}\"`: the disk image would hold it, a USB flash would not", p.name, opt.name(), input.name),
                    )
                    .with_span(p.span.clone())
                    .with_help("remove `image`, or write `opt = \"P\"` (or `\"PD\"` to erase first)"),
                ),
                _ => None,
            }
        })
        .collect()
}

/// Explicit layout Ids are unique, and keep ST's ranges: file systems (`System`, `FileSystem`, `ESP`) from 0x10, since
/// `stm32prog` programs in ascending Id order and 0x04–0x0F is where the boot loaders go first.
#[must_use]
pub fn ensure_line_ids_valid(board: &BoardFile, plan: &Plan) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, spec) in board.partitions.iter().enumerate() {
        let Some(id) = &spec.id else { continue };
        if let Some(first) = board.partitions[..i].iter().find(|o| o.id.as_ref().is_some_and(|o| o.value == id.value)) {
            out.push(
                Problem::error(
                    "plan::duplicate_id",
                    format!("partition `{}` has `id = {:#04x}`, already the Id of `{}`", spec.name.value, id.value, first.name.value),
                )
                .with_span(Some(id.span.clone()))
                .with_help("give each line its own Id (it is also the programming order), or remove `id` to have one counted"),
            );
        }
        let Some(p) = plan.partition(&spec.name.value) else { continue };
        let Some(line_type) = TsvType::for_gpt_type_in(p.type_guid, p.bootable, plan.legacy_types) else { continue };
        if !line_type.is_binary_range() && id.value < 0x10 {
            out.push(
                Problem::error(
                    "plan::id_range",
                    format!("partition `{}` is a `{line_type}` line with `id = {:#04x}`: 0x04–0x0F are ST's boot-loader Ids (Binary, FIP, ENV, FWU_MDATA)", spec.name.value, id.value),
                )
                .with_span(Some(id.span.clone()))
                .with_help("use an Id from 0x10 to 0xF0, or remove `id` to have one counted"),
            );
        }
    }
    out
}

/// `opt` and `id` shape a partition's line in a `partitions` layout; a `raw` layout has one line for the whole image.
#[must_use]
pub fn warn_line_keys_in_raw_mode(board: &BoardFile, plan: &Plan) -> Vec<Problem> {
    if plan.flash_mode != FlashMode::Raw {
        return Vec::new();
    }
    let mut out = Vec::new();
    for spec in &board.partitions {
        for (key, span) in [("opt", spec.opt.as_ref().map(|o| o.span.clone())), ("id", spec.id.as_ref().map(|i| i.span.clone()))] {
            if let Some(span) = span {
                out.push(
                    Problem::warning(
                        "plan::raw_mode_keys",
                        format!(
                            "partition `{}`: `{key}` has no effect in `raw` mode, whose layout writes the whole image in one line",
                            spec.name.value
                        ),
                    )
                    .with_span(Some(span))
                    .with_help(format!("remove `{key}`, or set `[flash] mode = \"partitions\"`")),
                );
            }
        }
    }
    out
}

/// In `partitions` mode `stm32prog` runs the last partition to the end of the device (`Medium::stm32prog_end`): with
/// `[storage] size` the image's GPT can end it there (`size = "fill"`) and a different end is a warning; without it
/// the two GPTs differ in that partition's size, which is worth a note.
#[must_use]
pub fn warn_last_partition_end(board: &BoardFile, plan: &Plan) -> Option<Problem> {
    if plan.flash_mode != FlashMode::Partitions {
        return None;
    }
    let last = plan.partitions.last()?;
    if !plan.disk.size_given {
        return Some(
            Problem::note(
                "plan::last_partition_grows",
                format!(
                    "a USB flash in `partitions` mode runs `{}` to the end of the device ({} before it on {}), so its size there depends on the card or chip; this image's GPT ends it at {}",
                    last.name,
                    if plan.medium() == Medium::Emmc { "512 KiB" } else { "35 sectors" },
                    plan.medium().name(),
                    last.end()
                ),
            )
            .with_span(last.span.clone())
            .with_help(format!("to make both GPTs equal, set `[storage] size` to the card's size and `size = \"fill\"` on `{}`", last.name)),
        );
    }
    let end = plan.medium().stm32prog_end(plan.disk.size.whole_sectors());
    if last.end() == end {
        return None;
    }
    let fill = board.partitions.iter().any(|p| p.name.value == last.name && p.size.as_ref().is_some_and(|s| s.value == SizeSpec::Fill));
    (!fill).then(|| {
        Problem::warning(
            "plan::last_partition_differs",
            format!(
                "partition `{}` ends at {}, but a USB flash in `partitions` mode runs it to {} on this {}: the two GPTs differ",
                last.name,
                last.end(),
                end,
                plan.medium().name()
            ),
        )
        .with_span(last.span.clone())
        .with_help(format!("write `size = \"fill\"` on `{}`", last.name))
    })
}
