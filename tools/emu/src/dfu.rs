//! The DFU 1.1 class-request state machines on EP0, one flavour per firmware, driving a stage's `Media`.
//!
//! - `Flavor::Tfa`: TF-A `plat/st/common/usb_dfu.c` (`usb_dfu_download`, `usb_dfu_upload`, `usb_dfu_get_status`,
//!   `usb_dfu_clear_status`, `usb_dfu_abort`, `usb_dfu_detach`): a request in the wrong state is stalled without
//!   changing the state; the manifestation callback runs on the zero-length DNLOAD and a failure stalls it;
//!   GETSTATUS reports the state *before* its transition (DNLOAD-SYNC, then DNLOAD-IDLE), MANIFEST-SYNC is
//!   reported as MANIFEST with bwPollTimeout 1 ms and goes to IDLE; CLRSTATUS outside dfuERROR *enters* dfuERROR.
//! - `Flavor::Rom`: the closed boot ROM. Modelled on TF-A's machine (TF-A's descriptors say "as ROM code"),
//!   except that the FSBL check runs at the GETSTATUS that follows the zero-length DNLOAD and a failure is
//!   reported there as dfuERROR with a status code (a guess: the ROM is closed).
//! - `Flavor::UBoot`: U-Boot `drivers/usb/gadget/f_dfu.c` (`state_dfu_idle` … `state_dfu_error`,
//!   `handle_getstatus`, `dnload_request_complete`, `dnload_request_flush`, `dfu_set_alt`): a request in the wrong
//!   state enters dfuERROR and stalls; a failed write enters dfuERROR/errUNKNOWN; the zero-length DNLOAD goes
//!   through `dfu_write` (so its block number is checked) and the flush runs after the GETSTATUS in
//!   MANIFEST-SYNC; SET_INTERFACE resets to dfuIDLE; DETACH is honoured in dfuIDLE only.

use crate::usb::{Reply, Setup};
use std::time::{Duration, Instant};

pub const DETACH: u8 = 0;
pub const DNLOAD: u8 = 1;
pub const UPLOAD: u8 = 2;
pub const GETSTATUS: u8 = 3;
pub const CLRSTATUS: u8 = 4;
pub const GETSTATE: u8 = 5;
pub const ABORT: u8 = 6;

pub const APP_IDLE: u8 = 0;
pub const DFU_IDLE: u8 = 2;
pub const DNLOAD_SYNC: u8 = 3;
pub const DNBUSY: u8 = 4;
pub const DNLOAD_IDLE: u8 = 5;
pub const MANIFEST_SYNC: u8 = 6;
pub const MANIFEST: u8 = 7;
pub const UPLOAD_IDLE: u8 = 9;
pub const DFU_ERROR: u8 = 10;

pub const OK: u8 = 0x00;
pub const ERR_FILE: u8 = 0x02;
pub const ERR_VERIFY: u8 = 0x07;
pub const ERR_ADDRESS: u8 = 0x08;
pub const ERR_UNKNOWN: u8 = 0x0e;
pub const ERR_STALLEDPKT: u8 = 0x0f;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Rom,
    Tfa,
    UBoot,
}

/// What the firmware does with the data. `Err` values are DFU status codes (Rom) or just "failed".
pub trait Media {
    /// A DNLOAD block (U-Boot: also the zero-length one, which `dfu_write` sequence-checks).
    fn download(&mut self, alt: u8, block: u16, data: &[u8]) -> Result<(), u8>;
    /// Manifestation (TF-A: the zero-length DNLOAD; ROM: the GETSTATUS after it; U-Boot: the deferred flush).
    fn manifest(&mut self, alt: u8) -> Result<(), u8>;
    /// An UPLOAD block of at most `len` bytes.
    fn upload(&mut self, alt: u8, block: u16, len: u16) -> Result<Vec<u8>, u8>;
    /// DFU_DETACH was accepted.
    fn detach(&mut self);
}

/// One DFU interface's state.
#[derive(Debug, Clone)]
pub struct Dfu {
    pub flavor: Flavor,
    pub state: u8,
    pub status: u8,
    pub alt: u8,
    /// U-Boot's `DFU_USB_BUFSIZ` cap on one request (4096); TF-A has none beyond wTransferSize.
    pub max_len: u16,
    /// Emulator option: report dfuDNBUSY with this bwPollTimeout after each block, and count early polls.
    pub poll_ms: u32,
    pub(crate) busy_until: Option<Instant>,
    pub early_polls: u64,
}

impl Dfu {
    pub fn new(flavor: Flavor) -> Dfu {
        Dfu {
            flavor,
            state: DFU_IDLE,
            status: OK,
            alt: 0,
            max_len: if flavor == Flavor::UBoot { 4096 } else { u16::MAX },
            poll_ms: 0,
            busy_until: None,
            early_polls: 0,
        }
    }

    /// SET_INTERFACE.
    pub fn set_alt(&mut self, alt: u8) {
        self.alt = alt;
        if self.flavor == Flavor::UBoot {
            // dfu_set_alt
            self.state = DFU_IDLE;
            self.status = OK;
        }
    }

    fn status_bytes(&self, state: u8, poll_ms: u32) -> Reply {
        let p = poll_ms.to_le_bytes();
        Reply::Data(vec![self.status, p[0], p[1], p[2], state, 0])
    }

    /// A class request; `data` is the OUT data stage.
    pub fn request(&mut self, s: &Setup, data: &[u8], media: &mut dyn Media) -> Reply {
        match self.flavor {
            Flavor::Tfa | Flavor::Rom => self.tfa(s, data, media),
            Flavor::UBoot => self.uboot(s, data, media),
        }
    }

    /// The emulator's optional busy phase after a block (not in TF-A or U-Boot, whose bwPollTimeout is 0).
    fn busy_reply(&mut self) -> Option<Reply> {
        if self.poll_ms == 0 || self.state != DNLOAD_SYNC {
            return None;
        }
        let now = Instant::now();
        match self.busy_until {
            None => {
                self.busy_until = Some(now + Duration::from_millis(self.poll_ms as u64));
                Some(self.status_bytes(DNBUSY, self.poll_ms))
            }
            Some(t) if now < t => {
                self.early_polls += 1;
                let left = (t - now).as_millis().max(1) as u32;
                Some(self.status_bytes(DNBUSY, left))
            }
            Some(_) => {
                self.busy_until = None;
                None
            }
        }
    }

    fn tfa(&mut self, s: &Setup, data: &[u8], media: &mut dyn Media) -> Reply {
        let active = matches!(self.state, DFU_IDLE | DNLOAD_SYNC | DNLOAD_IDLE | MANIFEST_SYNC | UPLOAD_IDLE);
        match s.request {
            DNLOAD if s.length > 0 => {
                if self.state != DFU_IDLE && self.state != DNLOAD_IDLE {
                    return Reply::Stall;
                }
                match media.download(self.alt, s.value, data) {
                    Ok(()) => {
                        self.state = DNLOAD_SYNC;
                        Reply::Ack
                    }
                    Err(_) => Reply::Stall,
                }
            }
            DNLOAD => {
                if self.state != DNLOAD_IDLE {
                    return Reply::Stall;
                }
                self.state = MANIFEST_SYNC;
                if self.flavor == Flavor::Rom {
                    return Reply::Ack;
                }
                match media.manifest(self.alt) {
                    Ok(()) => Reply::Ack,
                    Err(_) => Reply::Stall,
                }
            }
            UPLOAD => {
                if s.length == 0 {
                    self.state = DFU_IDLE;
                    return Reply::Ack;
                }
                if self.state != DFU_IDLE && self.state != UPLOAD_IDLE {
                    return Reply::Stall;
                }
                match media.upload(self.alt, s.value, s.length) {
                    Ok(mut d) => {
                        d.truncate(s.length as usize);
                        self.state = if (s.length as usize) > d.len() { DFU_IDLE } else { UPLOAD_IDLE };
                        Reply::Data(d)
                    }
                    Err(_) => {
                        self.state = DFU_ERROR;
                        self.status = ERR_STALLEDPKT;
                        Reply::Stall
                    }
                }
            }
            GETSTATUS => {
                if let Some(r) = self.busy_reply() {
                    return r;
                }
                let reported = self.state;
                match self.state {
                    DNLOAD_SYNC => {
                        self.state = DNLOAD_IDLE;
                        self.status_bytes(reported, 0)
                    }
                    MANIFEST_SYNC if self.flavor == Flavor::Rom => match media.manifest(self.alt) {
                        Ok(()) => {
                            self.state = DFU_IDLE;
                            self.status_bytes(MANIFEST, 1)
                        }
                        Err(code) => {
                            self.state = DFU_ERROR;
                            self.status = code;
                            self.status_bytes(DFU_ERROR, 0)
                        }
                    },
                    MANIFEST_SYNC => {
                        self.state = DFU_IDLE;
                        self.status_bytes(MANIFEST, 1)
                    }
                    _ => self.status_bytes(reported, 0),
                }
            }
            CLRSTATUS => {
                if self.state == DFU_ERROR {
                    self.state = DFU_IDLE;
                    self.status = OK;
                } else {
                    self.state = DFU_ERROR;
                    self.status = ERR_UNKNOWN;
                }
                Reply::Ack
            }
            GETSTATE => Reply::Data(vec![self.state]),
            ABORT => {
                if active {
                    self.state = DFU_IDLE;
                    self.status = OK;
                }
                Reply::Ack
            }
            DETACH => {
                if active {
                    self.state = DFU_IDLE;
                    self.status = OK;
                }
                media.detach();
                Reply::Ack
            }
            _ => Reply::Stall,
        }
    }

    fn uboot(&mut self, s: &Setup, data: &[u8], media: &mut dyn Media) -> Reply {
        let len = s.length.min(self.max_len);
        let out = !s.is_in();
        let stall = |d: &mut Dfu| {
            d.state = DFU_ERROR;
            Reply::Stall
        };
        match (self.state, s.request) {
            (_, GETSTATUS) => {
                if let Some(r) = self.busy_reply() {
                    return r;
                }
                match self.state {
                    DNLOAD_SYNC | DNBUSY => self.state = DNLOAD_IDLE,
                    MANIFEST_SYNC => {
                        // state_dfu_manifest_sync then dnload_request_flush: the flush runs after this reply
                        self.state = MANIFEST;
                        let r = self.status_bytes(MANIFEST, 0);
                        if media.manifest(self.alt).is_err() {
                            self.state = DFU_ERROR;
                            self.status = ERR_UNKNOWN;
                        }
                        return r;
                    }
                    MANIFEST => self.state = DFU_IDLE,
                    _ => {}
                }
                self.status_bytes(self.state, 0)
            }
            (_, GETSTATE) if self.state != DNBUSY => Reply::Data(vec![self.state]),
            (DFU_IDLE, DNLOAD) if out => {
                if len == 0 {
                    return stall(self);
                }
                self.write(s.value, data, media)
            }
            (DNLOAD_IDLE, DNLOAD) if out => {
                if len == 0 {
                    self.state = MANIFEST_SYNC;
                    if media.download(self.alt, s.value, &[]).is_err() {
                        self.state = DFU_ERROR;
                        self.status = ERR_UNKNOWN;
                    }
                    return Reply::Ack;
                }
                self.write(s.value, data, media)
            }
            (DFU_IDLE, UPLOAD) | (UPLOAD_IDLE, UPLOAD) if !out => {
                // state_dfu_idle restarts at block 0; state_dfu_upload_idle takes wValue
                let block = if self.state == DFU_IDLE { 0 } else { s.value };
                self.state = UPLOAD_IDLE;
                match media.upload(self.alt, block, len) {
                    Ok(mut d) => {
                        d.truncate(len as usize);
                        if d.len() < len as usize {
                            self.state = DFU_IDLE;
                        }
                        Reply::Data(d)
                    }
                    Err(_) => Reply::Stall,
                }
            }
            (DFU_IDLE, ABORT) => Reply::Ack,
            (DNLOAD_IDLE, ABORT) | (UPLOAD_IDLE, ABORT) => {
                self.state = DFU_IDLE;
                Reply::Ack
            }
            (DFU_IDLE, DETACH) => {
                self.state = APP_IDLE;
                media.detach();
                Reply::Ack
            }
            (DFU_ERROR, CLRSTATUS) => {
                self.state = DFU_IDLE;
                self.status = OK;
                Reply::Ack
            }
            _ => stall(self),
        }
    }

    fn write(&mut self, block: u16, data: &[u8], media: &mut dyn Media) -> Reply {
        self.state = DNLOAD_SYNC;
        if media.download(self.alt, block, data).is_err() {
            // dnload_request_complete
            self.status = ERR_UNKNOWN;
            self.state = DFU_ERROR;
        }
        Reply::Ack
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Log {
        blocks: Vec<(u8, u16, usize)>,
        manifests: u32,
        detached: bool,
        fail_manifest: Option<u8>,
        fail_download: bool,
    }

    impl Media for Log {
        fn download(&mut self, alt: u8, block: u16, data: &[u8]) -> Result<(), u8> {
            self.blocks.push((alt, block, data.len()));
            if self.fail_download { Err(ERR_UNKNOWN) } else { Ok(()) }
        }
        fn manifest(&mut self, _alt: u8) -> Result<(), u8> {
            self.manifests += 1;
            self.fail_manifest.map_or(Ok(()), Err)
        }
        fn upload(&mut self, _alt: u8, _block: u16, _len: u16) -> Result<Vec<u8>, u8> {
            Ok(vec![3; 9])
        }
        fn detach(&mut self) {
            self.detached = true;
        }
    }

    fn out(request: u8, value: u16, len: u16) -> Setup {
        Setup { request_type: 0x21, request, value, index: 0, length: len }
    }
    fn inn(request: u8, len: u16) -> Setup {
        Setup { request_type: 0xa1, request, value: 0, index: 0, length: len }
    }
    fn status(r: Reply) -> (u8, u8, u32) {
        let Reply::Data(d) = r else { panic!("{r:?}") };
        (d[0], d[4], u32::from_le_bytes([d[1], d[2], d[3], 0]))
    }

    #[test]
    fn tfa_download_then_manifest() {
        let mut d = Dfu::new(Flavor::Tfa);
        let mut m = Log::default();
        assert_eq!(d.request(&out(DNLOAD, 0, 4), &[1, 2, 3, 4], &mut m), Reply::Ack);
        assert_eq!(status(d.request(&inn(GETSTATUS, 6), &[], &mut m)), (OK, DNLOAD_SYNC, 0));
        assert_eq!(status(d.request(&inn(GETSTATUS, 6), &[], &mut m)), (OK, DNLOAD_IDLE, 0));
        assert_eq!(d.request(&out(DNLOAD, 1, 0), &[], &mut m), Reply::Ack);
        assert_eq!(m.manifests, 1);
        assert_eq!(status(d.request(&inn(GETSTATUS, 6), &[], &mut m)), (OK, MANIFEST, 1));
        assert_eq!(d.state, DFU_IDLE);
    }

    #[test]
    fn tfa_stalls_wrong_state_without_changing_it_and_clrstatus_outside_error_is_an_error() {
        let mut d = Dfu::new(Flavor::Tfa);
        let mut m = Log::default();
        assert_eq!(d.request(&out(DNLOAD, 0, 0), &[], &mut m), Reply::Stall);
        assert_eq!(d.state, DFU_IDLE);
        m.fail_manifest = Some(ERR_UNKNOWN);
        d.request(&out(DNLOAD, 0, 1), &[0], &mut m);
        d.request(&inn(GETSTATUS, 6), &[], &mut m);
        d.request(&inn(GETSTATUS, 6), &[], &mut m);
        assert_eq!(d.request(&out(DNLOAD, 1, 0), &[], &mut m), Reply::Stall);
        assert_eq!(d.request(&out(CLRSTATUS, 0, 0), &[], &mut m), Reply::Ack);
        assert_eq!((d.state, d.status), (DFU_ERROR, ERR_UNKNOWN));
        d.request(&out(CLRSTATUS, 0, 0), &[], &mut m);
        assert_eq!((d.state, d.status), (DFU_IDLE, OK));
    }

    #[test]
    fn rom_reports_a_rejected_fsbl_as_dfu_error() {
        let mut d = Dfu::new(Flavor::Rom);
        let mut m = Log { fail_manifest: Some(ERR_FILE), ..Default::default() };
        d.request(&out(DNLOAD, 0, 1), &[0], &mut m);
        d.request(&inn(GETSTATUS, 6), &[], &mut m);
        d.request(&inn(GETSTATUS, 6), &[], &mut m);
        assert_eq!(d.request(&out(DNLOAD, 1, 0), &[], &mut m), Reply::Ack);
        assert_eq!(m.manifests, 0);
        assert_eq!(status(d.request(&inn(GETSTATUS, 6), &[], &mut m)), (ERR_FILE, DFU_ERROR, 0));
    }

    #[test]
    fn uboot_zero_length_block_is_written_and_flush_follows_the_manifest_sync_status() {
        let mut d = Dfu::new(Flavor::UBoot);
        let mut m = Log::default();
        d.request(&out(DNLOAD, 0, 4), &[1, 2, 3, 4], &mut m);
        assert_eq!(status(d.request(&inn(GETSTATUS, 6), &[], &mut m)), (OK, DNLOAD_IDLE, 0));
        d.request(&out(DNLOAD, 1, 0), &[], &mut m);
        assert_eq!(m.blocks, vec![(0, 0, 4), (0, 1, 0)]);
        assert_eq!(m.manifests, 0);
        assert_eq!(status(d.request(&inn(GETSTATUS, 6), &[], &mut m)), (OK, MANIFEST, 0));
        assert_eq!(m.manifests, 1);
        assert_eq!(status(d.request(&inn(GETSTATUS, 6), &[], &mut m)), (OK, DFU_IDLE, 0));
    }

    #[test]
    fn uboot_failed_write_is_dfu_error_and_wrong_request_stalls_into_error() {
        let mut d = Dfu::new(Flavor::UBoot);
        let mut m = Log { fail_download: true, ..Default::default() };
        assert_eq!(d.request(&out(DNLOAD, 5, 4), &[0; 4], &mut m), Reply::Ack);
        assert_eq!(status(d.request(&inn(GETSTATUS, 6), &[], &mut m)), (ERR_UNKNOWN, DFU_ERROR, 0));
        d.request(&out(CLRSTATUS, 0, 0), &[], &mut m);
        assert_eq!(d.state, DFU_IDLE);
        assert_eq!(d.request(&out(DNLOAD, 0, 0), &[], &mut m), Reply::Stall);
        assert_eq!(d.state, DFU_ERROR);
        d.set_alt(1);
        assert_eq!((d.state, d.alt), (DFU_IDLE, 1));
    }

    #[test]
    fn uboot_detach_only_from_idle() {
        let mut d = Dfu::new(Flavor::UBoot);
        let mut m = Log::default();
        d.request(&out(DNLOAD, 0, 1), &[0], &mut m);
        d.request(&inn(GETSTATUS, 6), &[], &mut m);
        assert_eq!(d.request(&out(DETACH, 1000, 0), &[], &mut m), Reply::Stall);
        assert!(!m.detached);
        d.request(&out(CLRSTATUS, 0, 0), &[], &mut m);
        assert_eq!(d.request(&out(DETACH, 1000, 0), &[], &mut m), Reply::Ack);
        assert!(m.detached);
    }

    #[test]
    fn busy_option_reports_dnbusy_and_counts_early_polls() {
        let mut d = Dfu::new(Flavor::UBoot);
        d.poll_ms = 50;
        let mut m = Log::default();
        d.request(&out(DNLOAD, 0, 1), &[0], &mut m);
        assert_eq!(status(d.request(&inn(GETSTATUS, 6), &[], &mut m)), (OK, DNBUSY, 50));
        let (_, st, _) = status(d.request(&inn(GETSTATUS, 6), &[], &mut m));
        assert_eq!((st, d.early_polls), (DNBUSY, 1));
        d.busy_until = Some(Instant::now()); // the announced time has passed
        assert_eq!(status(d.request(&inn(GETSTATUS, 6), &[], &mut m)), (OK, DNLOAD_IDLE, 0));
    }
}
