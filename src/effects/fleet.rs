//! Flashing a set of boards: one programmer process per board, at most `jobs` at once, starts at least `stagger`
//! apart, each board with its own log file and its own record appended to `flash-records.jsonl` as soon as its
//! result is known. Progress is reported as [`Event`]s in the order documented in `crate::flash`.
//!
//! Boards that cannot be handed to the programmer (listed without a serial number, duplicate serials) fail without
//! being run. When the cancel flag is raised, running programmers are stopped (see `effects::programmer`) and
//! boards not yet started are recorded as interrupted without being started.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant, SystemTime},
};

use super::{
    flashlog::{self, BoardLog},
    programmer::Programmer,
};
use crate::flash::{
    BoardId, Event, EventKind, ResultKind, Verdict, hints,
    output::{Transcript, partition_hex},
    plan::{Schedule, Target},
    records::{FileDigest, FlashRecord, ProgrammerInfo, SCHEMA},
};

/// Everything the boards of one run share.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The layout's folder (the programmer runs there).
    pub layout_dir: PathBuf,
    /// The layout's file name (passed to `-w`).
    pub layout_file: String,
    /// Where logs and records go.
    pub log_dir: PathBuf,
    /// The run's id (in every record).
    pub run_id: String,
    /// The run's stamp, for log file names.
    pub run_stamp: String,
    /// The layout's binaries' sizes, by the name the layout gives them.
    pub sizes: BTreeMap<String, u64>,
    /// The bytes each board is sent.
    pub total_bytes: u64,
    /// The layout's digest.
    pub layout: FileDigest,
    /// The binaries' digests.
    pub binaries: Vec<FileDigest>,
    /// The programmer.
    pub programmer: ProgrammerInfo,
    /// Jobs and stagger.
    pub schedule: Schedule,
}

/// What happened to one board.
#[derive(Debug, Clone)]
pub struct BoardOutcome {
    /// The board.
    pub target: Target,
    /// The judgement.
    pub verdict: Verdict,
    /// The serial number (as the programmer reported it, else as listed).
    pub serial: Option<String>,
    /// Time from start to end.
    pub duration: Duration,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Its log file.
    pub log: Option<PathBuf>,
    /// The records file it was appended to, or why it could not be.
    pub record: Result<PathBuf, String>,
    /// Anything worth a warning (serial mismatch, log write errors).
    pub notes: Vec<String>,
}

struct Finish {
    verdict: Verdict,
    serial: Option<String>,
    started: Option<SystemTime>,
    duration: Duration,
    bytes_sent: u64,
    log: Option<PathBuf>,
    args: Vec<String>,
    notes: Vec<String>,
}

fn record(ctx: &RunContext, target: &Target, f: &Finish) -> FlashRecord {
    FlashRecord {
        schema: SCHEMA,
        time: flashlog::now_rfc3339(),
        started: f.started.map(flashlog::rfc3339),
        duration_s: (f.duration.as_secs_f64() * 1000.0).round() / 1000.0,
        run: ctx.run_id.clone(),
        board_serial: f.serial.clone(),
        port: target.port(),
        usb: target.usb.clone(),
        layout: ctx.layout.clone(),
        binaries: ctx.binaries.clone(),
        programmer: ctx.programmer.clone(),
        args: f.args.clone(),
        result: f.verdict.result,
        partition: f.verdict.partition.map(partition_hex),
        error: f.verdict.error.clone(),
        programmer_errors: f.verdict.programmer_errors.clone(),
        hint: f.verdict.hint.clone(),
        exit_status: f.verdict.exit_status,
        bytes_sent: f.bytes_sent,
        log: f.log.as_ref().map(|p| p.display().to_string()),
        notes: f.notes.clone(),
        tool: concat!("stm32mp-imager ", env!("CARGO_PKG_VERSION")).to_string(),
    }
}

/// Record the result, tell the sink, and build the outcome.
fn conclude(ctx: &RunContext, id: BoardId, target: &Target, f: Finish, sink: &(dyn Fn(Event) + Sync)) -> BoardOutcome {
    let rec = record(ctx, target, &f);
    let written = flashlog::append_record(&ctx.log_dir, &rec)
        .map_err(|e| format!("cannot append to {}: {e}", ctx.log_dir.join(crate::flash::records::RECORDS_FILE).display()));
    sink(Event { board: id, kind: EventKind::Finished { verdict: f.verdict.clone(), duration: f.duration, bytes_sent: f.bytes_sent } });
    BoardOutcome {
        target: target.clone(),
        verdict: f.verdict,
        serial: f.serial,
        duration: f.duration,
        bytes_sent: f.bytes_sent,
        log: f.log,
        record: written,
        notes: f.notes,
    }
}

fn not_run(target: &Target, verdict: Verdict) -> Finish {
    Finish {
        verdict,
        serial: target.serial.clone(),
        started: None,
        duration: Duration::ZERO,
        bytes_sent: 0,
        log: None,
        args: Vec::new(),
        notes: Vec::new(),
    }
}

fn flash_one(programmer: &dyn Programmer, target: &Target, id: BoardId, ctx: &RunContext, sink: &(dyn Fn(Event) + Sync)) -> Finish {
    let args = target.programmer_args(&ctx.layout_file);
    let command = format!("{} {}", programmer.path().display(), args.join(" "));
    let mut notes = Vec::new();
    let name = match &target.serial {
        Some(sn) if target.port().is_some() => format!("{}-{}-{sn}", ctx.run_stamp, target.label()),
        _ => format!("{}-{}", ctx.run_stamp, target.label()),
    };
    let mut log = match BoardLog::create(&ctx.log_dir, &name) {
        Ok(l) => Some(l),
        Err(e) => {
            notes.push(format!("no log file: cannot create {}/{name}.log: {e}", ctx.log_dir.display()));
            None
        }
    };
    let started = SystemTime::now();
    let t0 = Instant::now();
    if let Some(l) = log.as_mut() {
        l.note(&format!("stm32mp-imager {} flash log, run {}", env!("CARGO_PKG_VERSION"), ctx.run_id));
        l.note(&format!(
            "board: {}, serial {}, USB {}",
            target.label(),
            target.serial.as_deref().unwrap_or("unknown"),
            target.usb.as_ref().map_or_else(|| "unknown".to_string(), ToString::to_string)
        ));
        l.note(&format!("programmer: {} (version {})", ctx.programmer.path, ctx.programmer.version.as_deref().unwrap_or("unknown")));
        l.note(&format!("command: {command}"));
        l.note(&format!("folder: {}", ctx.layout_dir.display()));
        l.note(&format!("layout: {} sha256 {}", ctx.layout.path, ctx.layout.sha256));
        for b in &ctx.binaries {
            l.note(&format!("binary: {} ({} bytes) sha256 {}", b.name, b.size, b.sha256));
        }
        l.note(&format!("started: {}", flashlog::rfc3339(started)));
    }
    sink(Event { board: id, kind: EventKind::Started { command } });
    let mut transcript = Transcript::new(ctx.sizes.clone());
    let end = programmer.flash(&args, &ctx.layout_dir, &mut |stream, seg| {
        if let Some(l) = log.as_mut() {
            l.output(stream, seg);
        }
        let fed = transcript.feed(seg);
        for e in fed.events {
            sink(Event { board: id, kind: EventKind::Programmer(e) });
        }
        fed.advanced
    });
    let duration = t0.elapsed();
    let verdict = transcript.verdict(&end);
    let seen = transcript.serial().map(str::to_string);
    if let (Some(expected), Some(seen)) = (&target.serial, &seen)
        && !expected.eq_ignore_ascii_case(seen)
    {
        notes.push(format!("{} was selected as serial {expected} but the programmer reported serial {seen}", target.label()));
    }
    let log_path = log.as_ref().map(|l| l.path().to_path_buf());
    if let Some(mut l) = log {
        l.note(&format!("finished: {}, {} after {:.3} s", flashlog::now_rfc3339(), verdict.result, duration.as_secs_f64()));
        l.note(&format!("programmer: {end}"));
        if let Some(e) = &verdict.error {
            l.note(&format!("error: {e}"));
        }
        if let Some(h) = &verdict.hint {
            l.note(&format!("hint: {h}"));
        }
        for n in &notes {
            l.note(&format!("note: {n}"));
        }
        if let Some(e) = l.close() {
            notes.push(format!("log file incomplete: {e}"));
        }
    }
    Finish {
        bytes_sent: transcript.bytes_sent(),
        serial: seen.or_else(|| target.serial.clone()),
        verdict,
        started: Some(started),
        duration,
        log: log_path,
        args,
        notes,
    }
}

/// Wait for this board's turn to start: at least `stagger` after the previous start. False if cancelled meanwhile.
fn wait_turn(last_start: &Mutex<Option<Instant>>, stagger: Duration, cancel: &AtomicBool) -> bool {
    let mut last = last_start.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(prev) = *last {
        while Instant::now() < prev + stagger {
            if cancel.load(Ordering::SeqCst) {
                return false;
            }
            thread::sleep(Duration::from_millis(20).min((prev + stagger).saturating_duration_since(Instant::now())));
        }
    }
    if cancel.load(Ordering::SeqCst) {
        return false;
    }
    *last = Some(Instant::now());
    true
}

/// Flash `targets` (in parallel as the schedule allows); outcomes come back in target order.
pub fn run(
    programmer: &dyn Programmer,
    targets: &[Target],
    ctx: &RunContext,
    cancel: &AtomicBool,
    sink: &(dyn Fn(Event) + Sync),
) -> Vec<BoardOutcome> {
    for (i, t) in targets.iter().enumerate() {
        sink(Event {
            board: BoardId(i),
            kind: EventKind::Queued {
                label: t.label(),
                serial: t.serial.clone(),
                usb: t.usb.as_ref().map(ToString::to_string),
                total_bytes: ctx.total_bytes,
            },
        });
    }
    let results: Mutex<Vec<Option<BoardOutcome>>> = Mutex::new(vec![None; targets.len()]);
    let store = |i: usize, o: BoardOutcome| {
        results.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(o);
    };
    let mut runnable = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        match &t.blocked {
            Some(why) => {
                let hint = if why.contains("without a serial number") { Some(hints::NO_SERIAL.to_string()) } else { None };
                let f = not_run(t, Verdict::not_run(ResultKind::Failed, why.clone(), hint));
                store(i, conclude(ctx, BoardId(i), t, f, sink));
            }
            None => runnable.push(i),
        }
    }
    let next = AtomicUsize::new(0);
    let last_start = Mutex::new(None);
    let workers = ctx.schedule.jobs.clamp(1, runnable.len().max(1));
    thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&i) = runnable.get(k) else { break };
                    let t = &targets[i];
                    let f = if wait_turn(&last_start, ctx.schedule.stagger, cancel) {
                        flash_one(programmer, t, BoardId(i), ctx, sink)
                    } else {
                        not_run(t, Verdict::not_run(ResultKind::Interrupted, "not started: interrupted before its turn", None))
                    };
                    store(i, conclude(ctx, BoardId(i), t, f, sink));
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).into_iter().flatten().collect()
}

/// The log folder a layout gets by default: `flash-logs/` beside it.
#[must_use]
pub fn default_log_dir(layout_dir: &Path) -> PathBuf {
    layout_dir.join("flash-logs")
}
