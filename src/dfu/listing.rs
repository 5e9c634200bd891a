//! The boards in DFU mode as `stm32mp-imager devices` lists them straight from USB: USB path, serial number, stage,
//! SoC and alternates.
//!
//! Pure: built from what `effects::usb_dfu::scan` read ([`RawDevice`]s, or the reason one could not be opened).

use serde::Serialize;

use super::descriptors::{AltName, DfuDevice, Product, RawDevice, Stage, UsbPath};
use crate::board::Soc;

/// One board, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedBoard {
    /// Sysfs port path (`3-1.2`).
    pub usb_path: Option<UsbPath>,
    /// Bus number.
    pub bus: Option<u8>,
    /// Device address.
    pub address: Option<u8>,
    /// Serial number.
    pub serial: Option<String>,
    /// Which program answers.
    pub stage: Stage,
    /// The SoC its Device ID names.
    pub soc: Option<Soc>,
    /// The Device ID.
    pub device_id: Option<u16>,
    /// The product string.
    pub product: Option<String>,
    /// The alternates' strings, in setting order.
    pub alternates: Vec<ListedAlternate>,
    /// Why the board could not be read fully (permissions, malformed descriptors).
    pub problem: Option<String>,
}

/// One alternate, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedAlternate {
    /// `bAlternateSetting`.
    pub setting: u8,
    /// The `iInterface` string.
    pub name: String,
    /// Its phase id, when it has one.
    pub phase: Option<u8>,
}

/// What the scan found at one USB device: its read descriptors, or the sysfs facts and why it could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanned {
    /// Opened and read.
    Read(RawDevice),
    /// Not opened: what sysfs says, and the error.
    Unreadable {
        /// Sysfs facts (path, connection, serial, product).
        facts: RawDevice,
        /// The error.
        problem: String,
    },
}

/// The listing of one scanned device.
#[must_use]
pub fn list_board(scanned: &Scanned) -> ListedBoard {
    let (raw, mut problem) = match scanned {
        Scanned::Read(raw) => (raw, None),
        Scanned::Unreadable { facts, problem } => (facts, Some(problem.clone())),
    };
    let product = raw.product.clone();
    let parsed = Product::parse(product.as_deref().unwrap_or(""));
    let mut alternates = Vec::new();
    if problem.is_none() {
        match DfuDevice::parse(raw) {
            Ok(dev) => {
                alternates = dev
                    .alternates
                    .iter()
                    .map(|a| ListedAlternate { setting: a.setting, name: a.text.clone(), phase: AltName::parse(&a.text).map(|n| n.phase.0) })
                    .collect();
            }
            Err(e) => problem = Some(e.to_string()),
        }
    }
    ListedBoard {
        usb_path: raw.path.clone(),
        bus: raw.connection.map(|c| c.bus),
        address: raw.connection.map(|c| c.address),
        serial: raw.serial.clone(),
        stage: parsed.stage,
        soc: parsed.soc(),
        device_id: parsed.device_id,
        product,
        alternates,
        problem,
    }
}

/// Every scanned device listed, sorted by USB path.
#[must_use]
pub fn list_boards(scanned: &[Scanned]) -> Vec<ListedBoard> {
    let mut out: Vec<ListedBoard> = scanned.iter().map(list_board).collect();
    out.sort_by(|a, b| a.usb_path.cmp(&b.usb_path));
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::dfu::{
        descriptors::{
            Connection,
            tests::{configuration, device_descriptor},
        },
        protocol::FunctionalDescriptor,
    };

    #[test]
    fn lists_a_tfa_board_and_an_unreadable_one() {
        let func = FunctionalDescriptor { attributes: 0x0F, detach_timeout_ms: 255, transfer_size: 1024, dfu_version: 0x0110 };
        let strings: BTreeMap<u8, String> =
            [(4, "@SSBL /0x03/1*16Me"), (5, "@virtual /0xF1/1*512Ba")].into_iter().map(|(i, s)| (i, s.to_string())).collect();
        let tfa = RawDevice {
            path: Some(UsbPath::parse("3-2").unwrap()),
            connection: Some(Connection { bus: 3, address: 14 }),
            serial: Some("002B00293433511230363632".into()),
            product: Some("DFU @Device ID /0x501, @Revision ID /0x1003, @Name /STM32MP135F Rev.Y,".into()),
            device_descriptor: device_descriptor(),
            configuration: configuration(&[(0, 4), (1, 5)], func),
            strings,
        };
        let locked = RawDevice {
            path: Some(UsbPath::parse("3-1").unwrap()),
            connection: Some(Connection { bus: 3, address: 11 }),
            serial: Some("004200343338510534383330".into()),
            product: Some("DFU in HS Mode @Device ID /0x500, @Revision ID /0x0000".into()),
            ..RawDevice::default()
        };
        let listed = list_boards(&[Scanned::Read(tfa), Scanned::Unreadable { facts: locked, problem: "permission denied".into() }]);
        assert_eq!(listed[0].usb_path.as_ref().unwrap().as_str(), "3-1");
        assert_eq!((listed[0].stage, listed[0].soc), (Stage::Rom, Some(Soc::Stm32mp15)));
        assert_eq!(listed[0].problem.as_deref(), Some("permission denied"));
        assert_eq!((listed[1].stage, listed[1].soc), (Stage::Tfa, Some(Soc::Stm32mp13)));
        assert_eq!(listed[1].alternates.iter().map(|a| a.phase).collect::<Vec<_>>(), vec![Some(3), Some(0xF1)]);
        let json = serde_json::to_string(&listed[1]).unwrap();
        assert!(json.contains(r#""usb_path":"3-2""#) && json.contains(r#""stage":"TF-A""#), "{json}");
    }
}
