//! What a board in DFU mode says about itself: its USB path, the product string (which program answers, which SoC),
//! the DFU interface's alternates (`@name /0xID/...` strings) and its functional descriptor.
//!
//! Pure: the transport hands over raw descriptor bytes and strings ([`RawDevice`]); [`DfuDevice::parse`] reads
//! them. How each stage builds its strings (read in the device sources):
//!
//! * ROM: product `DFU in HS Mode @Device ID /0x500, @Revision ID /0x0000` (from a published STM32CubeProgrammer
//!   session, `tests/fixtures/programmer/success_guide_v2.2.0.txt`; the ROM is closed).
//! * TF-A: product `DFU @Device ID /0x%03X, @Revision ID /0x%04X, @Name /%s,` (`stm32mp1_usb_dfu.c` and
//!   `stm32mp2_usb_dfu.c` `*_product_desc`; ST's v2.4-stm32mp line prints the same words from `int_to_str`);
//!   alternates `@Partition0 /0x00/1*256Ke` ... `@virtual /0xF1/1*512Ba` (MP15), `@SSBL /0x03/1*16Me` +
//!   virtual (MP13), `@DDR FIP /0x02/1*32Ke`, `@FIP /0x03/1*16Me` + virtual (MP25); one functional descriptor at
//!   the end of the configuration.
//! * U-Boot `stm32prog`: product `USB download gadget@Device ID /0x%03X, @Revision ID /0x%04X, @Name /%s,`
//!   (`stm32prog_usb.c` `stm32prog_usb_loop`; before commit 03c4e6224a0 without `@Name`); alternates
//!   `@%s/0x%02x/1*%d%c%c` (`stm32prog.c` `stm32prog_alt_add`, ordered by phase id, lower-case hex, no space),
//!   `@FlashLayout/0x00/1*256Ke`, `@virtual/0xf1/1*512Be`, `@OTP/0xf2/...`, `@PMIC/0xf4/1*8Be`.
//!
//! So an alternate is found by the `/0xID/` in its string, case-insensitively, never by its index.

use std::{collections::BTreeMap, fmt};

use serde::Serialize;

use super::{
    error::ProtocolError,
    protocol::{FUNCTIONAL_DESCRIPTOR_TYPE, FunctionalDescriptor, block_size},
    stm32prog::PhaseId,
};
use crate::{board::Soc, units::ByteSize};

/// ST's USB vendor id.
pub const ST_VENDOR: u16 = 0x0483;
/// The DFU product id of the ROM, TF-A and U-Boot `stm32prog` alike.
pub const DFU_PRODUCT: u16 = 0xdf11;
/// The language of every string the three stages send (`USBD_LANGID_STRING`, U-Boot `0x0409`).
pub const LANGUAGE_EN_US: u16 = 0x0409;

/// A board's place on the USB tree: the sysfs port path `BUS-PORT[.PORT…]` (`3-1.2`). It stays the same across the
/// re-enumerations between stages, as long as the cable stays in the same port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct UsbPath(String);

impl UsbPath {
    /// Parse `BUS-PORT[.PORT…]`: a bus number, a dash, then dot-separated port numbers (1 to 7 levels).
    pub fn parse(text: &str) -> Result<UsbPath, ProtocolError> {
        let bad = || ProtocolError::BadUsbPath(text.to_string());
        let (bus, ports) = text.split_once('-').ok_or_else(bad)?;
        let number = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
        let ports: Vec<&str> = ports.split('.').collect();
        if !number(bus) || ports.is_empty() || ports.len() > 7 || !ports.iter().all(|p| number(p)) {
            return Err(bad());
        }
        Ok(UsbPath(text.to_string()))
    }

    /// The path from a bus number and the chain of port numbers (what `nusb` reports).
    #[must_use]
    pub fn from_ports(bus: u8, ports: &[u8]) -> UsbPath {
        let chain: Vec<String> = ports.iter().map(ToString::to_string).collect();
        UsbPath(format!("{bus}-{}", chain.join(".")))
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UsbPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One enumeration of a board: bus number and device address. A board that re-enumerates gets a new address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Connection {
    /// Bus number.
    pub bus: u8,
    /// Device address on the bus.
    pub address: u8,
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bus {:03} address {:03}", self.bus, self.address)
    }
}

/// Which program answers on USB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Stage {
    /// The closed boot ROM (takes the FSBL on 0x01).
    #[serde(rename = "ROM")]
    Rom,
    /// TF-A BL2 built with `STM32MP_USB_PROGRAMMER` (takes the layout, the DDR firmware, the SSBL/FIP).
    #[serde(rename = "TF-A")]
    Tfa,
    /// U-Boot `stm32prog` (takes the layout and then every partition).
    #[serde(rename = "U-Boot")]
    Uboot,
    /// A product string none of the three sends.
    #[serde(rename = "unknown")]
    Unknown,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Rom => "ROM",
            Stage::Tfa => "TF-A",
            Stage::Uboot => "U-Boot",
            Stage::Unknown => "unknown",
        })
    }
}

/// What the product string says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    /// The stage, from the words before `@Device ID`.
    pub stage: Stage,
    /// The `@Device ID /0x...` value (0x500 MP15, 0x501 MP13, 0x505 MP25).
    pub device_id: Option<u16>,
    /// The `@Revision ID /0x...` value.
    pub revision: Option<u16>,
    /// The `@Name /...` value, when sent (TF-A, U-Boot since 2021).
    pub name: Option<String>,
}

fn field_hex(text: &str, key: &str) -> Option<u16> {
    let at = text.find(key)? + key.len();
    let rest = text[at..].trim_start();
    let rest = rest.strip_prefix('/').unwrap_or(rest).trim_start();
    let rest = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X"))?;
    let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    u16::from_str_radix(&hex, 16).ok()
}

impl Product {
    /// Parse a product string.
    #[must_use]
    pub fn parse(text: &str) -> Product {
        let t = text.trim();
        let stage = if t.starts_with("USB download gadget") {
            Stage::Uboot
        } else if t.starts_with("DFU in ") {
            Stage::Rom
        } else if t.starts_with("DFU @") || t.starts_with("DFU@") {
            Stage::Tfa
        } else {
            Stage::Unknown
        };
        let name = t.find("@Name").map(|at| {
            let rest = t[at + 5..].trim_start();
            let rest = rest.strip_prefix('/').unwrap_or(rest);
            rest.split(',').next().unwrap_or("").trim().to_string()
        });
        Product { stage, device_id: field_hex(t, "@Device ID"), revision: field_hex(t, "@Revision ID"), name: name.filter(|n| !n.is_empty()) }
    }

    /// The SoC family the Device ID names.
    #[must_use]
    pub fn soc(&self) -> Option<Soc> {
        Soc::from_device_id(self.device_id?)
    }
}

/// An alternate's `iInterface` string, read: `@<name>/0x<ID>/<count>*<size><unit><access>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AltName {
    /// The name without `@` and trailing blanks (`FSBL`, `virtual`, `rootfs`).
    pub name: String,
    /// The phase id.
    pub phase: PhaseId,
    /// `count * size * unit`, when the size part parses.
    pub size: Option<ByteSize>,
    /// The access letter (`e` read/write, `a` read-only in stm32prog).
    pub access: Option<char>,
}

impl AltName {
    /// Parse an alternate string; `None` when it carries no `/0xID/`.
    #[must_use]
    pub fn parse(text: &str) -> Option<AltName> {
        let t = text.trim();
        let body = t.strip_prefix('@').unwrap_or(t);
        let bytes = body.as_bytes();
        let mut search = 0;
        while let Some(rel) = body[search..].find("/0") {
            let at = search + rel;
            search = at + 1;
            if !matches!(bytes.get(at + 2), Some(b'x' | b'X')) {
                continue;
            }
            let digits_start = at + 3;
            let digits: String = body[digits_start..].chars().take_while(char::is_ascii_hexdigit).collect();
            if digits.is_empty() || digits.len() > 2 || bytes.get(digits_start + digits.len()) != Some(&b'/') {
                continue;
            }
            let phase = PhaseId(u8::from_str_radix(&digits, 16).ok()?);
            let name = body[..at].trim().to_string();
            let rest = &body[digits_start + digits.len() + 1..];
            let (size, access) = parse_size(rest);
            return Some(AltName { name, phase, size, access });
        }
        None
    }
}

/// `1*16Me` → (16 MiB, 'e'); `1*512Ba` → (512, 'a').
fn parse_size(text: &str) -> (Option<ByteSize>, Option<char>) {
    let first = text.split_whitespace().next().unwrap_or("");
    let Some((count, rest)) = first.split_once('*') else { return (None, None) };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let mut tail = rest[digits.len()..].chars();
    let unit = match tail.next() {
        Some('B') => 1u64,
        Some('K') => 1 << 10,
        Some('M') => 1 << 20,
        Some('G') => 1 << 30,
        _ => return (None, None),
    };
    let access = tail.next();
    let size = count.parse::<u64>().ok().zip(digits.parse::<u64>().ok()).and_then(|(c, s)| c.checked_mul(s)?.checked_mul(unit));
    (size.map(ByteSize::new), access)
}

/// One alternate setting of the DFU interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alternate {
    /// `bAlternateSetting`: what SET_INTERFACE takes.
    pub setting: u8,
    /// The `iInterface` string as sent.
    pub text: String,
    /// The string read, when it has a `/0xID/`.
    pub parsed: Option<AltName>,
}

/// What the transport reads from a board: its place, raw descriptors and the strings they point at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawDevice {
    /// Sysfs port path.
    pub path: Option<UsbPath>,
    /// Bus and address.
    pub connection: Option<Connection>,
    /// The serial number string.
    pub serial: Option<String>,
    /// The product string, read from the device now (not the kernel's copy from enumeration time).
    pub product: Option<String>,
    /// The 18-byte device descriptor.
    pub device_descriptor: Vec<u8>,
    /// The active configuration descriptor with everything after it (`wTotalLength` bytes).
    pub configuration: Vec<u8>,
    /// String descriptors by index (at least every `iInterface` of the DFU interface).
    pub strings: BTreeMap<u8, String>,
}

/// The fields of a device descriptor that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeviceDescriptor {
    /// `bMaxPacketSize0`.
    pub max_packet_size0: u8,
    /// `idVendor`.
    pub vendor: u16,
    /// `idProduct`.
    pub product_id: u16,
    /// `bcdDevice` (U-Boot's gadget: 0x0200).
    pub device_release: u16,
    /// `iProduct`.
    pub product_index: u8,
    /// `iSerialNumber`.
    pub serial_index: u8,
}

impl DeviceDescriptor {
    /// Parse the 18 bytes.
    pub fn parse(bytes: &[u8]) -> Result<DeviceDescriptor, ProtocolError> {
        if bytes.len() < 18 || bytes[1] != 0x01 {
            return Err(ProtocolError::BadDeviceDescriptor { length: bytes.len() });
        }
        Ok(DeviceDescriptor {
            max_packet_size0: bytes[7],
            vendor: u16::from_le_bytes([bytes[8], bytes[9]]),
            product_id: u16::from_le_bytes([bytes[10], bytes[11]]),
            device_release: u16::from_le_bytes([bytes[12], bytes[13]]),
            product_index: bytes[15],
            serial_index: bytes[16],
        })
    }
}

/// The DFU interface found in a configuration descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DfuInterface {
    /// `bInterfaceNumber`.
    pub number: u8,
    /// `(bAlternateSetting, iInterface)` in descriptor order.
    pub settings: Vec<(u8, u8)>,
    /// The functional descriptor.
    pub functional: FunctionalDescriptor,
}

/// Find the DFU-mode interface (class 0xFE, subclass 0x01, protocol 0x02) and its functional descriptor in a
/// configuration descriptor. TF-A puts one functional descriptor after the last alternate
/// (`USB_DFU_CONFIG_DESC_SIZ`); U-Boot's `f_dfu` does the same; DFU 1.1 allows it after each.
pub fn parse_configuration(bytes: &[u8]) -> Result<DfuInterface, ProtocolError> {
    let mut offset = 0;
    let mut current: Option<u8> = None;
    let mut number = None;
    let mut settings = Vec::new();
    let mut functional = None;
    while offset < bytes.len() {
        let len = usize::from(bytes[offset]);
        if len < 2 || offset + len > bytes.len() {
            return Err(ProtocolError::BadConfiguration { offset, reason: "a descriptor's bLength runs past the end or is below 2" });
        }
        let d = &bytes[offset..offset + len];
        match d[1] {
            0x02 if offset != 0 => return Err(ProtocolError::BadConfiguration { offset, reason: "a second configuration descriptor" }),
            0x04 => {
                if len < 9 {
                    return Err(ProtocolError::BadConfiguration { offset, reason: "an interface descriptor shorter than 9 bytes" });
                }
                let is_dfu = d[5] == 0xFE && d[6] == 0x01 && d[7] == 0x02;
                current = is_dfu.then_some(d[2]);
                if is_dfu && number.is_none_or(|n| n == d[2]) {
                    number = Some(d[2]);
                    settings.push((d[3], d[8]));
                }
            }
            FUNCTIONAL_DESCRIPTOR_TYPE if current.is_some() && current == number && functional.is_none() => {
                functional = Some(FunctionalDescriptor::parse(d)?);
            }
            _ => {}
        }
        offset += len;
    }
    let number = number.ok_or(ProtocolError::NoDfuInterface)?;
    let functional = functional.ok_or(ProtocolError::NoFunctionalDescriptor)?;
    Ok(DfuInterface { number, settings, functional })
}

/// A board in DFU mode, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DfuDevice {
    /// Sysfs port path.
    pub path: Option<UsbPath>,
    /// Bus and address of this enumeration.
    pub connection: Option<Connection>,
    /// Serial number.
    pub serial: Option<String>,
    /// The product string as sent.
    pub product_text: String,
    /// The product string, read.
    pub product: Product,
    /// The device descriptor.
    pub device: DeviceDescriptor,
    /// `bInterfaceNumber` of the DFU interface.
    pub interface: u8,
    /// The alternates, in descriptor order.
    pub alternates: Vec<Alternate>,
    /// The functional descriptor.
    pub functional: FunctionalDescriptor,
}

impl DfuDevice {
    /// Read a raw device.
    pub fn parse(raw: &RawDevice) -> Result<DfuDevice, ProtocolError> {
        let device = DeviceDescriptor::parse(&raw.device_descriptor)?;
        let iface = parse_configuration(&raw.configuration)?;
        let alternates = iface
            .settings
            .iter()
            .map(|&(setting, index)| {
                let text = raw.strings.get(&index).cloned().unwrap_or_default();
                let parsed = AltName::parse(&text);
                Alternate { setting, text, parsed }
            })
            .collect();
        let product_text = raw.product.clone().unwrap_or_default();
        Ok(DfuDevice {
            path: raw.path.clone(),
            connection: raw.connection,
            serial: raw.serial.clone(),
            product: Product::parse(&product_text),
            product_text,
            device,
            interface: iface.number,
            alternates,
            functional: iface.functional,
        })
    }

    /// The alternate whose string carries `/0x<phase>/`.
    #[must_use]
    pub fn alternate_for(&self, phase: PhaseId) -> Option<&Alternate> {
        self.alternates.iter().find(|a| a.parsed.as_ref().is_some_and(|p| p.phase == phase))
    }

    /// The strings of every alternate.
    #[must_use]
    pub fn offered(&self) -> Vec<String> {
        self.alternates.iter().map(|a| a.text.clone()).collect()
    }

    /// The DNLOAD block size (see [`block_size`]).
    pub fn block_size(&self) -> Result<u32, ProtocolError> {
        block_size(self.functional.transfer_size, self.device.max_packet_size0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A device descriptor as TF-A's `usb_stm32mp1_desc` builds it (EP0 64 bytes, 0483:df11, bcdDevice 0x0200).
    pub(crate) fn device_descriptor() -> Vec<u8> {
        vec![18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x83, 0x04, 0x11, 0xdf, 0x00, 0x02, 1, 2, 3, 1]
    }

    /// A configuration like TF-A's `usb_stm32mp1_config_desc`: one interface, `n` alternates with `iInterface`
    /// 4, 5, ... (`USBD_IDX_USER0_STR + n`), then one functional descriptor.
    pub(crate) fn configuration(settings: &[(u8, u8)], functional: FunctionalDescriptor) -> Vec<u8> {
        let mut c = vec![9, 2, 0, 0, 1, 1, 2, 0xC0, 0x32];
        for &(alt, string) in settings {
            c.extend_from_slice(&[9, 4, 0, alt, 0, 0xFE, 0x01, 0x02, string]);
        }
        c.extend_from_slice(&functional.encode());
        let total = u16::try_from(c.len()).unwrap().to_le_bytes();
        c[2] = total[0];
        c[3] = total[1];
        c
    }

    /// TF-A `stm32mp1_usb_dfu.c` `if_desc_string` (MP15) and U-Boot `stm32prog_alt_add` / `stm32prog_alt_add_virt`.
    #[test]
    fn alternate_strings_of_tfa_and_uboot() {
        let fsbl = AltName::parse("@FSBL /0x01/1*1Me").unwrap();
        assert_eq!((fsbl.name.as_str(), fsbl.phase, fsbl.size, fsbl.access), ("FSBL", PhaseId(1), Some(ByteSize::new(1 << 20)), Some('e')));
        let tfa_virtual = AltName::parse("@virtual /0xF1/1*512Ba").unwrap();
        assert_eq!((tfa_virtual.phase, tfa_virtual.size, tfa_virtual.access), (PhaseId(0xF1), Some(ByteSize::new(512)), Some('a')));
        let uboot_virtual = AltName::parse("@virtual/0xf1/1*512Be").unwrap();
        assert_eq!((uboot_virtual.name.as_str(), uboot_virtual.phase), ("virtual", PhaseId(0xF1)));
        let ddr = AltName::parse("@DDR FIP /0x02/1*32Ke").unwrap();
        assert_eq!((ddr.name.as_str(), ddr.phase, ddr.size), ("DDR FIP", PhaseId(2), Some(ByteSize::new(32 << 10))));
        let part = AltName::parse("@rootfs/0x10/1*3Ge").unwrap();
        assert_eq!((part.phase, part.size), (PhaseId(0x10), Some(ByteSize::new(3 << 30))));
        let layout = AltName::parse("@FlashLayout/0x00/1*256Ke").unwrap();
        assert_eq!(layout.phase, PhaseId(0));
        // A name with a slash before the id, and strings without an id.
        assert_eq!(AltName::parse("@a/b/0x12/1*1Ke").unwrap().phase, PhaseId(0x12));
        assert!(AltName::parse("DFU Interface").is_none());
        assert!(AltName::parse("@mmc0_fsbl1").is_none());
        assert!(AltName::parse("@x/0x123/1*1Ke").is_none());
    }

    /// The product strings of the three stages (see the module docs for where each comes from).
    #[test]
    fn product_strings_name_the_stage_and_the_soc() {
        let rom = Product::parse("DFU in HS Mode @Device ID /0x500, @Revision ID /0x0000");
        assert_eq!((rom.stage, rom.device_id, rom.revision, rom.soc()), (Stage::Rom, Some(0x500), Some(0), Some(Soc::Stm32mp15)));
        let tfa = Product::parse("DFU @Device ID /0x501, @Revision ID /0x1003, @Name /STM32MP135F Rev.Y,");
        assert_eq!((tfa.stage, tfa.soc(), tfa.name.as_deref()), (Stage::Tfa, Some(Soc::Stm32mp13), Some("STM32MP135F Rev.Y")));
        let uboot = Product::parse("USB download gadget@Device ID /0x505, @Revision ID /0x2000, @Name /STM32MP257F Rev.B,");
        assert_eq!((uboot.stage, uboot.soc(), uboot.revision), (Stage::Uboot, Some(Soc::Stm32mp25), Some(0x2000)));
        let old_uboot = Product::parse("USB download gadget@Device ID /0x500, @Revision ID /0x0000");
        assert_eq!((old_uboot.stage, old_uboot.name), (Stage::Uboot, None));
        let other = Product::parse("STM32  BOOTLOADER");
        assert_eq!((other.stage, other.soc()), (Stage::Unknown, None));
        assert_eq!(Product::parse("DFU @Device ID /0x503, @Revision ID /0x1000").soc(), None);
    }

    /// Alternates are looked up by `/0xID/`, never by index: U-Boot orders them by phase id and skips `none`
    /// partitions, so alternate 0 is `@fsbl1/0x04/...` while TF-A's alternate 0 is `@Partition0 /0x00/...`.
    #[test]
    fn alternates_are_found_by_id_not_by_index() {
        let func = FunctionalDescriptor { attributes: 0x0F, detach_timeout_ms: 0, transfer_size: 4096, dfu_version: 0x0110 };
        let mut strings = BTreeMap::new();
        for (i, s) in
            ["@fsbl1/0x04/1*256Ke", "@fsbl2/0x05/1*256Ke", "@fip/0x06/1*4Me", "@rootfs/0x10/1*1Ge", "@virtual/0xf1/1*512Be"].iter().enumerate()
        {
            strings.insert(u8::try_from(i).unwrap() + 4, (*s).to_string());
        }
        let raw = RawDevice {
            path: Some(UsbPath::parse("3-1.2").unwrap()),
            connection: Some(Connection { bus: 3, address: 9 }),
            serial: Some("004200343338510534383330".into()),
            product: Some("USB download gadget@Device ID /0x500, @Revision ID /0x2000, @Name /STM32MP157F Rev.Z,".into()),
            device_descriptor: device_descriptor(),
            configuration: configuration(&[(0, 4), (1, 5), (2, 6), (3, 7), (4, 8)], func),
            strings,
        };
        let dev = DfuDevice::parse(&raw).unwrap();
        assert_eq!(dev.alternate_for(PhaseId(0x10)).unwrap().setting, 3);
        assert_eq!(dev.alternate_for(PhaseId(0xF1)).unwrap().setting, 4);
        assert!(dev.alternate_for(PhaseId(0x00)).is_none());
        assert!(dev.alternate_for(PhaseId(0x03)).is_none());
        assert_eq!(dev.block_size().unwrap(), 4096);
        assert_eq!(dev.product.stage, Stage::Uboot);
    }

    #[test]
    fn configuration_without_dfu_or_functional_descriptor_is_refused() {
        let func = FunctionalDescriptor { attributes: 0x0F, detach_timeout_ms: 0, transfer_size: 1024, dfu_version: 0x0110 };
        let mut c = configuration(&[(0, 4)], func);
        c.truncate(c.len() - 9);
        assert_eq!(parse_configuration(&c), Err(ProtocolError::NoFunctionalDescriptor));
        let mut runtime = configuration(&[(0, 4)], func);
        runtime[9 + 7] = 0x01; // runtime protocol, not DFU mode
        assert_eq!(parse_configuration(&runtime), Err(ProtocolError::NoDfuInterface));
        let mut truncated = configuration(&[(0, 4)], func);
        truncated.truncate(12);
        assert!(matches!(parse_configuration(&truncated), Err(ProtocolError::BadConfiguration { offset: 9, .. })));
        let parsed = parse_configuration(&configuration(&[(0, 4), (1, 5)], func)).unwrap();
        assert_eq!(parsed.settings, vec![(0, 4), (1, 5)]);
    }

    #[test]
    fn usb_paths() {
        assert_eq!(UsbPath::parse("3-1").unwrap().as_str(), "3-1");
        assert_eq!(UsbPath::parse("1-2.4.1").unwrap().to_string(), "1-2.4.1");
        assert_eq!(UsbPath::from_ports(3, &[1, 2]).as_str(), "3-1.2");
        for bad in ["usb1", "3", "3-", "3-1.", "-1", "3-1.x", "a-1"] {
            assert!(UsbPath::parse(bad).is_err(), "{bad}");
        }
    }
}
