//! GPT: encoding the protective MBR, the primary and backup headers and the 128-entry array from a [`Table`], and
//! decoding them back for `inspect`.
//!
//! Pure: bytes in, bytes out. Where each structure lies is [`crate::geometry`]'s business; this module only knows the
//! byte format. It does not know the planner: the table a plan describes is made by [`crate::job`]. Hand-written (with `crc32fast`) rather than the `gpt` crate because that crate renumbers
//! entry slots, cannot set the first usable LBA, writes a different protective-MBR CHS than genimage and validates
//! nothing (`reference/gpt-crate.md`); here every byte is chosen, and the genimage golden test checks it.

mod decode;

pub use decode::{Arrays, DecodedEntry, DecodedGpt, HEAD_BYTES, MbrKind, TAIL_BYTES, decode, decode_with_arrays, entries_lbas};

use crate::{
    geometry::{DiskGeometry, GPT_ENTRIES, GPT_ENTRY_SIZE, PRIMARY_ENTRIES_LBA, PRIMARY_HEADER_LBA, RegionKind},
    guid::Guid,
    units::{Lba, Offset, SECTOR},
};

/// GPT header signature.
pub const SIGNATURE: &[u8; 8] = b"EFI PART";
/// Revision 1.0.
pub const REVISION: u32 = 0x0001_0000;
/// Size of the header proper.
pub const HEADER_SIZE: u32 = 92;
/// Size of one partition entry.
pub const ENTRY_SIZE: u32 = GPT_ENTRY_SIZE;
/// Bytes of the entry array.
pub const ENTRIES_BYTES: usize = (GPT_ENTRIES * ENTRY_SIZE) as usize;
/// Bytes of a sector, as the encoder cuts them.
const SECTOR_BYTES: usize = SECTOR.get() as usize;
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

/// What to encode: the disk's geometry (its first and last usable sectors follow from it), its GUID and the entries
/// in slot order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The disk's geometry.
    pub geometry: DiskGeometry,
    /// Disk GUID.
    pub disk_guid: Guid,
    /// Entries, slot 0 first.
    pub entries: Vec<Entry>,
}

/// The encoded partition table: four blobs (the entry array is written twice) and where they go.
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
    /// The geometry it was encoded for.
    pub geometry: DiskGeometry,
}

impl Encoded {
    /// The bytes of one of the five structures.
    #[must_use]
    pub fn bytes(&self, kind: RegionKind) -> &[u8] {
        match kind {
            RegionKind::ProtectiveMbr => &self.mbr,
            RegionKind::PrimaryHeader => &self.primary_header,
            RegionKind::PrimaryEntries | RegionKind::BackupEntries => &self.entries,
            RegionKind::BackupHeader => &self.backup_header,
        }
    }

    /// Every blob with its byte offset, in increasing offset order.
    #[must_use]
    pub fn placed(&self) -> Vec<(Offset, &[u8])> {
        self.geometry.regions().iter().map(|r| (r.start, self.bytes(r.kind))).collect()
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
pub fn protective_mbr(geometry: &DiskGeometry) -> Vec<u8> {
    let mut mbr = vec![0u8; SECTOR_BYTES];
    let sectors = u32::try_from(geometry.last_lba().get()).unwrap_or(u32::MAX);
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
        b[32..40].copy_from_slice(&e.first_lba.get().to_le_bytes());
        b[40..48].copy_from_slice(&e.last_lba.get().to_le_bytes());
        b[48..56].copy_from_slice(&e.attributes.to_le_bytes());
        for (i, unit) in e.name.encode_utf16().take(NAME_UNITS).enumerate() {
            b[56 + 2 * i..58 + 2 * i].copy_from_slice(&unit.to_le_bytes());
        }
    }
    out
}

fn encode_header(table: &Table, geometry: &DiskGeometry, current: Lba, backup: Lba, entries_lba: Lba, entries_crc: u32) -> Vec<u8> {
    let mut h = vec![0u8; SECTOR_BYTES];
    h[0..8].copy_from_slice(SIGNATURE);
    h[8..12].copy_from_slice(&REVISION.to_le_bytes());
    h[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
    h[24..32].copy_from_slice(&current.get().to_le_bytes());
    h[32..40].copy_from_slice(&backup.get().to_le_bytes());
    h[40..48].copy_from_slice(&geometry.first_usable().get().to_le_bytes());
    h[48..56].copy_from_slice(&geometry.last_usable().get().to_le_bytes());
    h[56..72].copy_from_slice(&table.disk_guid.to_gpt_bytes());
    h[72..80].copy_from_slice(&entries_lba.get().to_le_bytes());
    h[80..84].copy_from_slice(&GPT_ENTRIES.to_le_bytes());
    h[84..88].copy_from_slice(&ENTRY_SIZE.to_le_bytes());
    h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
    let crc = crc32fast::hash(&h[..HEADER_SIZE as usize]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Encode a table. The caller (the planner) guarantees the geometry is valid (at least
/// [`MIN_SECTORS`](crate::geometry::MIN_SECTORS) sectors) and the entries inside the usable range; a smaller disk is
/// encoded as if it had the minimum size, and nothing here panics on other values, but the result would not be a
/// valid GPT.
#[must_use]
pub fn encode(table: &Table) -> Encoded {
    let geometry = if table.geometry.is_valid() { table.geometry } else { DiskGeometry::for_sectors(crate::geometry::MIN_SECTORS) };
    let last = geometry.last_lba();
    let entries = encode_entries(&table.entries);
    let entries_crc = crc32fast::hash(&entries);
    Encoded {
        mbr: protective_mbr(&geometry),
        primary_header: encode_header(table, &geometry, PRIMARY_HEADER_LBA, last, PRIMARY_ENTRIES_LBA, entries_crc),
        backup_header: encode_header(table, &geometry, last, PRIMARY_HEADER_LBA, geometry.backup_entries_lba(), entries_crc),
        entries,
        geometry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protective_mbr_matches_genimage_bytes() {
        // genimage 16 on the DK2 layout (526752 sectors): `00 00 02 00 ee c9 09 20 01 00 00 00 9f 09 08 00`.
        let mbr = protective_mbr(&DiskGeometry::for_sectors(526_752));
        assert_eq!(hex::encode(&mbr[446..462]), "00000200eec9092001000000 9f090800".replace(' ', ""));
        assert_eq!(&mbr[510..], &[0x55, 0xAA]);
        // The gpt-crate probe's 1052739-sector image: genimage wrote end CHS `87 09 41`.
        assert_eq!(&protective_mbr(&DiskGeometry::for_sectors(1_052_739))[451..454], &[0x87, 0x09, 0x41]);
    }

    #[test]
    fn header_crc_and_round_trip() {
        let (disk, table) = small_disk();
        let dec = decode_disk(&disk);
        assert!(dec.problems.is_empty(), "{:?}", dec.problems);
        assert_eq!(dec.entries.len(), 1);
        assert_eq!(dec.entries[0].name, "rootfs");
        assert_eq!(dec.disk_guid, Some(table.disk_guid));
        assert_eq!(dec.mbr, Some(MbrKind::Protective));
        assert_eq!((dec.first_usable, dec.last_usable), (Some(Lba::new(34)), Some(Lba::new(4096 - 34))));
    }

    /// A 2 MiB disk holding one partition, and its table.
    fn small_disk() -> (Vec<u8>, Table) {
        let table = Table {
            geometry: DiskGeometry::for_sectors(4096),
            disk_guid: Guid::derive(&["t", "disk"]),
            entries: vec![Entry {
                type_guid: crate::guid::LINUX_FS,
                unique_guid: Guid::derive(&["t", "p"]),
                first_lba: Lba::new(34),
                last_lba: Lba::new(2047),
                attributes: 4,
                name: "rootfs".into(),
            }],
        };
        let enc = encode(&table);
        let mut disk = vec![0u8; 4096 * 512];
        for (off, blob) in enc.placed() {
            let at = usize::try_from(off.get()).unwrap();
            disk[at..at + blob.len()].copy_from_slice(blob);
        }
        (disk, table)
    }

    fn decode_disk(disk: &[u8]) -> DecodedGpt {
        decode(&disk[..34 * 512], &disk[disk.len() - 33 * 512..], crate::units::ByteSize::new(disk.len() as u64))
    }

    #[test]
    fn damaged_primary_is_read_from_the_backup() {
        let (clean, table) = small_disk();
        // (where, what) → the one problem expected.
        for (at, why) in [(512usize, "signature"), (512 + 56, "header CRC32"), (1024 + 16, "entry array CRC32")] {
            let mut disk = clean.clone();
            if why == "signature" {
                disk[512..1024].fill(0);
            } else {
                disk[at] ^= 0x01;
            }
            let dec = decode_disk(&disk);
            assert_eq!(dec.problems.len(), 1, "{why}: {:?}", dec.problems);
            let p = &dec.problems[0];
            assert_eq!(p.code, "gpt::primary_damaged");
            let where_ = if at < 1024 { "0x200" } else { "0x400" };
            assert!(p.message.contains(why) && p.message.contains(where_) && p.message.contains("backup at LBA 4095"), "{}", p.message);
            assert_eq!(dec.disk_guid, Some(table.disk_guid), "{why}");
            assert_eq!(dec.entries.len(), 1);
            assert_eq!(dec.entries[0].unique_guid, table.entries[0].unique_guid, "{why}");
        }
    }

    #[test]
    fn damaged_backup_is_one_error() {
        let (mut disk, _) = small_disk();
        let n = disk.len();
        disk[n - 512 + 56] ^= 0x01;
        let dec = decode_disk(&disk);
        assert_eq!(dec.problems.len(), 1, "{:?}", dec.problems);
        assert_eq!(dec.problems[0].code, "gpt::bad_backup");
        assert!(dec.problems[0].message.contains("header CRC32"), "{}", dec.problems[0].message);
    }

    #[test]
    fn problems_give_the_byte_offset() {
        let (_, mut table) = small_disk();
        let mut second = table.entries[0].clone();
        second.first_lba = Lba::new(2000);
        second.last_lba = Lba::new(5000);
        table.entries.push(second);
        let enc = encode(&table);
        let mut disk = vec![0u8; 4096 * 512];
        for (off, blob) in enc.placed() {
            let at = usize::try_from(off.get()).unwrap();
            disk[at..at + blob.len()].copy_from_slice(blob);
        }
        let dec = decode_disk(&disk);
        let text: Vec<&str> = dec.problems.iter().map(|p| p.message.as_str()).collect();
        // Entry 2 lies at 0x400 + 128.
        assert!(text.iter().any(|m| m.contains("partition 2") && m.contains("entry at 0x480") && m.contains("outside the usable range")), "{text:?}");
        assert!(text.iter().any(|m| m.contains("entry at 0x480") && m.contains("overlaps")), "{text:?}");
        let n = disk.len();
        disk[n - 512 + 8] ^= 0x01; // the backup's revision; its CRC redone so only the revision is wrong
        let crc_at = n - 512 + 16;
        disk[crc_at..crc_at + 4].fill(0);
        let crc = crc32fast::hash(&disk[n - 512..n - 512 + 92]);
        disk[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
        let dec = decode_disk(&disk);
        assert!(dec.problems.iter().any(|p| p.message.starts_with("backup GPT header (at 0x1ffe00): revision")), "{:?}", dec.problems);
    }
}
