//! GUIDs: partition type names, U-Boot's fixed PARTUUIDs, deterministic derivation, and GPT's mixed-endian encoding.
//!
//! Pure: no I/O.

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

impl serde::Serialize for Guid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
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

/// Look up a type name (case-insensitive).
#[must_use]
pub fn type_by_name(name: &str) -> Option<Guid> {
    TYPE_NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, g)| *g)
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
    fn display_is_upper_case() {
        assert_eq!(FIP.to_string(), "19D5DF83-11B0-457B-BE2C-7559C13142A5");
        assert_eq!(Guid::parse("19d5df83-11b0-457b-be2c-7559c13142a5"), Some(FIP));
        assert_eq!(Guid::parse("19d5df8311b0457bbe2c7559c13142a5"), None);
    }
}
