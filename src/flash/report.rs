//! Text for people: the job as `flash --dry-run` shows it, the plain progress lines (logs, pipes, CI), the final
//! table, the failure explanations, and the `devices` table.
//!
//! Pure: values in, strings out.

use std::{fmt::Write, time::Duration};

use super::{
    EventKind, FlashEvent, ResultKind, Verdict,
    devices::{Board, soc_name, stage_name},
    job::FlashJob,
    partition_hex,
};
use crate::units::human_bytes;

/// `4.2 s`, `1 min 05 s`, `1 h 02 min`.
#[must_use]
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 10_000 {
        #[allow(clippy::cast_precision_loss)]
        let s = ms as f64 / 1000.0;
        return format!("{s:.1} s");
    }
    let s = d.as_secs();
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

fn partition(p: Option<u8>) -> String {
    p.map_or_else(|| "?".to_string(), partition_hex)
}

/// One plain line for an event, without the board prefix; `None` for events shown otherwise (progress is shown in
/// steps by the renderer, serial numbers in the connection line).
#[must_use]
pub fn plain_line(kind: &EventKind) -> Option<String> {
    Some(match kind {
        EventKind::Queued { serial, usb, total_bytes, .. } => format!(
            "queued: serial {}, USB {}, {} to send",
            serial.as_deref().unwrap_or("unknown"),
            usb.as_deref().unwrap_or("unknown"),
            human_bytes(*total_bytes)
        ),
        EventKind::Started { command } => format!("started: {command}"),
        EventKind::Flash(e) => match e {
            FlashEvent::Connected { product } => {
                format!("connected: {} ({})", if product.is_empty() { "(empty)" } else { product }, stage_name(product))
            }
            FlashEvent::Serial { .. } | FlashEvent::Progress { .. } => return None,
            FlashEvent::Sending { partition: p, file, size } => match size {
                Some(s) => format!("sending {file} to partition {} ({})", partition(*p), human_bytes(*s)),
                None => format!("sending {file} to partition {}", partition(*p)),
            },
            FlashEvent::Sent { partition: p, file, .. } => format!("sent {file} (partition {})", partition(*p)),
            FlashEvent::LayoutSent => "flash layout sent and started".to_string(),
            FlashEvent::PartitionStarted { partition: p } => format!("partition {} started", partition_hex(*p)),
            FlashEvent::Reconnecting => "device reconnecting (next boot stage)".to_string(),
            FlashEvent::ProgrammerError { text } => format!("programmer: {text}"),
            FlashEvent::Completed => "programmer: Flashing service completed successfully".to_string(),
        },
        EventKind::Finished { verdict, duration: d, bytes_sent } => match verdict.result {
            ResultKind::Success => format!("success in {}, {} sent", duration(*d), human_bytes(*bytes_sent)),
            _ => format!("{}: {}", verdict.result.to_string().to_uppercase(), verdict.error.as_deref().unwrap_or("no details")),
        },
    })
}

/// `48.2 KiB (0xc0a9)`: a size for people, and in hex for those who compare it with offsets.
fn bytes_and_hex(bytes: u64) -> String {
    format!("{} ({bytes:#x})", human_bytes(bytes))
}

/// The job, as `flash --dry-run` prints it: what is sent (files with sizes and SHA-256), the boards with the exact
/// steps and log file of each, the schedule, and where the records go.
#[must_use]
pub fn job(job: &FlashJob) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "flash job (dry run: no board is touched)");
    match job.backend.via {
        super::backend::Via::Stm32CubeProgrammer => {
            let _ = writeln!(out, "back end: {} ({})", job.backend.name, job.backend.programmer.path);
        }
        super::backend::Via::Builtin => {
            let _ = writeln!(out, "back end: {}", job.backend.name);
        }
    }
    let _ = writeln!(out, "layout: {} ({} bytes, sha256 {})", job.layout.digest.path, job.layout.digest.size, job.layout.digest.sha256);
    let parts = &job.layout.partitions;
    let _ = writeln!(
        out,
        "sends {} file{} to each board, {} in all:",
        parts.len(),
        if parts.len() == 1 { "" } else { "s" },
        bytes_and_hex(job.bytes_per_board())
    );
    let mut rows = vec![["id", "partition", "file", "size", "sha256"].map(String::from).to_vec()];
    for p in parts {
        rows.push(vec![format!("{:#04x}", p.id), p.name.clone(), p.file.name.clone(), bytes_and_hex(p.file.size), p.file.sha256.clone()]);
    }
    for line in crate::table::render(&rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
    let n = job.boards.len();
    let _ = writeln!(
        out,
        "{n} board{}, at most {} at a time, starts {} s apart, a stage may go {} without progress:",
        if n == 1 { "" } else { "s" },
        job.schedule.jobs,
        job.schedule.stagger.as_secs_f64(),
        humantime::format_duration(job.stage_timeout)
    );
    for b in &job.boards {
        let t = &b.target;
        let _ = writeln!(
            out,
            "  {}: serial {}, USB {}",
            b.label,
            t.serial.as_deref().unwrap_or("unknown"),
            t.usb.as_ref().map_or_else(|| "unknown".to_string(), ToString::to_string)
        );
        if let Some(why) = &t.blocked {
            let _ = writeln!(out, "    not flashed: {why}");
        }
        for s in &b.steps {
            let _ = writeln!(out, "    {s}");
        }
        if let Some(log) = job.log_path(b) {
            let _ = writeln!(out, "    log: {}", log.display());
        }
    }
    for n in &job.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let _ = writeln!(out, "records: {}", job.records.display());
    out
}

/// An alternate, short: `FSBL/0x01` (its name and phase id, without the size), or the whole string.
fn short_alternate(a: &crate::dfu::listing::ListedAlternate) -> String {
    let name = a.name.trim().trim_start_matches('@');
    let name = name.split("/0x").next().unwrap_or(name).trim();
    match a.phase {
        Some(p) => format!("{name}/{p:#04x}"),
        None => a.name.clone(),
    }
}

/// The boards `devices` shows: the programmer's index, serial number, USB path, bus, address, which stage answers,
/// the SoC, and the alternates the board offers (when it was read over USB).
#[must_use]
pub fn devices_table(boards: &[Board]) -> String {
    let dash = || "-".to_string();
    let mut rows = vec![["index", "serial", "usb path", "bus", "address", "answering", "soc", "alternates"].map(String::from).to_vec()];
    for b in boards {
        let product = b.listed.as_ref().map(|d| d.product.clone()).or_else(|| b.sysfs.as_ref().and_then(|s| s.product.clone()));
        let device_id = b.listed.as_ref().map(|d| d.device_id.clone()).unwrap_or_default();
        let (answering, soc, alternates) = match &b.dfu {
            Some(d) => (
                match d.stage {
                    crate::dfu::Stage::Uboot => "U-Boot stm32prog".to_string(),
                    crate::dfu::Stage::Unknown => d.product.as_deref().map_or_else(dash, |p| stage_name(p).to_string()),
                    other => other.to_string(),
                },
                d.soc.map_or_else(dash, |s| s.label().to_string()),
                match &d.problem {
                    Some(p) => format!("(not read: {p})"),
                    None if d.alternates.is_empty() => dash(),
                    None => d.alternates.iter().map(short_alternate).collect::<Vec<_>>().join(" "),
                },
            ),
            None => (
                product.as_deref().map_or_else(dash, |p| stage_name(p).to_string()),
                product.as_deref().and_then(|p| soc_name(&device_id, p)).map_or_else(dash, str::to_string),
                dash(),
            ),
        };
        rows.push(vec![
            b.listed.as_ref().map_or_else(dash, |d| d.port()),
            b.serial().map_or_else(|| if b.listed.is_some() { "(none)".to_string() } else { dash() }, str::to_string),
            b.usb.as_ref().and_then(|u| u.path.clone()).unwrap_or_else(dash),
            b.usb.as_ref().map_or_else(dash, |u| format!("{:03}", u.bus)),
            b.usb.as_ref().map_or_else(dash, |u| format!("{:03}", u.address)),
            answering,
            soc,
            alternates,
        ]);
    }
    crate::table::render(&rows)
}

/// A progress line, shown at 25 % steps: `sdcard.img 50 %`.
#[must_use]
pub fn plain_progress(p: Option<u8>, percent: u8, bytes_sent: u64) -> String {
    format!("partition {} at {percent} %, {} sent", partition(p), human_bytes(bytes_sent))
}

/// One row of the final table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Serial number.
    pub serial: Option<String>,
    /// `usb1`.
    pub port: Option<String>,
    /// sysfs port path.
    pub usb_path: Option<String>,
    /// The judgement.
    pub verdict: Verdict,
    /// Time taken.
    pub duration: Duration,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Log file.
    pub log: Option<String>,
    /// Short name.
    pub label: String,
}

/// The final table: serial, port, USB path, result, duration, bytes sent.
#[must_use]
pub fn table(rows: &[Row]) -> String {
    let dash = || "-".to_string();
    let mut cells = vec![["serial", "port", "usb", "result", "duration", "sent"].map(String::from).to_vec()];
    for r in rows {
        let result = match (r.verdict.result, r.verdict.partition) {
            (ResultKind::Failed | ResultKind::Timeout | ResultKind::Interrupted, Some(p)) => format!("{} at {}", r.verdict.result, partition_hex(p)),
            (k, _) => k.to_string(),
        };
        cells.push(vec![
            r.serial.clone().unwrap_or_else(dash),
            r.port.clone().unwrap_or_else(dash),
            r.usb_path.clone().unwrap_or_else(dash),
            result,
            if r.duration.is_zero() { dash() } else { duration(r.duration) },
            human_bytes(r.bytes_sent),
        ]);
    }
    crate::table::render(&cells)
}

/// The explanation of each board that was not flashed: what happened, the programmer's words, the hint, the log.
#[must_use]
pub fn failures(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows.iter().filter(|r| !r.verdict.is_success()) {
        let who = match &r.serial {
            Some(sn) => format!("{} (serial {sn})", r.label),
            None => r.label.clone(),
        };
        let _ = writeln!(out, "{who}: {}: {}", r.verdict.result, r.verdict.error.as_deref().unwrap_or("no details"));
        if let Some(h) = &r.verdict.hint {
            let _ = writeln!(out, "  hint: {h}");
        }
        if let Some(l) = &r.log {
            let _ = writeln!(out, "  log: {l}");
        }
    }
    out
}

/// The last line: `2 of 3 boards flashed`.
#[must_use]
pub fn summary(rows: &[Row]) -> String {
    let ok = rows.iter().filter(|r| r.verdict.is_success()).count();
    format!("{ok} of {} board{} flashed", rows.len(), if rows.len() == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, serial: Option<&str>, verdict: Verdict, secs: u64, bytes: u64) -> Row {
        Row {
            serial: serial.map(str::to_string),
            port: Some(label.to_string()),
            usb_path: Some("3-1".into()),
            verdict,
            duration: Duration::from_secs(secs),
            bytes_sent: bytes,
            log: Some(format!("flash-logs/{label}.log")),
            label: label.to_string(),
        }
    }

    fn ok() -> Verdict {
        Verdict { result: ResultKind::Success, partition: None, error: None, programmer_errors: vec![], hint: None, exit_status: Some(0) }
    }

    #[test]
    fn the_table() {
        let failed = Verdict {
            result: ResultKind::Failed,
            partition: Some(1),
            error: Some("at partition 0x01: the programmer said \"Error: Start operation failed at partition 0x01\"".into()),
            programmer_errors: vec![],
            hint: Some("build TF-A with STM32MP_USB_PROGRAMMER=1".into()),
            exit_status: Some(1),
        };
        let rows = vec![
            row("usb1", Some("004200343338510534383330"), ok(), 273, 539_987_571),
            row("usb2", Some("0019002C3431511733353431"), failed, 2, 237_161),
            row("usb3", None, Verdict::not_run(ResultKind::Failed, "usb3 is listed without a serial number", None), 0, 0),
        ];
        assert_eq!(
            table(&rows),
            "serial                    port  usb  result          duration    sent\n\
004200343338510534383330  usb1  3-1  success         4 min 33 s  515.0 MiB\n\
0019002C3431511733353431  usb2  3-1  failed at 0x01  2.0 s       231.6 KiB\n\
-                         usb3  3-1  failed          -           0 B\n"
        );
        let f = failures(&rows);
        assert!(f.starts_with("usb2 (serial 0019002C3431511733353431): failed: at partition 0x01: the programmer said"), "{f}");
        assert!(f.contains("  hint: build TF-A with STM32MP_USB_PROGRAMMER=1\n  log: flash-logs/usb2.log\n"));
        assert!(f.contains("usb3: failed: usb3 is listed without a serial number\n"));
        assert_eq!(summary(&rows), "1 of 3 boards flashed");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_millis(444)), "0.4 s");
        assert_eq!(duration(Duration::from_secs(42)), "42 s");
        assert_eq!(duration(Duration::from_millis(271_583)), "4 min 31 s");
        assert_eq!(duration(Duration::from_secs(3725)), "1 h 02 min");
    }
}
