//! Reading a GPT back: protective/hybrid MBR, both headers, both entry arrays, with every inconsistency reported.

use super::{ENTRIES_BYTES, ENTRY_SIZE, HEADER_SIZE, NAME_UNITS, REVISION, SECTOR_BYTES, SIGNATURE};
use crate::{
    diag::Problem,
    geometry::{DiskGeometry, GPT_ENTRIES, PRIMARY_ENTRIES_LBA, PRIMARY_HEADER_LBA, TABLE_SECTORS},
    guid::Guid,
    units::{ByteSize, Lba, SECTOR},
};

/// What LBA 0 holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MbrKind {
    /// One `0xEE` entry: what TF-A and U-Boot expect.
    Protective,
    /// `0xEE` plus real MBR entries.
    Hybrid,
    /// No `0xEE` entry (an MBR-only disk, or nothing).
    None,
}

/// One used entry. Its LBAs are as the file says: nothing about them is trusted (they may lie past 2^64 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedEntry {
    /// 1-based slot number (the partition number).
    pub number: u32,
    /// Type GUID.
    pub type_guid: Guid,
    /// Unique GUID.
    pub unique_guid: Guid,
    /// First sector.
    pub first_lba: Lba,
    /// Last sector.
    pub last_lba: Lba,
    /// Attribute bits.
    pub attributes: u64,
    /// Name.
    pub name: String,
}

impl DecodedEntry {
    /// Sectors covered (0 when the entry ends before it starts).
    #[must_use]
    pub fn sectors(&self) -> u64 {
        if self.last_lba >= self.first_lba { (self.last_lba.get() - self.first_lba.get()).saturating_add(1) } else { 0 }
    }
}

/// Everything read back.
#[derive(Debug, Clone, Default)]
pub struct DecodedGpt {
    /// LBA 0.
    pub mbr: Option<MbrKind>,
    /// Disk GUID from the primary header.
    pub disk_guid: Option<Guid>,
    /// First usable LBA.
    pub first_usable: Option<Lba>,
    /// Last usable LBA.
    pub last_usable: Option<Lba>,
    /// Used entries in slot order.
    pub entries: Vec<DecodedEntry>,
    /// Everything inconsistent.
    pub problems: Vec<Problem>,
}

// The readers below are only called on whole sectors (512 bytes) and whole entries (128 bytes), which `decode`
// cuts after checking the lengths it was given; out of range they read zeros rather than panic.

fn field<const N: usize>(b: &[u8], o: usize) -> [u8; N] {
    let mut w = [0u8; N];
    if let Some(src) = b.get(o..o.saturating_add(N)) {
        w.copy_from_slice(src);
    }
    w
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(field(b, o))
}

fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(field(b, o))
}

fn guid_at(b: &[u8], o: usize) -> Guid {
    Guid::from_gpt_bytes(field(b, o))
}

fn lba_at(b: &[u8], o: usize) -> Lba {
    Lba::new(le64(b, o))
}

struct Header {
    current: Lba,
    backup: Lba,
    first_usable: Lba,
    last_usable: Lba,
    disk_guid: Guid,
    entries_lba: Lba,
    entries_crc: u32,
}

/// What a header sector holds.
enum HeaderRead {
    /// A header whose signature, size and CRC are right.
    Valid(Header),
    /// Damaged: why (a bad signature, size or CRC).
    Damaged(String),
    /// Intact but of a shape this tool does not read (another entry count or size); already reported.
    Unsupported,
}

/// Check one header; `what` is "primary" or "backup".
fn read_header(sector: &[u8], header_at: u64, what: &str, problems: &mut Vec<Problem>) -> HeaderRead {
    if &sector[0..8] != SIGNATURE {
        return HeaderRead::Damaged(format!("signature is {:?}, expected \"EFI PART\"", String::from_utf8_lossy(&sector[0..8])));
    }
    let size = le32(sector, 12);
    if size != HEADER_SIZE {
        return HeaderRead::Damaged(format!("header size {size}, expected {HEADER_SIZE}"));
    }
    let mut copy = sector[..HEADER_SIZE as usize].to_vec();
    copy[16..20].fill(0);
    let stored = le32(sector, 16);
    let computed = crc32fast::hash(&copy);
    if stored != computed {
        return HeaderRead::Damaged(format!("header CRC32 {stored:#010x}, computed {computed:#010x}"));
    }
    let err = |m: String| Problem::error("gpt::bad_header", format!("{what} GPT header (at {header_at:#x}): {m}"));
    let revision = le32(sector, 8);
    if revision != REVISION {
        problems.push(err(format!("revision {revision:#010x}, expected {REVISION:#010x}")));
    }
    let count = le32(sector, 80);
    let entry_size = le32(sector, 84);
    if count != GPT_ENTRIES || entry_size != ENTRY_SIZE {
        problems.push(err(format!("{count} entries of {entry_size} bytes; this tool reads {GPT_ENTRIES} entries of {ENTRY_SIZE} bytes")));
        return HeaderRead::Unsupported;
    }
    HeaderRead::Valid(Header {
        current: lba_at(sector, 24),
        backup: lba_at(sector, 32),
        first_usable: lba_at(sector, 40),
        last_usable: lba_at(sector, 48),
        disk_guid: guid_at(sector, 56),
        entries_lba: lba_at(sector, 72),
        entries_crc: le32(sector, 88),
    })
}

/// One copy of the table, checked: its header and entry array, or why it is damaged and the byte offset of the
/// damaged part (the header or the array).
enum Copy<'a> {
    Valid(Header, &'a [u8]),
    Damaged(String, u64),
    Unreadable,
}

/// Check one copy: the header in `sector` (at byte `header_at` of the disk) and its entry array, `array`: the
/// [`ENTRIES_BYTES`] at the header's `partition_entry_lba`, `None` when they could not be read.
fn read_copy<'a>(sector: &[u8], header_at: u64, array: Option<&'a [u8]>, what: &str, problems: &mut Vec<Problem>) -> Copy<'a> {
    match read_header(sector, header_at, what, problems) {
        HeaderRead::Damaged(why) => Copy::Damaged(why, header_at),
        HeaderRead::Unsupported => Copy::Unreadable,
        HeaderRead::Valid(h) => {
            let Some(array) = array.filter(|a| a.len() >= ENTRIES_BYTES).map(|a| &a[..ENTRIES_BYTES]) else {
                return Copy::Damaged(format!("entry array at LBA {} is not inside the disk", h.entries_lba.get()), header_at);
            };
            let crc = crc32fast::hash(array);
            if crc == h.entries_crc {
                Copy::Valid(h, array)
            } else {
                Copy::Damaged(format!("entry array CRC32 {crc:#010x}, header says {:#010x}", h.entries_crc), h.entries_lba.offset().get())
            }
        }
    }
}

fn read_mbr(mbr: &[u8], problems: &mut Vec<Problem>) -> MbrKind {
    if mbr[510] != 0x55 || mbr[511] != 0xAA {
        problems.push(Problem::error("gpt::no_mbr", "LBA 0 has no 0x55AA boot signature").with_help("write a protective MBR"));
        return MbrKind::None;
    }
    let types: Vec<u8> = (0..4).map(|i| mbr[446 + 16 * i + 4]).collect();
    let ee = types.iter().filter(|&&t| t == 0xEE).count();
    let others = types.iter().filter(|&&t| t != 0 && t != 0xEE).count();
    match (ee, others) {
        (1, 0) => MbrKind::Protective,
        (0, _) => {
            problems.push(Problem::error("gpt::no_protective_mbr", "the MBR has no 0xEE (GPT protective) entry"));
            MbrKind::None
        }
        _ => {
            problems.push(Problem::error("gpt::hybrid_mbr", format!("hybrid MBR: {others} MBR partition entries besides the 0xEE entry")).with_help(
                "a hybrid MBR stopped TF-A/U-Boot from finding `ssbl` in the field (Buildroot commit 4d15114713); write a protective MBR",
            ));
            MbrKind::Hybrid
        }
    }
}

fn read_entries(array: &[u8]) -> Vec<DecodedEntry> {
    let mut out = Vec::new();
    for slot in 0..(ENTRIES_BYTES / ENTRY_SIZE as usize) {
        let b = &array[slot * ENTRY_SIZE as usize..(slot + 1) * ENTRY_SIZE as usize];
        let type_guid = guid_at(b, 0);
        if type_guid.is_nil() {
            continue;
        }
        let units: Vec<u16> = (0..NAME_UNITS).map(|i| u16::from_le_bytes([b[56 + 2 * i], b[57 + 2 * i]])).take_while(|&u| u != 0).collect();
        out.push(DecodedEntry {
            number: u32::try_from(slot + 1).unwrap_or(0),
            type_guid,
            unique_guid: guid_at(b, 16),
            first_lba: lba_at(b, 32),
            last_lba: lba_at(b, 40),
            attributes: le64(b, 48),
            name: String::from_utf16_lossy(&units),
        });
    }
    out
}

/// Bytes of the start of a disk [`decode`] reads: the protective MBR and the primary table (34 sectors).
pub const HEAD_BYTES: ByteSize = ByteSize::sectors(1 + TABLE_SECTORS);
/// Bytes of the end of a disk [`decode`] reads: the backup table (33 sectors).
pub const TAIL_BYTES: ByteSize = ByteSize::sectors(TABLE_SECTORS);

/// Where each header (the primary at LBA 1 in `head`, the backup in the last sector of `tail`) says its entry array
/// is: its `partition_entry_lba`, when the sector starts with the signature. The caller reads [`ENTRIES_BYTES`] there
/// and passes them to [`decode_with_arrays`].
#[must_use]
pub fn entries_lbas(head: &[u8], tail: &[u8]) -> [Option<Lba>; 2] {
    let at = |sector: Option<&[u8]>| sector.filter(|s| s.len() >= SECTOR_BYTES && &s[..8] == SIGNATURE).map(|s| lba_at(s, 72));
    [at(head.get(SECTOR_BYTES..2 * SECTOR_BYTES)), at(tail.len().checked_sub(SECTOR_BYTES).and_then(|o| tail.get(o..)))]
}

/// The entry arrays as read from where the headers put them ([`entries_lbas`]); `None` when not inside the disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct Arrays<'a> {
    /// The primary header's array.
    pub primary: Option<&'a [u8]>,
    /// The backup header's array.
    pub backup: Option<&'a [u8]>,
}

/// Decode a GPT disk from its first [`HEAD_BYTES`] (`head`) and last [`TAIL_BYTES`] (`tail`) and its length, with the
/// entry arrays where a table this tool writes puts them (LBA 2, and the 32 sectors before the backup header); an
/// array elsewhere counts as unreadable. [`decode_with_arrays`] reads any table.
#[must_use]
pub fn decode(head: &[u8], tail: &[u8], disk_len: ByteSize) -> DecodedGpt {
    let geometry = DiskGeometry::for_size(disk_len);
    let [p, b] = entries_lbas(head, tail);
    let entries_at = usize::try_from(PRIMARY_ENTRIES_LBA.offset().get()).unwrap_or(usize::MAX);
    let arrays = Arrays {
        primary: head.get(entries_at..entries_at.saturating_add(ENTRIES_BYTES)).filter(|_| p == Some(PRIMARY_ENTRIES_LBA)),
        backup: tail.get(..ENTRIES_BYTES).filter(|_| geometry.is_valid() && b == Some(geometry.backup_entries_lba())),
    };
    decode_with_arrays(head, tail, arrays, disk_len)
}

/// Decode a GPT disk from its first [`HEAD_BYTES`] (`head`), last [`TAIL_BYTES`] (`tail`), the entry arrays read
/// where the headers put them, and its length.
#[must_use]
pub fn decode_with_arrays(head: &[u8], tail: &[u8], arrays: Arrays<'_>, disk_len: ByteSize) -> DecodedGpt {
    let mut out = DecodedGpt::default();
    let geometry = DiskGeometry::for_size(disk_len);
    // Every slice taken below (MBR, headers, entry arrays) lies inside `head` or `tail` once this holds.
    if (head.len() as u64) < HEAD_BYTES.get() || (tail.len() as u64) < TAIL_BYTES.get() || !geometry.is_valid() {
        out.problems.push(Problem::error("gpt::too_small", format!("{} bytes is too small to hold a GPT with a backup", disk_len.get())));
        return out;
    }
    if !disk_len.is_aligned(SECTOR) {
        out.problems
            .push(Problem::warning("gpt::partial_sector", format!("the image is {} bytes, not a whole number of 512-byte sectors", disk_len.get())));
    }
    let last = geometry.last_lba();
    out.mbr = Some(read_mbr(&head[..SECTOR_BYTES], &mut out.problems));
    let sector = SECTOR_BYTES;
    let primary = read_copy(&head[sector..2 * sector], PRIMARY_HEADER_LBA.offset().get(), arrays.primary, "primary", &mut out.problems);
    let backup_at = last.offset().get();
    let backup = read_copy(&tail[tail.len() - sector..], backup_at, arrays.backup, "backup", &mut out.problems);
    let (shown, array) = match (primary, backup) {
        (Copy::Valid(p, parray), backup) => {
            if p.current != PRIMARY_HEADER_LBA || p.backup != last {
                out.problems.push(Problem::error(
                    "gpt::bad_header",
                    format!(
                        "primary GPT header (at 0x200): current LBA {} / backup LBA {}, expected 1 / {} (was the image truncated or grown?)",
                        p.current.get(),
                        p.backup.get(),
                        last.get()
                    ),
                ));
            }
            match backup {
                Copy::Valid(b, barray) => {
                    if b.current != last || b.backup != PRIMARY_HEADER_LBA {
                        out.problems.push(Problem::error(
                            "gpt::bad_backup",
                            format!(
                                "backup GPT header (at {backup_at:#x}): current {} / backup {}, expected {} / 1",
                                b.current.get(),
                                b.backup.get(),
                                last.get(),
                            ),
                        ));
                    }
                    if b.disk_guid != p.disk_guid
                        || b.first_usable != p.first_usable
                        || b.last_usable != p.last_usable
                        || b.entries_crc != p.entries_crc
                    {
                        out.problems.push(Problem::error(
                            "gpt::bad_backup",
                            format!("backup GPT header (at {backup_at:#x}) disagrees with the primary (disk GUID, usable range or entry CRC)"),
                        ));
                    } else if barray != parray {
                        out.problems.push(Problem::error(
                            "gpt::bad_backup",
                            format!(
                                "backup entry array (at {:#x}) differs from the primary (at {:#x})",
                                b.entries_lba.offset().get(),
                                p.entries_lba.offset().get()
                            ),
                        ));
                    }
                }
                Copy::Damaged(why, at) => out.problems.push(
                    Problem::error("gpt::bad_backup", format!("no valid backup GPT at the last LBA ({}): {why}, at {at:#x}", last.get()))
                        .with_help("rewrite the backup GPT, e.g. `sgdisk -e`"),
                ),
                Copy::Unreadable => {}
            }
            (p, parray)
        }
        (Copy::Damaged(why, at), Copy::Valid(b, barray)) => {
            out.problems.push(
                Problem::error("gpt::primary_damaged", format!("primary GPT damaged ({why}, at {at:#x}); showing the backup at LBA {}", last.get()))
                    .with_help("U-Boot and TF-A boot from the backup; rewrite the primary from it, e.g. `sgdisk -e` or gdisk's recovery menu"),
            );
            (b, barray)
        }
        (Copy::Damaged(why, at), other) => {
            let code = if at == PRIMARY_HEADER_LBA.offset().get() { "gpt::bad_header" } else { "gpt::bad_entries" };
            out.problems.push(Problem::error(code, format!("primary GPT damaged: {why}, at {at:#x}")));
            if let Copy::Damaged(bwhy, bat) = other {
                out.problems
                    .push(Problem::error("gpt::bad_backup", format!("no valid backup GPT at the last LBA ({}): {bwhy}, at {bat:#x}", last.get())));
            }
            return out;
        }
        (Copy::Unreadable, _) => return out,
    };
    out.disk_guid = Some(shown.disk_guid);
    out.first_usable = Some(shown.first_usable);
    out.last_usable = Some(shown.last_usable);
    out.entries = read_entries(array);
    let primary = shown;

    // The byte where an entry of the array shown lies.
    let array_at = primary.entries_lba.offset().get();
    let entry_at = |e: &DecodedEntry| array_at.saturating_add(u64::from(e.number.saturating_sub(1)) * u64::from(ENTRY_SIZE));
    let mut sorted: Vec<&DecodedEntry> = out.entries.iter().collect();
    sorted.sort_by_key(|e| e.first_lba);
    for e in &sorted {
        if e.first_lba > e.last_lba || e.first_lba < primary.first_usable || e.last_lba > primary.last_usable {
            out.problems.push(Problem::error(
                "gpt::entry_range",
                format!(
                    "partition {} `{}` (entry at {:#x}) spans LBA {}..{}, outside the usable range {}..{}",
                    e.number,
                    e.name,
                    entry_at(e),
                    e.first_lba.get(),
                    e.last_lba.get(),
                    primary.first_usable.get(),
                    primary.last_usable.get()
                ),
            ));
        }
    }
    for pair in sorted.windows(2) {
        if pair[1].first_lba <= pair[0].last_lba {
            out.problems.push(Problem::error(
                "gpt::overlap",
                format!(
                    "partition {} `{}` (entry at {:#x}, LBA {}..{}) overlaps partition {} `{}` (LBA {}..{})",
                    pair[1].number,
                    pair[1].name,
                    entry_at(pair[1]),
                    pair[1].first_lba.get(),
                    pair[1].last_lba.get(),
                    pair[0].number,
                    pair[0].name,
                    pair[0].first_lba.get(),
                    pair[0].last_lba.get()
                ),
            ));
        }
    }
    out
}
