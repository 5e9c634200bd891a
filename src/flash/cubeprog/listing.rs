//! What `STM32_Programmer_CLI -l usb` prints: one `Device Index` block per board in USB DFU mode (the programmer's
//! `usbN` index, bus and address, product string, serial number, device id).
//!
//! Pure. The block layout is the guide's (v2.2.0); the 0- and 3-board shapes are extrapolated from it (see
//! `tests/fixtures/programmer/`).

use crate::flash::devices::DfuDevice;

/// What `-l usb` printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The device blocks, in the programmer's order.
    pub devices: Vec<DfuDevice>,
    /// `Total number of available STM32 device in DFU mode: N`, when printed.
    pub announced: Option<u32>,
    /// `Error:` lines.
    pub errors: Vec<String>,
}

pub(crate) fn parse_u16(text: &str) -> Option<u16> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16).ok(),
        None => t.parse::<u16>().ok(),
    }
}

/// Parse the output of `STM32_Programmer_CLI -l usb`. Only the DFU section is read.
#[must_use]
pub fn parse_list(text: &str) -> Listing {
    let mut out = Listing::default();
    let mut in_dfu = true;
    let mut current: Option<DfuDevice> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with("=====") {
            in_dfu = line.to_ascii_lowercase().contains("dfu");
            if let Some(d) = current.take() {
                out.devices.push(d);
            }
            continue;
        }
        if line.to_ascii_lowercase().starts_with("error:") {
            out.errors.push(line.to_string());
            continue;
        }
        if !in_dfu {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let key = key.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase();
        let value = value.trim().to_string();
        if key.starts_with("total number of available") {
            out.announced = value.parse().ok();
            continue;
        }
        if key == "device index" {
            if let Some(d) = current.take() {
                out.devices.push(d);
            }
            let digits: String = value.chars().filter(char::is_ascii_digit).collect();
            current = Some(DfuDevice { index: digits.parse().unwrap_or(0), ..DfuDevice::default() });
            continue;
        }
        let Some(d) = current.as_mut() else { continue };
        match key.as_str() {
            "usb bus number" => d.bus = parse_u16(&value),
            "usb address number" => d.address = parse_u16(&value),
            "product id" => d.product = value,
            "serial number" => d.serial = value,
            "firmware version" => d.firmware = value,
            "device id" => d.device_id = value,
            _ => {}
        }
    }
    if let Some(d) = current.take() {
        out.devices.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::{
        devices::{soc_name, stage_name},
        test_fixture as fixture,
    };

    #[test]
    fn the_guides_listing() {
        let l = parse_list(&fixture("list_usb_1.txt"));
        assert_eq!(l.announced, Some(1));
        assert_eq!(
            l.devices,
            vec![DfuDevice {
                index: 1,
                bus: Some(3),
                address: Some(3),
                product: "DFU in HS Mode @Device ID /0x500, @Revision ID /0x0000".into(),
                serial: "004200343338510534383330".into(),
                firmware: "0x0110".into(),
                device_id: "0x0500".into(),
                usb_path: None,
            }]
        );
        assert_eq!(soc_name(&l.devices[0].device_id, &l.devices[0].product), Some("STM32MP15"));
        assert_eq!(stage_name(&l.devices[0].product), "ROM or TF-A");
    }

    #[test]
    fn zero_and_three_boards() {
        let l = parse_list(&fixture("list_usb_0.txt"));
        assert_eq!((l.announced, l.devices.len()), (Some(0), 0));
        let l = parse_list(&fixture("list_usb_3.txt"));
        assert_eq!(l.devices.len(), 3);
        assert_eq!(l.devices.iter().map(DfuDevice::port).collect::<Vec<_>>(), ["usb1", "usb2", "usb3"]);
        assert_eq!(l.devices[1].serial(), Some("0019002C3431511733353431"));
        assert_eq!(l.devices[2].serial(), None);
        assert_eq!((l.devices[2].bus, l.devices[2].address), (Some(1), Some(7)));
        assert_eq!(stage_name(&l.devices[2].product), "no descriptors (bad state)");
    }

    #[test]
    fn other_sections_and_errors_are_not_boards() {
        let text = "===== DFU Interface =====\nError: No DFU device found\n===== STLink Interface =====\n  Device Index : 1\n";
        let l = parse_list(text);
        assert!(l.devices.is_empty());
        assert_eq!(l.errors, ["Error: No DFU device found"]);
    }
}
