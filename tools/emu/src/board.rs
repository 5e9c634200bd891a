//! The emulated board: its three stages (boot ROM, TF-A BL2, U-Boot stm32prog), what each enumerates with,
//! what each does with the data, and the hand-offs between them. Pure over control requests; the transport
//! (USB/IP, vhci) lives in `main.rs`/`vhci.rs` and acts on the `Action` returned.
//!
//! Rule sources (file:function), the generation differences and the guesses are listed in `tools/emu/README.md`.

use crate::dfu::{self, Dfu, Flavor, Media};
use crate::gpt;
use crate::image::{self, Header};
use crate::layout::{self, OffsetBase, Part, PartType, Target};
use crate::storage::Mmc;
use crate::usb::{self, DfuFunctional, Identity, Reply, Setup, StdEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Soc {
    Mp13,
    Mp15,
    Mp25,
}

impl Soc {
    pub fn chip_id(self) -> u16 {
        match self {
            Soc::Mp15 => 0x500,
            Soc::Mp13 => 0x501,
            Soc::Mp25 => 0x505,
        }
    }
    /// `BOOT_API_HEADER_VERSION` in TF-A's `boot_api.h`.
    pub fn fsbl_header_version(self) -> u32 {
        match self {
            Soc::Mp15 => 0x0001_0000,
            Soc::Mp13 => 0x0002_0000,
            Soc::Mp25 => 0x0002_0200,
        }
    }
    /// Revision as the ROM prints it (seen on boards: MP15 0x0000, MP13 0x1003, MP25 0x2000).
    fn rom_revision(self) -> u16 {
        match self {
            Soc::Mp15 => 0x0000,
            Soc::Mp13 => 0x1003,
            Soc::Mp25 => 0x2000,
        }
    }
    /// Revision as TF-A and U-Boot print it (seen: MP15 Rev.B 0x2000, MP25 0x0011).
    fn revision(self) -> u16 {
        match self {
            Soc::Mp15 => 0x2000,
            Soc::Mp13 => 0x1003,
            Soc::Mp25 => 0x0011,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Soc::Mp15 => "STM32MP157CAA Rev.B",
            Soc::Mp13 => "STM32MP135FAF Rev.Y",
            Soc::Mp25 => "STM32MP255CAK Rev.Y",
        }
    }
    fn ddr_base(self) -> u32 {
        if self == Soc::Mp25 { 0x8000_0000 } else { 0xc000_0000 }
    }
    /// `CONFIG_SYS_LOAD_ADDR` of ST's defconfigs.
    fn sys_load_addr(self) -> u32 {
        if self == Soc::Mp25 { 0x8400_0000 } else { 0xc200_0000 }
    }
    /// `stm32prog.h` OTP_SIZE_SMC (MP15) / OTP_SIZE_TA (MP13: 96 words, MP25: 368 words).
    fn otp_size(self) -> usize {
        match self {
            Soc::Mp15 => 1024,
            Soc::Mp13 => (96 * 2 + 2) * 4,
            Soc::Mp25 => (368 * 2 + 2) * 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TfaGen {
    /// ST's `v2.4-stm32mp`: layout on 0x00, then the FIP on 0x03 (`stm32image`: u-boot.stm32 on 0x03, and the
    /// layout's STM32 header checked).
    StV24 { stm32image: bool },
    /// Upstream v2.6+: only a FIP on 0x03 (MP25: the DDR FIP on 0x02 first).
    Upstream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UbootGen {
    /// Up to v2022.10: the layout TF-A left at STM32_DDR_BASE; offsets base 0.
    V2022_10,
    /// v2023.01 on: layout asked for on 0x00 at CONFIG_SYS_LOAD_ADDR; offsets decimal unless 0x (2023.07).
    New,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The ROM refuses the FSBL whatever it is.
    RomReject,
    /// The board drops off the bus once `after` bytes of partition `part` were received (and never returns).
    Vanish { part: String, after: u64 },
    /// U-Boot fails when partition `part` becomes the current phase: GetPhase answers 0xFF and an error text.
    GetPhaseError { part: String },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub soc: Soc,
    pub tfa: TfaGen,
    pub uboot: UbootGen,
    pub serial: String,
    pub faults: Vec<Fault>,
    /// Emulator option: bwPollTimeout after each DNLOAD block (0: as the firmware, no busy phase).
    pub poll_ms: u32,
}

/// What the transport must do after a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    /// Disconnect and connect again with the new stage's descriptors.
    Reattach,
    /// Drop off the bus now, without answering the current request, and stay away.
    Vanish {
        reason: String,
    },
    /// Disconnect and stop: `code` 0 for a finished flashing, 3 for a board left in a dead state.
    Stop {
        code: i32,
        reason: String,
    },
}

const UNDEFINED: u32 = 0xffff_ffff;

/// A stage's request to change the board.
#[derive(Debug, Clone)]
enum Next {
    /// ROM jumps to TF-A; `keep`: TF-A keeps the ROM's USB connection (`usb_dfu_plat_init`).
    Tfa {
        keep: bool,
    },
    /// TF-A restarts its USB for the next image (MP25: DDR FIP, then FIP).
    TfaAgain,
    /// TF-A hands over to U-Boot, with the layout it received (v2.4).
    UBoot {
        layout: Option<Vec<u8>>,
    },
    /// U-Boot re-enumerates with the partition alternates.
    UBootAgain,
    Reset,
    Dead(String),
    Finished(String),
    Vanish(String),
}

// ---------------------------------------------------------------- ROM

struct Rom {
    soc: Soc,
    fsbl_alt: u8,
    virtual_alt: u8,
    data: Vec<u8>,
    limit: usize,
    loaded: bool,
    reject: bool,
    next: Option<Next>,
    log: Vec<String>,
}

impl Rom {
    fn new(cfg: &Config) -> Rom {
        let (fsbl_alt, virtual_alt, limit) = match cfg.soc {
            Soc::Mp15 => (1, 5, 1 << 20),
            Soc::Mp13 => (0, 1, 1 << 20),
            Soc::Mp25 => (0, 1, 256 << 10),
        };
        Rom {
            soc: cfg.soc,
            fsbl_alt,
            virtual_alt,
            data: Vec::new(),
            limit,
            loaded: false,
            reject: cfg.faults.contains(&Fault::RomReject),
            next: None,
            log: Vec::new(),
        }
    }

    fn alternates(soc: Soc) -> Vec<String> {
        match soc {
            Soc::Mp15 => tfa_mp15_alternates(),
            Soc::Mp13 => vec!["@FSBL /0x01/1*1Me".into(), "@virtual /0xF1/1*512Ba".into()],
            Soc::Mp25 => vec!["@FSBL /0x01/1*256Ke".into(), "@virtual /0xF1/1*512Ba".into()],
        }
    }

    fn identity(cfg: &Config) -> Identity {
        Identity {
            bcd_device: 0x0200,
            manufacturer: "STMicroelectronics".into(),
            product: format!("DFU in HS Mode @Device ID /0x{:03X}, @Revision ID /0x{:04X}", cfg.soc.chip_id(), cfg.soc.rom_revision()),
            serial: cfg.serial.clone(),
            extra_strings: vec![(4, "DFU Config".into()), (5, "DFU Interface".into())],
            iconfiguration: 2,
            alternates: Rom::alternates(cfg.soc),
            interface_protocol: 2,
            functional: DfuFunctional { attributes: 0x0f, detach_timeout: 0xff, transfer_size: 1024 },
            first_alt_string: 6,
            config_attributes: 0xc0,
            max_power: 0x32,
        }
    }

    fn jump(&mut self) {
        // MP15 and MP25: TF-A keeps the ROM's connection; MP13: TF-A starts a new one
        self.next = Some(Next::Tfa { keep: self.soc != Soc::Mp13 });
    }
}

impl Media for Rom {
    fn download(&mut self, alt: u8, _block: u16, data: &[u8]) -> Result<(), u8> {
        if alt != self.fsbl_alt || self.data.len() + data.len() > self.limit {
            return Err(dfu::ERR_ADDRESS);
        }
        self.data.extend_from_slice(data);
        Ok(())
    }

    fn manifest(&mut self, alt: u8) -> Result<(), u8> {
        let data = std::mem::take(&mut self.data);
        if alt != self.fsbl_alt {
            return Err(dfu::ERR_FILE);
        }
        if self.reject {
            self.log.push("rom: fsbl rejected reason=fault".into());
            return Err(dfu::ERR_VERIFY);
        }
        match image::rom_check(&data, self.soc.fsbl_header_version()) {
            Ok(()) => {
                self.log.push(format!("rom: fsbl accepted bytes={}", data.len()));
                if self.soc == Soc::Mp15 {
                    self.jump();
                } else {
                    self.loaded = true;
                }
                Ok(())
            }
            Err(e) => {
                self.log.push(format!("rom: fsbl rejected reason=\"{e}\""));
                Err(if matches!(e, image::FsblError::Checksum { .. }) { dfu::ERR_VERIFY } else { dfu::ERR_FILE })
            }
        }
    }

    fn upload(&mut self, alt: u8, _block: u16, _len: u16) -> Result<Vec<u8>, u8> {
        if alt != self.virtual_alt {
            return Err(dfu::ERR_STALLEDPKT);
        }
        // guess, after TF-A's reply: the phase it waits for, or "detach please" once the FSBL is loaded
        Ok(if self.loaded { vec![0x00, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x01] } else { vec![0x01, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0] })
    }

    fn detach(&mut self) {
        if self.loaded {
            self.jump();
        }
    }
}

// ---------------------------------------------------------------- TF-A

const PHASE_FLASHLAYOUT: u8 = 0x00;
const PHASE_DDR_FW: u8 = 0x02;
const PHASE_SSBL: u8 = 0x03;
const PHASE_CMD: u8 = 0xf1;
const PHASE_RESET: u8 = 0xff;

fn tfa_mp15_alternates() -> Vec<String> {
    vec![
        "@Partition0 /0x00/1*256Ke".into(),
        "@FSBL /0x01/1*1Me".into(),
        "@Partition2 /0x02/1*1Me".into(),
        "@Partition3 /0x03/1*16Me".into(),
        "@Partition4 /0x04/1*16Me".into(),
        "@virtual /0xF1/1*512Ba".into(),
    ]
}

struct Tfa {
    cfg: Config,
    phase: u8,
    base: u32,
    len: u32,
    address: u32,
    error: String,
    data: Vec<u8>,
    layout: Option<Vec<u8>>,
    ddr_done: bool,
    next: Option<Next>,
    log: Vec<String>,
}

impl Tfa {
    fn new(cfg: &Config) -> Tfa {
        let mut t = Tfa {
            cfg: cfg.clone(),
            phase: 0,
            base: 0,
            len: 0,
            address: 0,
            error: String::new(),
            data: Vec::new(),
            layout: None,
            ddr_done: false,
            next: None,
            log: Vec::new(),
        };
        match (cfg.tfa, cfg.soc) {
            (TfaGen::StV24 { .. }, _) => t.load(PHASE_FLASHLAYOUT, cfg.soc.ddr_base(), 0x0010_0000),
            (TfaGen::Upstream, Soc::Mp25) => t.load(PHASE_DDR_FW, 0x0e00_0000, 0xa000),
            (TfaGen::Upstream, _) => t.load(PHASE_SSBL, cfg.soc.ddr_base() + 0x0800_0000, 0x0100_0000),
        }
        t
    }

    /// `stm32cubeprog_usb_load(phase, base, len)`.
    fn load(&mut self, phase: u8, base: u32, len: u32) {
        self.phase = phase;
        self.base = base;
        self.address = base;
        self.len = len;
        self.data.clear();
    }

    fn alternates(cfg: &Config) -> Vec<String> {
        match cfg.soc {
            Soc::Mp15 => tfa_mp15_alternates(),
            Soc::Mp13 => vec!["@SSBL /0x03/1*16Me".into(), "@virtual /0xF1/1*512Ba".into()],
            Soc::Mp25 => vec!["@DDR FIP /0x02/1*32Ke".into(), "@FIP /0x03/1*16Me".into(), "@virtual /0xF1/1*512Ba".into()],
        }
    }

    /// `usb_dfu_get_phase(alt)`.
    fn phase_of(&self, alt: u8) -> u8 {
        match (self.cfg.soc, self.cfg.tfa, alt) {
            (Soc::Mp15, TfaGen::StV24 { .. }, 0) => PHASE_FLASHLAYOUT,
            (Soc::Mp15, _, 3) => PHASE_SSBL,
            (Soc::Mp15, _, 5) => PHASE_CMD,
            (Soc::Mp13, _, 0) => PHASE_SSBL,
            (Soc::Mp13, _, 1) => PHASE_CMD,
            (Soc::Mp25, _, 0) => PHASE_DDR_FW,
            (Soc::Mp25, _, 1) => PHASE_SSBL,
            (Soc::Mp25, _, 2) => PHASE_CMD,
            _ => PHASE_RESET,
        }
    }

    fn identity(cfg: &Config) -> Identity {
        Identity {
            bcd_device: 0x0200,
            manufacturer: "STMicroelectronics".into(),
            product: format!("DFU @Device ID /0x{:03X}, @Revision ID /0x{:04X}, @Name /{},", cfg.soc.chip_id(), cfg.soc.revision(), cfg.soc.name()),
            serial: cfg.serial.clone(),
            extra_strings: vec![(4, "DFU Config".into()), (5, "DFU Interface".into())],
            iconfiguration: 2,
            alternates: Tfa::alternates(cfg),
            interface_protocol: 2,
            functional: DfuFunctional { attributes: 0x0f, detach_timeout: 0xff, transfer_size: 1024 },
            first_alt_string: 6,
            config_attributes: 0xc0,
            max_power: 0x32,
        }
    }

    /// `DFU_ERROR(...)`: the first error sticks, GetPhase reports it.
    fn dfu_error(&mut self, msg: String) {
        self.log.push(format!("tfa: error \"{}\"", msg.trim_end()));
        if self.phase != PHASE_RESET {
            self.error = msg;
            self.phase = PHASE_RESET;
            self.address = UNDEFINED;
            self.len = 0;
        }
    }

    fn stm32_header_ok(&self) -> bool {
        match image::header_check(&self.data) {
            Header::Stm32V1 { checksum, image_length, header_len } => {
                let end = header_len + image_length as usize;
                end <= self.data.len() && image::checksum(&self.data[header_len..end]) == checksum
            }
            _ => false,
        }
    }
}

impl Media for Tfa {
    fn download(&mut self, alt: u8, _block: u16, data: &[u8]) -> Result<(), u8> {
        if self.phase != self.phase_of(alt) || self.address == UNDEFINED {
            let msg = format!("phase ID :{}, alternate {}, address {:x}\n", self.phase, alt, self.address);
            self.dfu_error(msg);
            return Err(dfu::ERR_UNKNOWN);
        }
        self.address = self.address.wrapping_add(data.len() as u32);
        if self.address.wrapping_sub(self.base) > self.len {
            return Err(dfu::ERR_ADDRESS);
        }
        self.data.extend_from_slice(data);
        Ok(())
    }

    fn manifest(&mut self, alt: u8) -> Result<(), u8> {
        if self.phase != self.phase_of(alt) {
            self.log.push(format!("tfa: manifestation phase ID :{}, alternate {}", self.phase, alt));
            return Err(dfu::ERR_UNKNOWN);
        }
        match self.phase {
            PHASE_FLASHLAYOUT => {
                // v2.4 only: with STM32MP_USE_STM32IMAGE the layout's header is checked
                if let TfaGen::StV24 { stm32image: true } = self.cfg.tfa
                    && !self.stm32_header_ok()
                {
                    self.dfu_error(format!("Header check failed for phase {alt}\n"));
                    return Err(dfu::ERR_UNKNOWN);
                }
                self.log.push(format!("tfa: layout received bytes={}", self.data.len()));
                self.layout = Some(std::mem::take(&mut self.data));
                self.load(PHASE_SSBL, self.cfg.soc.ddr_base() + 0x0800_0000, 0x0800_0000);
                Ok(())
            }
            PHASE_SSBL | PHASE_DDR_FW => {
                let ok = match self.cfg.tfa {
                    TfaGen::StV24 { stm32image: true } => self.stm32_header_ok(),
                    _ => image::is_fip(&self.data),
                };
                if !ok {
                    let what = if matches!(self.cfg.tfa, TfaGen::StV24 { stm32image: true }) { "STM32" } else { "FIP" };
                    self.dfu_error(format!("{what} Header check failed for phase {alt}\n"));
                    return Err(dfu::ERR_UNKNOWN);
                }
                self.log.push(format!("tfa: image accepted phase=0x{:02x} bytes={}", self.phase, self.data.len()));
                if self.phase == PHASE_DDR_FW {
                    self.ddr_done = true;
                }
                self.phase = PHASE_FLASHLAYOUT;
                self.address = UNDEFINED;
                self.len = 0;
                Ok(())
            }
            _ => {
                self.dfu_error("Unknown phase\n".into());
                Ok(())
            }
        }
    }

    fn upload(&mut self, alt: u8, _block: u16, _len: u16) -> Result<Vec<u8>, u8> {
        if self.phase_of(alt) != PHASE_CMD {
            let msg = format!("phase ID :{}, alternate {} for phase {}\n", self.phase, alt, self.phase_of(alt));
            self.dfu_error(msg);
            return Err(dfu::ERR_STALLEDPKT);
        }
        let mut v = vec![self.phase];
        v.extend_from_slice(&self.address.to_le_bytes());
        v.extend_from_slice(&[0, 0, 0, 0]);
        if self.phase == PHASE_FLASHLAYOUT && self.address == UNDEFINED {
            v.push(0x01);
        }
        if self.phase == PHASE_RESET {
            // length += strnlen(error) - 1: the trailing newline is not sent
            let text = self.error.as_bytes();
            v.extend_from_slice(&text[..text.len().saturating_sub(1)]);
        }
        Ok(v)
    }

    fn detach(&mut self) {
        // usb_dfu_loop ends on any DETACH; BL2 then loads what is in DDR
        let finished = self.phase == PHASE_FLASHLAYOUT && self.address == UNDEFINED;
        self.next = Some(if !finished {
            Next::Dead(format!("TF-A panic: DFU_DETACH in phase 0x{:02x} before the image was received and checked; BL2 cannot load it", self.phase))
        } else if self.cfg.soc == Soc::Mp25 && self.ddr_done && self.base == 0x0e00_0000 {
            Next::TfaAgain
        } else {
            Next::UBoot { layout: self.layout.take() }
        });
    }
}

// ---------------------------------------------------------------- U-Boot stm32prog

const UB_PHASE_CMD: u32 = 0xf1;
const UB_PHASE_OTP: u32 = 0xf2;
const UB_PHASE_PMIC: u32 = 0xf4;
const UB_PHASE_END: u32 = 0xfe;
const UB_PHASE_RESET: u32 = 0xff;
const UB_PHASE_DO_RESET: u32 = 0x1ff;
const LAYOUT_RAM: usize = 0x40000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alt {
    FlashLayout,
    Part(usize),
    Virt(u32),
}

/// `struct dfu_entity`'s transaction state.
#[derive(Debug, Clone, Default)]
struct Entity {
    inited: bool,
    seq: u16,
    offset: u64,
    buf: Vec<u8>,
    read_left: u64,
    written: u64,
}

struct UBoot {
    cfg: Config,
    phase: u32,
    offset: u32,
    error: String,
    parts: Vec<Part>,
    alts: Vec<Alt>,
    entities: Vec<Entity>,
    cur: Option<usize>,
    first_run: bool,
    ram: Vec<u8>,
    otp: Vec<u8>,
    pmic: [u8; 8],
    mmc: MmcHandle,
    next: Option<Next>,
    log: Vec<String>,
}

/// The board's MMC as U-Boot sees it (shared with the board).
type MmcHandle = std::rc::Rc<Mmc>;

impl UBoot {
    fn new(cfg: &Config, mmc: MmcHandle, tfa_layout: Option<Vec<u8>>) -> UBoot {
        let mut u = UBoot {
            cfg: cfg.clone(),
            phase: layout::PHASE_FLASHLAYOUT,
            offset: 0,
            error: String::new(),
            parts: Vec::new(),
            alts: Vec::new(),
            entities: Vec::new(),
            cur: None,
            first_run: false,
            ram: vec![0u8; LAYOUT_RAM],
            otp: vec![0u8; cfg.soc.otp_size()],
            pmic: [0; 8],
            mmc,
            next: None,
            log: Vec::new(),
        };
        // do_stm32prog: the layout at STM32_DDR_BASE (<= 2022.10: where v2.4 TF-A put it) or
        // CONFIG_SYS_LOAD_ADDR (newer: nothing there), size 0 unless an STM32 v1 header gives it
        let found = match cfg.uboot {
            UbootGen::V2022_10 => tfa_layout.unwrap_or_default(),
            UbootGen::New => Vec::new(),
        };
        let size = match image::header_check(&found) {
            Header::Stm32V1 { image_length, header_len, .. } => image_length as usize + header_len,
            _ => 0,
        };
        match layout::parse_flash_layout(&found, size, u.offset_base()) {
            Ok(parts) => {
                u.log.push(format!("uboot: layout from TF-A parts={}", parts.len()));
                u.parts = parts;
            }
            Err(Some(e)) => u.err(e),
            Err(None) => {}
        }
        u.dfu_init();
        u.first_run = u.phase == layout::PHASE_FLASHLAYOUT;
        u
    }

    fn offset_base(&self) -> OffsetBase {
        match self.cfg.uboot {
            UbootGen::V2022_10 => OffsetBase::Auto,
            UbootGen::New => OffsetBase::Decimal,
        }
    }

    /// `stm32prog_err`: the first error sticks and sets PHASE_RESET.
    fn err(&mut self, msg: String) {
        if self.phase != UB_PHASE_RESET {
            self.log.push(format!("uboot: error \"{msg}\""));
            self.error = msg;
            self.phase = UB_PHASE_RESET;
        }
    }

    fn identity(&self) -> Identity {
        let mut alternates: Vec<String> = Vec::new();
        for a in &self.alts {
            alternates.push(match a {
                Alt::FlashLayout => "@FlashLayout/0x00/1*256Ke".into(),
                Alt::Part(i) => layout::alt_name(&self.parts[*i]),
                Alt::Virt(UB_PHASE_CMD) => format!("@virtual/0x{UB_PHASE_CMD:02x}/1*512Be"),
                Alt::Virt(UB_PHASE_OTP) => format!("@OTP/0x{UB_PHASE_OTP:02x}/1*{}Be", self.otp.len()),
                Alt::Virt(p) => format!("@PMIC/0x{p:02x}/1*8Be"),
            });
        }
        let soc = self.cfg.soc;
        Identity {
            bcd_device: 0x0200,
            manufacturer: "STMicroelectronics".into(),
            product: format!(
                "USB download gadget@Device ID /0x{:03X}, @Revision ID /0x{:04X}, @Name /{},",
                soc.chip_id(),
                soc.revision(),
                soc.name()
            ),
            serial: self.cfg.serial.clone(),
            extra_strings: vec![(4, "Device Firmware Upgrade".into())],
            iconfiguration: 2,
            alternates,
            interface_protocol: 2,
            functional: DfuFunctional { attributes: 0x0f, detach_timeout: 0, transfer_size: 4096 },
            first_alt_string: 5,
            config_attributes: 0xc0,
            max_power: 1,
        }
    }

    /// `stm32prog_dfu_init`: devices, GPT and erase, first phase, then the alternates.
    fn dfu_init(&mut self) {
        if !self.parts.is_empty()
            && let Err(e) = self.devices_init()
        {
            self.err(e);
            self.parts.clear();
        }
        if !self.parts.is_empty() {
            self.next_phase();
        }
        self.alts.clear();
        if self.parts.is_empty() {
            self.alts.push(Alt::FlashLayout);
        } else {
            for i in layout::assign_alternates(&mut self.parts) {
                self.alts.push(Alt::Part(i));
            }
        }
        self.alts.push(Alt::Virt(UB_PHASE_CMD));
        self.alts.push(Alt::Virt(UB_PHASE_OTP));
        self.alts.push(Alt::Virt(UB_PHASE_PMIC));
        self.entities = vec![Entity::default(); self.alts.len()];
    }

    fn devices_init(&mut self) -> Result<(), String> {
        let mut devs = layout::treat_partition_list(&mut self.parts)?;
        if devs.is_empty() {
            return Ok(());
        }
        for dev in devs.iter_mut() {
            match dev.target {
                Target::Mmc if dev.dev_id == self.mmc.dev_id => {
                    let g = layout::MmcGeometry {
                        dev_id: dev.dev_id,
                        lba: self.mmc.lba(),
                        erase_grp: self.mmc.erase_grp,
                        capacity_boot: self.mmc.capacity_boot(),
                    };
                    let head = self.mmc.read(0, 0, 34 * 512).unwrap_or_default();
                    let existing = |n: i32| gpt::read_entry(&head, n as u32).map(|(start, size, name)| layout::ExistingPart { start, size, name });
                    layout::init_mmc_device(&mut self.parts, dev, g, &existing)?;
                }
                Target::Mmc => return Err(format!("mmc device {} not found", dev.dev_id)),
                Target::Nor => return Err(format!("MTD device nor{} not found", dev.dev_id)),
                Target::Nand => return Err(format!("MTD device nand{} not found", dev.dev_id)),
                Target::SpiNand => return Err(format!("MTD device spi-nand{} not found", dev.dev_id)),
                Target::Ram => return Err("ram target: not modelled by the emulator".into()),
                Target::None => {}
            }
        }
        // delete RAW partitions, create the GPT, delete the other partitions (stm32prog_devices_init)
        for i in 0..self.parts.len() {
            let p = &self.parts[i];
            if p.ptype == PartType::RawImage && p.selected() && p.delete() {
                self.part_delete(i)?;
            }
        }
        for dev in &devs {
            if dev.target == Target::Mmc && dev.full_update {
                self.create_gpt(dev)?;
            }
        }
        for i in 0..self.parts.len() {
            let p = &self.parts[i];
            if p.ptype != PartType::RawImage && p.target != Target::None && p.selected() && p.delete() {
                self.part_delete(i)?;
            }
        }
        Ok(())
    }

    fn part_delete(&mut self, i: usize) -> Result<(), String> {
        let p = &self.parts[i];
        let (hw, base, size) = self.region(i);
        self.log.push(format!("uboot: erase part={} mmc={}", p.name, p.dev_id));
        self.mmc.erase(hw, base, size).map_err(|_| format!("{} (0x{:x}): MMC erase failed", p.name, p.id))
    }

    /// `create_gpt_partitions` for one device.
    fn create_gpt(&mut self, dev: &layout::Device) -> Result<(), String> {
        let mut entries = Vec::new();
        let mut rootfs_found = false;
        for &i in &dev.parts {
            let p = &self.parts[i];
            if p.part_id < 0 || p.ptype == PartType::RawImage {
                continue;
            }
            let type_guid = match p.ptype {
                PartType::Binary => "8DA63339-0007-60C0-C436-083AC8230908",
                PartType::Env => gpt::UBOOT_ENV,
                PartType::Fip => "19D5DF83-11B0-457B-BE2C-7559C13142A5",
                PartType::FwuMdata => "8a7a84a0-8387-40f6-ab41-a8b9a5a60d23",
                PartType::Esp => gpt::ESP,
                _ => gpt::LINUX,
            };
            let mut unique = None;
            if !rootfs_found && (p.name == "rootfs" || p.name == "rootfs-a") {
                rootfs_found = true;
                unique = match p.dev_id {
                    0 => Some("E91C4E10-16E6-4C0E-BD0E-77BECF4A3582"),
                    1 => Some("491F6117-415D-4F53-88C9-6E0DE54DEAC6"),
                    2 => Some("FD58F1C7-BE0D-4338-88E9-AD8F050AEB18"),
                    _ => None,
                };
            }
            if p.ptype == PartType::Fip {
                unique = match p.name.as_str() {
                    "fip-a" => Some("4FD84C93-54EF-463F-A7EF-AE25FF887087"),
                    "fip-b" => Some("09C54952-D5BF-45AF-ACEE-335303766FB3"),
                    _ => unique,
                };
            }
            entries.push(gpt::Entry {
                name: p.name.clone(),
                start: p.addr,
                size: p.size,
                type_guid: gpt::guid_bytes(type_guid),
                unique_guid: unique.map_or_else(|| gpt::derived_guid(&format!("{}/{}/{}", self.cfg.serial, dev.dev_id, p.name)), gpt::guid_bytes),
                bootable: p.ptype == PartType::System,
            });
        }
        if entries.is_empty() {
            return Ok(());
        }
        let boot_code = self.mmc.read(0, 0, 440).unwrap_or_default();
        let disk = gpt::derived_guid(&format!("{}/{}/disk", self.cfg.serial, dev.dev_id));
        for (off, bytes) in gpt::write_plan(self.mmc.lba(), &entries, disk, &boot_code) {
            self.mmc.write(0, off, &bytes).map_err(|e| format!("GPT partitionning fail: {e}"))?;
        }
        self.log.push(format!("uboot: gpt mmc={} partitions={}", dev.dev_id, entries.len()));
        Ok(())
    }

    /// Where partition `i` lives: hardware partition, byte offset, size.
    fn region(&self, i: usize) -> (u8, u64, u64) {
        let p = &self.parts[i];
        match p.part_id {
            -1 => (1, 0, p.size),
            -2 => (2, 0, p.size),
            _ => (0, p.addr, p.size),
        }
    }

    /// `stm32prog_next_phase`.
    fn next_phase(&mut self) {
        if matches!(self.phase, UB_PHASE_RESET | UB_PHASE_END | UB_PHASE_DO_RESET) {
            return;
        }
        self.cur = layout::next_phase(&self.parts, self.phase);
        self.phase = self.cur.map_or(UB_PHASE_END, |i| self.parts[i].id);
        self.offset = 0;
        match self.cur {
            None => self.log.push("uboot: phase=END".into()),
            Some(i) => {
                let name = self.parts[i].name.clone();
                self.log.push(format!("uboot: phase=0x{:02x} part={}", self.phase, name));
                let fault = self.cfg.faults.iter().any(|f| matches!(f, Fault::GetPhaseError { part } if *part == name));
                if fault {
                    let id = self.parts[i].id;
                    self.err(format!("{name} (0x{id:x}): MMC erase failed"));
                }
            }
        }
    }

    fn cur_alt(&self) -> Option<u8> {
        self.cur.and_then(|i| self.parts[i].alt_id)
    }

    /// `stm32prog_cmd_read`: GetPhase.
    fn get_phase(&mut self, len: usize) -> Vec<u8> {
        let destination = if self.phase == layout::PHASE_FLASHLAYOUT {
            match self.cfg.uboot {
                UbootGen::V2022_10 => self.cfg.soc.ddr_base(),
                UbootGen::New => self.cfg.soc.sys_load_addr(),
            }
        } else {
            UNDEFINED
        };
        let mut v = vec![(self.phase & 0xff) as u8];
        v.extend_from_slice(&destination.to_le_bytes());
        v.extend_from_slice(&self.offset.to_le_bytes());
        if self.phase == UB_PHASE_RESET || self.phase == UB_PHASE_DO_RESET {
            if self.error.is_empty() {
                self.error = "Unspecified".into();
            }
            let room = len.saturating_sub(9);
            let text = self.error.as_bytes();
            v.extend_from_slice(&text[..text.len().min(room)]);
            if self.phase == UB_PHASE_RESET {
                self.phase = UB_PHASE_DO_RESET;
                self.log.push("uboot: reset requested".into());
            }
        } else if self.phase == layout::PHASE_FLASHLAYOUT {
            v.push(u8::from(!self.parts.is_empty()));
        }
        v
    }

    /// `stm32prog_cmd_write`: the Start command (5 bytes: phase, address big-endian).
    fn start_command(&mut self, buf: &[u8]) -> Result<(), ()> {
        if buf.len() < 5 {
            return Err(());
        }
        let phase = buf[0] as u32;
        let address = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
        if phase == UB_PHASE_RESET {
            self.next = Some(Next::Finished(format!("start address=0x{address:08x}")));
            return Ok(());
        }
        // stm32prog_set_phase
        if phase == self.phase {
            self.offset = address;
            return Ok(());
        }
        match self.parts.iter().position(|p| p.id == phase) {
            Some(i) => {
                self.cur = Some(i);
                self.phase = phase;
                self.offset = address;
                self.log.push(format!("uboot: start phase=0x{phase:02x} offset=0x{address:x}"));
                Ok(())
            }
            None => Err(()),
        }
    }

    /// `dfu_error_callback`: an error on the current partition's alternate is a stm32prog error.
    fn entity_error(&mut self, alt: u8, msg: &str) {
        self.entities[alt as usize] = Entity::default();
        if self.cur_alt() == Some(alt) {
            self.err(msg.to_string());
        }
    }

    fn medium_size(&self, a: Alt) -> u64 {
        match a {
            Alt::FlashLayout => LAYOUT_RAM as u64,
            Alt::Part(i) => self.parts[i].size,
            Alt::Virt(UB_PHASE_CMD) => 512,
            Alt::Virt(UB_PHASE_OTP) => self.otp.len() as u64,
            Alt::Virt(_) => 8,
        }
    }

    /// `dfu_transaction_initiate` (+ `dfu_initiated_callback`).
    fn initiate(&mut self, alt: u8, read: bool) {
        if self.entities[alt as usize].inited {
            return;
        }
        let mut e = Entity { inited: true, ..Default::default() };
        if read {
            e.read_left = self.medium_size(self.alts[alt as usize]);
        }
        if self.cur_alt() == Some(alt) {
            e.offset = self.offset as u64;
        }
        self.entities[alt as usize] = e;
    }

    fn write_part(&mut self, alt: u8, i: usize, data: &[u8]) -> Result<(), Next> {
        let (hw, base, size) = self.region(i);
        let e = &self.entities[alt as usize];
        let name = self.parts[i].name.clone();
        let mut data = data;
        for f in &self.cfg.faults {
            if let Fault::Vanish { part, after } = f
                && *part == name
                && e.written + data.len() as u64 >= *after
            {
                let keep = after.saturating_sub(e.written) as usize;
                data = &data[..keep.min(data.len())];
                if e.offset + data.len() as u64 <= size {
                    let _ = self.mmc.write(hw, base + e.offset, data);
                }
                return Err(Next::Vanish(format!("fault: vanished during partition {name} after 0x{:x} bytes", e.written + data.len() as u64)));
            }
        }
        if e.offset + data.len() as u64 > size || self.mmc.write(hw, base + e.offset, data).is_err() {
            return Err(Next::Dead(String::new()));
        }
        let e = &mut self.entities[alt as usize];
        e.offset += data.len() as u64;
        e.written += data.len() as u64;
        Ok(())
    }
}

impl Media for UBoot {
    /// `dfu_write`.
    fn download(&mut self, alt: u8, block: u16, data: &[u8]) -> Result<(), u8> {
        let Some(&a) = self.alts.get(alt as usize) else { return Err(dfu::ERR_UNKNOWN) };
        self.initiate(alt, false);
        if self.entities[alt as usize].seq != block {
            self.log.push(format!("uboot: dfu_write: Wrong sequence number! [{}] [{block}]", self.entities[alt as usize].seq));
            self.entity_error(alt, "Wrong sequence number");
            return Err(dfu::ERR_UNKNOWN);
        }
        let e = &mut self.entities[alt as usize];
        e.seq = e.seq.wrapping_add(1);
        let result = match a {
            Alt::FlashLayout => {
                let at = e.offset as usize;
                if at + data.len() > LAYOUT_RAM {
                    Err(())
                } else {
                    self.ram[at..at + data.len()].copy_from_slice(data);
                    e.offset += data.len() as u64;
                    Ok(())
                }
            }
            Alt::Part(i) => match self.write_part(alt, i, data) {
                Ok(()) => Ok(()),
                Err(Next::Vanish(r)) => {
                    self.next = Some(Next::Vanish(r));
                    return Ok(());
                }
                Err(_) => Err(()),
            },
            Alt::Virt(UB_PHASE_CMD) => {
                e.buf.extend_from_slice(data);
                if data.is_empty() {
                    // dfu_write_buffer_drain: the command runs now
                    let buf = std::mem::take(&mut e.buf);
                    self.start_command(&buf)
                } else {
                    Ok(())
                }
            }
            Alt::Virt(UB_PHASE_OTP) => {
                let at = e.offset as usize;
                e.offset += data.len() as u64;
                match self.otp.get_mut(at..at + data.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(data);
                        Ok(())
                    }
                    None => Err(()),
                }
            }
            Alt::Virt(_) => {
                let at = e.offset as usize;
                e.offset += data.len() as u64;
                match self.pmic.get_mut(at..at + data.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(data);
                        Ok(())
                    }
                    None => Err(()),
                }
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(()) => {
                self.entity_error(alt, "DFU write error");
                Err(dfu::ERR_UNKNOWN)
            }
        }
    }

    /// `dfu_flush` → `dfu_flush_callback` → `stm32prog_end_phase` / `stm32prog_next_phase`.
    fn manifest(&mut self, alt: u8) -> Result<(), u8> {
        let Some(&a) = self.alts.get(alt as usize) else { return Ok(()) };
        let e = std::mem::take(&mut self.entities[alt as usize]);
        match a {
            Alt::Virt(p) => {
                if p == UB_PHASE_OTP || p == UB_PHASE_PMIC {
                    self.log.push(format!("uboot: {} written bytes={}", if p == UB_PHASE_OTP { "otp" } else { "pmic" }, e.written.max(e.offset)));
                }
            }
            Alt::FlashLayout => {
                if self.phase == layout::PHASE_FLASHLAYOUT {
                    let received = e.offset as usize;
                    if received >= 4 && self.ram[0..4] == [0x27, 0x05, 0x19, 0x56] {
                        self.phase = UB_PHASE_END;
                        self.log.push("uboot: U-Boot script received".into());
                    } else {
                        self.log.push(format!("uboot: FlashLayout received, size = {received}"));
                        let ram = self.ram.clone();
                        match layout::parse_flash_layout(&ram, received, self.offset_base()) {
                            Ok(parts) => self.parts = parts,
                            Err(Some(msg)) => self.err(msg),
                            Err(None) => self.err("Layout: invalid FlashLayout".into()),
                        }
                    }
                }
            }
            Alt::Part(i) => {
                if self.cur == Some(i) {
                    let p = self.parts[i].clone();
                    self.log.push(format!("uboot: flashed part={} id=0x{:02x} bytes={}", p.name, p.id, e.written));
                    if p.part_id < 0 {
                        self.log.push(format!("uboot: partconf mmc={} boot={}", p.dev_id, -p.part_id));
                    }
                    self.next_phase();
                }
            }
        }
        Ok(())
    }

    /// `dfu_read`.
    fn upload(&mut self, alt: u8, block: u16, len: u16) -> Result<Vec<u8>, u8> {
        let Some(&a) = self.alts.get(alt as usize) else { return Err(dfu::ERR_UNKNOWN) };
        self.initiate(alt, true);
        if self.entities[alt as usize].seq != block {
            self.log.push(format!("uboot: dfu_read: Wrong sequence number! [{}] [{block}]", self.entities[alt as usize].seq));
            return Err(dfu::ERR_UNKNOWN);
        }
        let e = &mut self.entities[alt as usize];
        e.seq = e.seq.wrapping_add(1);
        let at = e.offset;
        let n = (len as u64).min(e.read_left) as usize;
        let data = match a {
            Alt::Virt(UB_PHASE_CMD) => {
                if at == 0 {
                    let v = self.get_phase(512);
                    let e = &mut self.entities[alt as usize];
                    e.offset = v.len() as u64;
                    v
                } else {
                    Vec::new()
                }
            }
            Alt::Virt(UB_PHASE_OTP) => self.otp[at as usize..at as usize + n].to_vec(),
            Alt::Virt(_) => self.pmic[at as usize..at as usize + n].to_vec(),
            Alt::FlashLayout => self.ram[at as usize..at as usize + n].to_vec(),
            Alt::Part(i) => {
                let (hw, base, _) = self.region(i);
                self.mmc.read(hw, base + at, n).map_err(|_| dfu::ERR_UNKNOWN)?
            }
        };
        let e = &mut self.entities[alt as usize];
        if !matches!(a, Alt::Virt(UB_PHASE_CMD)) {
            e.offset += data.len() as u64;
            e.read_left -= data.len() as u64;
        }
        if data.len() < len as usize {
            // short read: "UPLOAD ... done", transaction cleaned up
            self.entities[alt as usize] = Entity::default();
        }
        Ok(data)
    }

    /// DFU_DETACH in dfuIDLE: `g_dnl_trigger_detach`, the gadget loop ends; `stm32prog_usb_loop` decides.
    fn detach(&mut self) {
        if self.first_run {
            self.first_run = false;
            if self.phase != layout::PHASE_FLASHLAYOUT {
                self.next = Some(if self.phase == UB_PHASE_END {
                    Next::Finished("uboot script".into())
                } else {
                    Next::Dead(format!("U-Boot left stm32prog: {}", self.error))
                });
                return;
            }
            self.dfu_init();
            self.next = Some(Next::UBootAgain);
            return;
        }
        self.next = Some(match self.phase {
            UB_PHASE_DO_RESET => Next::Reset,
            UB_PHASE_END => Next::Finished("phase=END".into()),
            p => Next::Dead(format!("host detached in phase 0x{p:02x}; U-Boot left stm32prog")),
        });
    }
}

// ---------------------------------------------------------------- the board

enum Stage {
    Rom(Rom),
    Tfa(Tfa),
    UBoot(UBoot),
    Off,
}

pub struct Board {
    cfg: Config,
    mmc: MmcHandle,
    stage: Stage,
    core: usb::Core,
    dfu: Dfu,
    ident: Identity,
    /// Marker lines for the transport to print (`emu: ...`).
    pub log: Vec<String>,
}

impl Board {
    pub fn new(cfg: Config, mmc: Mmc) -> Board {
        let mut b = Board {
            ident: Rom::identity(&cfg),
            stage: Stage::Rom(Rom::new(&cfg)),
            dfu: Dfu::new(Flavor::Rom),
            core: usb::Core::default(),
            mmc: std::rc::Rc::new(mmc),
            cfg,
            log: Vec::new(),
        };
        b.dfu.poll_ms = b.cfg.poll_ms;
        b.log.push("stage=rom".into());
        b
    }

    pub fn identity(&self) -> &Identity {
        &self.ident
    }

    pub fn stage_name(&self) -> &'static str {
        match &self.stage {
            Stage::Rom(_) => "rom",
            Stage::Tfa(_) => "tfa",
            Stage::UBoot(u) if u.first_run => "uboot-layout",
            Stage::UBoot(_) => "uboot",
            Stage::Off => "off",
        }
    }

    pub fn early_polls(&self) -> u64 {
        self.dfu.early_polls
    }

    /// One control transfer on EP0. Returns the reply (IN data not yet truncated to wLength) and what the
    /// transport must do after sending it.
    pub fn control(&mut self, s: &Setup, data: &[u8]) -> (Reply, Action) {
        let reply = match s.kind() {
            0 => {
                let (reply, event) = usb::standard(&mut self.core, &self.ident, s, self.dfu.alt);
                match event {
                    StdEvent::SetInterface(a) => self.dfu.set_alt(a),
                    StdEvent::BusReset => {
                        if let Stage::Rom(r) = &mut self.stage {
                            r.detach();
                        }
                    }
                    StdEvent::SetConfiguration(v) if v != 0 => {
                        // the host's enumeration is complete: a marker tests can wait for
                        let name = self.stage_name();
                        self.log.push(format!("configured stage={name}"));
                    }
                    StdEvent::SetConfiguration(_) | StdEvent::None => {}
                }
                reply
            }
            1 if s.recipient() == 1 => {
                let media: &mut dyn Media = match &mut self.stage {
                    Stage::Rom(r) => r,
                    Stage::Tfa(t) => t,
                    Stage::UBoot(u) => u,
                    Stage::Off => return (Reply::Stall, Action::None),
                };
                self.dfu.request(s, data, media)
            }
            _ => Reply::Stall,
        };
        let (next, log) = match &mut self.stage {
            Stage::Rom(r) => (r.next.take(), std::mem::take(&mut r.log)),
            Stage::Tfa(t) => (t.next.take(), std::mem::take(&mut t.log)),
            Stage::UBoot(u) => (u.next.take(), std::mem::take(&mut u.log)),
            Stage::Off => (None, Vec::new()),
        };
        self.log.extend(log);
        let action = match next {
            None => Action::None,
            Some(n) => self.apply(n),
        };
        (reply, action)
    }

    fn enter(&mut self, stage: Stage, flavor: Flavor) {
        self.stage = stage;
        let mut d = Dfu::new(flavor);
        d.poll_ms = self.cfg.poll_ms;
        d.early_polls = self.dfu.early_polls;
        self.dfu = d;
        self.ident = match &self.stage {
            Stage::Rom(_) => Rom::identity(&self.cfg),
            Stage::Tfa(_) => Tfa::identity(&self.cfg),
            Stage::UBoot(u) => u.identity(),
            Stage::Off => self.ident.clone(),
        };
        let name = self.stage_name();
        self.log.push(format!("stage={name}"));
    }

    fn apply(&mut self, next: Next) -> Action {
        match next {
            Next::Tfa { keep } => {
                self.enter(Stage::Tfa(Tfa::new(&self.cfg)), Flavor::Tfa);
                if keep {
                    // usb_dfu_plat_init: ep0_state DATA_IN, dev_state CONFIGURED: same address, same session
                    Action::None
                } else {
                    self.core = usb::Core::default();
                    Action::Reattach
                }
            }
            Next::TfaAgain => {
                if let Stage::Tfa(t) = &mut self.stage {
                    t.load(PHASE_SSBL, self.cfg.soc.ddr_base() + 0x0800_0000, 0x0100_0000);
                }
                self.dfu = Dfu::new(Flavor::Tfa);
                self.dfu.poll_ms = self.cfg.poll_ms;
                self.core = usb::Core::default();
                self.log.push("stage=tfa".into());
                Action::Reattach
            }
            Next::UBoot { layout } => {
                let u = UBoot::new(&self.cfg, self.mmc.clone(), layout);
                let log = u.log.clone();
                self.enter(Stage::UBoot(u), Flavor::UBoot);
                self.log.extend(log);
                if let Stage::UBoot(u) = &mut self.stage {
                    u.log.clear();
                }
                self.core = usb::Core::default();
                Action::Reattach
            }
            Next::UBootAgain => {
                if let Stage::UBoot(u) = &self.stage {
                    self.ident = u.identity();
                }
                let mut d = Dfu::new(Flavor::UBoot);
                d.poll_ms = self.cfg.poll_ms;
                d.early_polls = self.dfu.early_polls;
                self.dfu = d;
                self.core = usb::Core::default();
                self.log.push("stage=uboot".into());
                Action::Reattach
            }
            Next::Reset => {
                self.log.push("reset".into());
                self.enter(Stage::Rom(Rom::new(&self.cfg)), Flavor::Rom);
                self.core = usb::Core::default();
                Action::Reattach
            }
            Next::Dead(reason) => {
                self.stage = Stage::Off;
                Action::Stop { code: 3, reason }
            }
            Next::Finished(reason) => {
                self.stage = Stage::Off;
                Action::Stop { code: 0, reason }
            }
            Next::Vanish(reason) => {
                self.stage = Stage::Off;
                Action::Vanish { reason }
            }
        }
    }
}

#[cfg(test)]
mod tests;
