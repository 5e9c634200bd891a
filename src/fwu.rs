//! FWU metadata (`metadata.bin`, PSA firmware update A/B): its v1 and v2 byte layouts, encoder, decoder and checks.
//!
//! Pure: bytes in, values out. The layouts are those of U-Boot `include/fwu_mdata.h` / `tools/fwumdata_src/` and TF-A
//! `include/drivers/fwu/fwu_metadata.h`; every field is little-endian and every GUID is in GPT's mixed-endian order
//! (what `mkfwumdata -g` writes and what TF-A compares with the GPT's unique partition GUIDs).
//!
//! ```text
//! v1: crc32 version active previous | image entries                            (16 + images × entry)
//! v2: crc32 version active previous metadata_size desc_offset(0x20) reserved bank_state[4] reserved
//!     | num_banks reserved num_images img_entry_size bank_info_entry_size | image entries | vendor data
//! entry: image type GUID, location GUID, then per bank: image GUID, accepted (bit 0), reserved   (32 + banks × 24)
//! ```
//!
//! The CRC-32 (zlib/IEEE) covers everything after the CRC field: up to the end of the entries in v1, up to
//! `metadata_size` in v2. ST's flow (meta-st-stm32mp mickledore) writes v2 with one image (the FIP) and two banks
//! (fip-a, fip-b): [`Metadata::st_fip_ab`].

use crate::guid::{self, Guid};

/// Bytes before the image entries in v1 (crc32, version, active_index, previous_active_index).
pub const V1_HEADER_LEN: usize = 16;
/// Bytes of the v2 header; also the only `desc_offset` U-Boot and TF-A accept.
pub const V2_HEADER_LEN: usize = 0x20;
/// Bytes of the v2 firmware store descriptor before its image entries.
pub const V2_DESC_LEN: usize = 8;
/// Bytes of an image entry without its banks (image type GUID, location GUID).
pub const IMAGE_ENTRY_LEN: usize = 32;
/// Bytes of one bank's image information (image GUID, accepted, reserved).
pub const BANK_INFO_LEN: usize = 24;
/// Most banks v2 can describe (`bank_state[4]`); TF-A's `NR_OF_MAX_FW_BANKS`.
pub const MAX_BANKS: usize = 4;

/// Metadata layout version (the `version` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// v1: no descriptor; the reader must know the bank and image counts (U-Boot `CONFIG_FWU_MDATA_V1`, TF-A < v2.10).
    V1,
    /// v2: sizes and counts in the data; per-bank state (U-Boot `CONFIG_FWU_MDATA_V2`, TF-A ≥ v2.10, ST's flow).
    V2,
}

impl Version {
    /// The value of the `version` field.
    #[must_use]
    pub fn number(self) -> u32 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
        }
    }
}

/// State of a bank (v2 `bank_state[]`), as U-Boot `include/fwu.h` and TF-A `drivers/fwu/fwu.h` encode it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BankState {
    /// 0xFC: every image valid and accepted.
    Accepted,
    /// 0xFE: valid but not yet accepted (trial state).
    Valid,
    /// 0xFF: not to be booted.
    Invalid,
}

impl BankState {
    /// The byte stored in `bank_state[]`.
    #[must_use]
    pub fn byte(self) -> u8 {
        match self {
            BankState::Accepted => 0xFC,
            BankState::Valid => 0xFE,
            BankState::Invalid => 0xFF,
        }
    }

    /// The state a `bank_state[]` byte encodes, if it is one of the three.
    #[must_use]
    pub fn from_byte(byte: u8) -> Option<BankState> {
        match byte {
            0xFC => Some(BankState::Accepted),
            0xFE => Some(BankState::Valid),
            0xFF => Some(BankState::Invalid),
            _ => None,
        }
    }
}

/// One bank's copy of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BankImage {
    /// Image GUID: on SD/eMMC, the unique GUID (PARTUUID) of the partition holding this bank's copy.
    pub image: Guid,
    /// Bit 0 of `accepted`.
    pub accepted: bool,
}

/// One updatable image and its copy in every bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// Image type GUID (the FIP type GUID for ST's FIP).
    pub image_type: Guid,
    /// Location GUID (the storage volume; ST passes the FWU_MDATA type GUID).
    pub location: Guid,
    /// One entry per bank, bank 0 first.
    pub banks: Vec<BankImage>,
}

/// FWU metadata, either version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Layout version.
    pub version: Version,
    /// Bank the platform boots from.
    pub active_index: u32,
    /// Bank it booted from before.
    pub previous_active_index: u32,
    /// v2: state of each bank (as many as the images have banks). v1: empty.
    pub bank_states: Vec<BankState>,
    /// Updatable images (ST: one, the FIP).
    pub images: Vec<ImageEntry>,
    /// v2: bytes after the descriptor, counted in `metadata_size` (`mkfwumdata -V`). v1: empty.
    pub vendor_data: Vec<u8>,
}

/// The counts a v1 reader must be told (they are not in the data): U-Boot `CONFIG_FWU_NUM_BANKS` /
/// `CONFIG_FWU_NUM_IMAGES_PER_BANK`, TF-A `NR_OF_FW_BANKS` / `NR_OF_IMAGES_IN_FW_BANK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V1Geometry {
    /// Banks per image.
    pub banks: usize,
    /// Images.
    pub images: usize,
}

/// ST's platforms: 2 banks, 1 image (TF-A `plat/st/common/common.mk` without `STM32MP_PSA_FWU_AB_SUPPORT`).
pub const ST_GEOMETRY: V1Geometry = V1Geometry { banks: 2, images: 1 };

/// What is wrong with FWU metadata; offsets are into the metadata, in hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FwuError {
    /// Fewer bytes than the layout needs.
    #[error("FWU metadata is {actual:#x} bytes, but its layout needs {needed:#x}")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        actual: usize,
    },
    /// `version` is neither 1 nor 2.
    #[error(
        "field version (offset 0x4): found {0:#x}, expected 1 or 2 (U-Boot and TF-A on ST boards expect 2; make the file with `mkfwumdata -v 2`)"
    )]
    UnsupportedVersion(u32),
    /// The version is not the one the target reads.
    #[error(
        "FWU metadata version {found}, but the target reads version {expected}: U-Boot and TF-A reject any other (regenerate it with `mkfwumdata -v {expected}`)"
    )]
    WrongVersion {
        /// Version in the data.
        found: u32,
        /// Version the target needs.
        expected: u32,
    },
    /// Stored CRC-32 does not match the bytes.
    #[error(
        "field crc32 (offset 0x0): stored {stored:#010x}, but bytes 0x4..{end:#x} give {computed:#010x}; the file is corrupt or was edited without updating the CRC"
    )]
    Crc {
        /// Stored value.
        stored: u32,
        /// Computed over the covered range.
        computed: u32,
        /// End of the covered range.
        end: usize,
    },
    /// v2 `metadata_size` out of range.
    #[error("field metadata_size (offset 0x10): {size:#x} is not between the {min:#x} bytes its descriptor needs and the {actual:#x} bytes given")]
    MetadataSize {
        /// Stored size.
        size: u32,
        /// Least valid size.
        min: usize,
        /// Bytes given.
        actual: usize,
    },
    /// v2 `desc_offset` other than 0x20.
    #[error("field desc_offset (offset 0x14): found {0:#x}, but U-Boot and TF-A accept only 0x20")]
    DescriptorOffset(u16),
    /// A size field of the v2 descriptor disagrees with the layout.
    #[error("field {field} (offset {offset:#x}): found {found:#x}, expected {expected:#x}")]
    EntrySize {
        /// Field name.
        field: &'static str,
        /// Its offset.
        offset: usize,
        /// Stored value.
        found: usize,
        /// Value the layout implies.
        expected: usize,
    },
    /// No bank, more than four, or images with different bank counts.
    #[error("{0} banks: FWU metadata describes 1 to 4 banks, the same number for every image")]
    BankCount(usize),
    /// No image.
    #[error("FWU metadata with no image: describe at least one (ST: the FIP)")]
    NoImage,
    /// The check was given another number of partitions than the image has banks.
    #[error("the FWU metadata image has {banks} banks but {partitions} partitions hold them (ST: 2, fip-a and fip-b)")]
    BankPartitions {
        /// Banks in the metadata.
        banks: usize,
        /// Partitions given.
        partitions: usize,
    },
    /// `active_index` or `previous_active_index` names a bank that does not exist.
    #[error("field {field}: bank {index}, but there are only {banks} banks (0..{banks})")]
    Index {
        /// Field name.
        field: &'static str,
        /// Stored index.
        index: u32,
        /// Number of banks.
        banks: usize,
    },
    /// A `bank_state[]` byte is not 0xFC, 0xFE or 0xFF.
    #[error("field bank_state[{bank}] (offset {offset:#x}): found {value:#04x}, expected 0xfc (accepted), 0xfe (valid) or 0xff (invalid)", offset = 0x18 + bank)]
    BankState {
        /// Bank.
        bank: usize,
        /// Stored byte.
        value: u8,
    },
    /// The encoder was given bank states that do not match the bank count (v2), or any (v1).
    #[error("{given} bank states for {banks} banks in version {version} metadata (v2: one per bank; v1: none)")]
    BankStates {
        /// States given.
        given: usize,
        /// Banks.
        banks: usize,
        /// Layout version.
        version: u32,
    },
    /// Vendor data asked for in v1.
    #[error("vendor data exists only in version 2 metadata")]
    VendorDataInV1,
    /// No image has the type the check looks for.
    #[error("no image of type {expected} in the FWU metadata (types found: {found}): TF-A will not find the FIP")]
    NoImageOfType {
        /// Type GUID looked for.
        expected: Guid,
        /// Types present.
        found: String,
    },
    /// A bank names another image GUID than the partition's unique GUID.
    #[error(
        "bank {bank} names image {found}, but partition {partition} has unique GUID {expected}: TF-A would not find the FIP of bank {bank}; regenerate metadata.bin for this layout"
    )]
    BankGuid {
        /// Bank.
        bank: usize,
        /// Partition expected to hold this bank.
        partition: String,
        /// GUID in the metadata.
        found: Guid,
        /// The partition's unique GUID.
        expected: Guid,
    },
}

/// The partitions the check ties to the banks: bank `i` must name `partitions[i]`'s unique GUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankPartition {
    /// Partition name (for messages).
    pub name: String,
    /// Its unique GUID in the image's GPT.
    pub unique: Guid,
}

impl Metadata {
    /// The metadata ST's flow writes for an A/B FIP set (`mkfwumdata -g -i 1 -b 2 -v <version>` with location = the
    /// FWU_MDATA type GUID, image type = FIP, banks = `fip_a`, `fip_b`): bank 0 active, bank 1 previous, both accepted.
    #[must_use]
    pub fn st_fip_ab(version: Version, fip_a: Guid, fip_b: Guid) -> Metadata {
        let bank = |image| BankImage { image, accepted: true };
        Metadata {
            version,
            active_index: 0,
            previous_active_index: 1,
            bank_states: match version {
                Version::V1 => Vec::new(),
                Version::V2 => vec![BankState::Accepted; 2],
            },
            images: vec![ImageEntry { image_type: guid::FIP, location: guid::FWU_MDATA, banks: vec![bank(fip_a), bank(fip_b)] }],
            vendor_data: Vec::new(),
        }
    }

    /// Banks per image (0 if there is no image).
    #[must_use]
    pub fn bank_count(&self) -> usize {
        self.images.first().map_or(0, |image| image.banks.len())
    }

    /// Bytes the encoding takes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let entries = self.images.len() * (IMAGE_ENTRY_LEN + self.bank_count() * BANK_INFO_LEN);
        match self.version {
            Version::V1 => V1_HEADER_LEN + entries,
            Version::V2 => V2_HEADER_LEN + V2_DESC_LEN + entries + self.vendor_data.len(),
        }
    }

    /// Check the shape the encoder needs: 1..=4 banks, the same for every image, indices in range, bank states and
    /// vendor data only where the version has them.
    pub fn check_shape(&self) -> Result<(), FwuError> {
        if self.images.is_empty() {
            return Err(FwuError::NoImage);
        }
        let banks = self.bank_count();
        if banks == 0 || banks > MAX_BANKS {
            return Err(FwuError::BankCount(banks));
        }
        if let Some(uneven) = self.images.iter().find(|image| image.banks.len() != banks) {
            return Err(FwuError::BankCount(uneven.banks.len()));
        }
        for (field, index) in [("active_index", self.active_index), ("previous_active_index", self.previous_active_index)] {
            if index as usize >= banks {
                return Err(FwuError::Index { field, index, banks });
            }
        }
        let states_ok = match self.version {
            Version::V1 => self.bank_states.is_empty(),
            Version::V2 => self.bank_states.len() == banks,
        };
        if !states_ok {
            return Err(FwuError::BankStates { given: self.bank_states.len(), banks, version: self.version.number() });
        }
        if self.version == Version::V1 && !self.vendor_data.is_empty() {
            return Err(FwuError::VendorDataInV1);
        }
        Ok(())
    }

    /// Encode, CRC included. v2 `bank_state[]` slots past the bank count are written 0xFF (invalid), as
    /// `mkfwumdata` does.
    pub fn encode(&self) -> Result<Vec<u8>, FwuError> {
        self.check_shape()?;
        let banks = self.bank_count();
        let mut out = Vec::with_capacity(self.encoded_len());
        put_u32(&mut out, 0); // CRC, filled in below
        put_u32(&mut out, self.version.number());
        put_u32(&mut out, self.active_index);
        put_u32(&mut out, self.previous_active_index);
        if self.version == Version::V2 {
            let len = self.encoded_len();
            let size = u32::try_from(len).map_err(|_| FwuError::MetadataSize { size: u32::MAX, min: V2_HEADER_LEN + V2_DESC_LEN, actual: len })?;
            put_u32(&mut out, size);
            put_u16(&mut out, V2_HEADER_LEN as u16);
            put_u16(&mut out, 0);
            for slot in 0..MAX_BANKS {
                out.push(self.bank_states.get(slot).map_or(BankState::Invalid.byte(), |state| state.byte()));
            }
            put_u32(&mut out, 0);
            out.push(banks as u8);
            out.push(0);
            put_u16(&mut out, self.images.len() as u16);
            put_u16(&mut out, (IMAGE_ENTRY_LEN + banks * BANK_INFO_LEN) as u16);
            put_u16(&mut out, BANK_INFO_LEN as u16);
        }
        for image in &self.images {
            out.extend_from_slice(&image.image_type.to_gpt_bytes());
            out.extend_from_slice(&image.location.to_gpt_bytes());
            for bank in &image.banks {
                out.extend_from_slice(&bank.image.to_gpt_bytes());
                put_u32(&mut out, u32::from(bank.accepted));
                put_u32(&mut out, 0);
            }
        }
        out.extend_from_slice(&self.vendor_data);
        let crc = crc32fast::hash(&out[4..]);
        out[..4].copy_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(out.len(), self.encoded_len());
        Ok(out)
    }

    /// Decode metadata at the start of `bytes` (a file or a whole partition: bytes past the metadata are ignored).
    /// The version field picks the layout; a v1 reader must be told the counts (`v1`). Checks, in this order: the
    /// length, the version, (v2) `metadata_size`, the CRC, then (v2) the descriptor and the indices, as U-Boot and
    /// TF-A do.
    pub fn decode(bytes: &[u8], v1: V1Geometry) -> Result<Metadata, FwuError> {
        need(bytes, V1_HEADER_LEN)?;
        let version = match read_u32(bytes, 4) {
            1 => Version::V1,
            2 => Version::V2,
            other => return Err(FwuError::UnsupportedVersion(other)),
        };
        let active_index = read_u32(bytes, 8);
        let previous_active_index = read_u32(bytes, 12);
        let (end, banks, images, entries_at) = match version {
            Version::V1 => {
                if v1.banks == 0 || v1.banks > MAX_BANKS {
                    return Err(FwuError::BankCount(v1.banks));
                }
                let end = V1_HEADER_LEN + v1.images * (IMAGE_ENTRY_LEN + v1.banks * BANK_INFO_LEN);
                need(bytes, end)?;
                (end, v1.banks, v1.images, V1_HEADER_LEN)
            }
            Version::V2 => {
                need(bytes, V2_HEADER_LEN + V2_DESC_LEN)?;
                let size = read_u32(bytes, 0x10);
                let min = V2_HEADER_LEN + V2_DESC_LEN;
                if (size as usize) < min || size as usize > bytes.len() {
                    return Err(FwuError::MetadataSize { size, min, actual: bytes.len() });
                }
                (size as usize, usize::from(bytes[0x20]), usize::from(read_u16(bytes, 0x22)), V2_HEADER_LEN + V2_DESC_LEN)
            }
        };
        let stored = read_u32(bytes, 0);
        let computed = crc32fast::hash(&bytes[4..end]);
        if stored != computed {
            return Err(FwuError::Crc { stored, computed, end });
        }
        let mut bank_states = Vec::new();
        if version == Version::V2 {
            let offset = read_u16(bytes, 0x14);
            if usize::from(offset) != V2_HEADER_LEN {
                return Err(FwuError::DescriptorOffset(offset));
            }
            if banks == 0 || banks > MAX_BANKS {
                return Err(FwuError::BankCount(banks));
            }
            let entry_len = IMAGE_ENTRY_LEN + banks * BANK_INFO_LEN;
            for (field, offset, found, expected) in [
                ("img_entry_size", 0x24, usize::from(read_u16(bytes, 0x24)), entry_len),
                ("bank_info_entry_size", 0x26, usize::from(read_u16(bytes, 0x26)), BANK_INFO_LEN),
            ] {
                if found != expected {
                    return Err(FwuError::EntrySize { field, offset, found, expected });
                }
            }
            let min = entries_at + images * entry_len;
            if end < min {
                return Err(FwuError::MetadataSize { size: end as u32, min, actual: bytes.len() });
            }
            for bank in 0..banks {
                let value = bytes[0x18 + bank];
                bank_states.push(BankState::from_byte(value).ok_or(FwuError::BankState { bank, value })?);
            }
        }
        if images == 0 {
            return Err(FwuError::NoImage);
        }
        let entry_len = IMAGE_ENTRY_LEN + banks * BANK_INFO_LEN;
        let images: Vec<ImageEntry> = (0..images)
            .map(|i| {
                let at = entries_at + i * entry_len;
                ImageEntry {
                    image_type: read_guid(bytes, at),
                    location: read_guid(bytes, at + 16),
                    banks: (0..banks)
                        .map(|b| {
                            let at = at + IMAGE_ENTRY_LEN + b * BANK_INFO_LEN;
                            BankImage { image: read_guid(bytes, at), accepted: read_u32(bytes, at + 16) & 1 == 1 }
                        })
                        .collect(),
                }
            })
            .collect();
        let vendor_data = match version {
            Version::V1 => Vec::new(),
            Version::V2 => bytes[entries_at + images.len() * entry_len..end].to_vec(),
        };
        let metadata = Metadata { version, active_index, previous_active_index, bank_states, images, vendor_data };
        metadata.check_shape()?;
        Ok(metadata)
    }

    /// Check that the metadata is what the target reads (`version`) and that the image of type `image_type` names,
    /// bank by bank, the unique GUIDs of `partitions` (ST: FIP type, fip-a then fip-b).
    pub fn check_banks(&self, version: Version, image_type: Guid, partitions: &[BankPartition]) -> Result<(), FwuError> {
        if self.version != version {
            return Err(FwuError::WrongVersion { found: self.version.number(), expected: version.number() });
        }
        let Some(image) = self.images.iter().find(|image| image.image_type == image_type) else {
            let found = self.images.iter().map(|image| image.image_type.to_string()).collect::<Vec<_>>().join(", ");
            return Err(FwuError::NoImageOfType { expected: image_type, found });
        };
        if image.banks.len() != partitions.len() {
            return Err(FwuError::BankPartitions { banks: image.banks.len(), partitions: partitions.len() });
        }
        for (bank, (info, partition)) in image.banks.iter().zip(partitions).enumerate() {
            if info.image != partition.unique {
                return Err(FwuError::BankGuid { bank, partition: partition.name.clone(), found: info.image, expected: partition.unique });
            }
        }
        Ok(())
    }
}

/// The partitions of ST's A/B FIP set with the unique GUIDs U-Boot `stm32prog` gives them.
#[must_use]
pub fn st_fip_partitions() -> [BankPartition; 2] {
    [BankPartition { name: "fip-a".into(), unique: guid::FIP_A_PARTUUID }, BankPartition { name: "fip-b".into(), unique: guid::FIP_B_PARTUUID }]
}

fn need(bytes: &[u8], needed: usize) -> Result<(), FwuError> {
    if bytes.len() < needed {
        return Err(FwuError::Truncated { needed, actual: bytes.len() });
    }
    Ok(())
}

fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn read_guid(bytes: &[u8], at: usize) -> Guid {
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&bytes[at..at + 16]);
    Guid::from_gpt_bytes(raw)
}

fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by U-Boot's mkfwumdata (tests/fixtures/fwu/README.md says how).
    const V2: &[u8] = include_bytes!("../tests/fixtures/fwu/metadata-v2.bin");
    const V1: &[u8] = include_bytes!("../tests/fixtures/fwu/metadata-v1.bin");
    const V2_ACTIVE1: &[u8] = include_bytes!("../tests/fixtures/fwu/metadata-v2-active1.bin");
    const V2_OTHER: &[u8] = include_bytes!("../tests/fixtures/fwu/metadata-v2-other-guids.bin");

    fn st(version: Version) -> Metadata {
        Metadata::st_fip_ab(version, guid::FIP_A_PARTUUID, guid::FIP_B_PARTUUID)
    }

    /// Rewrite the CRC after an edit, so a test reaches the check after the CRC.
    fn recrc(mut bytes: Vec<u8>, end: usize) -> Vec<u8> {
        let crc = crc32fast::hash(&bytes[4..end]);
        bytes[..4].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    #[test]
    fn encoder_equals_mkfwumdata_byte_for_byte() {
        assert_eq!(st(Version::V2).encode().unwrap(), V2);
        assert_eq!(st(Version::V1).encode().unwrap(), V1);
        let mut swapped = st(Version::V2);
        swapped.active_index = 1;
        swapped.previous_active_index = 0;
        assert_eq!(swapped.encode().unwrap(), V2_ACTIVE1);
        assert_eq!(st(Version::V2).encoded_len(), 120);
        assert_eq!(st(Version::V1).encoded_len(), 96);
    }

    #[test]
    fn decoding_the_fixture_gives_st_fields() {
        let v2 = Metadata::decode(V2, ST_GEOMETRY).unwrap();
        assert_eq!(v2, st(Version::V2));
        assert_eq!(v2.images[0].image_type, guid::FIP);
        assert_eq!(v2.images[0].location, guid::FWU_MDATA);
        assert_eq!(v2.images[0].banks[0].image.to_string(), "4FD84C93-54EF-463F-A7EF-AE25FF887087");
        assert_eq!(v2.images[0].banks[1].image.to_string(), "09C54952-D5BF-45AF-ACEE-335303766FB3");
        assert_eq!((v2.active_index, v2.previous_active_index), (0, 1));
        assert_eq!(v2.bank_states, [BankState::Accepted, BankState::Accepted]);
        assert_eq!(Metadata::decode(V1, ST_GEOMETRY).unwrap(), st(Version::V1));
        assert_eq!(Metadata::decode(V2_ACTIVE1, ST_GEOMETRY).unwrap().active_index, 1);
        v2.check_banks(Version::V2, guid::FIP, &st_fip_partitions()).unwrap();
    }

    #[test]
    fn a_partition_holding_the_metadata_decodes_too() {
        let mut partition = V2.to_vec();
        partition.resize(0x4_0000, 0);
        assert_eq!(Metadata::decode(&partition, ST_GEOMETRY).unwrap(), st(Version::V2));
        let mut partition = V1.to_vec();
        partition.resize(0x4_0000, 0xFF);
        assert_eq!(Metadata::decode(&partition, ST_GEOMETRY).unwrap(), st(Version::V1));
    }

    #[test]
    fn a_flipped_bit_is_a_crc_error() {
        for at in [4, 0x18, 0x28, 0x50, 0x77] {
            let mut bytes = V2.to_vec();
            bytes[at] ^= 0x01;
            match Metadata::decode(&bytes, ST_GEOMETRY) {
                Err(FwuError::Crc { stored: 0xD14B_08B4, end: 0x78, .. }) => {}
                Err(FwuError::UnsupportedVersion(3)) if at == 4 => {}
                other => panic!("byte {at:#x}: {other:?}"),
            }
        }
        let mut bytes = V1.to_vec();
        bytes[0x30] ^= 0x80;
        assert!(matches!(Metadata::decode(&bytes, ST_GEOMETRY), Err(FwuError::Crc { end: 0x60, .. })));
    }

    #[test]
    fn an_unknown_version_is_named() {
        let mut bytes = V2.to_vec();
        bytes[4] = 3;
        assert_eq!(Metadata::decode(&recrc(bytes, 0x78), ST_GEOMETRY), Err(FwuError::UnsupportedVersion(3)));
        let mut bytes = V2.to_vec();
        bytes[4] = 0; // what ST's scarthgap fwumd_tool.py writes
        assert_eq!(Metadata::decode(&bytes, ST_GEOMETRY), Err(FwuError::UnsupportedVersion(0)));
        let v1 = Metadata::decode(V1, ST_GEOMETRY).unwrap();
        assert_eq!(v1.check_banks(Version::V2, guid::FIP, &st_fip_partitions()), Err(FwuError::WrongVersion { found: 1, expected: 2 }));
    }

    #[test]
    fn other_guids_are_caught_by_the_bank_check() {
        let other = Metadata::decode(V2_OTHER, ST_GEOMETRY).unwrap();
        let err = other.check_banks(Version::V2, other.images[0].image_type, &st_fip_partitions()).unwrap_err();
        assert_eq!(
            err,
            FwuError::BankGuid {
                bank: 0,
                partition: "fip-a".into(),
                found: Guid::parse("5A66A702-99FD-4FEF-A392-C26E261A2828").unwrap(),
                expected: guid::FIP_A_PARTUUID,
            }
        );
        assert!(matches!(other.check_banks(Version::V2, guid::FIP, &st_fip_partitions()), Err(FwuError::NoImageOfType { .. })));
        // fip-a and fip-b swapped: bank 0 must be fip-a.
        let swapped = Metadata::st_fip_ab(Version::V2, guid::FIP_B_PARTUUID, guid::FIP_A_PARTUUID);
        let decoded = Metadata::decode(&swapped.encode().unwrap(), ST_GEOMETRY).unwrap();
        assert!(matches!(decoded.check_banks(Version::V2, guid::FIP, &st_fip_partitions()), Err(FwuError::BankGuid { bank: 0, .. })));
    }

    #[test]
    fn v2_structure_checks() {
        let at = |offset: usize, value: &[u8]| {
            let mut bytes = V2.to_vec();
            bytes[offset..offset + value.len()].copy_from_slice(value);
            Metadata::decode(&recrc(bytes, 0x78), ST_GEOMETRY)
        };
        assert_eq!(at(0x14, &[0, 0]), Err(FwuError::DescriptorOffset(0)));
        assert_eq!(at(0x20, &[5]), Err(FwuError::BankCount(5)));
        assert!(matches!(at(0x24, &[0x48, 0]), Err(FwuError::EntrySize { field: "img_entry_size", found: 0x48, expected: 0x50, .. })));
        assert!(matches!(at(0x26, &[0x10, 0]), Err(FwuError::EntrySize { field: "bank_info_entry_size", .. })));
        assert_eq!(at(0x19, &[0x00]), Err(FwuError::BankState { bank: 1, value: 0 }));
        assert_eq!(at(0x08, &[2]), Err(FwuError::Index { field: "active_index", index: 2, banks: 2 }));
        assert_eq!(at(0x22, &[2, 0]), Err(FwuError::MetadataSize { size: 0x78, min: 0xC8, actual: 0x78 }));
        // metadata_size larger than the data
        let mut bytes = V2.to_vec();
        bytes[0x10] = 0x80;
        assert_eq!(Metadata::decode(&bytes, ST_GEOMETRY), Err(FwuError::MetadataSize { size: 0x80, min: 0x28, actual: 0x78 }));
        assert_eq!(Metadata::decode(&V2[..0x20], ST_GEOMETRY), Err(FwuError::Truncated { needed: 0x28, actual: 0x20 }));
        assert_eq!(Metadata::decode(&V1[..0x50], ST_GEOMETRY), Err(FwuError::Truncated { needed: 0x60, actual: 0x50 }));
    }

    #[test]
    fn vendor_data_round_trips_in_v2_only() {
        let mut with_vendor = st(Version::V2);
        with_vendor.vendor_data = b"vendor".to_vec();
        let bytes = with_vendor.encode().unwrap();
        assert_eq!(bytes.len(), 126);
        assert_eq!(read_u32(&bytes, 0x10), 126);
        assert_eq!(Metadata::decode(&bytes, ST_GEOMETRY).unwrap(), with_vendor);
        let mut v1 = st(Version::V1);
        v1.vendor_data = b"x".to_vec();
        assert_eq!(v1.encode(), Err(FwuError::VendorDataInV1));
    }

    #[test]
    fn encoder_rejects_bad_shapes() {
        let mut m = st(Version::V2);
        m.previous_active_index = 2;
        assert_eq!(m.encode(), Err(FwuError::Index { field: "previous_active_index", index: 2, banks: 2 }));
        let mut m = st(Version::V2);
        m.bank_states.pop();
        assert_eq!(m.encode(), Err(FwuError::BankStates { given: 1, banks: 2, version: 2 }));
        let mut m = st(Version::V2);
        let first = m.images[0].banks[0];
        m.images[0].banks.extend([first; 3]);
        assert_eq!(m.encode(), Err(FwuError::BankCount(5)));
        let mut m = st(Version::V2);
        m.images.clear();
        assert_eq!(m.encode(), Err(FwuError::NoImage));
        let mut m = st(Version::V2);
        let second = ImageEntry { banks: vec![m.images[0].banks[0]], ..m.images[0].clone() };
        m.images.push(second);
        assert_eq!(m.encode(), Err(FwuError::BankCount(1)));
    }

    #[test]
    fn trial_state_and_three_banks_round_trip() {
        let mut m = st(Version::V2);
        m.bank_states = vec![BankState::Valid, BankState::Accepted, BankState::Invalid];
        m.images[0].banks.push(BankImage { image: Guid::derive(&["fip-c"]), accepted: false });
        let bytes = m.encode().unwrap();
        assert_eq!(&bytes[0x18..0x1C], &[0xFE, 0xFC, 0xFF, 0xFF]);
        assert_eq!(Metadata::decode(&bytes, ST_GEOMETRY).unwrap(), m);
        assert_eq!(
            Metadata::decode(&st(Version::V1).encode().unwrap(), V1Geometry { banks: 3, images: 1 }),
            Err(FwuError::Truncated { needed: 0x78, actual: 0x60 })
        );
    }
}
