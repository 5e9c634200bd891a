//! GPT: encoding the protective MBR, the primary and backup headers and the 128-entry array from a plan, and
//! decoding them back for `inspect`.
//!
//! Pure: bytes in, bytes out. Hand-written (with `crc32fast`) rather than the `gpt` crate because that crate renumbers
//! entry slots, cannot set the first usable LBA, writes a different protective-MBR CHS than genimage and validates
//! nothing (`reference/gpt-crate.md`); here every byte is chosen, and the genimage golden test checks it.

mod decode;

pub use decode::{DecodedEntry, DecodedGpt, MbrKind, decode};

use crate::{
    guid::Guid,
    plan::{GPT_ENTRIES, GPT_SECTORS, Plan},
    units::{Lba, Offset, SECTOR},
};

/// GPT header signature.
pub const SIGNATURE: &[u8; 8] = b"EFI PART";
/// Revision 1.0.
pub const REVISION: u32 = 0x0001_0000;
/// Size of the header proper.
pub const HEADER_SIZE: u32 = 92;
/// Size of one partition entry.
pub const ENTRY_SIZE: u32 = 128;
/// Bytes of the entry array.
pub const ENTRIES_BYTES: usize = (GPT_ENTRIES * ENTRY_SIZE) as usize;
/// UTF-16 code units in an entry name.
pub const NAME_UNITS: usize = 36;

/// One entry to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Type GUID.
    pub type_guid: Guid,
    /// Unique GUID.
    pub unique_guid: Guid,
    /// First sector.
    pub first_lba: Lba,
    /// Last sector (inclusive).
    pub last_lba: Lba,
    /// Attribute bits.
    pub attributes: u64,
    /// Name (at most 36 UTF-16 code units are stored).
    pub name: String,
}

/// What to encode: the disk geometry and the entries in slot order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Sectors in the image.
    pub total_lba: u64,
    /// Disk GUID.
    pub disk_guid: Guid,
    /// First usable LBA.
    pub first_usable: Lba,
    /// Last usable LBA.
    pub last_usable: Lba,
    /// Entries, slot 0 first.
    pub entries: Vec<Entry>,
}

impl Table {
    /// The table a plan describes.
    #[must_use]
    pub fn from_plan(plan: &Plan) -> Table {
        Table {
            total_lba: plan.disk.total_lba(),
            disk_guid: plan.disk.disk_guid,
            first_usable: plan.disk.first_usable,
            last_usable: plan.disk.last_usable,
            entries: plan
                .partitions
                .iter()
                .map(|p| Entry {
                    type_guid: p.type_guid,
                    unique_guid: p.unique_guid,
                    first_lba: p.first_lba(),
                    last_lba: p.last_lba(),
                    attributes: p.attributes(),
                    name: p.name.clone(),
                })
                .collect(),
        }
    }
}

/// The encoded partition table: five blobs and where they go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// LBA 0: protective MBR.
    pub mbr: Vec<u8>,
    /// LBA 1: primary header (one sector, zero-padded after 92 bytes).
    pub primary_header: Vec<u8>,
    /// LBA 2–33 and LBA last−32…last−1: the entry array (both copies are identical).
    pub entries: Vec<u8>,
    /// Last LBA: backup header.
    pub backup_header: Vec<u8>,
    /// Sectors in the image.
    pub total_lba: u64,
}

impl Encoded {
    /// Every blob with its byte offset, in increasing offset order.
    #[must_use]
    pub fn placed(&self) -> Vec<(Offset, &[u8])> {
        let last = self.total_lba - 1;
        vec![
            (Offset(0), self.mbr.as_slice()),
            (Offset(SECTOR), self.primary_header.as_slice()),
            (Offset(2 * SECTOR), self.entries.as_slice()),
            (Offset((last - (GPT_SECTORS - 1)) * SECTOR), self.entries.as_slice()),
            (Offset(last * SECTOR), self.backup_header.as_slice()),
        ]
    }
}

/// CHS address of an LBA with 255 heads and 63 sectors per track, the way genimage computes it (no clamping).
fn chs(lba: u64) -> [u8; 3] {
    let lba = u32::try_from(lba).unwrap_or(u32::MAX);
    let (hpc, spt) = (255u32, 63u32);
    let head = (lba / spt) % hpc;
    let cyl = lba / (spt * hpc);
    let sector = if lba > 0 { lba % spt + 1 } else { 0 };
    [u8::try_from(head).unwrap_or(0), u8::try_from(((cyl & 0x300) >> 2) | (sector & 0xff)).unwrap_or(0), u8::try_from(cyl & 0xff).unwrap_or(0)]
}

/// The protective MBR: one `0xEE` entry from LBA 1 over the whole disk (clamped to 32 bits), boot code zero.
#[must_use]
pub fn protective_mbr(total_lba: u64) -> Vec<u8> {
    let mut mbr = vec![0u8; SECTOR as usize];
    let sectors = u32::try_from(total_lba.saturating_sub(1)).unwrap_or(u32::MAX);
    let e = &mut mbr[446..462];
    e[0] = 0x00;
    e[1..4].copy_from_slice(&chs(1));
    e[4] = 0xEE;
    e[5..8].copy_from_slice(&chs(u64::from(sectors)));
    e[8..12].copy_from_slice(&1u32.to_le_bytes());
    e[12..16].copy_from_slice(&sectors.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    mbr
}

fn encode_entries(entries: &[Entry]) -> Vec<u8> {
    let mut out = vec![0u8; ENTRIES_BYTES];
    for (slot, e) in entries.iter().take(GPT_ENTRIES as usize).enumerate() {
        let b = &mut out[slot * ENTRY_SIZE as usize..(slot + 1) * ENTRY_SIZE as usize];
        b[0..16].copy_from_slice(&e.type_guid.to_gpt_bytes());
        b[16..32].copy_from_slice(&e.unique_guid.to_gpt_bytes());
        b[32..40].copy_from_slice(&e.first_lba.0.to_le_bytes());
        b[40..48].copy_from_slice(&e.last_lba.0.to_le_bytes());
        b[48..56].copy_from_slice(&e.attributes.to_le_bytes());
        for (i, unit) in e.name.encode_utf16().take(NAME_UNITS).enumerate() {
            b[56 + 2 * i..58 + 2 * i].copy_from_slice(&unit.to_le_bytes());
        }
    }
    out
}

fn encode_header(table: &Table, current: u64, backup: u64, entries_lba: u64, entries_crc: u32) -> Vec<u8> {
    let mut h = vec![0u8; SECTOR as usize];
    h[0..8].copy_from_slice(SIGNATURE);
    h[8..12].copy_from_slice(&REVISION.to_le_bytes());
    h[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
    h[24..32].copy_from_slice(&current.to_le_bytes());
    h[32..40].copy_from_slice(&backup.to_le_bytes());
    h[40..48].copy_from_slice(&table.first_usable.0.to_le_bytes());
    h[48..56].copy_from_slice(&table.last_usable.0.to_le_bytes());
    h[56..72].copy_from_slice(&table.disk_guid.to_gpt_bytes());
    h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
    h[80..84].copy_from_slice(&GPT_ENTRIES.to_le_bytes());
    h[84..88].copy_from_slice(&ENTRY_SIZE.to_le_bytes());
    h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
    let crc = crc32fast::hash(&h[..HEADER_SIZE as usize]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Encode a table. The caller (the planner) guarantees the geometry is valid: `total_lba` ≥ 67 and entries inside
/// the usable range; nothing here panics on other values, but the result would not be a valid GPT.
#[must_use]
pub fn encode(table: &Table) -> Encoded {
    let total = table.total_lba.max(2 * GPT_SECTORS + 1);
    let last = total - 1;
    let entries = encode_entries(&table.entries);
    let entries_crc = crc32fast::hash(&entries);
    Encoded {
        mbr: protective_mbr(total),
        primary_header: encode_header(table, 1, last, 2, entries_crc),
        backup_header: encode_header(table, last, 1, last - (GPT_SECTORS - 1), entries_crc),
        entries,
        total_lba: total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protective_mbr_matches_genimage_bytes() {
        // genimage 16 on the DK2 layout (526752 sectors): `00 00 02 00 ee c9 09 20 01 00 00 00 9f 09 08 00`.
        let mbr = protective_mbr(526_752);
        assert_eq!(hex::encode(&mbr[446..462]), "00000200eec9092001000000 9f090800".replace(' ', ""));
        assert_eq!(&mbr[510..], &[0x55, 0xAA]);
        // The gpt-crate probe's 1052739-sector image: genimage wrote end CHS `87 09 41`.
        assert_eq!(&protective_mbr(1_052_739)[451..454], &[0x87, 0x09, 0x41]);
    }

    #[test]
    fn header_crc_and_round_trip() {
        let table = Table {
            total_lba: 4096,
            disk_guid: Guid::derive(&["t", "disk"]),
            first_usable: Lba(34),
            last_usable: Lba(4096 - 34),
            entries: vec![Entry {
                type_guid: crate::guid::LINUX_FS,
                unique_guid: Guid::derive(&["t", "p"]),
                first_lba: Lba(34),
                last_lba: Lba(2047),
                attributes: 4,
                name: "rootfs".into(),
            }],
        };
        let enc = encode(&table);
        let mut disk = vec![0u8; 4096 * 512];
        for (off, blob) in enc.placed() {
            disk[off.0 as usize..off.0 as usize + blob.len()].copy_from_slice(blob);
        }
        let dec = decode(&disk[..34 * 512], &disk[disk.len() - 33 * 512..], disk.len() as u64);
        assert!(dec.problems.is_empty(), "{:?}", dec.problems);
        assert_eq!(dec.entries.len(), 1);
        assert_eq!(dec.entries[0].name, "rootfs");
        assert_eq!(dec.disk_guid, Some(table.disk_guid));
        assert_eq!(dec.mbr, Some(MbrKind::Protective));
    }
}
