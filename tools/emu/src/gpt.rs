//! The GPT that U-Boot's `gpt write mmc N "name=..,start=..,size=..,type=..;..."` writes, as stm32prog's
//! `create_gpt_partitions` asks for it; and reading a GPT entry back (`part_get_info`) for partial updates.
//!
//! Sources: U-Boot `arch/arm/mach-stm32mp/cmd_stm32prog/stm32prog.c` (`create_gpt_partitions`: type per
//! partition type, `bootable` for System, fixed UUIDs for rootfs/rootfs-a per mmc and fip-a/fip-b),
//! `disk/part_efi.c` (`set_protective_mbr`, `gpt_fill_header`, `gpt_fill_pte`, `write_gpt_table`,
//! `prepare_backup_gpt_header`: 128 entries of 128 bytes at LBA 2, first usable LBA 34, last usable lba-34,
//! backup entries at lba-33 and header at lba-1), `lib/uuid.c` (partition type names). U-Boot generates random
//! unique GUIDs (and disk GUID) where none is given; the emulator derives them from the serial and the name
//! so two runs give the same bytes.

pub const BLOCK: u64 = 512;

/// CRC-32 (IEEE 802.3, reflected), as the GPT uses.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A GUID string to its on-disk bytes (first three fields little-endian).
pub fn guid_bytes(s: &str) -> [u8; 16] {
    let hex: Vec<u8> = s
        .bytes()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap_or("0"), 16).unwrap_or(0))
        .collect();
    let mut b = [0u8; 16];
    if hex.len() == 16 {
        b.copy_from_slice(&hex);
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
    }
    b
}

/// A deterministic version-4-shaped GUID from a seed (FNV-1a, twice).
pub fn derived_guid(seed: &str) -> [u8; 16] {
    let fnv = |salt: u64| {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ salt;
        for b in seed.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    };
    let mut g = [0u8; 16];
    g[..8].copy_from_slice(&fnv(1).to_le_bytes());
    g[8..].copy_from_slice(&fnv(2).to_le_bytes());
    g[7] = (g[7] & 0x0f) | 0x40;
    g[8] = (g[8] & 0x3f) | 0x80;
    g
}

/// One `name=..,start=..,size=..,type=..[,bootable][,uuid=..]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub start: u64,
    pub size: u64,
    pub type_guid: [u8; 16],
    pub unique_guid: [u8; 16],
    pub bootable: bool,
}

pub const LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
pub const ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const UBOOT_ENV: &str = "3DE21764-95BD-54BD-A5C3-4ABE786F38A8";

/// The whole-disk writes for `gpt write`: (byte offset, bytes) in order: protective MBR, primary header,
/// primary entries, backup entries, backup header. `boot_code` keeps the first 440 bytes of LBA 0.
pub fn write_plan(lba: u64, entries: &[Entry], disk_guid: [u8; 16], boot_code: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut mbr = vec![0u8; 512];
    let keep = boot_code.len().min(440);
    mbr[..keep].copy_from_slice(&boot_code[..keep]);
    let rec = 446;
    mbr[rec + 4] = 0xee;
    mbr[rec + 8..rec + 12].copy_from_slice(&1u32.to_le_bytes());
    mbr[rec + 12..rec + 16].copy_from_slice(&((lba - 1).min(u32::MAX as u64) as u32).to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xaa;

    let mut table = vec![0u8; 128 * 128];
    for (i, e) in entries.iter().enumerate().take(128) {
        let t = &mut table[i * 128..(i + 1) * 128];
        t[0..16].copy_from_slice(&e.type_guid);
        t[16..32].copy_from_slice(&e.unique_guid);
        t[32..40].copy_from_slice(&(e.start / BLOCK).to_le_bytes());
        t[40..48].copy_from_slice(&((e.start + e.size) / BLOCK - 1).to_le_bytes());
        let attrs: u64 = if e.bootable { 1 << 2 } else { 0 };
        t[48..56].copy_from_slice(&attrs.to_le_bytes());
        for (k, u) in e.name.encode_utf16().take(36).enumerate() {
            t[56 + 2 * k..58 + 2 * k].copy_from_slice(&u.to_le_bytes());
        }
    }
    let table_crc = crc32(&table);
    let header = |my: u64, alt: u64, entries_lba: u64| {
        let mut h = vec![0u8; 512];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&my.to_le_bytes());
        h[32..40].copy_from_slice(&alt.to_le_bytes());
        h[40..48].copy_from_slice(&34u64.to_le_bytes());
        h[48..56].copy_from_slice(&(lba - 34).to_le_bytes());
        h[56..72].copy_from_slice(&disk_guid);
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&table_crc.to_le_bytes());
        let c = crc32(&h[..92]);
        h[16..20].copy_from_slice(&c.to_le_bytes());
        h
    };
    vec![
        (0, mbr),
        (BLOCK, header(1, lba - 1, 2)),
        (2 * BLOCK, table.clone()),
        ((lba - 33) * BLOCK, table),
        ((lba - 1) * BLOCK, header(lba - 1, 1, lba - 33)),
    ]
}

/// `part_get_info` for GPT partition `n` (1-based) from the primary header and entries (bytes from LBA 0).
pub fn read_entry(disk_head: &[u8], n: u32) -> Option<(u64, u64, String)> {
    let h = disk_head.get(512..1024)?;
    if &h[0..8] != b"EFI PART" {
        return None;
    }
    let u64at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
    let entries_lba = u64at(h, 72);
    let count = u32::from_le_bytes(h[80..84].try_into().ok()?);
    if n == 0 || n > count {
        return None;
    }
    let at = (entries_lba * BLOCK) as usize + (n as usize - 1) * 128;
    let e = disk_head.get(at..at + 128)?;
    if e[0..16].iter().all(|&b| b == 0) {
        return None;
    }
    let first = u64at(e, 32);
    let last = u64at(e, 40);
    let units: Vec<u16> = e[56..128].chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0).collect();
    Some((first * BLOCK, (last + 1 - first) * BLOCK, String::from_utf16_lossy(&units)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_and_guid_encoding() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        let g = guid_bytes("E91C4E10-16E6-4C0E-BD0E-77BECF4A3582");
        assert_eq!(&g[..4], &[0x10, 0x4e, 0x1c, 0xe9]);
        assert_eq!(&g[8..10], &[0xbd, 0x0e]);
        assert_ne!(derived_guid("a"), derived_guid("b"));
        assert_eq!(derived_guid("a")[7] >> 4, 4);
    }

    #[test]
    fn plan_round_trips_through_read_entry() {
        let lba = 65536;
        let e = Entry {
            name: "rootfs".into(),
            start: 0x4400,
            size: 0x100000,
            type_guid: guid_bytes(LINUX),
            unique_guid: derived_guid("x"),
            bootable: true,
        };
        let plan = write_plan(lba, &[e], derived_guid("disk"), &[]);
        let mut head = vec![0u8; 34 * 512];
        for (off, bytes) in &plan {
            if *off < head.len() as u64 {
                head[*off as usize..*off as usize + bytes.len()].copy_from_slice(bytes);
            }
        }
        assert_eq!(read_entry(&head, 1), Some((0x4400, 0x100000, "rootfs".into())));
        assert_eq!(read_entry(&head, 2), None);
        assert_eq!(plan[4].0, (lba - 1) * 512);
        assert_eq!(&head[510..512], &[0x55, 0xaa]);
    }
}
