//! The plan as a table, and the transfer estimate, for `check` and `build`.

use std::fmt::Write;

use crate::{
    board::{Chain, FlashMode, Media},
    guid,
    plan::{GUIDE_BYTES_PER_SECOND, Plan, PlanInputKinds},
    units::human_bytes,
};

fn duration(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let secs = (bytes as f64 / GUIDE_BYTES_PER_SECOND).round() as u64;
    if secs >= 60 { format!("{} min {:02} s", secs / 60, secs % 60) } else { format!("{secs} s") }
}

/// The plan as text: a header, the partition table with the reserved regions, eMMC boot partitions.
#[must_use]
pub fn plan_table(plan: &Plan, kinds: &PlanInputKinds) -> String {
    let mut out = String::new();
    let chain = match plan.chain {
        Chain::Trusted => "trusted chain (TF-A + U-Boot .stm32 in ssbl)",
        Chain::Fip => "fip chain (TF-A + fip.bin in fip)",
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
        human_bytes(plan.disk.size.0),
        plan.disk.disk_guid
    );
    let _ = writeln!(out, "GPT: protective MBR, 128 entries at LBA 2-33, usable LBA {}..{}\n", plan.disk.first_usable.0, plan.disk.last_usable.0);
    let mut rows = vec![vec!["#", "start", "end", "size", "name", "type", "source", "fill"].into_iter().map(String::from).collect::<Vec<_>>()];
    let hex = |v: u64| format!("{v:#010x}");
    let table_end = plan.reserved.iter().filter(|r| r.name != "[backup GPT]").map(|r| r.start.0 + r.size.0).max().unwrap_or(0);
    rows.push(vec!["-".into(), hex(0), hex(table_end), hex(table_end), "-".into(), "GPT".into(), "protective MBR + primary GPT".into()]);
    for p in &plan.partitions {
        let mut ty = guid::type_name(p.type_guid).map_or_else(|| p.type_guid.to_string(), str::to_string);
        if p.bootable {
            ty.push_str(", bootable");
        }
        let (source, fill) = match &p.input {
            Some(i) => {
                #[allow(clippy::cast_precision_loss)]
                let pct = if p.size.0 == 0 { 0.0 } else { i.size.0 as f64 * 100.0 / p.size.0 as f64 };
                (format!("{} ({})", i.name, kinds.describe(&i.name)), format!("{pct:.1}%"))
            }
            None => ("(empty)".to_string(), "-".to_string()),
        };
        rows.push(vec![p.number.to_string(), hex(p.start.0), hex(p.end().0), hex(p.size.0), p.name.clone(), ty, source, fill]);
    }
    if let Some(b) = plan.reserved.iter().find(|r| r.name == "[backup GPT]") {
        rows.push(vec!["-".into(), hex(b.start.0), hex(b.start.0 + b.size.0), hex(b.size.0), "-".into(), "GPT".into(), "backup GPT".into()]);
    }
    out.push_str(&crate::table::render(&rows));
    for h in &plan.hw_boot {
        let _ = writeln!(out, "eMMC boot{}: {} <- {} ({})", h.hw_part, h.name, h.input.name, kinds.describe(&h.input.name));
    }
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
            "flash in {name} mode: {bytes} bytes ({}) sent over USB, about {} at the guide's {:.2} MB/s{this}",
            human_bytes(bytes),
            duration(bytes),
            GUIDE_BYTES_PER_SECOND / 1e6
        );
    }
    out
}
