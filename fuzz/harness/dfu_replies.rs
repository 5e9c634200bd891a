//! The built-in flasher (`flash --via builtin`, `devices`): what a board in DFU mode sends, which is not ours to
//! trust (a wrong firmware, a broken board, a hostile device). The first byte chooses what the rest goes to:
//!
//! * 0: `protocol::StatusReply::parse` (DFU_GETSTATUS), 1: `FunctionalDescriptor::parse` and `block_size`,
//!   2: `descriptors::parse_configuration` and `DeviceDescriptor::parse`, 3: strings (`AltName::parse`,
//!   `Product::parse`, `UsbPath::parse`, `stm32prog::partition_named_in`), 4: `stm32prog::PhaseReply::parse`
//!   (GetPhase, 0xFF with the error text), 5: a whole device read from the data (`DfuDevice::parse`,
//!   `listing::list_boards`).
//! * otherwise: the board sequencer (`Sequencer` run by `transport::drive`, as `flash` runs it) against a scripted
//!   device whose every reply comes from the data (descriptors of the ROM, TF-A or U-Boot, replaced in part or
//!   whole; GETSTATUS and GetPhase replies; stalls, timeouts, the board leaving the bus). The replies repeat once
//!   the data is used up, so an input stands for an endless device.
//!
//! Checked besides "no panic": parsed replies and descriptors encode back to what was parsed; the sequencer ends,
//! with success or an error, within [`MAX_STEPS`] device operations and [`MAX_RECONNECTS`] re-enumerations; no
//! single wait it asks for is longer than its polling bound; it never reads past an image's end; and a success means
//! U-Boot took every partition of the job.
use std::{collections::BTreeMap, time::Duration};

use stm32mp_imager::{
    board::Soc,
    dfu::{
        descriptors::{AltName, Connection, DeviceDescriptor, DfuDevice, Product, RawDevice, Stage, UsbPath, parse_configuration},
        download::PollLimits,
        listing::{self, Scanned},
        protocol::{FunctionalDescriptor, StatusReply, block_size},
        sequencer::{self, BoardJob, ImageId, ImageInfo, Sequencer, Timing},
        stm32prog::{PhaseId, PhaseReply, partition_named_in},
        transport::{DfuTransport, ImageSource, TransportError, drive},
    },
};

/// Device operations one run may take. A complete flash of the largest job the harness builds, with 1-byte blocks
/// and every poll the limits allow, stays far below.
pub const MAX_STEPS: usize = 400_000;
/// Re-enumerations one run may wait for: the sequencer's bound, plus the wait it resumes after resetting the port
/// behind the ROM.
pub const MAX_RECONNECTS: usize = sequencer::MAX_REENUMERATIONS + 1;

/// Run one input.
pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    match selector {
        0 => status(rest),
        1 => functional(rest),
        2 => configuration(rest),
        3 => strings(rest),
        4 => phase(rest),
        5 => device(rest),
        _ => sequencer(rest),
    }
}

fn status(bytes: &[u8]) {
    if let Ok(r) = StatusReply::parse(bytes) {
        assert_eq!(StatusReply::parse(&r.encode()), Ok(r));
        let _ = (r.status.to_string(), r.state.to_string());
    }
}

fn functional(bytes: &[u8]) {
    if let Ok(f) = FunctionalDescriptor::parse(bytes) {
        assert_eq!(FunctionalDescriptor::parse(&f.encode()), Ok(f));
        let _ = (f.manifestation_tolerant(), f.will_detach());
        for packet in [0, 8, 64, bytes.last().copied().unwrap_or(0)] {
            if let Ok(block) = block_size(f.transfer_size, packet) {
                assert!(block >= 1 && block <= u32::from(f.transfer_size), "block {block} for wTransferSize {}", f.transfer_size);
            }
        }
    }
}

fn configuration(bytes: &[u8]) {
    if let Ok(iface) = parse_configuration(bytes) {
        let _ = format!("{iface:?}");
    }
    if let Ok(d) = DeviceDescriptor::parse(bytes) {
        let _ = format!("{d:?}");
    }
}

fn strings(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines().chain([text.as_ref()]) {
        if let Some(alt) = AltName::parse(line) {
            let _ = (alt.phase.meaning(), alt.phase.to_string());
        }
        let product = Product::parse(line);
        let _ = product.soc();
        if let Ok(path) = UsbPath::parse(line) {
            assert_eq!(path.as_str(), line);
        }
        if let Some(id) = partition_named_in(line) {
            assert!((0x01..=0xF0).contains(&id.0));
        }
    }
}

fn phase(bytes: &[u8]) {
    if let Ok(r) = PhaseReply::parse(bytes) {
        assert_eq!(r.phase.0, bytes[0]);
        assert!(!r.detach_requested || (r.phase == PhaseId::LAYOUT && bytes.get(9) == Some(&1)));
        let _ = (r.phase.meaning(), r.error.as_deref().map(partition_named_in));
    }
}

fn device(bytes: &[u8]) {
    let mut script = Script::new(bytes);
    let raw = script.raw_device();
    if let Ok(dev) = DfuDevice::parse(&raw) {
        let _ = (dev.block_size(), dev.offered(), dev.product.soc());
        for phase in [PhaseId::LAYOUT, PhaseId::FSBL, PhaseId::SSBL, PhaseId::CMD, PhaseId(0x10)] {
            if let Some(alt) = dev.alternate_for(phase) {
                assert_eq!(alt.parsed.as_ref().map(|p| p.phase), Some(phase));
            }
        }
    }
    let listed = listing::list_boards(&[Scanned::Read(raw.clone()), Scanned::Unreadable { facts: raw, problem: "permission denied".into() }]);
    assert_eq!(listed.len(), 2);
}

/// The data as an endless stream of device replies.
struct Script<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Script<'a> {
    fn new(data: &'a [u8]) -> Script<'a> {
        Script { data, at: 0 }
    }

    fn byte(&mut self) -> u8 {
        if self.data.is_empty() {
            return 0;
        }
        if self.at >= self.data.len() {
            self.at = 0;
        }
        self.at += 1;
        self.data[self.at - 1]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// A length-prefixed string (lossy UTF-8, as nusb hands over string descriptors).
    fn string(&mut self) -> String {
        let n = usize::from(self.byte() % 128);
        String::from_utf8_lossy(&self.bytes(n)).into_owned()
    }

    /// Descriptors and strings all taken from the data.
    fn raw_device(&mut self) -> RawDevice {
        let n = usize::from(self.byte() % 24);
        let device_descriptor = self.bytes(n);
        let n = usize::from(self.byte());
        let configuration = self.bytes(n);
        let mut strings = BTreeMap::new();
        for _ in 0..self.byte() % 8 {
            let index = self.byte();
            strings.insert(index, self.string());
        }
        let path = UsbPath::parse(&self.string()).ok();
        RawDevice {
            path,
            connection: Some(Connection { bus: 1, address: self.byte() }),
            serial: Some(self.string()),
            product: Some(self.string()),
            device_descriptor,
            configuration,
            strings,
        }
    }
}

fn device_id(soc: Soc) -> u16 {
    match soc {
        Soc::Stm32mp15 => 0x500,
        Soc::Stm32mp13 => 0x501,
        Soc::Stm32mp25 => 0x505,
    }
}

/// The device descriptor TF-A and U-Boot send (EP0 64 bytes, 0483:df11).
fn device_descriptor() -> Vec<u8> {
    vec![18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x83, 0x04, 0x11, 0xdf, 0x00, 0x02, 1, 2, 3, 1]
}

/// One interface, an alternate per string (`iInterface` 4, 5, ...), then the functional descriptor.
fn configuration_bytes(count: usize, functional: FunctionalDescriptor) -> Vec<u8> {
    let mut c = vec![9, 2, 0, 0, 1, 1, 2, 0xC0, 0x32];
    for i in 0..count {
        let i = u8::try_from(i).unwrap_or(u8::MAX);
        c.extend_from_slice(&[9, 4, 0, i, 0, 0xFE, 0x01, 0x02, i.saturating_add(4)]);
    }
    c.extend_from_slice(&functional.encode());
    let total = u16::try_from(c.len()).unwrap_or(u16::MAX).to_le_bytes();
    c[2] = total[0];
    c[3] = total[1];
    c
}

/// A scripted board: each operation's outcome, and each reply's bytes, come from the script.
struct Device<'a> {
    script: Script<'a>,
    soc: Soc,
    partitions: Vec<u8>,
    steps: usize,
    reconnects: usize,
    max_sleep: Duration,
}

impl Device<'_> {
    fn step(&mut self) {
        self.steps += 1;
        assert!(self.steps <= MAX_STEPS, "the sequencer took more than {MAX_STEPS} device operations");
    }

    /// How an operation ends: 0..=3 fail, anything else succeeds.
    fn outcome(&mut self) -> Result<(), TransportError> {
        match self.script.byte() % 16 {
            0 => Err(TransportError::Stall),
            1 => Err(TransportError::Gone),
            2 => Err(TransportError::TimedOut),
            3 => Err(TransportError::Other("EPROTO".into())),
            _ => Ok(()),
        }
    }

    /// What a board answers when read: one of the three stages as the device code builds its descriptors (see
    /// `dfu::descriptors`), with parts replaced by the script, or everything from the script.
    fn describe_from_script(&mut self) -> Result<RawDevice, TransportError> {
        self.outcome()?;
        let choice = self.script.byte();
        if choice % 8 == 7 {
            return Ok(self.script.raw_device());
        }
        let soc = match (choice >> 3) % 8 {
            0 => Soc::Stm32mp13,
            1 => Soc::Stm32mp25,
            _ => self.soc,
        };
        let id = device_id(soc);
        let (product, alternates, transfer_size, attributes): (String, Vec<String>, u16, u8) = match choice % 8 {
            0 | 1 => {
                let alternates = if soc == Soc::Stm32mp15 {
                    vec![
                        "@Partition0 /0x00/1*256Ke",
                        "@FSBL /0x01/1*1Me",
                        "@Partition2 /0x02/1*1Me",
                        "@Partition3 /0x03/1*16Me",
                        "@virtual /0xF1/1*512Ba",
                    ]
                } else {
                    vec!["@FSBL /0x01/1*1Me", "@virtual /0xF1/1*512Ba"]
                };
                (
                    format!("DFU in HS Mode @Device ID /0x{id:03X}, @Revision ID /0x0000"),
                    alternates.into_iter().map(String::from).collect(),
                    1024,
                    0x0F,
                )
            }
            2 | 3 => {
                let alternates = match soc {
                    Soc::Stm32mp25 => vec!["@DDR FIP /0x02/1*32Ke", "@FIP /0x03/1*16Me", "@virtual /0xF1/1*512Ba"],
                    Soc::Stm32mp13 => vec!["@SSBL /0x03/1*16Me", "@virtual /0xF1/1*512Ba"],
                    Soc::Stm32mp15 => vec!["@Partition0 /0x00/1*256Ke", "@FSBL /0x01/1*1Me", "@Partition3 /0x03/1*16Me", "@virtual /0xF1/1*512Ba"],
                };
                let product = format!("DFU @Device ID /0x{id:03X}, @Revision ID /0x2000, @Name /STM32MP1xx Rev.Z,");
                (product, alternates.into_iter().map(String::from).collect(), 1024, 0x0F)
            }
            _ => {
                let mut alternates = Vec::new();
                if choice & 0x40 == 0 {
                    alternates.push("@FlashLayout/0x00/1*256Ke".to_string());
                } else {
                    for (i, id) in self.partitions.iter().enumerate() {
                        alternates.push(format!("@part{i}/0x{id:02x}/1*1Me"));
                    }
                }
                alternates.push("@virtual/0xf1/1*512Be".into());
                alternates.push("@PMIC/0xf4/1*8Be".into());
                let product = format!("USB download gadget@Device ID /0x{id:03X}, @Revision ID /0x2000, @Name /STM32MP1xx Rev.Z,");
                (product, alternates, 4096, 0x0F)
            }
        };
        let mut raw = RawDevice {
            path: Some(UsbPath::parse("1-1.3").expect("a USB path")),
            connection: Some(Connection { bus: 1, address: self.script.byte() % 4 }),
            serial: Some("004200343338510534383330".into()),
            product: Some(product),
            device_descriptor: device_descriptor(),
            configuration: Vec::new(),
            strings: (4u8..).zip(alternates.iter().cloned()).collect(),
        };
        let mut functional = FunctionalDescriptor { attributes, detach_timeout_ms: 255, transfer_size, dfu_version: 0x0110 };
        // Parts replaced by the script.
        let changes = self.script.byte();
        if changes & 0x80 != 0 {
            if changes & 0x01 != 0 {
                functional.transfer_size = self.script.u16();
            }
            if changes & 0x02 != 0 {
                functional.attributes = self.script.byte();
            }
            if changes & 0x04 != 0 {
                raw.product = Some(self.script.string());
            }
            if changes & 0x08 != 0 {
                let index = self.script.byte() % 8 + 4;
                raw.strings.insert(index, self.script.string());
            }
            if changes & 0x10 != 0 {
                raw.device_descriptor[7] = self.script.byte();
            }
            if changes & 0x20 != 0 {
                raw.serial = None;
            }
        }
        raw.configuration = configuration_bytes(alternates.len(), functional);
        Ok(raw)
    }
}

impl DfuTransport for Device<'_> {
    fn describe(&mut self) -> Result<RawDevice, TransportError> {
        self.step();
        self.describe_from_script()
    }

    fn select_alt(&mut self, _alt: u8) -> Result<(), TransportError> {
        self.step();
        self.outcome()
    }

    fn control_out(&mut self, _request: u8, _value: u16, _data: &[u8], _timeout: Duration) -> Result<(), TransportError> {
        self.step();
        self.outcome()
    }

    fn control_in(&mut self, request: u8, _value: u16, length: u16, _timeout: Duration) -> Result<Vec<u8>, TransportError> {
        self.step();
        self.outcome()?;
        let kind = self.script.byte();
        let mut reply = match request {
            // GETSTATUS: 6 bytes, mostly; status OK and a state and poll time from the script, or all of it.
            3 if kind & 0x80 == 0 => {
                let state = self.script.byte() % 12;
                let poll = if kind & 0x40 == 0 { 0 } else { self.script.byte() };
                vec![0, poll, 0, 0, state, 0]
            }
            3 if kind & 0x40 == 0 => self.script.bytes(6),
            // GetPhase: phase, address, offset, then what the stage adds (detach/layout byte, error text).
            2 if kind & 0x80 == 0 => {
                let phase = self.script.byte();
                let extra = match kind % 4 {
                    0 => Vec::new(),
                    1 => vec![self.script.byte() % 2],
                    _ => self.script.string().into_bytes(),
                };
                PhaseReply::encode(PhaseId(phase), 0xC000_0000, 0, &extra)
            }
            _ => {
                let n = usize::from(self.script.byte() % 32);
                self.script.bytes(n)
            }
        };
        reply.truncate(usize::from(length));
        Ok(reply)
    }

    fn await_reconnect(&mut self, _timeout: Duration) -> Result<RawDevice, TransportError> {
        self.step();
        self.reconnects += 1;
        assert!(self.reconnects <= MAX_RECONNECTS, "the sequencer waited for more than {MAX_RECONNECTS} re-enumerations");
        self.describe_from_script()
    }

    fn reset_port(&mut self) -> Result<(), TransportError> {
        self.step();
        self.outcome()
    }

    fn sleep(&mut self, duration: Duration) {
        self.step();
        assert!(duration <= self.max_sleep, "the device made the host sleep {duration:?} at once (bound {:?})", self.max_sleep);
    }
}

/// Images of known lengths; reading past an end is a sequencer bug.
struct Images(Vec<u64>);

impl ImageSource for Images {
    fn read_at(&mut self, image: ImageId, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let len = self.0[image.0];
        let end = offset.checked_add(buf.len() as u64).expect("offset + length fits");
        assert!(end <= len, "read of {:#x}..{end:#x} past the end of image {} ({len:#x} bytes)", offset, image.0);
        buf.fill(0xA5);
        Ok(())
    }
}

const LAYOUT: &[u8] = b"#Opt\tId\tName\tType\tIP\tOffset\tBinary\n-\t0x01\tfsbl-boot\tBinary\tnone\t0x0\ttf-a.stm32\n";

fn sequencer(bytes: &[u8]) {
    // The job: SoC, which partitions, image lengths, how it ends, and when it is interrupted.
    let config = bytes.get(..4).unwrap_or(&[]);
    let replies = bytes.get(4..).unwrap_or(&[]);
    let c = |i: usize| config.get(i).copied().unwrap_or(0);
    let soc = match (c(0) & 0x0F) % 3 {
        0 => Soc::Stm32mp15,
        1 => Soc::Stm32mp13,
        _ => Soc::Stm32mp25,
    };
    let lens: Vec<u64> = (0..4).map(|i| 1 + u64::from(c(1).rotate_left(i * 2)) * 3).collect();
    let images: Vec<ImageInfo> = ["tf-a.stm32", "fip.bin", "ddr-fw.fip", "rootfs.ext4"]
        .iter()
        .zip(&lens)
        .map(|(label, &len)| ImageInfo { label: (*label).to_string(), len })
        .collect();
    let ids = [0x04, 0x05, 0x06, 0x10, 0x11, 0xF0];
    let partitions: BTreeMap<u8, ImageId> =
        ids.iter().enumerate().filter(|&(i, _)| c(2) & (1 << i) != 0).map(|(i, &id)| (id, ImageId(i % 4))).collect();
    let job = BoardJob {
        soc,
        images,
        fsbl: ImageId(0),
        ddr_firmware: (c(0) & 0x10 != 0).then_some(ImageId(2)),
        ssbl: ImageId(1),
        layout: LAYOUT.to_vec(),
        partitions: partitions.clone(),
    };
    let timing = Timing { poll: PollLimits { max_wait: Duration::from_secs(600), max_polls: 16 }, progress_step: 64, ..Timing::default() };
    let mut seq = Sequencer::new(job, timing).expect("the harness's job is sendable");
    let max_sleep = timing.poll.max_wait.max(timing.rom_retry);
    let mut device =
        Device { script: Script::new(replies), soc, partitions: partitions.keys().copied().collect(), steps: 0, reconnects: 0, max_sleep };
    let mut images = Images(lens);
    let mut events = 0usize;
    let cancel_at = usize::from(c(3)) * 8;
    let steps = std::cell::Cell::new(0usize);
    let result = drive(
        &mut seq,
        &mut device,
        &mut images,
        &mut |e| {
            events += 1;
            assert!(events <= 4 * MAX_STEPS, "events without end");
            let _ = format!("{e:?}");
        },
        &|| {
            steps.set(steps.get() + 1);
            cancel_at != 0 && steps.get() >= cancel_at
        },
    );
    match result {
        Ok(summary) => {
            for id in partitions.keys() {
                assert!(
                    summary.phases.iter().any(|p| p.stage == Stage::Uboot && p.phase == PhaseId(*id)),
                    "success without partition {id:#04x}: {summary:?}"
                );
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    assert!(device.steps > 0);
}
