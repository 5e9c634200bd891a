//! A scripted fake board for the sequencer tests: a [`DfuTransport`] whose stages answer as the device code does.
//!
//! * DFU core of the ROM and TF-A: TF-A `plat/st/common/usb_dfu.c` (`usb_dfu_download`, `usb_dfu_upload`,
//!   `usb_dfu_get_status`, `usb_dfu_clear_status`, `usb_dfu_abort`, `usb_dfu_detach`).
//! * TF-A's ST layer: `plat/st/common/stm32cubeprogrammer_usb.c` (`dfu_callback_upload/download/manifestation`,
//!   `DFU_ERROR`), the alternate maps of `stm32mp1_usb_dfu.c`/`stm32mp2_usb_dfu.c` (`usb_dfu_get_phase`) and ST's
//!   v2.4-stm32mp line (`stm32mp1_usb.c`, layout phase, `stm32mp_check_header`).
//! * U-Boot: `drivers/usb/gadget/f_dfu.c` (the `state_*` handlers, `handle_getstatus`, `dfu_set_alt`),
//!   `drivers/dfu/dfu.c` (`dfu_write` block sequence), `stm32prog_usb.c` (`stm32prog_cmd_read`, `stm32prog_usb_loop`),
//!   `stm32prog.c` (`parse_flash_layout` with its v1-only header strip, `stm32prog_next_phase`, `dfu_init_entities`,
//!   `dfu_flush_callback`, `stm32prog_err`).
//! * ROM (closed): assumed to have TF-A's DFU core; MP15 hands over to TF-A on the same connection after
//!   manifestation, MP13/MP25 answer GetPhase with TF-A's detach request (or, with `rom_fsbl_phase_until_detach`,
//!   still 0x01) and leave on DETACH (snagboot detaches whatever GetPhase says). An MP13/MP25 ROM that rejected the
//!   FSBL and is told to DETACH comes back as the ROM (or, with `rom_reject_silent`, does not come back).
//!
//! Host behaviour the real device would punish or that the protocol forbids is recorded in `violations`.

use std::{
    collections::{BTreeMap, VecDeque},
    time::Duration,
};

use super::{
    descriptors::{Connection, RawDevice, UsbPath},
    protocol::{DfuRequest, FunctionalDescriptor, State, Status, StatusReply},
    stm32prog::{NO_ADDRESS, PhaseId, PhaseReply},
    transport::{DfuTransport, ImageSource, TransportError},
};
use crate::{board::Soc, inputs::stm32};

/// Which TF-A.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TfaGen {
    /// ST's v2.4-stm32mp (MP15): layout on 0x00, then the SSBL/FIP on 0x03.
    St24,
    /// Upstream v2.6+ (MP15, MP13): the FIP on 0x03 only.
    Upstream,
    /// Upstream MP25: the DDR firmware FIP on 0x02, re-enumeration, then the FIP on 0x03.
    Mp25,
}

/// Which U-Boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UbootGen {
    /// Up to 2022.10: uses the layout TF-A left at `STM32_DDR_BASE`.
    UpTo2022_10,
    /// 2023.01 and later: asks for the layout on 0x00.
    Later,
}

#[derive(Debug, Clone)]
pub(crate) struct Tfa {
    generation: TfaGen,
    loads: VecDeque<u8>,
    phase: u8,
    base: u32,
    address: u32,
    len: u32,
    text: String,
    buffer: Vec<u8>,
}

#[derive(Debug, Clone)]
pub(crate) struct Part {
    id: u8,
    name: String,
    selected: bool,
    none: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Uboot {
    phase: u16,
    error: String,
    parts: Vec<Part>,
    alternates: Vec<(u8, String)>,
    cur_part: Option<u8>,
    seq: u16,
    buffer: Vec<u8>,
    manifest_poll_ms: u32,
    second: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Model {
    Rom { accepted: bool },
    Tfa(Tfa),
    Uboot(Uboot),
}

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    /// The ROM refuses the FSBL (it keeps asking for phase 0x01).
    pub rom_rejects: bool,
    /// The board vanishes at this DNLOAD block of this U-Boot partition.
    pub vanish_at: Option<(u8, u16)>,
    /// U-Boot's write of this partition fails at this block (`dfu_write` → "DFU write error").
    pub write_error_at: Option<(u8, u16)>,
    /// After this partition's manifestation, U-Boot reports this error (`stm32prog_err`).
    pub uboot_error_after: Option<(u8, String)>,
    /// TF-A's download buffer is this small (`dfu->len`).
    pub tfa_buffer: Option<u32>,
    /// U-Boot's alternates miss this partition.
    pub missing_alternate: Option<u8>,
    /// The board never comes back after this many re-enumerations.
    pub stop_after_connections: Option<u8>,
    /// U-Boot has this resume offset for this partition (`stm32prog_set_phase` after a Start command): GetPhase
    /// reports it, and `dfu_initiated_callback` starts the partition's download there.
    pub resume_offset: Option<(u8, u32)>,
}

pub(crate) struct FakeBoard {
    pub soc: Soc,
    pub serial: String,
    pub address: u8,
    pub present: bool,
    pub model: Model,
    pub next: VecDeque<Model>,
    coming: Option<Model>,
    pub uboot_gen: UbootGen,
    pub faults: Faults,
    state: State,
    status: Status,
    alt: u8,
    not_before: Duration,
    pub clock: Duration,
    pub log: Vec<String>,
    pub violations: Vec<String>,
    pub flashed: BTreeMap<u8, Vec<u8>>,
    pub tfa_received: Vec<(u8, Vec<u8>)>,
    pub ddr_layout: Option<Vec<u8>>,
    pub finished: bool,
    pub resets: u32,
    pub transfer_size: u16,
    pub attributes: u8,
    pub uboot_manifest_poll_ms: u32,
    pub rom_wait_reset: bool,
    /// After the ROM's DETACH, TF-A keeps the ROM's connection (STM32MP25, `stm32mp2_usb_dfu.c`
    /// `usb_dfu_plat_init`): nothing re-enumerates until the host resets the port.
    pub rom_keeps_connection: bool,
    /// TF-A took over the ROM's connection and waits for a USB reset to show itself.
    kept: bool,
    /// The MP13/MP25 ROM's GetPhase says 0x01 until DETACH, even after it accepted the FSBL.
    pub rom_fsbl_phase_until_detach: bool,
    /// An MP13/MP25 ROM that rejected the FSBL leaves on DETACH and never comes back.
    pub rom_reject_silent: bool,
}

fn device_id(soc: Soc) -> u16 {
    match soc {
        Soc::Stm32mp15 => 0x500,
        Soc::Stm32mp13 => 0x501,
        Soc::Stm32mp25 => 0x505,
    }
}

fn soc_name(soc: Soc) -> &'static str {
    match soc {
        Soc::Stm32mp15 => "STM32MP157F Rev.Z",
        Soc::Stm32mp13 => "STM32MP135F Rev.Y",
        Soc::Stm32mp25 => "STM32MP257F Rev.B",
    }
}

fn is_fip(buf: &[u8]) -> bool {
    buf.len() >= 8 && buf[..4] == [0x01, 0x00, 0x64, 0xAA] && buf[4..8] != [0, 0, 0, 0]
}

/// TF-A `stm32mp_check_header`: magic, major version, checksum when `option_flags` is 1 (v1).
fn stm32_header_ok(buf: &[u8], major: u8) -> bool {
    let Ok(h) = stm32::parse_header(buf) else { return false };
    if h.version.major != major {
        return false;
    }
    let payload = buf.get(h.header_len as usize..).unwrap_or(&[]);
    stm32::verify_payload(&h, buf.len() as u64, stm32::payload_checksum(payload)).is_ok()
}

impl Tfa {
    pub(crate) fn new(generation: TfaGen) -> Tfa {
        let loads: VecDeque<u8> = match generation {
            TfaGen::St24 => [0x00].into(),
            TfaGen::Upstream => [0x03].into(),
            TfaGen::Mp25 => [0x02, 0x03].into(),
        };
        let mut t = Tfa { generation, loads, phase: 0, base: 0, address: 0, len: 0, text: String::new(), buffer: Vec::new() };
        t.next_load();
        t
    }

    /// `stm32cubeprog_usb_load`: the phase, base and length of the next load.
    fn next_load(&mut self) -> bool {
        let Some(phase) = self.loads.pop_front() else { return false };
        self.phase = phase;
        (self.base, self.len) = match phase {
            0x00 => (0xC000_0000, 0x0010_0000),
            0x02 => (0xC200_0000, 0x0004_0000),
            _ => (0xC100_0000, 0x0100_0000),
        };
        self.address = self.base;
        self.buffer.clear();
        true
    }

    fn alternates(&self, soc: Soc) -> Vec<(u8, &'static str)> {
        match (self.generation, soc) {
            (TfaGen::Mp25, _) | (_, Soc::Stm32mp25) => {
                vec![(0x02, "@DDR FIP /0x02/1*32Ke"), (0x03, "@FIP /0x03/1*16Me"), (0xF1, "@virtual /0xF1/1*512Ba")]
            }
            (_, Soc::Stm32mp13) => vec![(0x03, "@SSBL /0x03/1*16Me"), (0xF1, "@virtual /0xF1/1*512Ba")],
            (_, Soc::Stm32mp15) => mp15_strings(),
        }
    }

    /// `usb_dfu_get_phase`: upstream MP15 maps only alternates 3 and 5; ST v2.4 also 0 (layout).
    fn phase_of_alt(&self, soc: Soc, alt: u8) -> u8 {
        let id = self.alternates(soc).get(usize::from(alt)).map_or(0xFF, |a| a.0);
        match (self.generation, id) {
            (TfaGen::Upstream, 0x00 | 0x01 | 0x02 | 0x04) => 0xFF,
            (TfaGen::St24, 0x01 | 0x02 | 0x04) => 0xFF,
            _ => id,
        }
    }

    /// The `DFU_ERROR` macro: the first error text wins, the phase becomes 0xFF.
    fn error(&mut self, text: String) {
        if self.phase != 0xFF {
            self.text = text;
            self.phase = 0xFF;
            self.address = NO_ADDRESS;
            self.len = 0;
        }
    }
}

fn mp15_strings() -> Vec<(u8, &'static str)> {
    vec![
        (0x00, "@Partition0 /0x00/1*256Ke"),
        (0x01, "@FSBL /0x01/1*1Me"),
        (0x02, "@Partition2 /0x02/1*1Me"),
        (0x03, "@Partition3 /0x03/1*16Me"),
        (0x04, "@Partition4 /0x04/1*16Me"),
        (0xF1, "@virtual /0xF1/1*512Ba"),
    ]
}

impl Uboot {
    pub(crate) fn new(manifest_poll_ms: u32) -> Uboot {
        Uboot {
            phase: 0,
            error: String::new(),
            parts: Vec::new(),
            alternates: Vec::new(),
            cur_part: None,
            seq: 0,
            buffer: Vec::new(),
            manifest_poll_ms,
            second: false,
        }
    }

    fn err(&mut self, text: &str) {
        if self.phase != 0xFF {
            self.error = text.to_string();
            self.phase = 0xFF;
        }
    }

    /// `parse_flash_layout`: strips and checks a v1 header only; then the TSV columns.
    fn parse_layout(&mut self, raw: &[u8]) -> bool {
        let mut data = raw.to_vec();
        if let Ok(h) = stm32::parse_header(raw)
            && h.version.major == 1
            && h.header_len == 256
        {
            let payload = &raw[256..];
            if stm32::payload_checksum(payload) != h.checksum {
                self.err(&format!("Layout: invalid checksum : 0x{:x} expected 0x{:x}", stm32::payload_checksum(payload), h.checksum));
                return false;
            }
            data = payload[..(h.image_length as usize).min(payload.len())].to_vec();
        }
        let text = String::from_utf8_lossy(&data).to_string();
        let text = text.split('\0').next().unwrap_or("").to_string();
        let mut parts = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').filter(|c| !c.is_empty()).collect();
            if cols.len() < 7 {
                self.err(&format!("Layout line {}: no enought column", i + 1));
                return false;
            }
            let opt = cols[0];
            if let Some(c) = opt.chars().find(|c| !"PED".contains(*c)).filter(|_| opt != "-") {
                self.err(&format!("Layout line {}: invalid option '{c}' in {opt})", i + 1));
                return false;
            }
            if opt != "-" && !opt.contains('P') {
                self.err(&format!("Layout line {}: missing 'P' in option {opt}", i + 1));
                return false;
            }
            let Ok(id) = u8::from_str_radix(cols[1].trim_start_matches("0x"), 16) else {
                self.err(&format!("Layout line {}: invalid phase value = {}", i + 1, cols[1]));
                return false;
            };
            let none = cols[4] == "none";
            let selected = opt.contains('P') && !opt.contains('E');
            if none && opt.contains('P') {
                self.err(&format!("Layout: selected none phase = 0x{id:x} for part {}", cols[2]));
                return false;
            }
            parts.push(Part { id, name: cols[2].to_string(), selected, none });
        }
        if parts.is_empty() {
            self.err("Layout: no partition found");
            return false;
        }
        self.parts = parts;
        true
    }

    /// `stm32prog_next_phase`.
    fn next_phase(&mut self) {
        if matches!(self.phase, 0xFF | 0xFE | 0x1FF) {
            return;
        }
        let mut phase = self.phase;
        self.cur_part = None;
        self.phase = 0xFE;
        loop {
            phase += 1;
            if phase > 0xF0 {
                break;
            }
            if let Some(p) = self.parts.iter().find(|p| u16::from(p.id) == phase)
                && p.selected
                && !p.none
            {
                self.cur_part = Some(p.id);
                self.phase = phase;
                break;
            }
        }
    }

    /// `dfu_init_entities`: one alternate per partition with a device, ordered by id; or the layout alternate.
    fn init_entities(&mut self, missing: Option<u8>) {
        self.alternates.clear();
        if self.parts.is_empty() {
            self.alternates.push((0x00, "@FlashLayout/0x00/1*256Ke".to_string()));
        } else {
            let mut parts: Vec<&Part> = self.parts.iter().filter(|p| !p.none && Some(p.id) != missing).collect();
            parts.sort_by_key(|p| p.id);
            for p in parts {
                self.alternates.push((p.id, format!("@{}/0x{:02x}/1*1M{}", p.name, p.id, if p.selected { 'e' } else { 'a' })));
            }
        }
        self.alternates.push((0xF1, "@virtual/0xf1/1*512Be".to_string()));
        self.alternates.push((0xF4, "@PMIC/0xf4/1*8Be".to_string()));
    }

    fn alt_id(&self, alt: u8) -> Option<u8> {
        self.alternates.get(usize::from(alt)).map(|a| a.0)
    }
}

impl FakeBoard {
    /// A board in USB boot mode: the ROM, then the given stages in order.
    pub(crate) fn new(soc: Soc, tfa: TfaGen, uboot: UbootGen) -> FakeBoard {
        let mut next = VecDeque::new();
        next.push_back(Model::Tfa(Tfa::new(tfa)));
        next.push_back(Model::Uboot(Uboot::new(0)));
        FakeBoard {
            soc,
            serial: "004200343338510534383330".into(),
            address: 5,
            present: true,
            model: Model::Rom { accepted: false },
            next,
            coming: None,
            uboot_gen: uboot,
            faults: Faults::default(),
            state: State::DfuIdle,
            status: Status::Ok,
            alt: 0,
            not_before: Duration::ZERO,
            clock: Duration::ZERO,
            log: Vec::new(),
            violations: Vec::new(),
            flashed: BTreeMap::new(),
            tfa_received: Vec::new(),
            ddr_layout: None,
            finished: false,
            resets: 0,
            transfer_size: 1024,
            attributes: 0x0F,
            uboot_manifest_poll_ms: 0,
            rom_wait_reset: false,
            rom_keeps_connection: false,
            kept: false,
            rom_fsbl_phase_until_detach: false,
            rom_reject_silent: false,
        }
    }

    /// Put the DFU state machine in `state` (to set up a test).
    pub(crate) fn force_state(&mut self, state: State) {
        self.state = state;
    }

    fn stage_name(&self) -> &'static str {
        match self.model {
            Model::Rom { .. } => "ROM",
            Model::Tfa(_) => "TF-A",
            Model::Uboot(_) => "U-Boot",
        }
    }

    fn strings(&self) -> Vec<(u8, String)> {
        match &self.model {
            Model::Rom { .. } => match self.soc {
                Soc::Stm32mp15 => mp15_strings().into_iter().map(|(i, s)| (i, s.to_string())).collect(),
                _ => vec![(0x01, "@FSBL /0x01/1*1Me".into()), (0xF1, "@virtual /0xF1/1*512Ba".into())],
            },
            Model::Tfa(t) => t.alternates(self.soc).into_iter().map(|(i, s)| (i, s.to_string())).collect(),
            Model::Uboot(u) => u.alternates.clone(),
        }
    }

    fn raw(&self) -> RawDevice {
        let id = device_id(self.soc);
        let product = match self.model {
            Model::Rom { .. } => format!("DFU in HS Mode @Device ID /0x{id:03X}, @Revision ID /0x2000"),
            Model::Tfa(_) => format!("DFU @Device ID /0x{id:03X}, @Revision ID /0x2000, @Name /{},", soc_name(self.soc)),
            Model::Uboot(_) => format!("USB download gadget@Device ID /0x{id:03X}, @Revision ID /0x2000, @Name /{},", soc_name(self.soc)),
        };
        let strings = self.strings();
        let (transfer_size, attributes) = match self.model {
            Model::Uboot(_) => (4096, 0x0F),
            _ => (self.transfer_size, self.attributes),
        };
        let func = FunctionalDescriptor { attributes, detach_timeout_ms: 255, transfer_size, dfu_version: 0x0110 };
        let settings: Vec<(u8, u8)> = (0u8..).zip(strings.iter()).map(|(i, _)| (i, 4 + i)).collect();
        RawDevice {
            path: Some(UsbPath::parse("1-1.3").unwrap()),
            connection: Some(Connection { bus: 1, address: self.address }),
            serial: Some(self.serial.clone()),
            product: Some(product),
            device_descriptor: super::descriptors::tests::device_descriptor(),
            configuration: super::descriptors::tests::configuration(&settings, func),
            strings: (0u8..).zip(strings).map(|(i, (_, s))| (4 + i, s)).collect(),
        }
    }

    fn violation(&mut self, what: String) {
        self.violations.push(format!("{} at {:?}: {what}", self.stage_name(), self.clock));
    }

    /// The board leaves the bus; `coming` appears at the next `await_reconnect`.
    fn leave(&mut self, coming: Option<Model>) {
        self.present = false;
        self.coming = coming;
    }

    pub(crate) fn next_model(&mut self) -> Option<Model> {
        let mut m = self.next.pop_front()?;
        if let Model::Uboot(u) = &mut m {
            // do_stm32prog: header check at STM32_DDR_BASE, then stm32prog_init.
            if self.uboot_gen == UbootGen::UpTo2022_10
                && let Some(layout) = self.ddr_layout.clone()
                && u.parse_layout(&layout)
            {
                u.next_phase();
                u.second = true;
            }
            let missing = self.faults.missing_alternate;
            u.init_entities(missing);
            u.manifest_poll_ms = self.uboot_manifest_poll_ms;
        }
        Some(m)
    }

    // ---- ROM / TF-A DFU core (usb_dfu.c) ----

    fn tfa_out(&mut self, request: DfuRequest, value: u16, data: &[u8]) -> Result<(), TransportError> {
        let soc = self.soc;
        match request {
            DfuRequest::Dnload if !data.is_empty() => {
                if !matches!(self.state, State::DfuIdle | State::DnloadIdle) {
                    return Err(TransportError::Stall);
                }
                let alt = self.alt;
                let is_fsbl_alt = self.strings().get(usize::from(alt)).map(|a| a.0) == Some(0x01);
                let ok = match &mut self.model {
                    Model::Rom { .. } => is_fsbl_alt,
                    Model::Tfa(t) => {
                        let limit = self.faults.tfa_buffer.unwrap_or(t.len);
                        if t.phase != t.phase_of_alt(soc, alt) || t.address == NO_ADDRESS {
                            let (p, a) = (t.phase, t.address);
                            t.error(format!("phase ID :{p}, alternate {alt}, address {a:x}"));
                            false
                        } else {
                            t.address = t.address.wrapping_add(u32::try_from(data.len()).unwrap());
                            t.address - t.base <= limit
                        }
                    }
                    Model::Uboot(_) => unreachable!(),
                };
                if !ok {
                    return Err(TransportError::Stall);
                }
                let _ = value;
                match &mut self.model {
                    Model::Tfa(t) => t.buffer.extend_from_slice(data),
                    Model::Rom { .. } => self.tfa_received.push((0x01, data.to_vec())),
                    Model::Uboot(_) => {}
                }
                self.state = State::DnloadSync;
                Ok(())
            }
            DfuRequest::Dnload => {
                if self.state != State::DnloadIdle {
                    return Err(TransportError::Stall);
                }
                self.state = State::ManifestSync;
                if self.tfa_manifest() { Ok(()) } else { Err(TransportError::Stall) }
            }
            DfuRequest::ClrStatus => {
                if self.state == State::Error {
                    self.state = State::DfuIdle;
                    self.status = Status::Ok;
                } else {
                    self.violation(format!("CLRSTATUS in {}: TF-A turns it into dfuERROR/errUNKNOWN", self.state.name()));
                    self.state = State::Error;
                    self.status = Status::Unknown;
                }
                Ok(())
            }
            DfuRequest::Abort => {
                if matches!(self.state, State::DfuIdle | State::DnloadSync | State::DnloadIdle | State::ManifestSync | State::UploadIdle) {
                    self.state = State::DfuIdle;
                    self.status = Status::Ok;
                }
                Ok(())
            }
            DfuRequest::Detach => {
                if matches!(self.state, State::DfuIdle | State::DnloadSync | State::DnloadIdle | State::ManifestSync | State::UploadIdle) {
                    self.state = State::DfuIdle;
                }
                self.tfa_detach();
                Err(TransportError::Gone)
            }
            other => {
                self.violation(format!("{other} as a host→device request"));
                Err(TransportError::Stall)
            }
        }
    }

    /// `dfu_callback_manifestation` (TF-A), or the ROM's check of the FSBL.
    fn tfa_manifest(&mut self) -> bool {
        let soc = self.soc;
        let alt = self.alt;
        let rom_rejects = self.faults.rom_rejects;
        match &mut self.model {
            Model::Rom { accepted } => {
                let image: Vec<u8> = self.tfa_received.iter().filter(|(p, _)| *p == 1).flat_map(|(_, d)| d.clone()).collect();
                let major = if soc == Soc::Stm32mp15 { 1 } else { 2 };
                *accepted = stm32_header_ok(&image, major) && !rom_rejects;
                true
            }
            Model::Tfa(t) => {
                if t.phase != t.phase_of_alt(soc, alt) {
                    return false;
                }
                self.tfa_received.push((t.phase, t.buffer.clone()));
                match t.phase {
                    0x02 | 0x03 => {
                        let ok = is_fip(&t.buffer) || (t.generation == TfaGen::St24 && stm32_header_ok(&t.buffer, 1));
                        if !ok {
                            t.error(format!("FIP Header check failed for phase {alt}"));
                            return false;
                        }
                        t.phase = 0;
                        t.address = NO_ADDRESS;
                        t.len = 0;
                        true
                    }
                    0x00 => {
                        if !stm32_header_ok(&t.buffer, 1) {
                            t.error(format!("Header check failed for phase {alt}"));
                            return false;
                        }
                        self.ddr_layout = Some(t.buffer.clone());
                        t.phase = 0x03;
                        t.base = 0xC100_0000;
                        t.address = t.base;
                        t.len = 0x0100_0000;
                        t.buffer.clear();
                        true
                    }
                    _ => {
                        t.error("Unknown phase".into());
                        true
                    }
                }
            }
            Model::Uboot(_) => unreachable!(),
        }
    }

    fn tfa_detach(&mut self) {
        match &mut self.model {
            Model::Rom { accepted } => {
                if *accepted && self.rom_keeps_connection {
                    self.kept = true;
                } else if *accepted {
                    let next = self.next_model();
                    self.leave(next);
                } else if self.soc == Soc::Stm32mp15 {
                    self.violation("DETACH to an STM32MP15 ROM that did not accept the FSBL".into());
                    self.leave(None);
                } else if self.rom_reject_silent {
                    self.leave(None);
                } else {
                    // It starts its USB boot again.
                    self.leave(Some(Model::Rom { accepted: false }));
                }
            }
            Model::Tfa(t) => {
                let asked = t.phase == 0 && t.address == NO_ADDRESS;
                if !asked {
                    // usb_dfu_loop returns, stm32cubeprog_usb_load returns 0, BL2 finds no image: panic.
                    let phase = t.phase;
                    self.violation(format!("DETACH while TF-A waits for phase {phase:#04x}: BL2 panics"));
                    self.leave(None);
                    return;
                }
                let mut again = t.clone();
                if again.next_load() {
                    again.text.clear();
                    self.leave(Some(Model::Tfa(again)));
                } else {
                    let next = self.next_model();
                    self.leave(next);
                }
            }
            Model::Uboot(_) => unreachable!(),
        }
    }

    fn tfa_in(&mut self, request: DfuRequest, length: u16) -> Result<Vec<u8>, TransportError> {
        match request {
            DfuRequest::GetStatus => Ok(self.tfa_status()),
            DfuRequest::GetState => Ok(vec![self.state.code()]),
            DfuRequest::Upload => {
                if length == 0 {
                    self.state = State::DfuIdle;
                    return Ok(Vec::new());
                }
                if !matches!(self.state, State::DfuIdle | State::UploadIdle) {
                    return Err(TransportError::Stall);
                }
                let soc = self.soc;
                let alt = self.alt;
                let cmd = self.strings().get(usize::from(alt)).map(|s| s.0) == Some(0xF1);
                let reply = match &mut self.model {
                    Model::Rom { accepted } => {
                        if !cmd {
                            None
                        } else if *accepted && !self.rom_fsbl_phase_until_detach {
                            Some(PhaseReply::encode(PhaseId::LAYOUT, NO_ADDRESS, 0, &[1]))
                        } else {
                            Some(PhaseReply::encode(PhaseId::FSBL, 0x2FFC_2400, 0, &[]))
                        }
                    }
                    Model::Tfa(t) => {
                        if t.phase_of_alt(soc, alt) == 0xF1 {
                            let mut extra = Vec::new();
                            if t.phase == 0 && t.address == NO_ADDRESS {
                                extra.push(1);
                            }
                            if t.phase == 0xFF {
                                extra.extend_from_slice(t.text.as_bytes());
                            }
                            Some(PhaseReply::encode(PhaseId(t.phase), t.address, 0, &extra))
                        } else {
                            let (p, a) = (t.phase, t.phase_of_alt(soc, alt));
                            t.error(format!("phase ID :{p}, alternate {alt} for phase {a}"));
                            None
                        }
                    }
                    Model::Uboot(_) => unreachable!(),
                };
                match reply {
                    Some(r) => {
                        self.state = if usize::from(length) > r.len() { State::DfuIdle } else { State::UploadIdle };
                        Ok(r)
                    }
                    None => {
                        self.state = State::Error;
                        self.status = Status::StalledPacket;
                        Err(TransportError::Stall)
                    }
                }
            }
            other => {
                self.violation(format!("{other} as a device→host request"));
                Err(TransportError::Stall)
            }
        }
    }

    /// `usb_dfu_get_status`: reports the state, then moves DNLOAD-SYNC on, and MANIFEST-SYNC to IDLE (reporting
    /// MANIFEST with 1 ms).
    fn tfa_status(&mut self) -> Vec<u8> {
        let mut reply = StatusReply { status: self.status, poll_timeout_ms: 0, state: self.state, string_index: 0 };
        match self.state {
            State::DnloadSync => self.state = State::DnloadIdle,
            State::ManifestSync if self.rom_wait_reset && matches!(self.model, Model::Rom { .. }) => {
                // A ROM that is not manifestation tolerant: it waits for a USB reset, then runs the FSBL.
                reply.state = State::ManifestWaitReset;
                self.state = State::ManifestWaitReset;
            }
            State::ManifestSync => {
                reply.state = State::Manifest;
                reply.poll_timeout_ms = 1;
                self.state = State::DfuIdle;
                // The MP15 ROM jumps to the FSBL; TF-A keeps the ROM's USB configuration.
                if matches!(self.model, Model::Rom { accepted: true })
                    && self.soc == Soc::Stm32mp15
                    && let Some(next) = self.next_model()
                {
                    self.model = next;
                }
            }
            _ => {}
        }
        self.not_before = self.clock + Duration::from_millis(u64::from(reply.poll_timeout_ms));
        reply.encode().to_vec()
    }

    // ---- U-Boot (f_dfu.c + stm32prog) ----

    fn uboot_out(&mut self, request: DfuRequest, value: u16, data: &[u8]) -> Result<(), TransportError> {
        let stall = |b: &mut FakeBoard| {
            b.state = State::Error;
            Err(TransportError::Stall)
        };
        match (self.state, request) {
            (State::DfuIdle | State::DnloadIdle, DfuRequest::Dnload) => {
                if data.is_empty() && self.state == State::DfuIdle {
                    return stall(self);
                }
                if self.state == State::DfuIdle {
                    self.seq_reset();
                }
                if data.is_empty() {
                    self.state = State::ManifestSync;
                }
                self.uboot_write(value, data);
                if self.state != State::Error && !data.is_empty() {
                    self.state = State::DnloadSync;
                }
                if !self.present {
                    return Err(TransportError::Gone);
                }
                Ok(())
            }
            (State::DfuIdle, DfuRequest::Abort) => Ok(()),
            (State::DnloadIdle | State::UploadIdle, DfuRequest::Abort) => {
                self.state = State::DfuIdle;
                Ok(())
            }
            (State::Error, DfuRequest::ClrStatus) => {
                self.state = State::DfuIdle;
                self.status = Status::Ok;
                Ok(())
            }
            (State::DfuIdle, DfuRequest::Detach) => {
                self.uboot_detach();
                Err(TransportError::Gone)
            }
            (state, r) => {
                if r == DfuRequest::ClrStatus {
                    self.violation(format!("CLRSTATUS in {}: U-Boot stalls it and goes to dfuERROR", state.name()));
                }
                if r == DfuRequest::Detach {
                    self.violation(format!("DETACH in {}: U-Boot stalls it", state.name()));
                }
                stall(self)
            }
        }
    }

    fn seq_reset(&mut self) {
        if let Model::Uboot(u) = &mut self.model {
            u.seq = 0;
            u.buffer.clear();
        }
    }

    /// `dnload_request_complete` → `dfu_write`: the block sequence, the buffer, the injected faults.
    fn uboot_write(&mut self, value: u16, data: &[u8]) {
        let alt = self.alt;
        let (vanish, write_error) = (self.faults.vanish_at, self.faults.write_error_at);
        let Model::Uboot(u) = &mut self.model else { return };
        let id = u.alt_id(alt);
        if u.seq != value {
            let expected = u.seq;
            if id == u.cur_part || id == Some(0) {
                u.err("Wrong sequence number");
            }
            self.state = State::Error;
            self.status = Status::Unknown;
            self.violation(format!("block {value} where U-Boot expects {expected}"));
            return;
        }
        u.seq = u.seq.wrapping_add(1);
        if let Some(id) = id {
            if vanish == Some((id, value)) {
                self.present = false;
                self.coming = None;
                return;
            }
            if write_error == Some((id, value)) {
                if u.cur_part == Some(id) {
                    u.err("DFU write error");
                }
                self.state = State::Error;
                self.status = Status::Unknown;
                return;
            }
        }
        u.buffer.extend_from_slice(data);
    }

    /// `dfu_flush` → `dfu_flush_callback`: the layout is parsed, or the partition ends and the next phase comes.
    fn uboot_flush(&mut self) {
        let alt = self.alt;
        let error_after = self.faults.uboot_error_after.clone();
        let resume = self.faults.resume_offset;
        let Model::Uboot(u) = &mut self.model else { return };
        let id = u.alt_id(alt);
        let mut data = std::mem::take(&mut u.buffer);
        // dfu_initiated_callback: the current partition's download starts at the resume offset.
        if let (Some(id), Some((part, offset))) = (id, resume)
            && u.cur_part == Some(id)
            && part == id
        {
            let mut at = vec![0xEE; offset as usize];
            at.append(&mut data);
            data = at;
        }
        if id == Some(0) && u.phase == 0 {
            u.parse_layout(&data);
            return;
        }
        if let Some(id) = id {
            if u.cur_part == Some(id) {
                self.flashed.insert(id, data);
                if let Some((after, text)) = error_after
                    && after == id
                {
                    u.err(&text);
                    return;
                }
                u.next_phase();
            } else if id < 0xF1 {
                self.flashed.insert(id, data);
            }
        }
    }

    fn uboot_detach(&mut self) {
        let missing = self.faults.missing_alternate;
        let Model::Uboot(u) = &mut self.model else { return };
        if !u.second && u.phase == 0 {
            // stm32prog_usb_loop: second enumeration with the partitions (stm32prog_dfu_init).
            let mut next = u.clone();
            if !next.parts.is_empty() {
                next.next_phase();
            }
            next.init_entities(missing);
            next.second = true;
            self.leave(Some(Model::Uboot(next)));
            return;
        }
        if u.phase == 0xFE {
            self.finished = true;
        }
        self.leave(None);
    }

    fn uboot_in(&mut self, request: DfuRequest, length: u16) -> Result<Vec<u8>, TransportError> {
        match (self.state, request) {
            (_, DfuRequest::GetStatus) => Ok(self.uboot_status()),
            (_, DfuRequest::GetState) => Ok(vec![self.state.code()]),
            (State::DfuIdle | State::UploadIdle, DfuRequest::Upload) => {
                let alt = self.alt;
                let Model::Uboot(u) = &mut self.model else { unreachable!() };
                let reply = if u.alt_id(alt) == Some(0xF1) {
                    let address = if u.phase == 0 { 0xC200_0000 } else { NO_ADDRESS };
                    let phase = u8::try_from(u.phase & 0xFF).unwrap_or(0xFF);
                    let extra: Vec<u8> = match u.phase {
                        0 => vec![u8::from(!u.parts.is_empty())],
                        0xFF | 0x1FF => {
                            let e = if u.error.is_empty() { "Unspecified".to_string() } else { u.error.clone() };
                            u.phase = 0x1FF;
                            e.into_bytes()
                        }
                        _ => Vec::new(),
                    };
                    let offset = self.faults.resume_offset.filter(|(p, _)| *p == phase).map_or(0, |(_, o)| o);
                    PhaseReply::encode(PhaseId(phase), address, offset, &extra)
                } else {
                    Vec::new()
                };
                self.state = if usize::from(length) > reply.len() { State::DfuIdle } else { State::UploadIdle };
                Ok(reply)
            }
            _ => {
                self.state = State::Error;
                Err(TransportError::Stall)
            }
        }
    }

    /// `handle_getstatus` with the state handlers' transitions.
    fn uboot_status(&mut self) -> Vec<u8> {
        let mut poll = 0;
        match self.state {
            State::DnloadSync | State::DnBusy => self.state = State::DnloadIdle,
            State::ManifestSync => {
                self.state = State::Manifest;
                if let Model::Uboot(u) = &self.model {
                    poll = u.manifest_poll_ms;
                }
            }
            State::Manifest => {
                self.state = State::DfuIdle;
                self.uboot_flush();
            }
            _ => {}
        }
        self.not_before = self.clock + Duration::from_millis(u64::from(poll));
        StatusReply { status: self.status, poll_timeout_ms: poll, state: self.state, string_index: 0 }.encode().to_vec()
    }
}

impl DfuTransport for FakeBoard {
    fn describe(&mut self) -> Result<RawDevice, TransportError> {
        if !self.present {
            return Err(TransportError::Gone);
        }
        self.log.push(format!("{} describe", self.stage_name()));
        Ok(self.raw())
    }

    fn select_alt(&mut self, alt: u8) -> Result<(), TransportError> {
        if !self.present {
            return Err(TransportError::Gone);
        }
        if usize::from(alt) >= self.strings().len() {
            return Err(TransportError::Other(format!("no alternate {alt}")));
        }
        self.log.push(format!("{} SET_INTERFACE {alt}", self.stage_name()));
        self.alt = alt;
        if let Model::Uboot(_) = self.model {
            // dfu_set_alt
            self.state = State::DfuIdle;
            self.status = Status::Ok;
        }
        Ok(())
    }

    fn control_out(&mut self, request: u8, value: u16, data: &[u8], _timeout: Duration) -> Result<(), TransportError> {
        if !self.present {
            return Err(TransportError::Gone);
        }
        let request = DfuRequest::from_code(request).ok_or(TransportError::Stall)?;
        let limit = if matches!(self.model, Model::Uboot(_)) { 4096 } else { self.transfer_size };
        if data.len() > usize::from(limit) {
            self.violation(format!("{} bytes in one DNLOAD", data.len()));
        }
        self.log.push(format!("{} {request} {value} len {}", self.stage_name(), data.len()));
        match self.model {
            Model::Uboot(_) => self.uboot_out(request, value, data),
            _ => self.tfa_out(request, value, data),
        }
    }

    fn control_in(&mut self, request: u8, value: u16, length: u16, _timeout: Duration) -> Result<Vec<u8>, TransportError> {
        if !self.present {
            return Err(TransportError::Gone);
        }
        let request = DfuRequest::from_code(request).ok_or(TransportError::Stall)?;
        if request == DfuRequest::GetStatus && self.clock < self.not_before {
            let early = self.not_before - self.clock;
            self.violation(format!("GETSTATUS {early:?} before bwPollTimeout ran out"));
        }
        self.log.push(format!("{} {request} {value} len {length}", self.stage_name()));
        match self.model {
            Model::Uboot(_) => self.uboot_in(request, length),
            _ => self.tfa_in(request, length),
        }
    }

    fn await_reconnect(&mut self, timeout: Duration) -> Result<RawDevice, TransportError> {
        let allowed = self.faults.stop_after_connections.is_none_or(|n| self.address < 5 + n);
        match self.coming.take().filter(|_| allowed) {
            Some(model) => {
                self.model = model;
                self.present = true;
                self.address += 1;
                self.state = State::DfuIdle;
                self.status = Status::Ok;
                self.alt = 0;
                self.clock += Duration::from_millis(700);
                self.log.push(format!("{} enumerated at address {}", self.stage_name(), self.address));
                Ok(self.raw())
            }
            None if self.kept => {
                self.clock += timeout;
                Err(TransportError::TimedOut)
            }
            None => {
                self.present = false;
                self.clock += timeout;
                Err(TransportError::TimedOut)
            }
        }
    }

    fn reset_port(&mut self) -> Result<(), TransportError> {
        self.resets += 1;
        self.log.push("USB reset".into());
        if self.present && self.state == State::ManifestWaitReset && matches!(self.model, Model::Rom { accepted: true }) {
            let next = self.next_model();
            self.leave(next);
        }
        if self.kept {
            // The kernel reads the descriptors again, finds TF-A's and enumerates it anew.
            self.kept = false;
            let next = self.next_model();
            self.leave(next);
        }
        Err(TransportError::Gone)
    }

    fn sleep(&mut self, duration: Duration) {
        self.clock += duration;
    }
}

/// Images held in memory.
pub(crate) struct MemoryImages(pub Vec<Vec<u8>>);

impl ImageSource for MemoryImages {
    fn read_at(&mut self, image: super::sequencer::ImageId, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let data = self.0.get(image.0).ok_or("no such image")?;
        let start = usize::try_from(offset).map_err(|e| e.to_string())?;
        let src = data.get(start..start + buf.len()).ok_or("read past the end")?;
        buf.copy_from_slice(src);
        Ok(())
    }
}
