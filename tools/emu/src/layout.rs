//! The flash layout as U-Boot's stm32prog reads it: TSV parsing, partition list checks, device geometry,
//! selection order and the DFU alternate names. Pure functions over bytes and a device description.
//!
//! Source: U-Boot `arch/arm/mach-stm32mp/cmd_stm32prog/stm32prog.c`: `parse_flash_layout` (column state machine,
//! v1 STM32 header stripped and checksummed, comment and empty-line handling, error texts kept verbatim),
//! `parse_option`, `parse_id`, `parse_name`, `parse_type`, `parse_ip`, `parse_offset` (base 10 unless `0x` since
//! 2023.07 commit bd087f62c9f; base 0, i.e. octal after a leading 0, before), `treat_partition_list`,
//! `init_device` (MMC geometry, sizes to the next partition, erase-group alignment), `stm32prog_next_phase`,
//! `stm32prog_alt_add` (alternate string `@name/0xID/1*SIZE{B,K,M,G}{a,e}`). `lib/strto.c` for the number parsing.

use crate::image::{self, Header};

pub const PHASE_FLASHLAYOUT: u32 = 0x00;
pub const PHASE_LAST_USER: u32 = 0xf0;

pub const OPT_SELECT: u8 = 1;
pub const OPT_EMPTY: u8 = 2;
pub const OPT_DELETE: u8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartType {
    Binary,
    Fip,
    FwuMdata,
    Env,
    System,
    FileSystem,
    Esp,
    RawImage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    None,
    Mmc,
    Nor,
    Nand,
    SpiNand,
    Ram,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub option: u8,
    pub id: u32,
    pub name: String,
    pub ptype: PartType,
    pub bin_nb: u32,
    pub target: Target,
    pub dev_id: u8,
    pub addr: u64,
    pub size: u64,
    /// 0 RawImage, -1/-2 eMMC boot1/boot2, 1.. GPT partition number.
    pub part_id: i32,
    pub alt_id: Option<u8>,
}

impl Part {
    pub fn selected(&self) -> bool {
        self.option & OPT_SELECT != 0
    }
    pub fn empty(&self) -> bool {
        self.option & OPT_EMPTY != 0
    }
    pub fn delete(&self) -> bool {
        self.option & OPT_DELETE != 0
    }
}

/// Which number base `parse_offset` uses (the U-Boot generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetBase {
    /// `simple_strtoull(p, &tail, 0)` (up to 2023.04): a leading 0 means octal.
    Auto,
    /// `simple_strtoull(p, &tail, 10)` (2023.07 on): decimal unless `0x`.
    Decimal,
}

/// `lib/strto.c` `simple_strtoull`: returns the value and the index where parsing stopped.
pub fn simple_strtoull(s: &[u8], base: u32) -> (u64, usize) {
    let mut base = base;
    let mut i = 0;
    if s.first() == Some(&b'0') {
        if s.get(1).map(|c| c.to_ascii_lowercase()) == Some(b'x') {
            base = 16;
            i = 2;
        } else if base == 0 {
            base = 8;
        }
    }
    if base == 0 {
        base = 10;
    }
    let mut v: u64 = 0;
    while let Some(&c) = s.get(i) {
        let d = match c.to_ascii_lowercase() {
            c @ b'0'..=b'9' => (c - b'0') as u32,
            c @ b'a'..=b'f' => (c - b'a' + 10) as u32,
            _ => 256,
        };
        if d >= base {
            break;
        }
        v = v.wrapping_mul(base as u64).wrapping_add(d as u64);
        i += 1;
    }
    (v, i)
}

/// `strict_strtoul`: the whole string (or all but a final newline) must be a number.
fn strict_strtoul(s: &[u8], base: u32) -> Option<u64> {
    let (v, end) = simple_strtoull(s, base);
    if end == 0 {
        return None;
    }
    if end == s.len() || (end + 1 == s.len() && s[end] == b'\n') { Some(v) } else { None }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn parse_column(column: usize, line: usize, col: &[u8], part: &mut Part, base: OffsetBase) -> Result<(), String> {
    let p = text(col);
    match column {
        0 => {
            part.option = 0;
            if p == "-" {
                return Ok(());
            }
            for &c in col {
                match c {
                    b'P' => part.option |= OPT_SELECT,
                    b'E' => part.option |= OPT_EMPTY,
                    b'D' => part.option |= OPT_DELETE,
                    other => {
                        return Err(format!("Layout line {line}: invalid option '{}' in {p})", other as char));
                    }
                }
            }
            if part.option & OPT_SELECT == 0 {
                return Err(format!("Layout line {line}: missing 'P' in option {p}"));
            }
            Ok(())
        }
        1 => match strict_strtoul(col, 0) {
            Some(v) if v <= PHASE_LAST_USER as u64 => {
                part.id = v as u32;
                Ok(())
            }
            _ => Err(format!("Layout line {line}: invalid phase value = {p}")),
        },
        2 => {
            if col.len() < 17 {
                part.name = p;
                Ok(())
            } else {
                Err(format!("Layout line {line}: partition name too long [{}]: {p}", col.len()))
            }
        }
        3 => {
            part.bin_nb = 0;
            let t = if col.starts_with(b"Binary") {
                part.bin_nb = 1;
                if col.len() > 6 {
                    if col.len() < 8 || col[6] != b'(' || col[col.len() - 1] != b')' {
                        None
                    } else {
                        part.bin_nb = simple_strtoull(&col[7..], 10).0 as u32;
                        Some(PartType::Binary)
                    }
                } else {
                    Some(PartType::Binary)
                }
            } else {
                match p.as_str() {
                    "FIP" => Some(PartType::Fip),
                    "FWU_MDATA" => Some(PartType::FwuMdata),
                    "ENV" => Some(PartType::Env),
                    "System" => Some(PartType::System),
                    "ESP" => Some(PartType::Esp),
                    "FileSystem" => Some(PartType::FileSystem),
                    "RawImage" => Some(PartType::RawImage),
                    _ => None,
                }
            };
            match t {
                Some(t) => {
                    part.ptype = t;
                    Ok(())
                }
                None => Err(format!("Layout line {line}: type parsing error : '{p}'")),
            }
        }
        4 => {
            part.dev_id = 0;
            let (target, len) = if p == "none" {
                (Some(Target::None), 0)
            } else if col.starts_with(b"mmc") {
                (Some(Target::Mmc), 3)
            } else if col.starts_with(b"nor") {
                (Some(Target::Nor), 3)
            } else if col.starts_with(b"nand") {
                (Some(Target::Nand), 4)
            } else if col.starts_with(b"spi-nand") {
                (Some(Target::SpiNand), 8)
            } else if col.starts_with(b"ram") {
                (Some(Target::Ram), 0)
            } else {
                (None, 0)
            };
            let mut ok = target.is_some();
            if ok && len > 0 {
                if col.len() != len + 1 || !col[len].is_ascii_digit() {
                    ok = false;
                } else {
                    part.dev_id = col[len] - b'0';
                }
            }
            match (ok, target) {
                (true, Some(t)) => {
                    part.target = t;
                    Ok(())
                }
                _ => Err(format!("Layout line {line}: ip parsing error: '{p}'")),
            }
        }
        5 => {
            part.part_id = 0;
            part.addr = 0;
            part.size = 0;
            if col.starts_with(b"boot") {
                match (col.len(), col.get(4)) {
                    (5, Some(b'1')) => part.part_id = -1,
                    (5, Some(b'2')) => part.part_id = -2,
                    _ => return Err(format!("Layout line {line}: invalid part '{p}'")),
                }
                Ok(())
            } else {
                let b = if base == OffsetBase::Decimal { 10 } else { 0 };
                let (v, end) = simple_strtoull(col, b);
                if end == 0 || end != col.len() {
                    return Err(format!("Layout line {line}: invalid offset '{p}'"));
                }
                part.addr = v;
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

fn blank_part() -> Part {
    Part {
        option: 0,
        id: 0,
        name: String::new(),
        ptype: PartType::Binary,
        bin_nb: 0,
        target: Target::None,
        dev_id: 0,
        addr: 0,
        size: 0,
        part_id: 0,
        alt_id: None,
    }
}

/// `parse_flash_layout(data, addr, size)`. `Ok` is the partition list; `Err(Some(text))` is an stm32prog error
/// (GetPhase reports it after 0xFF); `Err(None)` is a silent failure (no layout: size 0).
pub fn parse_flash_layout(raw: &[u8], size: usize, base: OffsetBase) -> Result<Vec<Part>, Option<String>> {
    let mut start = 0usize;
    let mut size = size.min(raw.len());
    if let Header::Stm32V1 { checksum, image_length, header_len } = image::header_check(raw) {
        start = header_len;
        size = image_length as usize;
        let end = (start + size).min(raw.len());
        let computed = image::checksum(&raw[start.min(end)..end]);
        if computed != checksum {
            return Err(Some(format!("Layout: invalid checksum : 0x{computed:x} expected 0x{checksum:x}")));
        }
        size = end - start.min(end);
    }
    if size == 0 {
        return Err(None);
    }
    let mut buf: Vec<u8> = raw[start..start + size].to_vec();
    let last = size;
    buf.push(0); // *last = 0x0: force null terminated string

    let mut part_list_size = 1usize;
    let mut p = 0;
    while p < last && buf[p] != 0 {
        let c = buf[p];
        p += 1;
        if c == b'\n' {
            part_list_size += 1;
            if p < last && buf[p] == b'#' {
                part_list_size -= 1;
            }
        }
    }
    if part_list_size > PHASE_LAST_USER as usize {
        return Err(Some(format!("Layout: too many partition ({part_list_size})")));
    }

    let cstr = |b: &[u8], at: usize| -> Vec<u8> {
        let end = b[at..].iter().position(|&c| c == 0).map_or(b.len(), |n| at + n);
        b[at..end].to_vec()
    };
    let mut parts = Vec::new();
    let mut part = blank_part();
    let (mut i, mut eof, mut col, mut end_of_line, mut column) = (1usize, false, 0usize, false, 0usize);
    p = 0;
    while !eof {
        match buf[p] {
            b'\r' => {
                buf[p] = 0;
                p += 1;
                continue;
            }
            0 => {
                end_of_line = true;
                eof = true;
            }
            b'\n' => end_of_line = true,
            b'\t' => {}
            b'#' if column == 0 && p == col => {
                while p < last && buf[p] != 0 {
                    let c = buf[p];
                    p += 1;
                    if c == b'\n' {
                        break;
                    }
                }
                col = p;
                i += 1;
                if p >= last || buf[p] == 0 {
                    eof = true;
                    end_of_line = true;
                }
                continue;
            }
            _ => {
                p += 1;
                continue;
            }
        }
        buf[p] = 0;
        p += 1;
        if p >= last {
            eof = true;
            end_of_line = true;
        }
        let c = cstr(&buf, col);
        if c.is_empty() {
            col = p;
            if column == 0 && end_of_line {
                end_of_line = false;
                i += 1;
            }
            continue;
        }
        if column < 6 {
            parse_column(column, i, &c, &mut part, base).map_err(Some)?;
        }
        column += 1;
        col = p;
        if !end_of_line {
            continue;
        }
        end_of_line = false;
        if column < 6 {
            return Err(Some(format!("Layout line {i}: no enought column")));
        }
        column = 0;
        parts.push(std::mem::replace(&mut part, blank_part()));
        i += 1;
        if parts.len() >= part_list_size && !eof {
            return Err(Some(format!("Layout: no enought memory for {} part", parts.len())));
        }
    }
    if parts.is_empty() {
        return Err(Some("Layout: no partition found".into()));
    }
    Ok(parts)
}

/// One MMC device of the board, as `init_device` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmcGeometry {
    pub dev_id: u8,
    /// User area size in 512-byte blocks (`block_dev->lba`).
    pub lba: u64,
    /// Erase group in blocks (`mmc->erase_grp_size`).
    pub erase_grp: u64,
    /// Boot partition size in bytes (`mmc->capacity_boot`), 0 for an SD card.
    pub capacity_boot: u64,
}

/// A device of the layout (`struct stm32prog_dev_t`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub target: Target,
    pub dev_id: u8,
    pub full_update: bool,
    /// Indexes into the partition array, sorted as `part_cmp` sorts them.
    pub parts: Vec<usize>,
    pub erase_size: u64,
    pub geometry: Option<MmcGeometry>,
}

/// `treat_partition_list`: group partitions by device, reject bad phases and duplicates.
pub fn treat_partition_list(parts: &mut [Part]) -> Result<Vec<Device>, String> {
    let mut devs: Vec<Device> = Vec::new();
    for i in 0..parts.len() {
        parts[i].alt_id = None;
        let part = &parts[i];
        if part.target == Target::None {
            if part.selected() {
                return Err(format!("Layout: selected none phase = 0x{:x} for part {}", part.id, part.name));
            }
            continue;
        }
        if part.id == PHASE_FLASHLAYOUT || part.id > PHASE_LAST_USER {
            return Err(format!("Layout: invalid phase = 0x{:x} for part {}", part.id, part.name));
        }
        if let Some(other) = parts[i + 1..].iter().find(|o| o.id == part.id) {
            return Err(format!("Layout: duplicated phase 0x{:x} for part {} and {}", part.id, part.name, other.name));
        }
        let j = match devs.iter().position(|d| d.target == part.target && d.dev_id == part.dev_id) {
            Some(j) => j,
            None => {
                if devs.len() == 5 {
                    return Err("Layout: too many device".into());
                }
                devs.push(Device { target: part.target, dev_id: part.dev_id, full_update: true, parts: Vec::new(), erase_size: 0, geometry: None });
                devs.len() - 1
            }
        };
        if !part.selected() {
            devs[j].full_update = false;
        }
        devs[j].parts.push(i);
    }
    Ok(devs)
}

/// An existing GPT partition on the device (for a partial update), as `part_get_info` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingPart {
    pub start: u64,
    pub size: u64,
    pub name: String,
}

/// `init_device` for an MMC device (MTD and RAM targets are not on the emulated board: the caller reports
/// them as U-Boot does when the device is missing). `existing(n)` reads GPT partition `n` for partial updates.
pub fn init_mmc_device(parts: &mut [Part], dev: &mut Device, g: MmcGeometry, existing: &dyn Fn(i32) -> Option<ExistingPart>) -> Result<(), String> {
    const GPT_HEADER_SZ: u64 = 34;
    dev.erase_size = g.erase_grp * 512;
    dev.geometry = Some(g);
    let (first_addr, last_addr) = if g.erase_grp > GPT_HEADER_SZ {
        (dev.erase_size, (g.lba - g.erase_grp) * 512)
    } else {
        (GPT_HEADER_SZ * 512, (g.lba - GPT_HEADER_SZ - 1) * 512)
    };
    // part_cmp: by part_id, then by address
    dev.parts.sort_by(|&a, &b| {
        let (pa, pb) = (&parts[a], &parts[b]);
        pa.part_id.cmp(&pb.part_id).then(if pa.addr > pb.addr { std::cmp::Ordering::Greater } else { std::cmp::Ordering::Less })
    });
    let mut part_id = 1;
    let order = dev.parts.clone();
    for (k, &idx) in order.iter().enumerate() {
        let next_addr = order.get(k + 1).map(|&n| (parts[n].addr, parts[n].name.clone(), parts[n].id));
        let part = &mut parts[idx];
        if part.bin_nb > 1 {
            return Err(format!("{} (0x{:x}): multiple binary {} not supported", part.name, part.id, part.bin_nb));
        }
        if part.ptype == PartType::RawImage {
            part.part_id = 0;
            part.addr = 0;
            part.size = g.lba * 512;
            continue;
        }
        if part.part_id < 0 {
            part.size = g.capacity_boot;
        } else {
            part.part_id = part_id;
            part_id += 1;
            match next_addr {
                Some((naddr, nname, nid)) => {
                    if part.addr < naddr {
                        part.size = naddr - part.addr;
                    } else {
                        return Err(format!(
                            "{} (0x{:x}): same address : 0x{:x} == {} (0x{:x}): 0x{:x}",
                            part.name, part.id, part.addr, nname, nid, naddr
                        ));
                    }
                }
                None => {
                    if part.addr <= last_addr {
                        part.size = last_addr - part.addr;
                    } else {
                        return Err(format!("{} (0x{:x}): invalid address 0x{:x} (max=0x{:x})", part.name, part.id, part.addr, last_addr));
                    }
                }
            }
            if part.addr < first_addr {
                return Err(format!("{} (0x{:x}): invalid address 0x{:x} (min=0x{:x})", part.name, part.id, part.addr, first_addr));
            }
        }
        if part.addr & (dev.erase_size - 1) != 0 {
            return Err(format!("{} (0x{:x}): not aligned address : 0x{:x} on erase size 0x{:x}", part.name, part.id, part.addr, dev.erase_size));
        }
        if dev.full_update || part.part_id < 0 {
            continue;
        }
        let Some(e) = existing(part.part_id) else {
            return Err(format!("{} (0x{:x}):Couldn't find part {} on device mmc {}", part.name, part.id, part_id, part.dev_id));
        };
        if part.addr != e.start {
            return Err(format!(
                "{} (0x{:x}): Bad address for partition {} ({}) = 0x{:x} <> 0x{:x} expected",
                part.name, part.id, part.part_id, e.name, part.addr, e.start
            ));
        }
        if part.size != e.size {
            return Err(format!(
                "{} (0x{:x}): Bad size for partition {} ({}) at 0x{:x} = 0x{:x} <> 0x{:x} expected",
                part.name, part.id, part.part_id, e.name, part.addr, part.size, e.size
            ));
        }
    }
    Ok(())
}

/// `stm32prog_next_phase`: the next selected, non-empty partition after `phase`, or `PHASE_END`.
pub fn next_phase(parts: &[Part], phase: u32) -> Option<usize> {
    ((phase + 1)..=PHASE_LAST_USER).find_map(|ph| {
        let idx = parts.iter().position(|p| p.id == ph)?;
        let p = &parts[idx];
        (p.selected() && !p.empty()).then_some(idx)
    })
}

/// The alternates in order (`dfu_init_entities`: by phase id, targets other than none), assigning `alt_id`.
pub fn assign_alternates(parts: &mut [Part]) -> Vec<usize> {
    let mut order = Vec::new();
    for phase in 1..=PHASE_LAST_USER {
        if let Some(i) = parts.iter().position(|p| p.id == phase)
            && parts[i].target != Target::None
        {
            parts[i].alt_id = Some(order.len() as u8);
            order.push(i);
        }
    }
    order
}

/// `stm32prog_alt_add`'s alternate name: `@<name>/0x<id>/1*<size><mult><a|e>`.
pub fn alt_name(p: &Part) -> String {
    const K: u64 = 1024;
    let (size, mult) = if p.size > K * K * K {
        (p.size / (K * K * K), 'G')
    } else if p.size > K * K {
        (p.size / (K * K), 'M')
    } else if p.size > K {
        (p.size / K, 'K')
    } else {
        (p.size, 'B')
    };
    let t = if p.selected() && !p.empty() { 'e' } else { 'a' };
    format!("@{}/0x{:02x}/1*{}{}{}", p.name, p.id, size as u32, mult, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SD: &str = "#Opt\tId\tName\tType\tIP\tOffset\tBinary\n\
-\t0x01\tfsbl1-boot\tBinary\tnone\t0x0\ttf-a.stm32\n\
-\t0x03\tfip-boot\tFIP\tnone\t0x0\tfip.bin\n\
P\t0x04\tfsbl1\tBinary\tmmc0\t0x00004400\ttf-a.stm32\n\
P\t0x05\tfsbl2\tBinary\tmmc0\t0x00044400\ttf-a.stm32\n\
P\t0x06\tfip\tFIP\tmmc0\t0x00084400\tfip.bin\n\
PED\t0x07\tu-boot-env\tENV\tmmc0\t0x00484400\tnone\n\
P\t0x10\trootfs\tSystem\tmmc0\t0x00504400\trootfs.ext4\n";

    fn sd_geometry() -> MmcGeometry {
        MmcGeometry { dev_id: 0, lba: 64 * 2048, erase_grp: 1, capacity_boot: 0 }
    }

    #[test]
    fn parses_st_layout_and_skips_comment_and_binary_column() {
        let parts = parse_flash_layout(SD.as_bytes(), SD.len(), OffsetBase::Decimal).unwrap();
        assert_eq!(parts.len(), 7);
        assert_eq!((parts[2].name.as_str(), parts[2].id, parts[2].addr), ("fsbl1", 4, 0x4400));
        assert_eq!(parts[5].option, OPT_SELECT | OPT_EMPTY | OPT_DELETE);
        assert_eq!(parts[0].target, Target::None);
        assert_eq!(parts[6].ptype, PartType::System);
    }

    #[test]
    fn error_texts_name_the_line() {
        let bad = "P\t0x04\tfsbl1\tBinary\tmmc0\t0x4400\tx\nX\t0x05\tfsbl2\tBinary\tmmc0\t0x44400\tx\n";
        assert_eq!(parse_flash_layout(bad.as_bytes(), bad.len(), OffsetBase::Decimal), Err(Some("Layout line 2: invalid option 'X' in X)".into())));
        let short = "P\t0x04\tfsbl1\tBinary\n";
        assert_eq!(parse_flash_layout(short.as_bytes(), short.len(), OffsetBase::Decimal), Err(Some("Layout line 1: no enought column".into())));
        assert_eq!(parse_flash_layout(b"", 0, OffsetBase::Decimal), Err(None));
    }

    #[test]
    fn offset_base_depends_on_the_generation() {
        let l = "P\t0x04\tfsbl1\tBinary\tmmc0\t017408\tx\n";
        assert_eq!(parse_flash_layout(l.as_bytes(), l.len(), OffsetBase::Decimal).unwrap()[0].addr, 17408);
        // before 2023.07 the leading 0 made it octal, and the 8 an invalid digit
        assert_eq!(parse_flash_layout(l.as_bytes(), l.len(), OffsetBase::Auto), Err(Some("Layout line 1: invalid offset '017408'".into())));
    }

    #[test]
    fn v1_header_is_stripped_and_checksummed_v2_is_not() {
        let wrapped = image::wrap(SD.as_bytes(), 0x0001_0000);
        assert_eq!(parse_flash_layout(&wrapped, 0, OffsetBase::Decimal).unwrap().len(), 7);
        let mut bad = wrapped.clone();
        bad[300] ^= 1;
        assert!(parse_flash_layout(&bad, 0, OffsetBase::Decimal).unwrap_err().unwrap().starts_with("Layout: invalid checksum"));
        let v2 = image::wrap(SD.as_bytes(), 0x0002_0000);
        assert_eq!(parse_flash_layout(&v2, v2.len(), OffsetBase::Decimal), Err(Some("Layout line 1: invalid option 'S' in STM2)".into())));
    }

    #[test]
    fn geometry_sizes_alternates_and_phase_order() {
        let mut parts = parse_flash_layout(SD.as_bytes(), SD.len(), OffsetBase::Decimal).unwrap();
        let mut devs = treat_partition_list(&mut parts).unwrap();
        assert_eq!(devs.len(), 1);
        assert!(devs[0].full_update);
        init_mmc_device(&mut parts, &mut devs[0], sd_geometry(), &|_| None).unwrap();
        assert_eq!(parts[2].size, 0x40000);
        assert_eq!((parts[2].part_id, parts[6].part_id), (1, 5));
        assert_eq!(parts[6].size, (64 * 2048 - 35) * 512 - 0x504400);
        let order = assign_alternates(&mut parts);
        assert_eq!(order, vec![2, 3, 4, 5, 6]);
        assert_eq!(alt_name(&parts[2]), "@fsbl1/0x04/1*256Ke");
        assert_eq!(alt_name(&parts[5]), "@u-boot-env/0x07/1*512Ka");
        assert_eq!(alt_name(&parts[6]), "@rootfs/0x10/1*58Me");
        assert_eq!(next_phase(&parts, 0), Some(2));
        assert_eq!(next_phase(&parts, 6), Some(6));
        assert_eq!(next_phase(&parts, 0x10), None);
    }

    #[test]
    fn misaligned_and_selected_none_are_refused() {
        let l = "P\t0x01\tfsbl-boot\tBinary\tnone\t0x0\tx\n";
        let mut parts = parse_flash_layout(l.as_bytes(), l.len(), OffsetBase::Decimal).unwrap();
        assert_eq!(treat_partition_list(&mut parts), Err("Layout: selected none phase = 0x1 for part fsbl-boot".into()));
        let l = "P\t0x04\tfsbl1\tBinary\tmmc1\t0x4400\tx\n";
        let mut parts = parse_flash_layout(l.as_bytes(), l.len(), OffsetBase::Decimal).unwrap();
        let mut devs = treat_partition_list(&mut parts).unwrap();
        let g = MmcGeometry { dev_id: 1, lba: 1 << 20, erase_grp: 1024, capacity_boot: 4 << 20 };
        assert_eq!(init_mmc_device(&mut parts, &mut devs[0], g, &|_| None), Err("fsbl1 (0x4): invalid address 0x4400 (min=0x80000)".into()));
    }
}
