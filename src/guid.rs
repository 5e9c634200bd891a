//! GUIDs and partition types: GPT's mixed-endian encoding, deterministic derivation, U-Boot's fixed PARTUUIDs, the
//! type names a board description accepts, and the one table mapping GPT type GUIDs to the flash-layout types
//! (`Binary`, `FIP`, `System`…) U-Boot's `stm32prog` creates them from.
//!
//! Pure: no I/O. The planner (which warns about types a layout cannot express) and the flash-layout code (which
//! parses and writes those types) both take the mapping from here, so neither depends on the other.

use std::fmt;

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A GUID as GPT stores it (type GUIDs, unique partition GUIDs, the disk GUID). Displayed upper-case, like sgdisk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Guid(pub Uuid);

impl Guid {
    /// Parse `8-4-4-4-12` hex text (either case).
    pub fn parse(text: &str) -> Option<Guid> {
        if text.len() != 36 {
            return None;
        }
        Uuid::parse_str(text).ok().map(Guid)
    }

    /// The 16 bytes as written in a GPT header or entry: the first three fields little-endian, the rest as-is.
    #[must_use]
    pub fn to_gpt_bytes(self) -> [u8; 16] {
        self.0.to_bytes_le()
    }

    /// Read 16 bytes in GPT's mixed-endian order.
    #[must_use]
    pub fn from_gpt_bytes(bytes: [u8; 16]) -> Guid {
        Guid(Uuid::from_bytes_le(bytes))
    }

    /// Whether this is the all-zero GUID (an unused GPT entry).
    #[must_use]
    pub fn is_nil(self) -> bool {
        self.0.is_nil()
    }

    /// Derive a stable GUID from names, so two builds of the same description give the same disk.
    ///
    /// SHA-256 over a versioned domain string and the parts (NUL-separated); the first 16 bytes become an RFC 9562
    /// version 8 ("custom") UUID.
    #[must_use]
    pub fn derive(parts: &[&str]) -> Guid {
        let mut hasher = Sha256::new();
        hasher.update(b"stm32mp-imager/guid/v1");
        for part in parts {
            hasher.update([0u8]);
            hasher.update(part.as_bytes());
        }
        let digest = hasher.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Guid(Uuid::new_v8(bytes))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = Uuid::encode_buffer();
        f.write_str(self.0.hyphenated().encode_upper(&mut buf))
    }
}

/// GUIDs serialize as their upper-case text, as shown everywhere else.
impl serde::Serialize for Guid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

const fn guid(text: &str) -> Guid {
    match Uuid::try_parse(text) {
        Ok(u) => Guid(u),
        Err(_) => panic!("bad GUID constant"),
    }
}

/// Linux filesystem data (sgdisk 8300); U-Boot `stm32prog` uses it for `System` and `FileSystem`.
pub const LINUX_FS: Guid = guid("0FC63DAF-8483-4772-8E79-3D69D8477DE4");
/// TF-A firmware image package; TF-A BL2 finds the FIP by this type (then by the name `fip`).
pub const FIP: Guid = guid("19D5DF83-11B0-457B-BE2C-7559C13142A5");
/// U-Boot environment; `stm32prog` type `ENV`.
pub const UBOOT_ENV: Guid = guid("3DE21764-95BD-54BD-A5C3-4ABE786F38A8");
/// EFI system partition; `stm32prog` type `ESP`.
pub const ESP: Guid = guid("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
/// PSA firmware-update metadata; `stm32prog` type `FWU_MDATA`.
pub const FWU_MDATA: Guid = guid("8A7A84A0-8387-40F6-AB41-A8B9A5A60D23");
/// "Linux reserved" (sgdisk 8301); `stm32prog` gives it to `Binary` partitions (fsbl1, fsbl2, ssbl).
pub const LINUX_RESERVED: Guid = guid("8DA63339-0007-60C0-C436-083AC8230908");
/// Microsoft basic data (FAT bootfs).
pub const BASIC_DATA: Guid = guid("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");

/// Partition type names accepted in a board description's `type`, with their GUIDs.
pub const TYPE_NAMES: &[(&str, Guid)] = &[
    ("linux", LINUX_FS),
    ("fip", FIP),
    ("u-boot-env", UBOOT_ENV),
    ("esp", ESP),
    ("fwu-mdata", FWU_MDATA),
    ("binary", LINUX_RESERVED),
    ("basic-data", BASIC_DATA),
];

/// Other spellings accepted for a type (what genimage and fdisk users write, and the flash-layout names of the types
/// that have one GPT type), not listed in help texts.
pub const TYPE_ALIASES: &[(&str, Guid)] =
    &[("vfat", BASIC_DATA), ("fat", BASIC_DATA), ("fat16", BASIC_DATA), ("fat32", BASIC_DATA), ("env", UBOOT_ENV), ("fwu_mdata", FWU_MDATA)];

/// Look up a type name or alias (case-insensitive).
#[must_use]
pub fn type_by_name(name: &str) -> Option<Guid> {
    TYPE_NAMES.iter().chain(TYPE_ALIASES).find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, g)| *g)
}

/// The name of a known type GUID, for display.
#[must_use]
pub fn type_name(guid: Guid) -> Option<&'static str> {
    TYPE_NAMES.iter().find(|(_, g)| *g == guid).map(|(n, _)| *n)
}

/// The PARTUUID U-Boot `stm32prog` gives a `FIP`-type partition named `fip-a` (`FIP_A_UUID` in `stm32prog.c`); the FWU
/// metadata names it as the bank 0 image, and TF-A finds the FIP of bank 0 by it.
pub const FIP_A_PARTUUID: Guid = guid("4FD84C93-54EF-463F-A7EF-AE25FF887087");
/// The PARTUUID U-Boot `stm32prog` gives a `FIP`-type partition named `fip-b` (`FIP_B_UUID`); bank 1 in the FWU metadata.
pub const FIP_B_PARTUUID: Guid = guid("09C54952-D5BF-45AF-ACEE-335303766FB3");

/// The unique GUID U-Boot's `stm32prog` gives a `FIP`-type partition of this name (`fip-a`, `fip-b`), if any.
#[must_use]
pub fn stm32prog_fip_partuuid(name: &str) -> Option<Guid> {
    match name {
        "fip-a" => Some(FIP_A_PARTUUID),
        "fip-b" => Some(FIP_B_PARTUUID),
        _ => None,
    }
}

/// Whether `stm32prog` gives a partition of this name the fixed root file-system PARTUUID (the first one, in address
/// order, named `rootfs` or `rootfs-a`: [`uboot_rootfs_partuuid`]).
#[must_use]
pub fn is_stm32prog_rootfs_name(name: &str) -> bool {
    name == "rootfs" || name == "rootfs-a"
}

/// A type as messages show it: `` `basic-data` (EBD0A0A2-B9E5-4433-87C0-68B6B72699C7) `` for a named one, the GUID
/// alone otherwise.
#[must_use]
pub fn describe_type(guid: Guid) -> String {
    match type_name(guid) {
        Some(name) => format!("`{name}` ({guid})"),
        None => guid.to_string(),
    }
}

/// A flash layout's column 4: how U-Boot's `stm32prog` is told what a partition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsvType {
    /// `Binary`.
    Binary,
    /// `Binary(N)`: U-Boot writes N copies (NAND FSBL only).
    BinaryCopies(u32),
    /// `FIP`.
    Fip,
    /// `FWU_MDATA`.
    FwuMdata,
    /// `ENV`.
    Env,
    /// `System` (bootable Linux).
    System,
    /// `FileSystem`.
    FileSystem,
    /// `ESP`.
    Esp,
    /// `RawImage` (whole device).
    RawImage,
}

/// The GPT type `stm32prog` gives a partition of each layout type (`create_gpt_partitions`), the one table both
/// directions use. `System` and `FileSystem` share the Linux type; `System` also sets the bootable attribute.
const LAYOUT_TYPES: &[(TsvType, Guid)] = &[
    (TsvType::Binary, LINUX_RESERVED),
    (TsvType::Fip, FIP),
    (TsvType::FwuMdata, FWU_MDATA),
    (TsvType::Env, UBOOT_ENV),
    (TsvType::System, LINUX_FS),
    (TsvType::FileSystem, LINUX_FS),
    (TsvType::Esp, ESP),
];

impl TsvType {
    /// Whether ST's generator numbers this type in the 0x04–0x0F range.
    #[must_use]
    pub fn is_binary_range(self) -> bool {
        matches!(self, TsvType::Binary | TsvType::BinaryCopies(_) | TsvType::Fip | TsvType::FwuMdata | TsvType::Env)
    }

    /// The GPT type U-Boot gives a partition of this type (`create_gpt_partitions`); `None` for `RawImage`.
    #[must_use]
    pub fn gpt_type(self) -> Option<Guid> {
        let this = if let TsvType::BinaryCopies(_) = self { TsvType::Binary } else { self };
        LAYOUT_TYPES.iter().find(|(t, _)| *t == this).map(|(_, g)| *g)
    }

    /// The layout type that makes `stm32prog` create a partition with this GPT type and bootable flag, if any.
    #[must_use]
    pub fn for_gpt_type(type_guid: Guid, bootable: bool) -> Option<TsvType> {
        if type_guid == LINUX_FS {
            return Some(if bootable { TsvType::System } else { TsvType::FileSystem });
        }
        LAYOUT_TYPES.iter().find(|(_, g)| *g == type_guid).map(|(t, _)| *t)
    }

    /// Whether U-Boot before 2022.07 knows this type (`Binary`, `System`, `FileSystem`, `RawImage`); `FIP` came in
    /// v2022.07, `ENV`, `ESP` and `FWU_MDATA` in v2023.10 (`flashlayout-spec.md` §3.4).
    #[must_use]
    pub fn is_legacy(self) -> bool {
        matches!(self, TsvType::Binary | TsvType::BinaryCopies(_) | TsvType::System | TsvType::FileSystem | TsvType::RawImage)
    }

    /// The type a layout for an older U-Boot writes: this one if it knows it, else `Binary` (ST's dunfell layouts).
    #[must_use]
    pub fn legacy(self) -> TsvType {
        if self.is_legacy() { self } else { TsvType::Binary }
    }

    /// [`TsvType::for_gpt_type`] for a layout written with `legacy` types: a GPT type only a newer U-Boot creates
    /// cannot be expressed (`stm32prog` would create it as `Binary`).
    #[must_use]
    pub fn for_gpt_type_in(type_guid: Guid, bootable: bool, legacy: bool) -> Option<TsvType> {
        TsvType::for_gpt_type(type_guid, bootable).filter(|t| !legacy || t.is_legacy())
    }
}

impl fmt::Display for TsvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsvType::Binary => f.write_str("Binary"),
            TsvType::BinaryCopies(n) => write!(f, "Binary({n})"),
            TsvType::Fip => f.write_str("FIP"),
            TsvType::FwuMdata => f.write_str("FWU_MDATA"),
            TsvType::Env => f.write_str("ENV"),
            TsvType::System => f.write_str("System"),
            TsvType::FileSystem => f.write_str("FileSystem"),
            TsvType::Esp => f.write_str("ESP"),
            TsvType::RawImage => f.write_str("RawImage"),
        }
    }
}

/// The PARTUUID U-Boot `stm32prog` gives the first partition named `rootfs` on `mmc<instance>`
/// (`flashlayout-spec.md` §6.2), so `root=PARTUUID=…` works whichever flash mode put the partition there.
#[must_use]
pub fn uboot_rootfs_partuuid(mmc_instance: u8) -> Option<Guid> {
    match mmc_instance {
        0 => Some(guid("E91C4E10-16E6-4C0E-BD0E-77BECF4A3582")),
        1 => Some(guid("491F6117-415D-4F53-88C9-6E0DE54DEAC6")),
        2 => Some(guid("FD58F1C7-BE0D-4338-88E9-AD8F050AEB18")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt_byte_order_is_mixed_endian() {
        let bytes = LINUX_FS.to_gpt_bytes();
        assert_eq!(&bytes[..4], &[0xAF, 0x3D, 0xC6, 0x0F]);
        assert_eq!(&bytes[8..], &[0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4]);
        assert_eq!(Guid::from_gpt_bytes(bytes), LINUX_FS);
    }

    #[test]
    fn derivation_is_stable_and_distinct() {
        let a = Guid::derive(&["dk2", "partition", "rootfs"]);
        assert_eq!(a, Guid::derive(&["dk2", "partition", "rootfs"]));
        assert_ne!(a, Guid::derive(&["dk2", "partition", "rootfs2"]));
        assert_ne!(Guid::derive(&["ab", "c"]), Guid::derive(&["a", "bc"]));
        assert_eq!(a.0.get_version_num(), 8);
    }

    #[test]
    fn layout_types_round_trip_through_the_one_table() {
        for (t, g) in LAYOUT_TYPES {
            assert_eq!(t.gpt_type(), Some(*g));
            assert_eq!(TsvType::for_gpt_type(*g, *t == TsvType::System).map(TsvType::gpt_type), Some(Some(*g)));
        }
        assert_eq!(TsvType::for_gpt_type(LINUX_FS, true), Some(TsvType::System));
        assert_eq!(TsvType::for_gpt_type(LINUX_FS, false), Some(TsvType::FileSystem));
        assert_eq!(TsvType::for_gpt_type(BASIC_DATA, false), None);
        assert_eq!(TsvType::BinaryCopies(2).gpt_type(), Some(LINUX_RESERVED));
        assert_eq!(TsvType::RawImage.gpt_type(), None);
    }

    #[test]
    fn fat_spellings_are_basic_data() {
        for name in ["vfat", "FAT32", "fat16", "fat", "basic-data"] {
            assert_eq!(type_by_name(name), Some(BASIC_DATA), "{name}");
        }
        assert_eq!(type_name(BASIC_DATA), Some("basic-data"));
        assert_eq!(describe_type(BASIC_DATA), "`basic-data` (EBD0A0A2-B9E5-4433-87C0-68B6B72699C7)");
        assert!(!TYPE_NAMES.iter().any(|(n, _)| *n == "vfat"), "aliases stay out of the listed names");
    }

    #[test]
    fn display_is_upper_case() {
        assert_eq!(FIP.to_string(), "19D5DF83-11B0-457B-BE2C-7559C13142A5");
        assert_eq!(Guid::parse("19d5df83-11b0-457b-be2c-7559c13142a5"), Some(FIP));
        assert_eq!(Guid::parse("19d5df8311b0457bbe2c7559c13142a5"), None);
    }
}
