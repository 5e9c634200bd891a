//! The verdict on one programmer run: how the process ended ([`RunEnd`]) and what its transcript shows, judged by the
//! rule of `flashers.md` §1.3: success is exit status 0 **and** `Flashing service completed successfully` **and** no
//! `Error:` line; anything else is a failure that names the partition, quotes the programmer and, for known causes,
//! carries a hint.
//!
//! Pure.

use std::{fmt, time::Duration};

use super::{parse::parse_hex_u8, transcript::Transcript};
use crate::flash::{
    hints, partition_hex,
    verdict::{ResultKind, Verdict},
};

/// How a programmer process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// It exited by itself (`code` is `None` when a signal ended it).
    Exited {
        /// Exit status.
        code: Option<i32>,
        /// The signal that ended it.
        signal: Option<i32>,
    },
    /// No progress within the per-stage timeout; we stopped it.
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// Ctrl-C (or SIGTERM/SIGHUP): we stopped it.
    Interrupted,
    /// It could not be started.
    SpawnFailed(String),
}

impl fmt::Display for RunEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunEnd::Exited { code: Some(c), .. } => write!(f, "exited with status {c}"),
            RunEnd::Exited { code: None, signal: Some(s) } => write!(f, "ended by signal {s}"),
            RunEnd::Exited { code: None, signal: None } => f.write_str("ended"),
            RunEnd::TimedOut { after } => write!(f, "stopped after {} without progress", humantime::format_duration(*after)),
            RunEnd::Interrupted => f.write_str("stopped by an interrupt"),
            RunEnd::SpawnFailed(why) => write!(f, "could not be started: {why}"),
        }
    }
}

impl Transcript {
    fn error_partition(&self) -> Option<u8> {
        self.errors()
            .iter()
            .find_map(|e| e.to_ascii_lowercase().split_once("at partition").and_then(|(_, rest)| parse_hex_u8(rest)))
            .or_else(|| self.partition())
    }

    /// Judge the run once the process has ended.
    #[must_use]
    pub fn verdict(&self, end: &RunEnd) -> Verdict {
        let quoted = self.errors().iter().map(|e| format!("\"{e}\"")).collect::<Vec<_>>().join(" / ");
        let mut v = Verdict {
            result: ResultKind::Failed,
            partition: self.partition(),
            error: None,
            programmer_errors: self.errors().to_vec(),
            hint: None,
            exit_status: None,
        };
        match end {
            RunEnd::SpawnFailed(why) => {
                v.error = Some(format!("cannot run the programmer: {why}"));
                v.partition = None;
            }
            RunEnd::Interrupted => {
                v.result = ResultKind::Interrupted;
                v.error = Some(format!("interrupted {}; the programmer was stopped", self.position()));
                v.hint = Some(hints::INTERRUPTED.to_string());
            }
            RunEnd::TimedOut { after } => {
                v.result = ResultKind::Timeout;
                v.error = Some(format!(
                    "no progress for {} {}; the programmer was stopped",
                    humantime::format_duration(Duration::from_secs(after.as_secs().max(1))),
                    self.position()
                ));
                v.hint = Some(hints::TIMEOUT.to_string());
            }
            RunEnd::Exited { code, signal } => {
                v.exit_status = *code;
                if *code == Some(0) && self.completed() && self.errors().is_empty() {
                    v.result = ResultKind::Success;
                    v.partition = None;
                    return v;
                }
                if !self.errors().is_empty() {
                    v.partition = self.error_partition();
                    let status = match (code, signal) {
                        (Some(0), _) => " (it exited with status 0 all the same)".to_string(),
                        (Some(c), _) => format!(" and exited with status {c}"),
                        (None, Some(s)) => format!(" and was ended by signal {s}"),
                        (None, None) => String::new(),
                    };
                    let place = v.partition.map_or_else(String::new, |p| format!("at partition {}: ", partition_hex(p)));
                    v.error = Some(format!("{place}the programmer said {quoted}{status}"));
                } else {
                    let how = match (code, signal) {
                        (Some(c), _) => format!("the programmer exited with status {c}"),
                        (None, Some(s)) => format!("the programmer was ended by signal {s}"),
                        (None, None) => "the programmer ended".to_string(),
                    };
                    let missing = if self.completed() { "" } else { " without \"Flashing service completed successfully\"" };
                    v.error = Some(format!("{how}{missing} {}", self.position()));
                }
                v.hint = hints::for_failure(&hints::Facts {
                    errors: self.errors(),
                    partition: v.partition,
                    empty_descriptors: self.empty_descriptors(),
                    during_download: self.downloading(),
                    exit_zero: *code == Some(0),
                });
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{super::transcript::guide_sizes as sizes, *};
    use crate::flash::{FlashEvent, test_fixture as fixture};

    #[test]
    fn the_guides_success_run_verbatim() {
        let text = fixture("success_guide_v2.2.0.txt");
        let mut t = Transcript::new(sizes());
        let events = t.feed_text(&text);
        let kinds: Vec<String> = events
            .iter()
            .map(|e| match e {
                FlashEvent::Connected { product } => format!("connected {}", &product[..product.find(['@']).unwrap_or(product.len())]),
                FlashEvent::Serial { serial } => format!("serial {serial}"),
                FlashEvent::Sending { partition, file, size } => format!("sending {file} {partition:?} {size:?}"),
                FlashEvent::Progress { percent, bytes_sent, .. } => format!("progress {percent} {bytes_sent}"),
                FlashEvent::Sent { file, .. } => format!("sent {file}"),
                FlashEvent::LayoutSent => "layout".into(),
                FlashEvent::PartitionStarted { partition } => format!("started {partition:#04x}"),
                FlashEvent::Reconnecting => "reconnecting".into(),
                FlashEvent::ProgrammerError { text } => format!("error {text}"),
                FlashEvent::Completed => "completed".into(),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                "connected DFU in HS Mode ",
                "serial 004200343338510534383330",
                "sending tf-a-stm32mp157c-dk2.stm32 Some(1) Some(237161)",
                "progress 100 237161",
                "sent tf-a-stm32mp157c-dk2.stm32",
                "started 0x01",
                "layout",
                "sending u-boot.stm32 Some(3) Some(748042)",
                "progress 100 985203",
                "sent u-boot.stm32",
                "reconnecting",
                "connected USB download gadget",
                "serial 004200343338510534383330",
                "started 0x03",
                "sending sdcard.img Some(16) Some(539002368)",
                "progress 100 539987571",
                "sent sdcard.img",
                "started 0x10",
                "completed",
            ]
        );
        assert_eq!(t.banner_version(), Some("2.2.0"));
        assert_eq!(t.serial(), Some("004200343338510534383330"));
        assert_eq!(t.reconnects(), 1);
        assert_eq!(t.bytes_sent(), 237_161 + 748_042 + 539_002_368);
        let v = t.verdict(&RunEnd::Exited { code: Some(0), signal: None });
        assert_eq!(v.result, ResultKind::Success, "{v:?}");
        assert_eq!(v.error, None);
        // The same text with a non-zero status is not a success.
        let v = t.verdict(&RunEnd::Exited { code: Some(1), signal: None });
        assert_eq!(v.result, ResultKind::Failed);
    }

    #[test]
    fn the_guides_user_start_failure_names_partition_and_quotes_the_programmer() {
        let mut t = Transcript::new(BTreeMap::new());
        let events = t.feed_text(&fixture("start_fail_0x01_exit1.txt"));
        assert!(events.contains(&FlashEvent::ProgrammerError { text: "Error: Start operation failed at partition 0x01".into() }));
        let v = t.verdict(&RunEnd::Exited { code: Some(1), signal: None });
        assert_eq!(v.result, ResultKind::Failed);
        assert_eq!(v.partition, Some(1));
        assert_eq!(
            v.error.as_deref(),
            Some(
                "at partition 0x01: the programmer said \"Error: Start operation failed at partition 0x01\" / \"Error: TSV flashing service failed\" and exited with status 1"
            )
        );
        assert!(v.hint.as_deref().unwrap_or("").contains("STM32MP_USB_PROGRAMMER=1"), "{v:?}");
        assert_eq!(v.programmer_errors.len(), 2);
    }

    #[test]
    fn exit_zero_after_an_error_is_a_failure() {
        let mut t = Transcript::new(BTreeMap::new());
        t.feed_text(&fixture("start_fail_0x01_exit0.txt"));
        let v = t.verdict(&RunEnd::Exited { code: Some(0), signal: None });
        assert_eq!(v.result, ResultKind::Failed);
        assert!(v.error.as_deref().unwrap_or("").ends_with("(it exited with status 0 all the same)"), "{v:?}");
        // Even with the completion line, an Error line fails the board.
        let mut t = Transcript::new(BTreeMap::new());
        t.feed_text("Error: Failed to download data!\nFlashing service completed successfully\n");
        assert_eq!(t.verdict(&RunEnd::Exited { code: Some(0), signal: None }).result, ResultKind::Failed);
    }

    #[test]
    fn the_v2_11_session_rounds_kb_and_fails_at_0x01() {
        let mut t = Transcript::new(BTreeMap::new());
        let events = t.feed_text(&fixture("start_fail_0x01_v2.11.0.txt"));
        assert!(events.contains(&FlashEvent::Sending { partition: Some(1), file: "tf-a-stm32mp157a-ev1-usb.stm32".into(), size: Some(226_120) }));
        assert_eq!(t.serial(), Some("0019002C3431511733353431"));
        let v = t.verdict(&RunEnd::Exited { code: Some(1), signal: None });
        assert_eq!(v.partition, Some(1));
    }

    #[test]
    fn a_vanished_device_is_reported_where_it_stopped() {
        let mut text = fixture("vanish_mid_transfer.txt");
        text.push_str("[==================                                ] 37%\r");
        let mut t = Transcript::new(sizes());
        t.feed_text(&text);
        assert_eq!(t.bytes_sent(), 237_161 + 748_042 + 539_002_368 * 37 / 100);
        let v = t.verdict(&RunEnd::Exited { code: Some(1), signal: None });
        assert_eq!(v.result, ResultKind::Failed);
        assert_eq!(v.partition, Some(0x10));
        assert_eq!(
            v.error.as_deref(),
            Some(
                "the programmer exited with status 1 without \"Flashing service completed successfully\" while sending sdcard.img (partition 0x10) at 37 %"
            )
        );
        assert!(v.hint.as_deref().unwrap_or("").contains("cable"), "{v:?}");
    }

    #[test]
    fn timeouts_and_interrupts_say_where() {
        let mut text = fixture("hang_mid_transfer.txt");
        text.push_str("[=====================                             ] 42%\r");
        let mut t = Transcript::new(sizes());
        t.feed_text(&text);
        let v = t.verdict(&RunEnd::TimedOut { after: Duration::from_secs(2) });
        assert_eq!(v.result, ResultKind::Timeout);
        assert_eq!(v.error.as_deref(), Some("no progress for 2s while sending sdcard.img (partition 0x10) at 42 %; the programmer was stopped"));
        let v = t.verdict(&RunEnd::Interrupted);
        assert_eq!(v.result, ResultKind::Interrupted);
        assert_eq!(v.partition, Some(0x10));
    }

    #[test]
    fn empty_descriptors_mean_power_cycle() {
        let mut t = Transcript::new(BTreeMap::new());
        t.feed_text(&fixture("bad_state_empty_descriptors.txt"));
        assert_eq!(t.serial(), None);
        let v = t.verdict(&RunEnd::Exited { code: Some(1), signal: None });
        assert!(v.hint.as_deref().unwrap_or("").contains("power"), "{v:?}");
    }
}
