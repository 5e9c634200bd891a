//! The built-in flasher's USB transport: ST DFU boards (`0483:df11`) on `nusb` (pure Rust, usbfs), implementing
//! [`DfuTransport`] for one board followed by its USB path, plus the scan behind `stm32mp-imager devices` and the
//! file-backed [`ImageSource`].
//!
//! Thin on purpose: every decision is in the pure `crate::dfu` (which request, what a reply means, what to do when
//! the device leaves); this module only moves bytes and maps OS errors to [`TransportError`]. Every wait is bounded:
//! control transfers carry the sequencer's timeouts, opening retries `EACCES` for [`UsbSettings::access_window`]
//! (udev may apply the `uaccess`/group permissions after the device appears), and [`DfuTransport::await_reconnect`]
//! polls the bus every [`UsbSettings::poll_interval`] until its deadline.
//!
//! Descriptors are read from the device, not from the kernel's copy made at enumeration time: on STM32MP15 TF-A
//! answers on the ROM's connection with its own strings and alternates (`stm32mp1_usb_dfu.c`, "keep the
//! configuration from ROM code"), which sysfs never sees.
//!
//! Not exercised by the unit tests (no USB here): `tests/usb_vm.rs` runs it end to end in a QEMU guest against
//! emulated boards on `vhci_hcd` (`scripts/usb-vm/suite.sh`).

use std::{
    fs::File,
    num::NonZeroU8,
    os::unix::fs::FileExt,
    path::PathBuf,
    thread,
    time::{Duration, Instant},
};

use nusb::{
    Device, DeviceInfo, ErrorKind, GetDescriptorError, Interface, MaybeFuture,
    transfer::{ControlIn, ControlOut, ControlType, Recipient, TransferError},
};

use super::flash_job::{hash_reader, verify_files};
use crate::{
    cancel::Cancel,
    dfu::{
        RawDevice, UsbPath,
        descriptors::{Connection, DFU_PRODUCT, DeviceDescriptor, LANGUAGE_EN_US, ST_VENDOR, parse_configuration},
        listing::Scanned,
        sequencer::ImageId,
        transport::{DfuTransport, ImageSource, TransportError},
    },
    flash::records::FileDigest,
};

const DESCRIPTOR_DEVICE: u8 = 0x01;
const DESCRIPTOR_CONFIGURATION: u8 = 0x02;

/// Bounds of the transport's own waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsbSettings {
    /// How long to retry opening a device that says "permission denied".
    pub access_window: Duration,
    /// Between two looks at the bus while waiting for a board.
    pub poll_interval: Duration,
    /// Each descriptor read.
    pub descriptor_timeout: Duration,
}

impl Default for UsbSettings {
    fn default() -> UsbSettings {
        UsbSettings { access_window: Duration::from_secs(3), poll_interval: Duration::from_millis(100), descriptor_timeout: Duration::from_secs(2) }
    }
}

fn is_st_dfu(info: &DeviceInfo) -> bool {
    info.vendor_id() == ST_VENDOR && info.product_id() == DFU_PRODUCT
}

fn path_of(info: &DeviceInfo) -> UsbPath {
    UsbPath::from_ports(info.busnum(), info.port_chain())
}

fn connection_of(info: &DeviceInfo) -> Connection {
    Connection { bus: info.busnum(), address: info.device_address() }
}

fn transfer_error(e: TransferError) -> TransportError {
    match e {
        TransferError::Stall => TransportError::Stall,
        TransferError::Disconnected => TransportError::Gone,
        TransferError::Cancelled => TransportError::TimedOut,
        TransferError::Fault => TransportError::Other("USB protocol error (EPROTO/EILSEQ: the device stopped answering mid-transfer)".into()),
        TransferError::InvalidArgument => TransportError::Other("the kernel refused the request (EINVAL)".into()),
        TransferError::Unknown(19 | 108) => TransportError::Gone,
        TransferError::Unknown(5) => TransportError::Other("I/O error (EIO)".into()),
        TransferError::Unknown(code) => TransportError::Other(format!("USB transfer failed (errno {code})")),
    }
}

fn open_error(e: &nusb::Error, path: &UsbPath) -> TransportError {
    match e.kind() {
        ErrorKind::Disconnected | ErrorKind::NotFound => TransportError::Gone,
        ErrorKind::PermissionDenied => TransportError::Other(format!(
            "permission denied opening the board at USB path {path}: install the udev rules (`stm32mp-imager udev-rules`) or run as root"
        )),
        ErrorKind::Busy => {
            TransportError::Other(format!("the board at USB path {path} is in use by another program (STM32_Programmer_CLI, dfu-util?)"))
        }
        _ => TransportError::Other(format!("opening the board at USB path {path}: {e}")),
    }
}

fn descriptor_error(e: GetDescriptorError) -> TransportError {
    match e {
        GetDescriptorError::Transfer(t) => transfer_error(t),
        GetDescriptorError::InvalidDescriptor => TransportError::Other("the device sent an invalid string descriptor".into()),
    }
}

/// Every `0483:df11` device on the bus now.
fn st_devices() -> Result<Vec<DeviceInfo>, TransportError> {
    let list = nusb::list_devices().wait().map_err(|e| TransportError::Other(format!("listing USB devices: {e}")))?;
    Ok(list.filter(is_st_dfu).collect())
}

/// The longest a sleep of the transport goes without looking at the cancel token.
pub const CANCEL_SLICE: Duration = Duration::from_millis(100);

/// `now + timeout`, or `None` (no deadline) when that is beyond what an [`Instant`] holds: a `--timeout` of
/// `u64::MAX` seconds means "wait as long as it takes", not a panic.
fn deadline_after(now: Instant, timeout: Duration) -> Option<Instant> {
    now.checked_add(timeout)
}

/// Whether `now + ahead` is past `deadline` (never, without one).
fn runs_past(deadline: Option<Instant>, now: Instant, ahead: Duration) -> bool {
    deadline.is_some_and(|d| now.checked_add(ahead).is_none_or(|t| t > d))
}

/// Sleep `duration` in slices of at most [`CANCEL_SLICE`], stopping at the first slice after `cancelled` says so.
/// True when it slept the whole time.
fn sleep_unless(duration: Duration, cancelled: &dyn Fn() -> bool) -> bool {
    let end = deadline_after(Instant::now(), duration);
    loop {
        if cancelled() {
            return false;
        }
        let left = end.map_or(CANCEL_SLICE, |e| e.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            return true;
        }
        thread::sleep(left.min(CANCEL_SLICE));
    }
}

/// Open a device, retrying "permission denied" until `until` (udev may still be applying permissions) unless
/// `cancelled` says to stop (then: timed out).
fn open_retrying(info: &DeviceInfo, until: Instant, settings: &UsbSettings, cancelled: &dyn Fn() -> bool) -> Result<Device, TransportError> {
    let path = path_of(info);
    loop {
        match info.open().wait() {
            Ok(d) => return Ok(d),
            Err(e) if e.kind() == ErrorKind::PermissionDenied && !runs_past(Some(until), Instant::now(), settings.poll_interval) => {
                if !sleep_unless(settings.poll_interval, cancelled) {
                    return Err(TransportError::TimedOut);
                }
            }
            Err(e) => return Err(open_error(&e, &path)),
        }
    }
}

/// What enumeration alone says about a device (sysfs on Linux): no I/O to the device.
fn facts(info: &DeviceInfo) -> RawDevice {
    RawDevice {
        path: Some(path_of(info)),
        connection: Some(connection_of(info)),
        serial: info.serial_number().map(str::to_string),
        product: info.product_string().map(str::to_string),
        ..RawDevice::default()
    }
}

/// Read a device's descriptors and strings from the device itself.
fn read_device(device: &Device, info_facts: &RawDevice, settings: &UsbSettings) -> Result<RawDevice, TransportError> {
    let t = settings.descriptor_timeout;
    let device_descriptor = match device.get_descriptor(DESCRIPTOR_DEVICE, 0, 0, t).wait() {
        Ok(d) if d.len() >= 18 => d[..18].to_vec(),
        Ok(_) | Err(GetDescriptorError::InvalidDescriptor) => device.device_descriptor().as_bytes().to_vec(),
        Err(e) => return Err(descriptor_error(e)),
    };
    let configuration = match device.get_descriptor(DESCRIPTOR_CONFIGURATION, 0, 0, t).wait() {
        Ok(c) if c.len() >= 4 => {
            let total = usize::from(u16::from_le_bytes([c[2], c[3]]));
            c[..total.min(c.len())].to_vec()
        }
        Ok(_) | Err(GetDescriptorError::InvalidDescriptor) => {
            device.active_configuration().map(|c| c.as_bytes().to_vec()).map_err(|e| TransportError::Other(e.to_string()))?
        }
        Err(e) => return Err(descriptor_error(e)),
    };
    let string = |index: u8| -> Result<Option<String>, TransportError> {
        let Some(i) = NonZeroU8::new(index) else { return Ok(None) };
        match device.get_string_descriptor(i, LANGUAGE_EN_US, t).wait() {
            Ok(s) => Ok(Some(s)),
            Err(GetDescriptorError::Transfer(TransferError::Stall) | GetDescriptorError::InvalidDescriptor) => Ok(None),
            Err(e) => Err(descriptor_error(e)),
        }
    };
    let mut raw = RawDevice { device_descriptor, configuration, ..info_facts.clone() };
    if let Ok(d) = DeviceDescriptor::parse(&raw.device_descriptor) {
        raw.product = string(d.product_index)?.or(raw.product);
        raw.serial = string(d.serial_index)?.or(raw.serial);
    }
    if let Ok(iface) = parse_configuration(&raw.configuration) {
        for (_, index) in iface.settings {
            if index != 0
                && !raw.strings.contains_key(&index)
                && let Some(s) = string(index)?
            {
                raw.strings.insert(index, s);
            }
        }
    }
    Ok(raw)
}

/// The ST DFU devices on the bus, each read (or the reason it could not be), for `stm32mp-imager devices`.
/// Devices are opened but not claimed, so a board another program is flashing is still listed.
pub fn scan(settings: &UsbSettings) -> Result<Vec<Scanned>, TransportError> {
    let mut out = Vec::new();
    for info in st_devices()? {
        let f = facts(&info);
        let read = info.open().wait().map_err(|e| open_error(&e, &path_of(&info))).and_then(|d| read_device(&d, &f, settings));
        out.push(match read {
            Ok(raw) => Scanned::Read(raw),
            Err(e) => Scanned::Unreadable { facts: f, problem: e.to_string() },
        });
    }
    Ok(out)
}

/// The ST DFU devices on the bus as enumeration shows them (path, bus/address, serial, product), without opening
/// them: for choosing boards by `--usb-path`, `--serial` or `--all`.
pub fn present() -> Result<Vec<RawDevice>, TransportError> {
    let mut out: Vec<RawDevice> = st_devices()?.iter().map(facts).collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// What [`DfuTransport::await_reconnect`] decides at each look at the board's USB path: whether the device there is
/// a new enumeration to open. Pure, so the decision is tested without USB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watch {
    /// The connection the board had when the wait began, or the last one opened and read.
    known: Option<Connection>,
    /// The path was seen empty since: whatever comes next is new, even at the same bus address.
    seen_empty: bool,
    /// The connection opened last could not be read: open it again.
    retry: Option<Connection>,
}

impl Watch {
    fn new(known: Option<Connection>) -> Watch {
        Watch { known, seen_empty: false, retry: None }
    }

    fn absent(&mut self) {
        self.seen_empty = true;
    }

    /// Whether to open the device found at `here`.
    fn is_new(&self, here: Connection) -> bool {
        self.seen_empty || self.retry == Some(here) || self.known != Some(here)
    }

    /// It was opened.
    fn opened(&mut self, here: Connection) {
        self.known = Some(here);
        self.seen_empty = false;
        self.retry = None;
    }

    /// It was opened but its descriptors could not be read (it left again, or timed out): open it again if it is
    /// still there at the next look.
    fn unreadable(&mut self) {
        self.retry = self.known;
    }
}

/// One board, followed by its USB path across re-enumerations.
pub struct UsbDfuBoard {
    path: UsbPath,
    serial: Option<String>,
    connection: Option<Connection>,
    facts: RawDevice,
    device: Option<Device>,
    interface: Option<Interface>,
    settings: UsbSettings,
    cancel: Option<Cancel>,
}

impl UsbDfuBoard {
    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(Cancel::is_cancelled)
    }

    /// Open the ST DFU board at `path` now (with the `EACCES` retry). With `serial`, a board with another serial
    /// number there is refused.
    ///
    /// Every wait of the board stops (the retries of opening it, a `bwPollTimeout`, a wait for a reconnection)
    /// within [`CANCEL_SLICE`] of `cancel` being raised (Ctrl-C); the wait then ends early (an open or a reconnection
    /// as timed out) and the driver, which checks its own cancel test after every effect, reports the interruption.
    /// A control transfer in flight is not cut short: it ends within its own timeout.
    pub fn open(path: &UsbPath, serial: Option<&str>, settings: UsbSettings, cancel: &Cancel) -> Result<UsbDfuBoard, TransportError> {
        let info = st_devices()?
            .into_iter()
            .find(|i| &path_of(i) == path)
            .ok_or_else(|| TransportError::Other(format!("no ST DFU device (0483:df11) at USB path {path}")))?;
        let found = info.serial_number().map(str::to_string);
        if let (Some(want), Some(have)) = (serial, found.as_deref())
            && want != have
        {
            return Err(TransportError::Other(format!("the board at USB path {path} has serial number {have}, not {want}")));
        }
        let device = open_retrying(&info, Instant::now() + settings.access_window, &settings, &|| cancel.is_cancelled())?;
        Ok(UsbDfuBoard {
            path: path.clone(),
            serial: serial.map(str::to_string).or(found),
            connection: Some(connection_of(&info)),
            facts: facts(&info),
            device: Some(device),
            interface: None,
            settings,
            cancel: Some(cancel.clone()),
        })
    }

    fn device(&self) -> Result<&Device, TransportError> {
        self.device.as_ref().ok_or(TransportError::Gone)
    }

    /// The claimed DFU interface (claimed on first use, after reading which interface is the DFU one).
    fn interface(&mut self) -> Result<&Interface, TransportError> {
        if self.interface.is_none() {
            let device = self.device()?;
            let config = device
                .get_descriptor(DESCRIPTOR_CONFIGURATION, 0, 0, self.settings.descriptor_timeout)
                .wait()
                .map_err(descriptor_error)
                .or_else(|_| device.active_configuration().map(|c| c.as_bytes().to_vec()).map_err(|e| TransportError::Other(e.to_string())))?;
            let number = parse_configuration(&config).map_err(|e| TransportError::Other(e.to_string()))?.number;
            let interface = match device.claim_interface(number).wait() {
                Ok(i) => i,
                Err(e) if e.kind() == ErrorKind::Busy => device.detach_and_claim_interface(number).wait().map_err(|e| open_error(&e, &self.path))?,
                Err(e) => return Err(open_error(&e, &self.path)),
            };
            self.interface = Some(interface);
        }
        self.interface.as_ref().ok_or(TransportError::Gone)
    }

    fn drop_handles(&mut self) {
        self.interface = None;
        self.device = None;
    }
}

impl DfuTransport for UsbDfuBoard {
    fn describe(&mut self) -> Result<RawDevice, TransportError> {
        let settings = self.settings;
        read_device(self.device()?, &self.facts, &settings)
    }

    fn select_alt(&mut self, alt: u8) -> Result<(), TransportError> {
        self.interface()?.set_alt_setting(alt).wait().map_err(|e| match e.kind() {
            ErrorKind::Disconnected => TransportError::Gone,
            _ => TransportError::Other(format!("SET_INTERFACE {alt}: {e}")),
        })
    }

    fn control_out(&mut self, request: u8, value: u16, data: &[u8], timeout: Duration) -> Result<(), TransportError> {
        let interface = self.interface()?;
        let index = u16::from(interface.interface_number());
        interface
            .control_out(ControlOut { control_type: ControlType::Class, recipient: Recipient::Interface, request, value, index, data }, timeout)
            .wait()
            .map_err(transfer_error)
    }

    fn control_in(&mut self, request: u8, value: u16, length: u16, timeout: Duration) -> Result<Vec<u8>, TransportError> {
        let interface = self.interface()?;
        let index = u16::from(interface.interface_number());
        interface
            .control_in(ControlIn { control_type: ControlType::Class, recipient: Recipient::Interface, request, value, index, length }, timeout)
            .wait()
            .map_err(transfer_error)
    }

    fn await_reconnect(&mut self, timeout: Duration) -> Result<RawDevice, TransportError> {
        self.drop_handles();
        let deadline = deadline_after(Instant::now(), timeout);
        let mut watch = Watch::new(self.connection);
        loop {
            let here = st_devices()?.into_iter().find(|i| path_of(i) == self.path);
            match here {
                None => watch.absent(),
                Some(info) if watch.is_new(connection_of(&info)) => {
                    if let (Some(want), Some(have)) = (self.serial.as_deref(), info.serial_number())
                        && want != have
                    {
                        return Err(TransportError::Other(format!(
                            "another board (serial number {have}) came up at USB path {} where {want} was expected",
                            self.path
                        )));
                    }
                    let now = Instant::now();
                    let window = now + self.settings.access_window;
                    let until = deadline.map_or(window, |d| d.min(window)).max(now + self.settings.poll_interval);
                    let cancel = self.cancel.clone();
                    match open_retrying(&info, until, &self.settings, &|| cancel.as_ref().is_some_and(Cancel::is_cancelled)) {
                        Ok(device) => {
                            watch.opened(connection_of(&info));
                            self.connection = Some(connection_of(&info));
                            self.facts = facts(&info);
                            if self.serial.is_none() {
                                self.serial = info.serial_number().map(str::to_string);
                            }
                            self.device = Some(device);
                            match self.describe() {
                                Ok(raw) => return Ok(raw),
                                // It went again before it could be read (a stage that re-enumerates twice), or did not
                                // answer in time: keep waiting, and open it again at the next look if it is still there.
                                Err(TransportError::Gone | TransportError::TimedOut) => {
                                    self.drop_handles();
                                    watch.unreadable();
                                }
                                Err(e) => return Err(e),
                            }
                        }
                        Err(TransportError::Gone) => watch.absent(),
                        Err(e) => return Err(e),
                    }
                }
                Some(_) => {}
            }
            if self.cancelled() || runs_past(deadline, Instant::now(), self.settings.poll_interval) {
                return Err(TransportError::TimedOut);
            }
            if !sleep_unless(self.settings.poll_interval, &|| self.cancelled()) {
                return Err(TransportError::TimedOut);
            }
        }
    }

    fn reset_port(&mut self) -> Result<(), TransportError> {
        if self.device.is_none() {
            // The handles were dropped to wait for a new enumeration that did not come: the board is still there on
            // its old connection (a stage that took it over, like TF-A on STM32MP25). Open it again to reset it.
            let info = st_devices()?.into_iter().find(|i| path_of(i) == self.path).ok_or(TransportError::Gone)?;
            let cancel = self.cancel.clone();
            let until = Instant::now() + self.settings.access_window;
            self.device = Some(open_retrying(&info, until, &self.settings, &|| cancel.as_ref().is_some_and(Cancel::is_cancelled))?);
        }
        let result = self.device()?.reset().wait();
        self.drop_handles();
        result.map_err(|e| match e.kind() {
            ErrorKind::Disconnected | ErrorKind::NotFound => TransportError::Gone,
            _ => TransportError::Other(format!("USB reset: {e}")),
        })
    }

    /// Sleeps in slices of at most [`CANCEL_SLICE`], ending early once the cancel token is raised (the driver then
    /// reports the interruption).
    fn sleep(&mut self, duration: Duration) {
        sleep_unless(duration, &|| self.cancelled());
    }
}

/// The job's images read from files, by [`ImageId`] = index in the list.
pub struct FileImages {
    files: Vec<(PathBuf, File)>,
}

impl FileImages {
    /// Open every file and check that it is still what the job recorded ([`verify_files`]: its length, then its
    /// SHA-256 read through the handle the bytes will be sent from). Each error names the file.
    pub fn open(files: &[FileDigest]) -> Result<FileImages, String> {
        verify_files(files).map(|files| FileImages { files })
    }

    /// Read every file again through its handle (the one the bytes were sent from) and check that it still has the
    /// job's size and SHA-256: a file rewritten in place while it was sent fails, naming it; one replaced by a
    /// rename does not (the handle kept the file that was checked and sent).
    pub fn recheck(&self, files: &[FileDigest]) -> Result<(), String> {
        for ((path, file), want) in self.files.iter().zip(files) {
            let mut reader = ReadFrom { file, at: 0 };
            let (size, sha256) = hash_reader(&mut reader).map_err(|e| format!("cannot read {} again: {e}", path.display()))?;
            if size != want.size || sha256 != want.sha256 {
                return Err(format!(
                    "{} changed while it was being sent (sha256 {sha256}, {size} bytes; the job has {}, {} bytes); flash this board again",
                    path.display(),
                    want.sha256,
                    want.size
                ));
            }
        }
        Ok(())
    }
}

/// A file read from the start by offset (`pread`), leaving its position alone.
struct ReadFrom<'a> {
    file: &'a File,
    at: u64,
}

impl std::io::Read for ReadFrom<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl ImageSource for FileImages {
    fn read_at(&mut self, image: ImageId, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let (path, file) = self.files.get(image.0).ok_or_else(|| format!("no image #{}", image.0))?;
        file.read_exact_at(buf, offset).map_err(|e| format!("{}: reading {:#x} bytes at offset {offset:#x}: {e}", path.display(), buf.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OS errors a leaving device produces map to "gone" or "other", never to a stall; a stall stays a stall
    /// (the sequencer decides what each means for the request it made).
    #[test]
    fn transfer_errors_map_to_what_the_sequencer_decides_on() {
        assert_eq!(transfer_error(TransferError::Stall), TransportError::Stall);
        assert_eq!(transfer_error(TransferError::Disconnected), TransportError::Gone);
        assert_eq!(transfer_error(TransferError::Unknown(19)), TransportError::Gone);
        assert_eq!(transfer_error(TransferError::Cancelled), TransportError::TimedOut);
        assert!(matches!(transfer_error(TransferError::Unknown(5)), TransportError::Other(m) if m.contains("EIO")));
    }

    /// A board whose descriptors could not be read right after it was opened (timed out) is opened again at the next
    /// look while it stays at the same connection. Regression: the connection was recorded as known, so the same
    /// device never looked new again and the wait ran into its timeout with the board on the bus.
    #[test]
    fn a_board_unreadable_after_opening_is_opened_again() {
        let old = Connection { bus: 1, address: 5 };
        let new = Connection { bus: 1, address: 6 };
        let mut w = Watch::new(Some(old));
        assert!(!w.is_new(old), "the board that was told to leave, still there");
        assert!(w.is_new(new));
        w.opened(new);
        w.unreadable();
        assert!(w.is_new(new), "opened again");
        w.opened(new);
        assert!(!w.is_new(new), "read: not new any more");
        w.absent();
        assert!(w.is_new(new), "gone and back at the same address: new");
    }

    /// A timeout too large for an `Instant` (`--timeout 18446744073709551615`) is no deadline, not a panic.
    #[test]
    fn a_huge_timeout_is_no_deadline() {
        let now = Instant::now();
        assert_eq!(deadline_after(now, Duration::MAX), None);
        assert!(!runs_past(None, now, Duration::from_millis(100)));
        assert_eq!(deadline_after(now, Duration::from_secs(1)), Some(now + Duration::from_secs(1)));
        assert!(runs_past(Some(now), now, Duration::from_millis(100)));
        assert!(!runs_past(Some(now + Duration::from_secs(1)), now, Duration::from_millis(100)));
        assert!(runs_past(Some(now), now, Duration::MAX), "an overflowing look ahead is past any deadline");
    }

    /// Sleeps end within a slice of the cancel token being raised, whatever they were asked to last (a device's
    /// `bwPollTimeout` may be hours).
    #[test]
    fn sleeps_end_soon_after_cancel() {
        let cancel = Cancel::new();
        let raiser = {
            let c = cancel.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(150));
                c.cancel();
            })
        };
        let start = Instant::now();
        assert!(!sleep_unless(Duration::from_secs(3600), &|| cancel.is_cancelled()));
        raiser.join().unwrap();
        assert!(start.elapsed() < Duration::from_millis(150) + CANCEL_SLICE * 3, "{:?}", start.elapsed());
        let start = Instant::now();
        assert!(sleep_unless(Duration::from_millis(30), &|| false));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(!sleep_unless(Duration::MAX, &|| true));
    }

    fn recorded(path: &std::path::Path) -> FileDigest {
        let bytes = std::fs::read(path).unwrap();
        let (size, sha256) = hash_reader(&mut bytes.as_slice()).unwrap();
        FileDigest { name: "a.bin".into(), path: path.display().to_string(), size, sha256 }
    }

    /// A file that changed since the job was made (rebuilt during a multi-board run) is refused before anything is
    /// sent, naming the file; so is a missing one. Regression: the bytes on disk now were sent under the job's
    /// size and recorded under the job's sha256, and a missing file gave a bare "No such file or directory".
    #[test]
    fn file_images_refuse_files_that_changed() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        std::fs::write(&a, [1u8; 100]).unwrap();
        let want = recorded(&a);
        assert!(FileImages::open(std::slice::from_ref(&want)).is_ok());
        std::fs::write(&a, [1u8; 60]).unwrap();
        let err = FileImages::open(std::slice::from_ref(&want)).err().unwrap();
        assert!(err.starts_with(&format!("{} is 60 bytes now, 100 when the job was made", a.display())), "{err}");
        std::fs::write(&a, [2u8; 100]).unwrap();
        let err = FileImages::open(std::slice::from_ref(&want)).err().unwrap();
        assert!(err.starts_with(&format!("{} changed since the job was made (sha256 ", a.display())), "{err}");
        std::fs::remove_file(&a).unwrap();
        let err = FileImages::open(std::slice::from_ref(&want)).err().unwrap();
        assert!(err.starts_with(&format!("cannot open {}: ", a.display())), "{err}");
    }

    /// A file rewritten in place while it was sent is caught afterwards through the handle it was sent from; one
    /// replaced by a rename is not a change of what was sent.
    #[test]
    fn file_images_recheck_what_was_sent() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        std::fs::write(&a, [1u8; 100]).unwrap();
        let want = [recorded(&a)];
        let images = FileImages::open(&want).unwrap();
        let new = dir.path().join("a.new");
        std::fs::write(&new, [3u8; 100]).unwrap();
        std::fs::rename(&new, &a).unwrap();
        assert_eq!(images.recheck(&want), Ok(()), "replaced by a rename: the handle still has the bytes sent");
        let b = dir.path().join("b.bin");
        std::fs::write(&b, [1u8; 100]).unwrap();
        let want = [recorded(&b)];
        let images = FileImages::open(&want).unwrap();
        std::fs::OpenOptions::new().write(true).open(&b).unwrap().write_all_at(b"x", 50).unwrap();
        let err = images.recheck(&want).unwrap_err();
        assert!(err.starts_with(&format!("{} changed while it was being sent (sha256 ", b.display())), "{err}");
    }

    #[test]
    fn file_images_read_at_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        std::fs::write(&a, (0u8..=255).collect::<Vec<_>>()).unwrap();
        let mut images = FileImages::open(&[recorded(&a)]).unwrap();
        let mut buf = [0u8; 4];
        images.read_at(ImageId(0), 0x10, &mut buf).unwrap();
        assert_eq!(buf, [0x10, 0x11, 0x12, 0x13]);
        let err = images.read_at(ImageId(0), 254, &mut buf).unwrap_err();
        assert!(err.contains("a.bin: reading 0x4 bytes at offset 0xfe"), "{err}");
        assert!(images.read_at(ImageId(1), 0, &mut buf).is_err());
    }
}
