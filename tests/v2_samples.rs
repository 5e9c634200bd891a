//! The STM32 header v2 sample inputs and the FWU metadata fixtures made by the real tools (U-Boot mkimage
//! `-T stm32imagev2`, TF-A `stm32image`, U-Boot `mkfwumdata`; `scripts/make-v2-fixtures.sh`) read back as the tool
//! reads them, with the fields those tools were asked to write.

use std::fs;
use std::path::{Path, PathBuf};

use stm32mp_imager::fwu::{self, Metadata, Version};
use stm32mp_imager::guid;
use stm32mp_imager::inputs::stm32::{parse_header, payload_checksum, verify_payload};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn mp13_samples_are_v2_0_from_mkimage() {
    for name in ["tf-a-stm32mp135f-dk-sdcard.stm32", "tf-a-stm32mp135f-dk-usb.stm32"] {
        let bytes = fs::read(repo("samples").join(name)).unwrap();
        let header = parse_header(&bytes).unwrap();
        assert_eq!((header.version.major, header.version.minor), (2, 0), "{name}");
        assert_eq!(header.version_word, 0x0002_0000, "{name}");
        assert_eq!(header.header_len, 512, "{name}");
        assert_eq!((header.load_address, header.entry_point), (0x2FFE_0000, 0x2FFE_0000), "{name}");
        assert_eq!(header.binary_type, 0, "{name}: mkimage writes binary type 0");
        assert_eq!((header.option_flags, header.algorithm_or_ext_len), (0x8000_0000, 0x180), "{name}");
        verify_payload(&header, bytes.len() as u64, payload_checksum(&bytes[512..])).unwrap();
    }
}

#[test]
fn mp25_samples_are_v2_2_from_tfa() {
    for name in [
        "tf-a-stm32mp257f-ev1-optee-sdcard.stm32",
        "tf-a-stm32mp257f-ev1-optee-emmc.stm32",
        "tf-a-stm32mp257f-ev1-usb.stm32",
        "tf-a-stm32mp257f-dk-optee-sdcard.stm32",
        "tf-a-stm32mp257f-dk-usb.stm32",
    ] {
        let bytes = fs::read(repo("samples").join(name)).unwrap();
        let header = parse_header(&bytes).unwrap();
        assert_eq!(header.version_word, 0x0002_0200, "{name}");
        assert_eq!(header.header_len, 512, "{name}");
        assert_eq!(header.load_address, 0x0E00_0000, "{name}");
        assert_eq!(header.binary_type, 0x10, "{name}: TF-A BL2");
        verify_payload(&header, bytes.len() as u64, payload_checksum(&bytes[512..])).unwrap();
    }
}

#[test]
fn st_metadata_is_what_the_tool_writes_for_st_partitions() {
    let bytes = fs::read(repo("tests/fixtures/fwu/metadata-v2.bin")).unwrap();
    let ours = Metadata::st_fip_ab(Version::V2, guid::FIP_A_PARTUUID, guid::FIP_B_PARTUUID).encode().unwrap();
    assert_eq!(ours, bytes);
    Metadata::decode(&bytes, fwu::ST_GEOMETRY).unwrap().check_banks(Version::V2, guid::FIP, &fwu::st_fip_partitions()).unwrap();
}
