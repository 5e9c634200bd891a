//! FWU metadata (`[boot] metadata`, a `metadata.bin` the user gives, or a metadata partition read back): the decoder
//! and its checks on any bytes (`fwu::Metadata::decode` with ST's geometry and with v1 geometries from the data,
//! `check_banks` as the planner calls it), and the encoder on whatever decodes.
//!
//! Input: one byte choosing the v1 geometry (banks, images), then the metadata bytes. Checked besides "no panic":
//! metadata that decodes passes the encoder's shape check and encodes to `encoded_len()` bytes that decode to the
//! same value; its first image names its own banks, so `check_banks` with those GUIDs passes.
use stm32mp_imager::{
    fwu::{self, BankPartition, Metadata, V1Geometry, Version},
    guid,
};

/// Run one input.
pub fn run(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else { return };
    // ST's geometry (what `plan` uses), and a v1 reader configured with other counts (U-Boot's
    // CONFIG_FWU_NUM_BANKS / CONFIG_FWU_NUM_IMAGES_PER_BANK, TF-A's NR_OF_FW_BANKS / NR_OF_IMAGES_IN_FW_BANK; 0 and 5
    // banks are out of range on purpose).
    let other = V1Geometry { banks: usize::from(selector & 0x07).min(5), images: usize::from(selector >> 3) % 5 };
    for geometry in [fwu::ST_GEOMETRY, other] {
        check(bytes, geometry);
    }
}

fn check(bytes: &[u8], geometry: V1Geometry) {
    let decoded = Metadata::decode(bytes, geometry);
    // What `plan::rules::ensure_fwu_metadata_matches` does with it, for both versions a board may ask for.
    for version in [Version::V1, Version::V2] {
        let checked = decoded.as_ref().map_err(Clone::clone).and_then(|m| m.check_banks(version, guid::FIP, &fwu::st_fip_partitions()));
        if let Err(e) = checked {
            let _ = e.to_string();
        }
    }
    let Ok(metadata) = decoded else { return };
    metadata.check_shape().expect("decoded metadata has the shape the encoder needs");
    let encoded = metadata.encode().expect("decoded metadata encodes");
    assert_eq!(encoded.len(), metadata.encoded_len());
    let again = Metadata::decode(&encoded, geometry).expect("encoded metadata decodes");
    assert_eq!(again, metadata, "encode -> decode round trip");
    // The first image of its type names its own banks.
    let first = &metadata.images[0];
    let banks: Vec<BankPartition> =
        first.banks.iter().enumerate().map(|(i, b)| BankPartition { name: format!("bank{i}"), unique: b.image }).collect();
    metadata.check_banks(metadata.version, first.image_type, &banks).expect("the metadata's own banks match");
    let _ = format!("{metadata:?}");
}
