//! One DFU download, as a state machine: the blocks, the GETSTATUS polling between them, the zero-length DNLOAD
//! that ends the download, and the polling through manifestation.
//!
//! Pure: it says which request to send next ([`Io`]) and reads the reply ([`Reply`]); it never waits itself, it
//! asks for a [`Io::Sleep`] of `bwPollTimeout`. Rules and where they come from:
//!
//! * Blocks of [`block_size`](super::protocol::block_size) bytes, numbered from 0 and wrapping at 65535; the
//!   zero-length DNLOAD carries the next number (U-Boot `dfu_write` checks both: "Wrong sequence number").
//! * After each block, GETSTATUS until `dfuDNLOAD-IDLE`, waiting `bwPollTimeout` between polls (DFU 1.1 §6.1.2).
//!   TF-A (`usb_dfu_get_status`) reports `dfuDNLOAD-SYNC` first and `dfuDNLOAD-IDLE` at the next poll; U-Boot
//!   (`handle_getstatus`) reports `dfuDNLOAD-IDLE` at once.
//! * After the zero-length DNLOAD, GETSTATUS through `dfuMANIFEST-SYNC` / `dfuMANIFEST` until `dfuIDLE` (TF-A
//!   reports `dfuMANIFEST` with 1 ms then `dfuIDLE`; U-Boot `dfuMANIFEST` then `dfuIDLE`, flushing in between),
//!   or `dfuMANIFEST-WAIT-RESET` (a device that is not manifestation tolerant), or the device leaving the bus
//!   (ENODEV/ESHUTDOWN: [`Reply::Gone`] only), or a GETSTATUS that times out or fails otherwise (EIO, EPROTO),
//!   kept as that failure with where it happened. What each means is the caller's call ([`ManifestEnd`]): a device
//!   that is not manifestation tolerant may stop answering while it hands over; a tolerant one must not.
//! * `bStatus` other than OK, or `dfuERROR`, is a [`FailureKind::DeviceStatus`] with the code and its meaning.
//! * A download of zero bytes is never started: both TF-A (`usb_dfu_download`) and U-Boot (`state_dfu_idle`)
//!   stall a zero-length DNLOAD in `dfuIDLE`.

use std::time::Duration;

use super::{
    error::FailureKind,
    protocol::{DfuRequest, State, Status, StatusReply, block_number},
    sequencer::{Io, Payload, Reply, Request, Source},
};

/// Bounds on how long a device may keep the host polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollLimits {
    /// The `bwPollTimeout`s of one wait (one block, or one manifestation), added up.
    pub max_wait: Duration,
    /// GETSTATUS requests in one wait.
    pub max_polls: u32,
}

/// How a download's manifestation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ManifestEnd {
    /// Back in `dfuIDLE`: the device is ready for the next request.
    Idle,
    /// `dfuMANIFEST-WAIT-RESET`: the device waits for a USB reset.
    WaitReset,
    /// The device left the bus during manifestation.
    Left,
    /// A GETSTATUS during manifestation timed out or failed (EIO, EPROTO): the failure, saying where.
    Unanswered(FailureKind),
}

/// What the machine wants next.
#[derive(Debug, Clone, PartialEq)]
pub enum DlStep {
    /// Perform this and pass the reply to [`Download::resume`].
    Io(Io),
    /// Finished.
    Done(ManifestEnd),
    /// Failed.
    Fail(FailureKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Next: send the block at `sent`.
    Block,
    /// A block was sent; next: its reply.
    BlockSent,
    /// Polling after a block.
    PollBlock,
    /// The zero-length DNLOAD was sent.
    ZlpSent,
    /// Polling through manifestation.
    PollManifest,
    /// Waiting `bwPollTimeout` before the next poll of `then`.
    Sleeping(Waiting),
    /// Finished.
    Over,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Block,
    Manifest,
}

/// One download.
#[derive(Debug, Clone)]
pub struct Download {
    source: Source,
    total: u64,
    block: u32,
    sent: u64,
    index: u64,
    phase: Phase,
    waited: Duration,
    polls: u32,
    limits: PollLimits,
    timeout: Duration,
}

impl Download {
    /// A download of `total` bytes from `source` in blocks of `block` bytes; each request gets `timeout`.
    #[must_use]
    pub fn new(source: Source, total: u64, block: u32, limits: PollLimits, timeout: Duration) -> Download {
        Download { source, total, block: block.max(1), sent: 0, index: 0, phase: Phase::Block, waited: Duration::ZERO, polls: 0, limits, timeout }
    }

    /// Bytes the device acknowledged so far.
    #[must_use]
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The total.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The next request of a download that has not started.
    #[must_use]
    pub fn start(&mut self) -> DlStep {
        self.next_block()
    }

    fn status(&self) -> Io {
        Io::Request(Request::input(DfuRequest::GetStatus, 0, 6, self.timeout))
    }

    fn next_block(&mut self) -> DlStep {
        if self.sent >= self.total {
            self.phase = Phase::ZlpSent;
            return DlStep::Io(Io::Request(Request::output(DfuRequest::Dnload, block_number(self.index), Payload::Empty, self.timeout)));
        }
        let len = u32::try_from((self.total - self.sent).min(u64::from(self.block))).unwrap_or(self.block);
        let payload = self.source.payload(self.sent, len);
        self.phase = Phase::BlockSent;
        DlStep::Io(Io::Request(Request::output(DfuRequest::Dnload, block_number(self.index), payload, self.timeout)))
    }

    fn during(&self) -> String {
        match self.phase {
            Phase::ZlpSent | Phase::PollManifest | Phase::Sleeping(Waiting::Manifest) => {
                format!("after the zero-length DNLOAD (block {}) that ends the {:#x}-byte download", block_number(self.index), self.total)
            }
            _ => {
                let end = (self.sent + u64::from(self.block)).min(self.total);
                format!("at DNLOAD block {} (bytes {:#x}..{:#x} of {:#x})", block_number(self.index), self.sent, end, self.total)
            }
        }
    }

    fn left(&self) -> DlStep {
        DlStep::Fail(FailureKind::DeviceLeft { during: self.during() })
    }

    fn transport(&self, request: DfuRequest, reply: Reply) -> DlStep {
        match reply {
            Reply::Gone => self.left(),
            Reply::Stall => DlStep::Fail(FailureKind::Stalled { request, during: self.during(), device_says: None }),
            Reply::TimedOut => DlStep::Fail(FailureKind::TimedOut { request, during: self.during() }),
            Reply::HostFailed(m) => DlStep::Fail(FailureKind::Host(format!("{m} ({})", self.during()))),
            Reply::Failed(m) => DlStep::Fail(FailureKind::Transport(format!("{request} failed {}: {m}", self.during()))),
            other => DlStep::Fail(FailureKind::Transport(format!("unexpected reply {other:?} to {request}"))),
        }
    }

    fn poll_status(&mut self, reply: &StatusReply, waiting: Waiting) -> DlStep {
        self.polls += 1;
        let wait = Duration::from_millis(u64::from(reply.poll_timeout_ms));
        self.waited += wait;
        if self.polls > self.limits.max_polls || self.waited > self.limits.max_wait {
            return DlStep::Fail(FailureKind::PollLimit { state: reply.state, waited: self.waited, during: self.during() });
        }
        if wait.is_zero() {
            self.phase = match waiting {
                Waiting::Block => Phase::PollBlock,
                Waiting::Manifest => Phase::PollManifest,
            };
            return DlStep::Io(self.status());
        }
        self.phase = Phase::Sleeping(waiting);
        DlStep::Io(Io::Sleep(wait))
    }

    /// A GETSTATUS reply read, or the step that ends the transfer: a reply that does not parse, or a device that
    /// reports an error status or state.
    fn status_of(&self, bytes: &[u8]) -> Result<StatusReply, DlStep> {
        let reply = StatusReply::parse(bytes).map_err(|e| DlStep::Fail(e.into()))?;
        if reply.status != Status::Ok || reply.state == State::Error {
            return Err(DlStep::Fail(FailureKind::DeviceStatus {
                status: reply.status,
                state: reply.state,
                during: self.during(),
                device_says: None,
            }));
        }
        Ok(reply)
    }

    /// The reply to the last [`DlStep::Io`].
    pub fn resume(&mut self, reply: Reply) -> DlStep {
        match self.phase {
            Phase::Block => self.next_block(),
            Phase::BlockSent => match reply {
                Reply::Done => {
                    self.polls = 0;
                    self.waited = Duration::ZERO;
                    self.phase = Phase::PollBlock;
                    DlStep::Io(self.status())
                }
                other => self.transport(DfuRequest::Dnload, other),
            },
            Phase::PollBlock => {
                let bytes = match reply {
                    Reply::Data(b) => b,
                    other => return self.transport(DfuRequest::GetStatus, other),
                };
                let status = match self.status_of(&bytes) {
                    Ok(s) => s,
                    Err(step) => return step,
                };
                match status.state {
                    State::DnloadIdle => {
                        let len = (self.total - self.sent).min(u64::from(self.block));
                        self.sent += len;
                        self.index += 1;
                        self.phase = Phase::Block;
                        self.next_block()
                    }
                    State::DnloadSync | State::DnBusy => self.poll_status(&status, Waiting::Block),
                    other => DlStep::Fail(FailureKind::UnexpectedState { state: other, during: self.during() }),
                }
            }
            Phase::ZlpSent => match reply {
                Reply::Done => {
                    self.polls = 0;
                    self.waited = Duration::ZERO;
                    self.phase = Phase::PollManifest;
                    DlStep::Io(self.status())
                }
                Reply::Gone => {
                    self.phase = Phase::Over;
                    DlStep::Done(ManifestEnd::Left)
                }
                other => self.transport(DfuRequest::Dnload, other),
            },
            Phase::PollManifest => {
                let bytes = match reply {
                    Reply::Data(b) => b,
                    // Only a device gone from the bus left it; a GETSTATUS that timed out or failed otherwise is that
                    // failure, with where it happened, for the caller to weigh.
                    Reply::Gone => {
                        self.phase = Phase::Over;
                        return DlStep::Done(ManifestEnd::Left);
                    }
                    other @ (Reply::TimedOut | Reply::Failed(_)) => {
                        let step = self.transport(DfuRequest::GetStatus, other);
                        self.phase = Phase::Over;
                        return match step {
                            DlStep::Fail(kind) => DlStep::Done(ManifestEnd::Unanswered(kind)),
                            step => step,
                        };
                    }
                    other => return self.transport(DfuRequest::GetStatus, other),
                };
                let status = match self.status_of(&bytes) {
                    Ok(s) => s,
                    Err(step) => return step,
                };
                match status.state {
                    State::DfuIdle => {
                        self.phase = Phase::Over;
                        DlStep::Done(ManifestEnd::Idle)
                    }
                    State::ManifestWaitReset => {
                        self.phase = Phase::Over;
                        DlStep::Done(ManifestEnd::WaitReset)
                    }
                    State::ManifestSync | State::Manifest => self.poll_status(&status, Waiting::Manifest),
                    other => DlStep::Fail(FailureKind::UnexpectedState { state: other, during: self.during() }),
                }
            }
            Phase::Sleeping(waiting) => {
                self.phase = match waiting {
                    Waiting::Block => Phase::PollBlock,
                    Waiting::Manifest => Phase::PollManifest,
                };
                DlStep::Io(self.status())
            }
            Phase::Over => DlStep::Fail(FailureKind::Transport("the download was already over".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dfu::{protocol::StatusReply, sequencer::ImageId};

    const LIMITS: PollLimits = PollLimits { max_wait: Duration::from_secs(60), max_polls: 1000 };

    fn status(state: State, poll: u32) -> Reply {
        Reply::Data(StatusReply { status: Status::Ok, poll_timeout_ms: poll, state, string_index: 0 }.encode().to_vec())
    }

    fn dnload_value(step: &DlStep) -> Option<(u16, u32)> {
        match step {
            DlStep::Io(Io::Request(r)) if r.request == DfuRequest::Dnload => Some((r.value, r.data_len())),
            _ => None,
        }
    }

    /// Drive a download against a U-Boot-like device (GETSTATUS answers dfuDNLOAD-IDLE at once) and return the
    /// `(block number, length)` of every DNLOAD.
    fn run_uboot_like(total: u64, block: u32) -> Vec<(u16, u32)> {
        let mut dl = Download::new(Source::Image(ImageId(0)), total, block, LIMITS, Duration::from_secs(5));
        let mut step = dl.start();
        let mut sent = Vec::new();
        let mut manifest = 0;
        loop {
            if let Some(v) = dnload_value(&step) {
                sent.push(v);
                step = dl.resume(Reply::Done);
                continue;
            }
            step = match step {
                DlStep::Io(Io::Request(_)) if dl.phase == Phase::PollBlock => dl.resume(status(State::DnloadIdle, 0)),
                DlStep::Io(Io::Request(_)) => {
                    manifest += 1;
                    dl.resume(status(if manifest == 1 { State::Manifest } else { State::DfuIdle }, 0))
                }
                DlStep::Done(ManifestEnd::Idle) => return sent,
                other => panic!("unexpected {other:?}"),
            };
        }
    }

    /// Blocks from 0, the last one short, then the zero-length DNLOAD with the next number (U-Boot `dfu_write`).
    #[test]
    fn blocks_from_zero_then_zero_length_with_the_next_number() {
        let sent = run_uboot_like(10_000, 4096);
        assert_eq!(sent, vec![(0, 4096), (1, 4096), (2, 1808), (3, 0)]);
    }

    /// 65,537 blocks: the numbers wrap from 65535 to 0 (U-Boot `dfu_write` "handle rollover").
    #[test]
    fn block_numbers_wrap_past_65535() {
        let sent = run_uboot_like(65_537 * 64, 64);
        assert_eq!(sent.len(), 65_538);
        assert_eq!(sent[65_535], (65_535, 64));
        assert_eq!(sent[65_536], (0, 64));
        assert_eq!(sent[65_537], (1, 0));
    }

    /// `bwPollTimeout` is honoured: the machine asks to sleep exactly what the device said before polling again,
    /// and TF-A's `dfuDNLOAD-SYNC`-then-`dfuDNLOAD-IDLE` is polled through.
    #[test]
    fn poll_timeout_is_honoured_and_dnload_sync_is_polled_through() {
        let mut dl = Download::new(Source::Image(ImageId(0)), 10, 1024, LIMITS, Duration::from_secs(5));
        assert_eq!(dnload_value(&dl.start()), Some((0, 10)));
        assert!(matches!(dl.resume(Reply::Done), DlStep::Io(Io::Request(_))));
        assert_eq!(dl.resume(status(State::DnBusy, 250)), DlStep::Io(Io::Sleep(Duration::from_millis(250))));
        assert!(matches!(dl.resume(Reply::Done), DlStep::Io(Io::Request(_))));
        // TF-A: dfuDNLOAD-SYNC with 0 ms: poll again at once.
        assert!(matches!(dl.resume(status(State::DnloadSync, 0)), DlStep::Io(Io::Request(ref r)) if r.request == DfuRequest::GetStatus));
        assert_eq!(dnload_value(&dl.resume(status(State::DnloadIdle, 0))), Some((1, 0)));
        assert!(matches!(dl.resume(Reply::Done), DlStep::Io(Io::Request(_))));
        // TF-A: dfuMANIFEST with bwPollTimeout 1 ms, then dfuIDLE.
        assert_eq!(dl.resume(status(State::Manifest, 1)), DlStep::Io(Io::Sleep(Duration::from_millis(1))));
        assert!(matches!(dl.resume(Reply::Done), DlStep::Io(Io::Request(_))));
        assert_eq!(dl.resume(status(State::DfuIdle, 0)), DlStep::Done(ManifestEnd::Idle));
    }

    /// A device that is not manifestation tolerant ends in dfuMANIFEST-WAIT-RESET, or leaves the bus.
    #[test]
    fn manifestation_wait_reset_and_leaving() {
        for (last, end) in [(status(State::ManifestWaitReset, 0), ManifestEnd::WaitReset), (Reply::Gone, ManifestEnd::Left)] {
            let mut dl = Download::new(Source::Image(ImageId(0)), 1, 64, LIMITS, Duration::from_secs(5));
            let _ = dl.start();
            dl.resume(Reply::Done);
            dl.resume(status(State::DnloadIdle, 0));
            dl.resume(Reply::Done);
            assert_eq!(dl.resume(last), DlStep::Done(end));
        }
    }

    /// A download brought to its manifestation polling (one 1-byte block, the zero-length DNLOAD acknowledged).
    fn manifesting() -> Download {
        let mut dl = Download::new(Source::Image(ImageId(0)), 1, 64, LIMITS, Duration::from_secs(5));
        let _ = dl.start();
        dl.resume(Reply::Done);
        dl.resume(status(State::DnloadIdle, 0));
        dl.resume(Reply::Done);
        dl
    }

    /// During manifestation only a device gone from the bus "left": a GETSTATUS that timed out is a timeout and an
    /// EIO/EPROTO keeps its words, each saying where. Regression: both were taken for the device leaving, so a
    /// manifestation-tolerant stage was reported as vanished (and the errno text lost).
    #[test]
    fn manifestation_timeout_and_usb_errors_are_not_leaving() {
        let during = "after the zero-length DNLOAD (block 1) that ends the 0x1-byte download";
        assert_eq!(
            manifesting().resume(Reply::TimedOut),
            DlStep::Done(ManifestEnd::Unanswered(FailureKind::TimedOut { request: DfuRequest::GetStatus, during: during.into() }))
        );
        assert_eq!(
            manifesting().resume(Reply::Failed("I/O error (EIO)".into())),
            DlStep::Done(ManifestEnd::Unanswered(FailureKind::Transport(format!("DFU_GETSTATUS failed {during}: I/O error (EIO)"))))
        );
        assert_eq!(manifesting().resume(Reply::Gone), DlStep::Done(ManifestEnd::Left));
    }

    /// A USB error or an unreadable image in the middle of a partition says at which block and bytes, like a device
    /// that left or a timeout does.
    #[test]
    fn usb_and_host_errors_say_where() {
        let mut dl = Download::new(Source::Image(ImageId(0)), 8192, 4096, LIMITS, Duration::from_secs(5));
        let _ = dl.start();
        dl.resume(Reply::Done);
        dl.resume(status(State::DnloadIdle, 0));
        let mut host = dl.clone();
        assert_eq!(
            dl.resume(Reply::Failed("USB protocol error (EPROTO)".into())),
            DlStep::Fail(FailureKind::Transport(
                "DFU_DNLOAD failed at DNLOAD block 1 (bytes 0x1000..0x2000 of 0x2000): USB protocol error (EPROTO)".into()
            ))
        );
        assert_eq!(
            host.resume(Reply::HostFailed("rootfs.ext4: short read".into())),
            DlStep::Fail(FailureKind::Host("rootfs.ext4: short read (at DNLOAD block 1 (bytes 0x1000..0x2000 of 0x2000))".into()))
        );
    }

    /// dfuERROR with its status, a stall, the device leaving mid-block and a device that never stops being busy.
    #[test]
    fn errors_are_typed() {
        let mut dl = Download::new(Source::Image(ImageId(0)), 8192, 4096, LIMITS, Duration::from_secs(5));
        let _ = dl.start();
        dl.resume(Reply::Done);
        let err = Reply::Data(StatusReply { status: Status::Write, poll_timeout_ms: 0, state: State::Error, string_index: 0 }.encode().to_vec());
        match dl.resume(err) {
            DlStep::Fail(FailureKind::DeviceStatus { status: Status::Write, state: State::Error, during, .. }) => {
                assert_eq!(during, "at DNLOAD block 0 (bytes 0x0..0x1000 of 0x2000)");
            }
            other => panic!("{other:?}"),
        }
        let mut dl = Download::new(Source::Image(ImageId(0)), 8192, 4096, LIMITS, Duration::from_secs(5));
        let _ = dl.start();
        dl.resume(Reply::Done);
        dl.resume(status(State::DnloadIdle, 0));
        assert!(
            matches!(dl.resume(Reply::Gone), DlStep::Fail(FailureKind::DeviceLeft { during }) if during.contains("block 1 (bytes 0x1000..0x2000"))
        );
        let mut dl = Download::new(Source::Image(ImageId(0)), 1, 64, LIMITS, Duration::from_secs(5));
        let _ = dl.start();
        assert!(matches!(dl.resume(Reply::Stall), DlStep::Fail(FailureKind::Stalled { request: DfuRequest::Dnload, .. })));
        let mut dl =
            Download::new(Source::Image(ImageId(0)), 1, 64, PollLimits { max_wait: Duration::from_secs(1), max_polls: 100 }, Duration::from_secs(5));
        let _ = dl.start();
        dl.resume(Reply::Done);
        let mut last = DlStep::Done(ManifestEnd::Idle);
        for _ in 0..5 {
            last = dl.resume(status(State::DnBusy, 400));
            if matches!(last, DlStep::Fail(_)) {
                break;
            }
            dl.resume(Reply::Done);
        }
        assert!(matches!(last, DlStep::Fail(FailureKind::PollLimit { state: State::DnBusy, .. })), "{last:?}");
    }
}
