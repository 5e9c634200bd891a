//! Boards in USB DFU mode: the blocks `STM32_Programmer_CLI -l usb` prints, the USB devices sysfs shows for
//! `0483:df11`, and the two joined on USB bus and address.
//!
//! Pure. The `-l usb` block layout is the guide's (v2.2.0); the 0- and 3-board shapes are extrapolated from it (see
//! `tests/fixtures/programmer/`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// ST's USB vendor id.
pub const ST_VENDOR: u16 = 0x0483;
/// The DFU product id used by the ROM, TF-A and U-Boot `stm32prog` alike.
pub const DFU_PRODUCT: u16 = 0xdf11;

/// One `Device Index` block of `-l usb`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DfuDevice {
    /// The index the programmer gives it (`USB1` → 1): enumeration order, not a physical port.
    pub index: u32,
    /// `USB Bus Number`.
    pub bus: Option<u16>,
    /// `USB Address Number`.
    pub address: Option<u16>,
    /// `Product ID` text (empty when the device is in a bad state).
    pub product: String,
    /// `Serial number` (empty when the device is in a bad state).
    pub serial: String,
    /// `Firmware version`.
    pub firmware: String,
    /// `Device ID` (`0x0500` is STM32MP15).
    pub device_id: String,
}

impl DfuDevice {
    /// `usb1`.
    #[must_use]
    pub fn port(&self) -> String {
        format!("usb{}", self.index)
    }

    /// The serial number, when there is one.
    #[must_use]
    pub fn serial(&self) -> Option<&str> {
        if self.serial.is_empty() { None } else { Some(&self.serial) }
    }
}

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

fn parse_u16(text: &str) -> Option<u16> {
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

/// The SoC family a DFU `Device ID` / product string names (`flashers.md` §1.2: 0x500 MP15, 0x501 MP13, 0x505 MP25).
#[must_use]
pub fn soc_name(device_id: &str, product: &str) -> Option<&'static str> {
    let id = parse_u16(device_id).or_else(|| {
        let at = product.find("/0x")?;
        let hex: String = product[at + 3..].chars().take_while(char::is_ascii_hexdigit).collect();
        u16::from_str_radix(&hex, 16).ok()
    })?;
    match id {
        0x500 => Some("STM32MP15"),
        0x501 => Some("STM32MP13"),
        0x505 => Some("STM32MP25"),
        _ => None,
    }
}

/// Which program answers on USB, from the product string.
#[must_use]
pub fn stage_name(product: &str) -> &'static str {
    let p = product.to_ascii_lowercase();
    if p.is_empty() {
        "no descriptors (bad state)"
    } else if p.starts_with("dfu in") {
        "ROM or TF-A"
    } else if p.contains("download gadget") {
        "U-Boot stm32prog"
    } else {
        "unknown"
    }
}

/// Where a board sits on the USB tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsbLocation {
    /// Bus number.
    pub bus: u16,
    /// Device address on the bus (changes at every re-enumeration).
    pub address: u16,
    /// The sysfs port path (`3-1.2`): stable while the cable stays in the same port.
    pub path: Option<String>,
}

impl fmt::Display for UsbLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{p} (bus {:03} address {:03})", self.bus, self.address),
            None => write!(f, "bus {:03} address {:03}", self.bus, self.address),
        }
    }
}

/// A USB device as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SysfsDevice {
    /// The directory name under `/sys/bus/usb/devices` (`3-1.2`).
    pub path: String,
    /// `busnum`.
    pub bus: u16,
    /// `devnum`.
    pub address: u16,
    /// `idVendor`.
    pub vendor: u16,
    /// `idProduct`.
    pub product_id: u16,
    /// `serial`, when present.
    pub serial: Option<String>,
    /// `product`, when present.
    pub product: Option<String>,
}

impl SysfsDevice {
    /// Whether this is an ST DFU device (`0483:df11`).
    #[must_use]
    pub fn is_st_dfu(&self) -> bool {
        self.vendor == ST_VENDOR && self.product_id == DFU_PRODUCT
    }
}

/// A board as `devices` shows it: what the programmer listed, what sysfs shows, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Board {
    /// The programmer's block, when it listed the board.
    pub listed: Option<DfuDevice>,
    /// Where it is on USB.
    pub usb: Option<UsbLocation>,
    /// sysfs's view, when found there.
    pub sysfs: Option<SysfsDevice>,
}

impl Board {
    /// The serial number from the programmer, else from sysfs.
    #[must_use]
    pub fn serial(&self) -> Option<&str> {
        self.listed.as_ref().and_then(DfuDevice::serial).or_else(|| self.sysfs.as_ref().and_then(|s| s.serial.as_deref()).filter(|s| !s.is_empty()))
    }
}

/// The USB location of a listed device, completed with its sysfs port path.
#[must_use]
pub fn locate(device: &DfuDevice, sysfs: &[SysfsDevice]) -> Option<UsbLocation> {
    let (bus, address) = (device.bus?, device.address?);
    let path = sysfs.iter().find(|s| s.bus == bus && s.address == address).map(|s| s.path.clone());
    Some(UsbLocation { bus, address, path })
}

/// Join the programmer's listing with sysfs's `0483:df11` devices (on bus and address). Listed boards come first in
/// the programmer's order, then devices only sysfs sees, by port path.
#[must_use]
pub fn join(listed: &[DfuDevice], sysfs: &[SysfsDevice]) -> Vec<Board> {
    let dfu: Vec<&SysfsDevice> = sysfs.iter().filter(|s| s.is_st_dfu()).collect();
    let mut used = vec![false; dfu.len()];
    let mut out = Vec::new();
    for d in listed {
        let found = dfu.iter().position(|s| Some(s.bus) == d.bus && Some(s.address) == d.address);
        if let Some(i) = found {
            used[i] = true;
        }
        let sys = found.map(|i| dfu[i].clone());
        out.push(Board { listed: Some(d.clone()), usb: locate(d, sysfs), sysfs: sys });
    }
    let mut rest: Vec<&SysfsDevice> = dfu.iter().zip(&used).filter(|(_, u)| !**u).map(|(s, _)| *s).collect();
    rest.sort_by(|a, b| a.path.cmp(&b.path));
    for s in rest {
        out.push(Board {
            listed: None,
            usb: Some(UsbLocation { bus: s.bus, address: s.address, path: Some(s.path.clone()) }),
            sysfs: Some(s.clone()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::test_fixture as fixture;

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

    #[test]
    fn join_on_bus_and_address() {
        let listed = parse_list(&fixture("list_usb_3.txt")).devices;
        let sys = |path: &str, bus, address, product_id| SysfsDevice {
            path: path.into(),
            bus,
            address,
            vendor: ST_VENDOR,
            product_id,
            serial: None,
            product: None,
        };
        let sysfs = vec![sys("3-1", 3, 3, DFU_PRODUCT), sys("3-2", 3, 4, DFU_PRODUCT), sys("2-4", 2, 9, DFU_PRODUCT), sys("1-1", 1, 2, 0x374b)];
        let boards = join(&listed, &sysfs);
        assert_eq!(boards.len(), 4, "three listed, one only in sysfs, the ST-LINK (374b) left out");
        assert_eq!(boards[0].usb.as_ref().and_then(|u| u.path.as_deref()), Some("3-1"));
        assert_eq!(boards[1].usb.as_ref().and_then(|u| u.path.as_deref()), Some("3-2"));
        assert_eq!(boards[2].usb, Some(UsbLocation { bus: 1, address: 7, path: None }));
        assert!(boards[3].listed.is_none());
        assert_eq!(boards[3].usb.as_ref().map(ToString::to_string).as_deref(), Some("2-4 (bus 002 address 009)"));
    }
}
