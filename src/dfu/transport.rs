//! The seam between the pure sequencer and USB: the [`DfuTransport`] and [`ImageSource`] traits, and [`drive`],
//! which runs a [`Sequencer`] by performing its [`Io`]s through them.
//!
//! No I/O here: the traits are implemented by `effects::usb_dfu` (nusb, usbfs) and by the scripted fake board of
//! the tests; `drive` only calls them.

use std::time::Duration;

use super::{
    descriptors::RawDevice,
    error::FlashError,
    sequencer::{Action, Event, ImageId, Io, Payload, Reply, Request, RequestData, Sequencer, Summary},
};

/// Why a USB operation failed, in the terms the sequencer decides on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The device stalled the request (EPIPE).
    #[error("the device stalled the request")]
    Stall,
    /// The device left the bus (ENODEV, ESHUTDOWN).
    #[error("the device left the bus")]
    Gone,
    /// The request, or a bounded wait, timed out.
    #[error("timed out")]
    TimedOut,
    /// Anything else (EIO, EPROTO, EACCES after the retry window...), in words.
    #[error("{0}")]
    Other(String),
}

/// One board's USB connection, followed across its re-enumerations. Every method is bounded in time.
pub trait DfuTransport {
    /// Read the board's descriptors and strings from the device now (product and interface strings change between
    /// the ROM and TF-A on the same connection).
    fn describe(&mut self) -> Result<RawDevice, TransportError>;
    /// SET_INTERFACE on the DFU interface.
    fn select_alt(&mut self, alt: u8) -> Result<(), TransportError>;
    /// A class request to the DFU interface with a host→device data stage (possibly empty).
    fn control_out(&mut self, request: u8, value: u16, data: &[u8], timeout: Duration) -> Result<(), TransportError>;
    /// A class request to the DFU interface with a device→host data stage of at most `length` bytes.
    fn control_in(&mut self, request: u8, value: u16, length: u16, timeout: Duration) -> Result<Vec<u8>, TransportError>;
    /// Wait, at most `timeout`, for a new enumeration of this board at its USB path (same serial number), open it
    /// and read it.
    fn await_reconnect(&mut self, timeout: Duration) -> Result<RawDevice, TransportError>;
    /// Reset the USB port.
    fn reset_port(&mut self) -> Result<(), TransportError>;
    /// Sleep.
    fn sleep(&mut self, duration: Duration);
}

/// Where the bytes of the job's images come from.
pub trait ImageSource {
    /// Fill `buf` with the bytes of `image` at `offset`.
    fn read_at(&mut self, image: ImageId, offset: u64, buf: &mut [u8]) -> Result<(), String>;
}

fn reply<T>(r: Result<T, TransportError>, ok: impl FnOnce(T) -> Reply) -> Reply {
    match r {
        Ok(v) => ok(v),
        Err(TransportError::Stall) => Reply::Stall,
        Err(TransportError::Gone) => Reply::Gone,
        Err(TransportError::TimedOut) => Reply::TimedOut,
        Err(TransportError::Other(m)) => Reply::Failed(m),
    }
}

fn perform_request<T: DfuTransport + ?Sized, S: ImageSource + ?Sized>(t: &mut T, images: &mut S, r: &Request, buf: &mut Vec<u8>) -> Reply {
    let code = r.request.code();
    match &r.data {
        RequestData::In(len) => reply(t.control_in(code, r.value, *len, r.timeout), Reply::Data),
        RequestData::Out(Payload::Empty) => reply(t.control_out(code, r.value, &[], r.timeout), |()| Reply::Done),
        RequestData::Out(Payload::Bytes(b)) => reply(t.control_out(code, r.value, b, r.timeout), |()| Reply::Done),
        RequestData::Out(Payload::Image { image, offset, len }) => {
            buf.resize(*len as usize, 0);
            if let Err(m) = images.read_at(*image, *offset, buf) {
                return Reply::HostFailed(m);
            }
            reply(t.control_out(code, r.value, buf, r.timeout), |()| Reply::Done)
        }
    }
}

/// Run `seq` to its end through `transport`, reading images from `images`, reporting events to `on_event`.
/// `cancelled` is checked before and after every effect; when it says so the run ends as interrupted (a wait or a
/// sleep the transport cut short on cancellation is not taken for a timeout).
pub fn drive<T: DfuTransport + ?Sized, S: ImageSource + ?Sized>(
    seq: &mut Sequencer,
    transport: &mut T,
    images: &mut S,
    on_event: &mut dyn FnMut(Event),
    cancelled: &dyn Fn() -> bool,
) -> Result<Summary, FlashError> {
    let mut buf = Vec::new();
    loop {
        match seq.poll() {
            Action::Event(e) => on_event(e),
            Action::Finished(result) => return result,
            Action::Io(io) => {
                if cancelled() {
                    seq.interrupt();
                    continue;
                }
                let r = match &io {
                    Io::Describe => reply(transport.describe(), Reply::Device),
                    Io::SelectAlt(alt) => reply(transport.select_alt(*alt), |()| Reply::Done),
                    Io::Request(r) => perform_request(transport, images, r, &mut buf),
                    Io::AwaitReconnect { timeout } => reply(transport.await_reconnect(*timeout), Reply::Device),
                    Io::ResetPort => reply(transport.reset_port(), |()| Reply::Done),
                    Io::Sleep(d) => {
                        transport.sleep(*d);
                        Reply::Done
                    }
                };
                if cancelled() {
                    seq.interrupt();
                    continue;
                }
                seq.complete(r);
            }
        }
    }
}
