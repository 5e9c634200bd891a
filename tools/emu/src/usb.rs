//! USB chapter 9 for a DFU-only device: descriptor building and the standard requests on EP0.
//!
//! The descriptor bytes follow TF-A `plat/st/stm32mp1/stm32mp1_usb_dfu.c` (`usb_stm32mp1_desc`,
//! `usb_stm32mp1_config_desc`, `USBD_DFU_IF_DESC` in `plat/st/common/include/usb_dfu.h`) and U-Boot
//! `drivers/usb/gadget/g_dnl.c` (`device_desc`, `g_dnl_config_register`) with `f_dfu.c` (`dfu_prepare_function`,
//! `dfu_func`). The request handling follows TF-A `drivers/usb/usb_device.c` (`usb_core_get_desc`,
//! `usb_core_set_config`, `usb_core_req_status`): unknown requests stall.

/// One control request's 8-byte setup packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub request_type: u8,
    pub request: u8,
    pub value: u16,
    pub index: u16,
    pub length: u16,
}

impl Setup {
    pub fn parse(b: &[u8; 8]) -> Setup {
        Setup {
            request_type: b[0],
            request: b[1],
            value: u16::from_le_bytes([b[2], b[3]]),
            index: u16::from_le_bytes([b[4], b[5]]),
            length: u16::from_le_bytes([b[6], b[7]]),
        }
    }
    pub fn is_in(&self) -> bool {
        self.request_type & 0x80 != 0
    }
    /// 0 standard, 1 class, 2 vendor.
    pub fn kind(&self) -> u8 {
        (self.request_type >> 5) & 3
    }
    /// 0 device, 1 interface, 2 endpoint.
    pub fn recipient(&self) -> u8 {
        self.request_type & 0x1f
    }
}

/// What EP0 answers: IN data (truncated to wLength by the caller), an OUT/no-data success, or a stall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Data(Vec<u8>),
    Ack,
    Stall,
}

/// The DFU functional descriptor (DFU 1.1 §4.1.3), type 0x21.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DfuFunctional {
    pub attributes: u8,
    pub detach_timeout: u16,
    pub transfer_size: u16,
}

impl DfuFunctional {
    pub fn bytes(&self) -> [u8; 9] {
        let d = self.detach_timeout.to_le_bytes();
        let t = self.transfer_size.to_le_bytes();
        [9, 0x21, self.attributes, d[0], d[1], t[0], t[1], 0x10, 0x01]
    }
}

/// Everything one stage enumerates with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub bcd_device: u16,
    pub manufacturer: String,
    pub product: String,
    pub serial: String,
    /// Further strings by index (TF-A: 4 "DFU Config", 5 "DFU Interface"; U-Boot: 4 "Device Firmware Upgrade").
    pub extra_strings: Vec<(u8, String)>,
    /// iConfiguration: 2 in both TF-A (`usb_stm32mp1_config_desc`) and U-Boot (`STRING_USBDOWN`).
    pub iconfiguration: u8,
    /// iInterface strings of alternates 0..n, in order.
    pub alternates: Vec<String>,
    /// bInterfaceProtocol of the DFU-mode interface (2).
    pub interface_protocol: u8,
    pub functional: DfuFunctional,
    /// String index of alternate 0's iInterface (TF-A: USBD_IDX_USER0_STR = 6; U-Boot: after the composite
    /// strings and "Device Firmware Upgrade").
    pub first_alt_string: u8,
    pub config_attributes: u8,
    pub max_power: u8,
}

pub const VID: u16 = 0x0483;
pub const PID: u16 = 0xdf11;
const MANUFACTURER_STR: u8 = 1;
const PRODUCT_STR: u8 = 2;
const SERIAL_STR: u8 = 3;

impl Identity {
    pub fn device_descriptor(&self) -> [u8; 18] {
        let bcd = self.bcd_device.to_le_bytes();
        let vid = VID.to_le_bytes();
        let pid = PID.to_le_bytes();
        [18, 1, 0x00, 0x02, 0, 0, 0, 64, vid[0], vid[1], pid[0], pid[1], bcd[0], bcd[1], MANUFACTURER_STR, PRODUCT_STR, SERIAL_STR, 1]
    }

    /// Configuration descriptor: one interface, one alternate per partition, then the functional descriptor.
    pub fn config_descriptor(&self) -> Vec<u8> {
        let total = 9 + 9 * self.alternates.len() + 9;
        let t = (total as u16).to_le_bytes();
        let mut v = vec![9, 2, t[0], t[1], 1, 1, self.iconfiguration, self.config_attributes, self.max_power];
        for alt in 0..self.alternates.len() {
            v.extend_from_slice(&[9, 4, 0, alt as u8, 0, 0xfe, 0x01, self.interface_protocol, self.first_alt_string + alt as u8]);
        }
        v.extend_from_slice(&self.functional.bytes());
        v
    }

    /// Device qualifier, as TF-A's `usbd_stm32mp1_qualifier_desc`.
    pub fn qualifier_descriptor(&self) -> [u8; 10] {
        [10, 6, 0x00, 0x02, 0, 0, 0, 64, 1, 0]
    }

    pub fn string(&self, index: u8) -> Option<String> {
        match index {
            MANUFACTURER_STR => Some(self.manufacturer.clone()),
            PRODUCT_STR => Some(self.product.clone()),
            SERIAL_STR => Some(self.serial.clone()),
            i if i >= self.first_alt_string => self.alternates.get((i - self.first_alt_string) as usize).cloned(),
            i => self.extra_strings.iter().find(|(n, _)| *n == i).map(|(_, s)| s.clone()),
        }
    }
}

/// A string descriptor: bLength, type 3, UTF-16LE (ASCII widened, as `stm32mp1_get_string` does).
pub fn string_descriptor(s: &str) -> Vec<u8> {
    let units: Vec<u16> = s.encode_utf16().take(126).collect();
    let mut v = vec![(2 + 2 * units.len()) as u8, 3];
    for u in units {
        v.extend_from_slice(&u.to_le_bytes());
    }
    v
}

/// Device-level state of the USB core (address/configured), reset by a bus reset or re-enumeration.
#[derive(Debug, Default, Clone)]
pub struct Core {
    pub configuration: u8,
}

/// What a standard request asked the function to do, beyond the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdEvent {
    None,
    /// SET_INTERFACE(alt).
    SetInterface(u8),
    /// GET_DESCRIPTOR(DEVICE) while configured: only enumeration after a bus reset asks for it again.
    BusReset,
    SetConfiguration(u8),
}

/// Handles a standard request (`kind() == 0`). `alt` is the function's current alternate (GET_INTERFACE).
pub fn standard(core: &mut Core, id: &Identity, s: &Setup, alt: u8) -> (Reply, StdEvent) {
    const GET_STATUS: u8 = 0;
    const CLEAR_FEATURE: u8 = 1;
    const SET_FEATURE: u8 = 3;
    const SET_ADDRESS: u8 = 5;
    const GET_DESCRIPTOR: u8 = 6;
    const GET_CONFIGURATION: u8 = 8;
    const SET_CONFIGURATION: u8 = 9;
    const GET_INTERFACE: u8 = 10;
    const SET_INTERFACE: u8 = 11;
    match s.request {
        GET_DESCRIPTOR if s.is_in() => {
            let index = (s.value & 0xff) as u8;
            let event = if s.value >> 8 == 1 && core.configuration != 0 {
                core.configuration = 0;
                StdEvent::BusReset
            } else {
                StdEvent::None
            };
            let reply = match s.value >> 8 {
                1 => Reply::Data(id.device_descriptor().to_vec()),
                2 if index == 0 => Reply::Data(id.config_descriptor()),
                3 if index == 0 => Reply::Data(vec![4, 3, 0x09, 0x04]),
                3 => match id.string(index) {
                    Some(text) => Reply::Data(string_descriptor(&text)),
                    None => Reply::Stall,
                },
                6 => Reply::Data(id.qualifier_descriptor().to_vec()),
                0x21 => Reply::Data(id.functional.bytes().to_vec()),
                _ => Reply::Stall,
            };
            (reply, event)
        }
        SET_ADDRESS => (Reply::Ack, StdEvent::None),
        SET_CONFIGURATION => {
            let v = (s.value & 0xff) as u8;
            if v > 1 {
                return (Reply::Stall, StdEvent::None);
            }
            core.configuration = v;
            (Reply::Ack, StdEvent::SetConfiguration(v))
        }
        GET_CONFIGURATION if s.is_in() => (Reply::Data(vec![core.configuration]), StdEvent::None),
        GET_STATUS if s.is_in() => {
            // bus powered (TF-A reports self-powered 0 in usb_core_req_status), no remote wakeup
            (Reply::Data(vec![0, 0]), StdEvent::None)
        }
        CLEAR_FEATURE | SET_FEATURE => (Reply::Ack, StdEvent::None),
        GET_INTERFACE if s.is_in() && s.recipient() == 1 => (Reply::Data(vec![alt]), StdEvent::None),
        SET_INTERFACE if s.recipient() == 1 => {
            let a = (s.value & 0xff) as u8;
            if (a as usize) < id.alternates.len() && s.index == 0 { (Reply::Ack, StdEvent::SetInterface(a)) } else { (Reply::Stall, StdEvent::None) }
        }
        _ => (Reply::Stall, StdEvent::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident() -> Identity {
        Identity {
            bcd_device: 0x0200,
            manufacturer: "STMicroelectronics".into(),
            product: "DFU in HS Mode @Device ID /0x500, @Revision ID /0x0000".into(),
            serial: "0019002C3431511733353431".into(),
            extra_strings: vec![(4, "DFU Config".into())],
            iconfiguration: 2,
            alternates: vec!["@Partition0 /0x00/1*256Ke".into(), "@FSBL /0x01/1*1Me".into()],
            interface_protocol: 2,
            functional: DfuFunctional { attributes: 0x0f, detach_timeout: 0xff, transfer_size: 1024 },
            first_alt_string: 6,
            config_attributes: 0xc0,
            max_power: 0x32,
        }
    }

    fn get(value: u16, len: u16) -> Setup {
        Setup { request_type: 0x80, request: 6, value, index: 0, length: len }
    }

    #[test]
    fn device_descriptor_has_st_ids() {
        let d = ident().device_descriptor();
        assert_eq!(&d[8..14], &[0x83, 0x04, 0x11, 0xdf, 0x00, 0x02]);
    }

    #[test]
    fn config_descriptor_lists_alternates_and_transfer_size() {
        let c = ident().config_descriptor();
        assert_eq!(c.len(), 9 * 4);
        assert_eq!(u16::from_le_bytes([c[2], c[3]]), 36);
        assert_eq!(&c[9..18], &[9, 4, 0, 0, 0, 0xfe, 1, 2, 6]);
        assert_eq!(c[18 + 3], 1);
        assert_eq!(&c[27..36], &[9, 0x21, 0x0f, 0xff, 0, 0x00, 0x04, 0x10, 0x01]);
    }

    #[test]
    fn strings_by_index_and_unknown_stalls() {
        let mut core = Core::default();
        let id = ident();
        let (r, _) = standard(&mut core, &id, &get(0x0307, 255), 0);
        assert_eq!(r, Reply::Data(string_descriptor("@FSBL /0x01/1*1Me")));
        let (r, _) = standard(&mut core, &id, &get(0x0308, 255), 0);
        assert_eq!(r, Reply::Stall);
        assert_eq!(string_descriptor("AB"), vec![6, 3, b'A', 0, b'B', 0]);
    }

    #[test]
    fn device_descriptor_after_configuration_is_a_bus_reset() {
        let mut core = Core::default();
        let id = ident();
        assert_eq!(standard(&mut core, &id, &get(0x0100, 18), 0).1, StdEvent::None);
        let set = Setup { request_type: 0, request: 9, value: 1, index: 0, length: 0 };
        assert_eq!(standard(&mut core, &id, &set, 0), (Reply::Ack, StdEvent::SetConfiguration(1)));
        assert_eq!(standard(&mut core, &id, &get(0x0100, 64), 0).1, StdEvent::BusReset);
    }

    #[test]
    fn set_interface_checks_the_alternate() {
        let mut core = Core::default();
        let id = ident();
        let s = Setup { request_type: 1, request: 11, value: 1, index: 0, length: 0 };
        assert_eq!(standard(&mut core, &id, &s, 0), (Reply::Ack, StdEvent::SetInterface(1)));
        let s = Setup { value: 2, ..s };
        assert_eq!(standard(&mut core, &id, &s, 0).0, Reply::Stall);
    }
}
