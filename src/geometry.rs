//! Disk geometry: the one owner of where a GPT disk's own structures lie (protective MBR, primary header and entry
//! array, backup entry array and header), how many entries the table has, the usable sectors between them, and the
//! first offset and erase unit of each medium.
//!
//! Pure, and below every other layer that speaks of sectors: the planner, the GPT encoder and decoder (which reads
//! foreign images and so must not depend on the planner), the flash-layout linter, `inspect` and the plan report all
//! take their numbers from here. Sources: UEFI 2.10 §5.3 (GPT), U-Boot `gpt write` and `stm32prog`
//! (`flashlayout-spec.md` §4, §10), genimage ≥ 19.

use std::fmt;

use crate::units::{ByteSize, Lba, Offset, SECTOR};

/// Entries in the GPT partition array (U-Boot and genimage both write 128).
pub const GPT_ENTRIES: u32 = 128;
/// Bytes of one GPT partition entry.
pub const GPT_ENTRY_SIZE: u32 = 128;
/// Sectors of one copy of the entry array (128 entries × 128 bytes = 32 sectors).
pub const ENTRIES_SECTORS: u64 = GPT_ENTRIES as u64 * GPT_ENTRY_SIZE as u64 / SECTOR.get();
/// Sectors of one copy of the table: the header sector and the entry array.
pub const TABLE_SECTORS: u64 = 1 + ENTRIES_SECTORS;
/// Sector of the primary header.
pub const PRIMARY_HEADER_LBA: Lba = Lba::new(1);
/// First sector of the primary entry array.
pub const PRIMARY_ENTRIES_LBA: Lba = Lba::new(2);
/// First sector a partition may use: after the protective MBR, the primary header and the entry array (34).
pub const FIRST_USABLE_LBA: Lba = Lba::new(1 + TABLE_SECTORS);
/// Fewest sectors a disk holding both tables has: the MBR and two table copies (67).
pub const MIN_SECTORS: u64 = 1 + 2 * TABLE_SECTORS;

/// One of the five structures of a GPT disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RegionKind {
    /// LBA 0.
    ProtectiveMbr,
    /// LBA 1.
    PrimaryHeader,
    /// LBA 2–33.
    PrimaryEntries,
    /// The 32 sectors before the last.
    BackupEntries,
    /// The last sector.
    BackupHeader,
}

impl RegionKind {
    /// Every kind, in disk order.
    pub const ALL: [RegionKind; 5] =
        [RegionKind::ProtectiveMbr, RegionKind::PrimaryHeader, RegionKind::PrimaryEntries, RegionKind::BackupEntries, RegionKind::BackupHeader];

    /// How messages name it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            RegionKind::ProtectiveMbr => "protective MBR",
            RegionKind::PrimaryHeader => "primary GPT header",
            RegionKind::PrimaryEntries => "primary GPT entries",
            RegionKind::BackupEntries => "backup GPT entries",
            RegionKind::BackupHeader => "backup GPT header",
        }
    }
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A byte range of the disk that belongs to the partition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Which structure.
    pub kind: RegionKind,
    /// First byte.
    pub start: Offset,
    /// Length.
    pub size: ByteSize,
}

impl Region {
    /// One past the last byte.
    #[must_use]
    pub fn end(&self) -> Offset {
        self.start.saturating_add(self.size)
    }
}

/// The geometry of one GPT disk of a given length: where each table structure lies and which sectors are usable.
///
/// A disk shorter than [`MIN_SECTORS`] has no valid geometry; the accessors then saturate at sector 0 rather than
/// panic (the planner refuses such a disk, the decoder reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskGeometry {
    sectors: u64,
}

impl DiskGeometry {
    /// The geometry of a disk of `size` bytes (a partial last sector is not used).
    #[must_use]
    pub fn for_size(size: ByteSize) -> DiskGeometry {
        DiskGeometry { sectors: size.whole_sectors() }
    }

    /// The geometry of a disk of `sectors` sectors.
    #[must_use]
    pub fn for_sectors(sectors: u64) -> DiskGeometry {
        DiskGeometry { sectors }
    }

    /// Sectors on the disk.
    #[must_use]
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    /// Whether the disk holds the MBR and both tables.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.sectors >= MIN_SECTORS
    }

    /// The last sector (where the backup header lies).
    #[must_use]
    pub fn last_lba(&self) -> Lba {
        Lba::new(self.sectors.saturating_sub(1))
    }

    /// The first sector a partition may use (34).
    #[must_use]
    pub fn first_usable(&self) -> Lba {
        FIRST_USABLE_LBA
    }

    /// The last sector a partition may use: the one before the backup entry array.
    #[must_use]
    pub fn last_usable(&self) -> Lba {
        self.backup_entries_lba().saturating_sub(1)
    }

    /// First sector of the backup entry array.
    #[must_use]
    pub fn backup_entries_lba(&self) -> Lba {
        self.last_lba().saturating_sub(ENTRIES_SECTORS)
    }

    /// Where one structure lies.
    #[must_use]
    pub fn region(&self, kind: RegionKind) -> Region {
        let (start, sectors) = match kind {
            RegionKind::ProtectiveMbr => (Lba::new(0), 1),
            RegionKind::PrimaryHeader => (PRIMARY_HEADER_LBA, 1),
            RegionKind::PrimaryEntries => (PRIMARY_ENTRIES_LBA, ENTRIES_SECTORS),
            RegionKind::BackupEntries => (self.backup_entries_lba(), ENTRIES_SECTORS),
            RegionKind::BackupHeader => (self.last_lba(), 1),
        };
        Region { kind, start: start.offset(), size: ByteSize::sectors(sectors) }
    }

    /// The five structures, in disk order.
    #[must_use]
    pub fn regions(&self) -> [Region; 5] {
        RegionKind::ALL.map(|k| self.region(k))
    }

    /// The protective MBR, the primary header and the primary entry array as one range (0..0x4400): what a user's
    /// partition must not touch at the start of the disk.
    #[must_use]
    pub fn primary_table(&self) -> (Offset, Offset) {
        (Offset::ZERO, FIRST_USABLE_LBA.offset())
    }

    /// The backup entry array and header as one range (the last 33 sectors).
    #[must_use]
    pub fn backup_table(&self) -> (Offset, Offset) {
        (self.backup_entries_lba().offset(), self.last_lba().offset().saturating_add(SECTOR))
    }

    /// The bytes the backup table takes at the end of the disk (33 sectors).
    #[must_use]
    pub fn backup_table_size() -> ByteSize {
        ByteSize::sectors(TABLE_SECTORS)
    }
}

/// The storage a GPT disk image is for, as far as geometry goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    /// An SD card: partitions may start right after the primary table; erase unit one sector.
    SdCard,
    /// The user area of an eMMC: ST's parts erase in 512 KiB groups, and U-Boot's `stm32prog` starts the user area
    /// at one erase group.
    Emmc,
}

/// eMMC erase group on ST's boards (512 KiB).
const EMMC_ERASE_GROUP: ByteSize = ByteSize::new(0x8_0000);

impl Medium {
    /// The first offset a partition may start at: 0x4400 on SD (after the 34-sector primary table), 0x80000 on eMMC.
    #[must_use]
    pub fn first_offset(self) -> Offset {
        match self {
            Medium::SdCard => FIRST_USABLE_LBA.offset(),
            Medium::Emmc => Offset::ZERO.saturating_add(EMMC_ERASE_GROUP),
        }
    }

    /// The unit every partition offset must be a multiple of: one sector on SD, the erase group on eMMC.
    #[must_use]
    pub fn erase_unit(self) -> ByteSize {
        match self {
            Medium::SdCard => SECTOR,
            Medium::Emmc => EMMC_ERASE_GROUP,
        }
    }

    /// How messages name it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Medium::SdCard => "SD card",
            Medium::Emmc => "eMMC",
        }
    }

    /// Where U-Boot's `stm32prog` ends the last partition of a layout on a device of `sectors` sectors, when it
    /// writes the GPT itself (`last_addr` in `init_device`, `arch/arm/mach-stm32mp/cmd_stm32prog/stm32prog.c`): on SD
    /// (erase group of one sector) 35 sectors before the end, which leaves the 33-sector backup GPT and two spare
    /// sectors; on eMMC one erase group (512 KiB) before the end.
    #[must_use]
    pub fn stm32prog_end(self, sectors: u64) -> Offset {
        let reserved = match self {
            Medium::SdCard => FIRST_USABLE_LBA.get() + 1,
            Medium::Emmc => EMMC_ERASE_GROUP.whole_sectors(),
        };
        Lba::new(sectors.saturating_sub(reserved)).offset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_of_the_dk2_image() {
        // 526752 sectors: genimage's DK2 image.
        let g = DiskGeometry::for_sectors(526_752);
        assert_eq!(FIRST_USABLE_LBA, Lba::new(34));
        assert_eq!(g.last_usable(), Lba::new(526_752 - 34));
        assert_eq!(g.backup_entries_lba(), Lba::new(526_752 - 33));
        let r = g.regions();
        assert_eq!(r[0].start, Offset::ZERO);
        assert_eq!(r[1].start, Offset::new(0x200));
        assert_eq!((r[2].start, r[2].size), (Offset::new(0x400), ByteSize::new(0x4000)));
        assert_eq!(r[2].end(), Offset::new(0x4400));
        assert_eq!(r[3].end(), r[4].start);
        assert_eq!(r[4].end(), Offset::new(526_752 * 512));
        assert_eq!(g.backup_table(), (r[3].start, r[4].end()));
        assert_eq!(g.primary_table().1, Medium::SdCard.first_offset());
    }

    #[test]
    fn media() {
        assert_eq!(Medium::SdCard.first_offset(), Offset::new(0x4400));
        assert_eq!(Medium::Emmc.first_offset(), Offset::new(0x8_0000));
        assert_eq!(Medium::SdCard.erase_unit(), ByteSize::new(512));
        assert_eq!(Medium::Emmc.erase_unit(), ByteSize::new(0x8_0000));
        assert_eq!(MIN_SECTORS, 67);
    }

    #[test]
    fn stm32prog_ends_the_last_partition_before_the_backup_gpt() {
        // A 4 GiB card: 8388608 sectors. SD: (lba - 35) * 512; eMMC: (lba - 1024) * 512.
        let sectors = 8_388_608;
        assert_eq!(Medium::SdCard.stm32prog_end(sectors), Offset::new((sectors - 35) * 512));
        assert_eq!(Medium::Emmc.stm32prog_end(sectors), Offset::new(sectors * 512 - 0x8_0000));
        // Within the usable sectors: the backup table starts after it.
        let g = DiskGeometry::for_sectors(sectors);
        assert!(Medium::SdCard.stm32prog_end(sectors) <= g.backup_table().0);
        assert_eq!(g.last_usable().get() - (Medium::SdCard.stm32prog_end(sectors).lba().get() - 1), 2, "two spare sectors");
    }

    #[test]
    fn tiny_disks_saturate() {
        let g = DiskGeometry::for_sectors(3);
        assert!(!g.is_valid());
        assert_eq!(g.backup_entries_lba(), Lba::new(0));
    }
}
