//! Cross-line layout rules (`flashlayout-spec.md` §4, §10): what U-Boot's `treat_partition_list` and `init_device`
//! refuse, and what STM32CubeProgrammer needs on top.

use std::collections::BTreeMap;

use super::{Ip, LayoutLine, TsvOffset, TsvType};
use crate::{
    diag::Problem,
    geometry::Medium,
    units::{ByteSize, Offset},
};

/// Most distinct devices in one layout (`STM32PROG_MAX_DEV`).
pub const MAX_DEVICES: usize = 5;

/// What the linter knows about the target beyond the file.
#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// MMC instances known to be eMMC (otherwise an instance is taken as eMMC when the layout uses `boot1`/`boot2` on it).
    pub emmc: Vec<u8>,
    /// MMC instances known to be SD cards.
    pub sdcard: Vec<u8>,
}

fn at(file: &str, line: &LayoutLine) -> String {
    format!("{file}:{}", line.line)
}

/// MTD erase sizes of ST's defaults (st-machine-storage-device-stm32mp.inc); real parts may differ.
fn mtd_default_erase(ip: &Ip) -> Option<ByteSize> {
    match ip {
        Ip::Nor(_) => Some(ByteSize::new(0x1_0000)),
        Ip::Nand(_) => Some(ByteSize::new(0x4_0000)),
        Ip::SpiNand(_) => Some(ByteSize::new(0x2_0000)),
        _ => None,
    }
}

/// Check a parsed layout as a whole. `file` names it in problems.
#[must_use]
pub fn lint(file: &str, lines: &[LayoutLine], options: &LintOptions) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut ids: BTreeMap<u32, &LayoutLine> = BTreeMap::new();
    for line in lines {
        if line.ip == Ip::None && line.opt.select {
            out.push(
                Problem::error("layout::selected_none", format!("Layout: selected none phase = {:#x} for part {}", line.id, line.name))
                    .at(at(file, line))
                    .with_help("RAM-loaded programmer stages use `-` in the Opt column"),
            );
        }
        if line.ip != Ip::None && line.id == 0 {
            out.push(
                Problem::error("layout::bad_id", format!("Layout: invalid phase = 0x0 for part {}: 0x00 is the layout itself", line.name))
                    .at(at(file, line))
                    .with_help("use 0x04–0x0F for boot partitions and 0x10–0xF0 for the rest"),
            );
        }
        if let Some(first) = ids.get(&line.id) {
            out.push(
                Problem::error(
                    "layout::duplicate_id",
                    format!("Layout: duplicated phase {:#04x} for part {} and {} (line {})", line.id, first.name, line.name, first.line),
                )
                .at(at(file, line))
                .with_help("give every line its own Id; the Id also decides programming order"),
            );
        } else {
            ids.insert(line.id, line);
        }
        if let TsvType::BinaryCopies(n) = line.part_type
            && n > 1
            && (!matches!(line.ip, Ip::Nand(_) | Ip::SpiNand(_)) || line.id >= 0x10 || !line.name.starts_with("fsbl"))
        {
            out.push(
                Problem::error("layout::binary_copies", format!("{} ({:#x}): multiple binary {n} not supported", line.name, line.id))
                    .at(at(file, line))
                    .with_help("Binary(N) is only for an fsbl* line with Id < 0x10 on NAND or SPI-NAND"),
            );
        }
        if line.part_type == TsvType::RawImage && line.offset != TsvOffset::Addr(Offset::ZERO) {
            out.push(
                Problem::warning(
                    "layout::raw_offset",
                    format!("RawImage `{}` has offset {}; U-Boot always writes a RawImage from 0x0", line.name, line.offset),
                )
                .at(at(file, line))
                .with_help("write `0x0`"),
            );
        }
        if line.opt.select && !line.opt.empty && line.binary.is_none() && line.ip != Ip::None {
            out.push(
                Problem::warning("layout::no_binary", format!("line `{}` is selected for programming but names no binary", line.name))
                    .at(at(file, line))
                    .with_help("name the file in column 7, or use `PE`/`PED` to leave the partition empty"),
            );
        }
    }

    let data_lines = lines.iter().filter(|l| l.ip != Ip::None).count();
    if data_lines > super::parse::MAX_LINES {
        out.push(
            Problem::error("layout::too_many_lines", format!("{data_lines} data lines; U-Boot accepts at most {}", super::parse::MAX_LINES))
                .at(format!("{file}:1")),
        );
    }

    let mut devices: BTreeMap<Ip, Vec<&LayoutLine>> = BTreeMap::new();
    for line in lines.iter().filter(|l| l.ip != Ip::None) {
        devices.entry(line.ip.clone()).or_default().push(line);
    }
    if devices.len() > MAX_DEVICES {
        out.push(
            Problem::error("layout::too_many_devices", format!("Layout: too many device ({}; at most {MAX_DEVICES})", devices.len()))
                .at(format!("{file}:1")),
        );
    }
    for (ip, dev_lines) in &devices {
        out.extend(lint_device(file, ip, dev_lines, options));
    }
    out
}

fn lint_device(file: &str, ip: &Ip, lines: &[&LayoutLine], options: &LintOptions) -> Vec<Problem> {
    let mut out = Vec::new();
    let uses_boot_parts = lines.iter().any(|l| matches!(l.offset, TsvOffset::Boot1 | TsvOffset::Boot2));
    let one = ByteSize::new(1);
    let (first_min, erase, strict, kind) = match ip {
        Ip::Mmc(n) => {
            let emmc = options.emmc.contains(n) || (uses_boot_parts && !options.sdcard.contains(n));
            let medium = if emmc { Medium::Emmc } else { Medium::SdCard };
            (medium.first_offset(), medium.erase_unit(), true, medium.name())
        }
        Ip::Ram(_) => (Offset::ZERO, one, true, "RAM"),
        other => (Offset::ZERO, mtd_default_erase(other).unwrap_or(one), false, "MTD"),
    };
    let mut parts: Vec<(&LayoutLine, Offset)> = lines
        .iter()
        .filter(|l| l.part_type != TsvType::RawImage)
        .filter_map(|l| match l.offset {
            TsvOffset::Addr(a) => Some((*l, a)),
            _ => None,
        })
        .collect();
    parts.sort_by_key(|(_, a)| *a);
    for pair in parts.windows(2) {
        if pair[0].1 == pair[1].1 {
            out.push(
                Problem::error(
                    "layout::same_offset",
                    format!("{} ({:#x}): same address : {} == {} ({:#x})", pair[1].0.name, pair[1].0.id, pair[1].1, pair[0].0.name, pair[0].0.id),
                )
                .at(at(file, pair[1].0))
                .with_help("each partition runs up to the next offset; offsets must be distinct"),
            );
        }
    }
    if let Some((line, addr)) = parts.first()
        && *addr < first_min
        && matches!(ip, Ip::Mmc(_))
    {
        out.push(
            Problem::error("layout::below_first", format!("{} ({:#x}): invalid address {addr} (min={first_min}) on {kind} {ip}", line.name, line.id))
                .at(at(file, line))
                .with_help(format!("the first partition on {kind} starts at {first_min} or later")),
        );
    }
    for (line, addr) in &parts {
        if !addr.is_aligned(erase) {
            let problem = if strict {
                Problem::error(
                    "layout::misaligned",
                    format!("{} ({:#x}): not aligned address : {addr} on erase size {erase} ({kind} {ip})", line.name, line.id),
                )
            } else {
                Problem::warning(
                    "layout::misaligned",
                    format!("{} ({:#x}): address {addr} is not a multiple of ST's default {kind} erase block {erase} for {ip}", line.name, line.id),
                )
            };
            out.push(problem.at(at(file, line)).with_help(format!("use a multiple of {erase}")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flashlayout::parse;

    fn codes(text: &str) -> Vec<&'static str> {
        let p = parse("t.tsv", text.as_bytes());
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        lint("t.tsv", &p.lines, &LintOptions::default()).into_iter().map(|p| p.code).collect()
    }

    #[test]
    fn each_rule_fires() {
        assert_eq!(codes("P\t0x01\ta\tBinary\tnone\t0x0\tx\n"), ["layout::selected_none"]);
        assert_eq!(codes("P\t0x0\ta\tBinary\tmmc0\t0x4400\tx\n"), ["layout::bad_id"]);
        assert_eq!(codes("P\t0x10\ta\tBinary\tmmc0\t0x4400\tx\nP\t0x10\tb\tBinary\tmmc0\t0x8400\tx\n"), ["layout::duplicate_id"]);
        assert_eq!(codes("P\t0x10\ta\tBinary\tmmc0\t0x4400\tx\nP\t0x11\tb\tBinary\tmmc0\t0x4400\tx\n"), ["layout::same_offset"]);
        assert_eq!(codes("P\t0x10\ta\tBinary\tmmc0\t0x4200\tx\n"), ["layout::below_first"]);
        assert_eq!(codes("P\t0x10\ta\tBinary\tmmc0\t0x4401\tx\n"), ["layout::misaligned"]);
        assert_eq!(codes("P\t0x04\tfsbl1\tBinary\tmmc1\tboot1\tx\nP\t0x10\ta\tBinary\tmmc1\t0x84400\tx\n"), ["layout::misaligned"]);
        assert_eq!(codes("P\t0x04\tfsbl1\tBinary(2)\tmmc0\t0x4400\tx\n"), ["layout::binary_copies"]);
        assert_eq!(codes("P\t0x10\tsd\tRawImage\tmmc0\t0x200\tx\n"), ["layout::raw_offset"]);
        assert_eq!(codes("P\t0x10\ta\tBinary\tmmc0\t0x4400\n"), ["layout::no_binary"]);
        let many: String = (0..6).map(|i| format!("P\t{:#x}\tp{i}\tBinary\tnor{i}\t0x0\tx\n", 0x10 + i)).collect();
        assert_eq!(codes(&many), ["layout::too_many_devices"]);
    }
}
