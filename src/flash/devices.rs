//! Boards in USB DFU mode as any back end sees them: the USB devices sysfs shows for `0483:df11`, where a board sits
//! on the USB tree ([`UsbLocation`], with the sysfs port path that stays the same across re-enumerations), which stage
//! answers, and the programmer's listing joined with sysfs on bus and address.
//!
//! Pure.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::cubeprog::listing::parse_u16;
use crate::dfu::listing::ListedBoard;

/// ST's USB vendor id.
pub const ST_VENDOR: u16 = 0x0483;
/// The DFU product id used by the ROM, TF-A and U-Boot `stm32prog` alike.
pub const DFU_PRODUCT: u16 = 0xdf11;

/// A board listed in USB DFU mode by the back end's discovery (ST's programmer: one `Device Index` block of `-l usb`).
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
    /// The sysfs port path, when the discovery read it itself (the built-in client's USB scan; ST's listing has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usb_path: Option<String>,
}

impl DfuDevice {
    /// `usb1`.
    #[must_use]
    pub fn port(&self) -> String {
        format!("usb{}", self.index)
    }

    /// How messages name it: its USB path when the discovery knows it, else its index (`usb1`).
    #[must_use]
    pub fn name(&self) -> String {
        self.usb_path.clone().unwrap_or_else(|| self.port())
    }

    /// The serial number, when there is one.
    #[must_use]
    pub fn serial(&self) -> Option<&str> {
        if self.serial.is_empty() { None } else { Some(&self.serial) }
    }
}

/// The SoC family a DFU `Device ID` / product string names (`flashers.md` §1.2: 0x500 MP15, 0x501 MP13, 0x505 MP25).
#[must_use]
pub fn soc_name(device_id: &str, product: &str) -> Option<&'static str> {
    let id = parse_u16(device_id).or_else(|| {
        let at = product.find("/0x")?;
        let hex: String = product[at + 3..].chars().take_while(char::is_ascii_hexdigit).collect();
        u16::from_str_radix(&hex, 16).ok()
    })?;
    crate::board::Soc::from_device_id(id).map(crate::board::Soc::label)
}

/// Which program answers on USB, from the product string.
#[must_use]
pub fn stage_name(product: &str) -> &'static str {
    let p = product.to_ascii_lowercase();
    if p.is_empty() {
        "no descriptors (bad state)"
    } else if p.starts_with("dfu in") {
        "ROM or TF-A"
    } else if p.starts_with("dfu @") || p.starts_with("dfu@") {
        "TF-A"
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

/// A board as `devices` shows it: what the board itself said on USB (stage, SoC, alternates), what the programmer
/// listed, what sysfs shows; any of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Board {
    /// The programmer's block, when it listed the board.
    pub listed: Option<DfuDevice>,
    /// Where it is on USB.
    pub usb: Option<UsbLocation>,
    /// sysfs's view, when found there.
    pub sysfs: Option<SysfsDevice>,
    /// The board's own descriptors, read over USB (`effects::usb_dfu::scan`), when it was scanned.
    pub dfu: Option<ListedBoard>,
}

impl Board {
    /// The serial number from the board itself, else from the programmer, else from sysfs.
    #[must_use]
    pub fn serial(&self) -> Option<&str> {
        self.dfu
            .as_ref()
            .and_then(|d| d.serial.as_deref())
            .filter(|s| !s.is_empty())
            .or_else(|| self.listed.as_ref().and_then(DfuDevice::serial))
            .or_else(|| self.sysfs.as_ref().and_then(|s| s.serial.as_deref()).filter(|s| !s.is_empty()))
    }
}

/// The USB location of a listed device, completed with its sysfs port path (the one the discovery read, else the
/// sysfs entry at the same bus and address).
#[must_use]
pub fn locate(device: &DfuDevice, sysfs: &[SysfsDevice]) -> Option<UsbLocation> {
    let (bus, address) = (device.bus?, device.address?);
    let path = device.usb_path.clone().or_else(|| sysfs.iter().find(|s| s.bus == bus && s.address == address).map(|s| s.path.clone()));
    Some(UsbLocation { bus, address, path })
}

/// Check a USB port path as sysfs names it, `BUS-PORT[.PORT…]` (`3-1`, `1-4.2.3`): numbers only, the bus from 1, at
/// most 7 ports deep (USB allows 5 hubs and the device). Returns the path as given, trimmed.
pub fn parse_usb_path(text: &str) -> Result<String, String> {
    let t = text.trim();
    let number = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    let ok = match t.split_once('-') {
        Some((bus, ports)) => {
            number(bus) && bus.parse::<u16>().is_ok_and(|b| b >= 1) && ports.split('.').count() <= 7 && ports.split('.').all(number)
        }
        None => false,
    };
    if ok { Ok(t.to_string()) } else { Err(format!("`{text}` is not a USB port path: write BUS-PORT[.PORT…], e.g. 3-1 or 1-4.2")) }
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
        out.push(Board { listed: Some(d.clone()), usb: locate(d, sysfs), sysfs: sys, dfu: None });
    }
    let mut rest: Vec<&SysfsDevice> = dfu.iter().zip(&used).filter(|(_, u)| !**u).map(|(s, _)| *s).collect();
    rest.sort_by(|a, b| a.path.cmp(&b.path));
    for s in rest {
        out.push(Board {
            listed: None,
            usb: Some(UsbLocation { bus: s.bus, address: s.address, path: Some(s.path.clone()) }),
            sysfs: Some(s.clone()),
            dfu: None,
        });
    }
    out
}

/// Add what the USB scan read to the joined boards: to the board at the same USB path (else the same bus and
/// address); a scanned board found nowhere else comes last, by path.
#[must_use]
pub fn with_scan(mut boards: Vec<Board>, scanned: Vec<ListedBoard>) -> Vec<Board> {
    for s in scanned {
        let path = s.usb_path.as_ref().map(|p| p.as_str().to_string());
        let bus_address = s.bus.zip(s.address).map(|(b, a)| (u16::from(b), u16::from(a)));
        let same = |b: &Board| {
            let u = b.usb.as_ref();
            match (&path, u.and_then(|u| u.path.as_ref())) {
                (Some(p), Some(q)) => p == q,
                _ => u.is_some_and(|u| Some((u.bus, u.address)) == bus_address),
            }
        };
        match boards.iter_mut().find(|b| b.dfu.is_none() && same(b)) {
            Some(b) => {
                if b.usb.is_none() {
                    b.usb = bus_address.map(|(bus, address)| UsbLocation { bus, address, path: path.clone() });
                }
                b.dfu = Some(s);
            }
            None => boards.push(Board {
                listed: None,
                usb: bus_address.map(|(bus, address)| UsbLocation { bus, address, path: path.clone() }),
                sysfs: None,
                dfu: Some(s),
            }),
        }
    }
    boards
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::{cubeprog::listing::parse_list, test_fixture as fixture};

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

    #[test]
    fn usb_paths() {
        assert_eq!(parse_usb_path("3-1"), Ok("3-1".to_string()));
        assert_eq!(parse_usb_path(" 1-4.2.3 "), Ok("1-4.2.3".to_string()));
        for bad in ["3", "3-", "0-1", "3-1.", "3-a", "usb1", "3-1:1.0", "-1", "1-1.1.1.1.1.1.1.1"] {
            assert!(parse_usb_path(bad).is_err(), "{bad}");
        }
    }
}
