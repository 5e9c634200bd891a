//! The plan as a table, and the transfer estimate, for `check` and `build`.

use std::fmt::Write;

use crate::{
    board::{Chain, FlashMode, Media},
    geometry::{ENTRIES_SECTORS, GPT_ENTRIES, PRIMARY_ENTRIES_LBA},
    guid,
    plan::{GUIDE_BYTES_PER_SECOND, Plan, PlanInputKinds},
    units::{ByteSize, Offset},
};

fn duration(bytes: ByteSize) -> String {
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let secs = (bytes.get() as f64 / GUIDE_BYTES_PER_SECOND).round() as u64;
    if secs >= 60 { format!("{} min {:02} s", secs / 60, secs % 60) } else { format!("{secs} s") }
}

/// The plan as text: a header, the partition table with the reserved regions, eMMC boot partitions.
#[must_use]
pub fn plan_table(plan: &Plan, kinds: &PlanInputKinds) -> String {
    let mut out = String::new();
    let chain = match (plan.chain, &plan.fwu) {
        (Chain::Trusted, _) => "trusted chain (TF-A + U-Boot .stm32 in ssbl)".to_string(),
        (Chain::Fip, None) => "fip chain (TF-A + fip.bin in fip)".to_string(),
        (Chain::Fip, Some(f)) => format!(
            "fip chain with A/B firmware update (FIP in fip-a/fip-b, FWU metadata v{} in metadata1/metadata2, {})",
            f.version.number(),
            if f.metadata.is_generated() { format!("{} written by this tool", f.metadata.name) } else { format!("{} checked", f.metadata.name) }
        ),
    };
    let media = match plan.media {
        Media::Sdcard => "SD card",
        Media::Emmc => "eMMC user area",
    };
    let _ = writeln!(out, "board {} ({}), {chain}", plan.board, plan.soc.name());
    let _ = writeln!(
        out,
        "image {}: {} on {}, {} bytes ({}), disk GUID {}",
        plan.disk.file_name,
        media,
        plan.device,
        plan.disk.size,
        plan.disk.size.human(),
        plan.disk.disk_guid
    );
    let geometry = plan.disk.geometry();
    let _ = writeln!(
        out,
        "GPT: protective MBR, {GPT_ENTRIES} entries at LBA {}-{}, usable LBA {}..{}\n",
        PRIMARY_ENTRIES_LBA.get(),
        PRIMARY_ENTRIES_LBA.get() + ENTRIES_SECTORS - 1,
        geometry.first_usable().get(),
        geometry.last_usable().get()
    );
    let mut rows = vec![vec!["#", "start", "end", "size", "name", "type", "source", "fill"].into_iter().map(String::from).collect::<Vec<_>>()];
    let hex = |v: Offset| format!("{:#010x}", v.get());
    let size = |v: ByteSize| format!("{:#010x}", v.get());
    let region = |(start, end): (Offset, Offset), what: &str| {
        vec!["-".into(), hex(start), hex(end), size(end - start), "-".into(), "GPT".into(), what.to_string()]
    };
    rows.push(region(geometry.primary_table(), "protective MBR + primary GPT"));
    for p in &plan.partitions {
        let mut ty = guid::type_name(p.type_guid).map_or_else(|| p.type_guid.to_string(), str::to_string);
        if p.bootable {
            ty.push_str(", bootable");
        }
        let (source, fill) = match &p.input {
            Some(i) => {
                #[allow(clippy::cast_precision_loss)]
                let pct = if p.size == ByteSize::ZERO { 0.0 } else { i.size.get() as f64 * 100.0 / p.size.get() as f64 };
                let kind = if i.is_generated() { "generated" } else { kinds.describe(&i.name) };
                (format!("{} ({kind})", i.name), format!("{pct:.1}%"))
            }
            None => ("(empty)".to_string(), "-".to_string()),
        };
        rows.push(vec![p.number.to_string(), hex(p.start), hex(p.end()), size(p.size), p.name.clone(), ty, source, fill]);
    }
    rows.push(region(geometry.backup_table(), "backup GPT"));
    out.push_str(&crate::table::render(&rows));
    for h in &plan.hw_boot {
        let _ = writeln!(out, "eMMC boot{}: {} <- {} ({})", h.hw_part, h.name, h.input.name, kinds.describe(&h.input.name));
    }
    let stages: Vec<String> = plan.stages.all().iter().map(|s| format!("{} ({})", s.name, kinds.describe(&s.name))).collect();
    let _ = writeln!(out, "programmer (RAM over USB): {}", stages.join(", then "));
    out
}

/// How much STM32CubeProgrammer sends in each mode, and how long that took at the guide's measured rate.
#[must_use]
pub fn transfer_estimate(plan: &Plan) -> String {
    let mut out = String::new();
    for mode in [FlashMode::Raw, FlashMode::Partitions] {
        let bytes = plan.transfer_bytes(mode);
        let name = if mode == FlashMode::Raw { "raw" } else { "partitions" };
        let this = if mode == plan.flash_mode { format!(" ({} uses this mode)", plan.layout_name) } else { String::new() };
        let _ = writeln!(
            out,
            "flash in {name} mode: {} bytes ({}) sent over USB, about {} at the guide's {:.2} MB/s{this}",
            bytes.get(),
            bytes.human(),
            duration(bytes),
            GUIDE_BYTES_PER_SECOND / 1e6
        );
    }
    out
}
