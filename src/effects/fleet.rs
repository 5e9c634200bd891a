//! Running a [`FlashJob`] with a [`Backend`], the same for every back end: at most `jobs` boards at once, starts at
//! least `stagger` apart, each board with its own log file and its own record appended to `flash-records.jsonl` as
//! soon as its result is known, each partition's bytes and time kept for the record. Progress is reported as
//! [`Event`]s in the order documented in `crate::flash`.
//!
//! Boards that cannot be handed to the back end (listed without a serial number, duplicate serials) fail without
//! being run. When the cancel token is raised, the back end stops the boards it is flashing, and boards not yet
//! started are recorded as interrupted without being started.

use std::{
    path::PathBuf,
    sync::{
        Condvar, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant, SystemTime},
};

use super::flashlog::{self, BoardLog};
use crate::{
    cancel::Cancel,
    flash::{
        BoardId, Event, EventKind, FlashEvent, ResultKind, Verdict,
        backend::{Backend, BoardEnd, BoardReport, Step},
        hints,
        job::{FlashJob, JobBoard},
        partition_hex,
        records::{FlashRecord, PartitionRecord, SCHEMA},
    },
};

/// What happened to one board.
#[derive(Debug, Clone)]
pub struct BoardOutcome {
    /// The board, as the job has it.
    pub board: JobBoard,
    /// The judgement.
    pub verdict: Verdict,
    /// The serial number (as the device reported it, else as listed).
    pub serial: Option<String>,
    /// Time from start to end.
    pub duration: Duration,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Each partition sent, with its bytes and time.
    pub partitions: Vec<PartitionRecord>,
    /// Its log file.
    pub log: Option<PathBuf>,
    /// The records file it was appended to, or why it could not be.
    pub record: Result<PathBuf, String>,
    /// Anything worth a warning (serial mismatch, log write errors).
    pub notes: Vec<String>,
}

struct Finish {
    end: BoardEnd,
    started: Option<SystemTime>,
    duration: Duration,
    partitions: Vec<PartitionRecord>,
    log: Option<PathBuf>,
    notes: Vec<String>,
}

fn not_run(board: &JobBoard, verdict: Verdict) -> Finish {
    Finish {
        end: BoardEnd { verdict, serial: board.target.serial.clone(), bytes_sent: 0, end: String::new() },
        started: None,
        duration: Duration::ZERO,
        partitions: Vec::new(),
        log: None,
        notes: Vec::new(),
    }
}

fn record(job: &FlashJob, board: &JobBoard, f: &Finish) -> FlashRecord {
    let v = &f.end.verdict;
    FlashRecord {
        schema: SCHEMA,
        time: flashlog::now_rfc3339(),
        started: f.started.map(flashlog::rfc3339),
        duration_s: (f.duration.as_secs_f64() * 1000.0).round() / 1000.0,
        run: job.run_id.clone(),
        board_serial: f.end.serial.clone(),
        port: board.target.port(),
        usb: board.target.usb.clone(),
        layout: job.layout.digest.clone(),
        binaries: job.layout.binaries(),
        via: job.backend.via,
        programmer: job.backend.programmer.clone(),
        // The arguments the programmer was run with (none for a board never started).
        args: if f.started.is_some() { board.steps.iter().flat_map(step_args).collect() } else { Vec::new() },
        result: v.result,
        partition: v.partition.map(partition_hex),
        error: v.error.clone(),
        programmer_errors: v.programmer_errors.clone(),
        hint: v.hint.clone(),
        exit_status: v.exit_status,
        bytes_sent: f.end.bytes_sent,
        partitions: f.partitions.clone(),
        log: f.log.as_ref().map(|p| p.display().to_string()),
        notes: f.notes.clone(),
        tool: concat!("stm32mp-imager ", env!("CARGO_PKG_VERSION")).to_string(),
    }
}

fn step_args(step: &Step) -> Vec<String> {
    match step {
        Step::Run { args, .. } => args.clone(),
        Step::Dfu { .. } => Vec::new(),
    }
}

/// Record the result, tell the sink, and build the outcome.
fn conclude(job: &FlashJob, board: &JobBoard, f: Finish, sink: &(dyn Fn(Event) + Sync)) -> BoardOutcome {
    let rec = record(job, board, &f);
    let written = flashlog::append_record(&job.log_dir, &rec).map_err(|e| format!("cannot append to {}: {e}", job.records.display()));
    sink(Event { board: board.id, kind: EventKind::Finished { verdict: f.end.verdict.clone(), duration: f.duration, bytes_sent: f.end.bytes_sent } });
    BoardOutcome {
        board: board.clone(),
        verdict: f.end.verdict,
        serial: f.end.serial,
        duration: f.duration,
        bytes_sent: f.end.bytes_sent,
        partitions: f.partitions,
        log: f.log,
        record: written,
        notes: f.notes,
    }
}

/// A partition being sent, as the runner follows it from the back end's events.
struct Sending {
    record: PartitionRecord,
    size: Option<u64>,
    since: Instant,
}

/// The runner's side of [`BoardReport`]: events to the sink, raw lines to the log, partitions to the record.
struct Reporter<'a> {
    id: BoardId,
    job: &'a FlashJob,
    sink: &'a (dyn Fn(Event) + Sync),
    log: Option<&'a mut BoardLog>,
    partitions: Vec<PartitionRecord>,
    current: Option<Sending>,
}

impl Reporter<'_> {
    fn close_current(&mut self, complete: bool) {
        if let Some(mut s) = self.current.take() {
            s.record.seconds = (s.since.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
            s.record.complete = complete;
            self.partitions.push(s.record);
        }
    }
}

impl BoardReport for Reporter<'_> {
    fn event(&mut self, event: FlashEvent) {
        match &event {
            FlashEvent::Sending { partition, file, size } => {
                self.close_current(false);
                let name = partition.and_then(|p| self.job.layout.partition(u32::from(p))).map(|p| p.name.clone());
                let record = PartitionRecord {
                    id: partition.map_or_else(|| "?".to_string(), partition_hex),
                    name,
                    file: file.clone(),
                    bytes_sent: 0,
                    seconds: 0.0,
                    complete: false,
                };
                self.current = Some(Sending { record, size: *size, since: Instant::now() });
            }
            FlashEvent::Progress { percent, .. } => {
                if let Some(s) = self.current.as_mut() {
                    let size = u128::from(s.size.unwrap_or(0));
                    s.record.bytes_sent = u64::try_from(size * u128::from(*percent) / 100).unwrap_or(u64::MAX);
                }
            }
            FlashEvent::Sent { bytes, .. } => {
                if let Some(s) = self.current.as_mut() {
                    s.record.bytes_sent = *bytes;
                }
                self.close_current(true);
            }
            _ => {}
        }
        (self.sink)(Event { board: self.id, kind: EventKind::Flash(event) });
    }

    fn output(&mut self, source: &str, text: &str, redraw: bool) {
        if let Some(l) = self.log.as_deref_mut() {
            l.output(source, text, redraw);
        }
    }
}

fn flash_one(job: &FlashJob, board: &JobBoard, backend: &dyn Backend, cancel: &Cancel, sink: &(dyn Fn(Event) + Sync)) -> Finish {
    let command = backend.start_line(board);
    let mut notes = Vec::new();
    let mut log = match &board.log_name {
        Some(name) => match BoardLog::create(&job.log_dir, name) {
            Ok(l) => Some(l),
            Err(e) => {
                notes.push(format!("no log file: cannot create {}/{name}.log: {e}", job.log_dir.display()));
                None
            }
        },
        None => None,
    };
    let started = SystemTime::now();
    let t0 = Instant::now();
    let t = &board.target;
    if let Some(l) = log.as_mut() {
        l.note(&format!("stm32mp-imager {} flash log, run {}", env!("CARGO_PKG_VERSION"), job.run_id));
        l.note(&format!(
            "board: {}, serial {}, USB {}",
            board.label,
            t.serial.as_deref().unwrap_or("unknown"),
            t.usb.as_ref().map_or_else(|| "unknown".to_string(), ToString::to_string)
        ));
        l.note(&format!("programmer: {} (version {})", job.backend.programmer.path, job.backend.programmer.version.as_deref().unwrap_or("unknown")));
        l.note(&format!("command: {command}"));
        for s in &board.steps {
            match s {
                Step::Run { cwd, .. } => l.note(&format!("folder: {}", cwd.display())),
                Step::Dfu { .. } => l.note(&format!("step: {s}")),
            }
        }
        l.note(&format!("layout: {} sha256 {}", job.layout.digest.path, job.layout.digest.sha256));
        for b in job.layout.binaries() {
            l.note(&format!("binary: {} ({} bytes) sha256 {}", b.name, b.size, b.sha256));
        }
        l.note(&format!("started: {}", flashlog::rfc3339(started)));
    }
    sink(Event { board: board.id, kind: EventKind::Started { command } });
    let mut reporter = Reporter { id: board.id, job, sink, log: log.as_mut(), partitions: Vec::new(), current: None };
    let mut end = backend.flash(job, board, cancel, &mut reporter);
    reporter.close_current(false);
    let partitions = reporter.partitions;
    let duration = t0.elapsed();
    if let (Some(expected), Some(seen)) = (&t.serial, &end.serial)
        && !expected.eq_ignore_ascii_case(seen)
    {
        end.verdict = end.verdict.wrong_board(&board.label, expected, seen);
    }
    let log_path = log.as_ref().map(|l| l.path().to_path_buf());
    if let Some(mut l) = log {
        let v = &end.verdict;
        l.note(&format!("finished: {}, {} after {:.3} s", flashlog::now_rfc3339(), v.result, duration.as_secs_f64()));
        l.note(&end.end);
        for p in &partitions {
            l.note(&format!(
                "partition {} ({}): {} bytes in {:.3} s{}",
                p.id,
                p.file,
                p.bytes_sent,
                p.seconds,
                if p.complete { "" } else { ", not complete" }
            ));
        }
        if let Some(e) = &v.error {
            l.note(&format!("error: {e}"));
        }
        if let Some(h) = &v.hint {
            l.note(&format!("hint: {h}"));
        }
        for n in &notes {
            l.note(&format!("note: {n}"));
        }
        if let Some(e) = l.close() {
            notes.push(format!("log file incomplete: {e}"));
        }
    }
    let serial = end.serial.clone().or_else(|| t.serial.clone());
    Finish { end: BoardEnd { serial, ..end }, started: Some(started), duration, partitions, log: log_path, notes }
}

/// Whose turn it is to start (the index in the run order) and when the last board started.
#[derive(Default)]
struct Turns {
    state: Mutex<(usize, Option<Instant>)>,
    changed: Condvar,
}

/// Wait for the `k`-th board's turn to start: after the board before it in the run order started, and at least
/// `stagger` after it; returns when it started, or `None` if cancelled meanwhile. Boards start in the run order
/// whichever worker thread runs first.
fn wait_turn(turns: &Turns, k: usize, stagger: Duration, cancel: &Cancel) -> Option<Instant> {
    let mut state = turns.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        if cancel.is_cancelled() {
            return None;
        }
        let wait = match *state {
            (turn, _) if turn != k => Duration::from_millis(20),
            (_, Some(prev)) if Instant::now() < prev + stagger => {
                Duration::from_millis(20).min((prev + stagger).saturating_duration_since(Instant::now()))
            }
            _ => break,
        };
        state = turns.changed.wait_timeout(state, wait).unwrap_or_else(std::sync::PoisonError::into_inner).0;
    }
    let now = Instant::now();
    *state = (k + 1, Some(now));
    turns.changed.notify_all();
    Some(now)
}

/// Run `job` with `backend` (boards in parallel as its schedule allows); outcomes come back in board order.
pub fn run(job: &FlashJob, backend: &dyn Backend, cancel: &Cancel, sink: &(dyn Fn(Event) + Sync)) -> Vec<BoardOutcome> {
    for b in &job.boards {
        sink(Event {
            board: b.id,
            kind: EventKind::Queued {
                label: b.label.clone(),
                serial: b.target.serial.clone(),
                usb: b.target.usb.as_ref().map(ToString::to_string),
                total_bytes: job.bytes_per_board(),
            },
        });
    }
    let results: Mutex<Vec<Option<BoardOutcome>>> = Mutex::new(vec![None; job.boards.len()]);
    let store = |i: usize, o: BoardOutcome| {
        results.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(o);
    };
    let mut runnable = Vec::new();
    for (i, b) in job.boards.iter().enumerate() {
        match &b.target.blocked {
            Some(why) => {
                let hint = if why.contains("without a serial number") { Some(hints::NO_SERIAL.to_string()) } else { None };
                let f = not_run(b, Verdict::not_run(ResultKind::Failed, why.clone(), hint));
                store(i, conclude(job, b, f, sink));
            }
            None => runnable.push(i),
        }
    }
    let next = AtomicUsize::new(0);
    let turns = Turns::default();
    let workers = job.schedule.jobs.clamp(1, runnable.len().max(1));
    thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&i) = runnable.get(k) else { break };
                    let b = &job.boards[i];
                    let f = if wait_turn(&turns, k, job.schedule.stagger, cancel).is_some() {
                        flash_one(job, b, backend, cancel, sink)
                    } else {
                        not_run(b, Verdict::not_run(ResultKind::Interrupted, "not started: interrupted before its turn", None))
                    };
                    store(i, conclude(job, b, f, sink));
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Boards start in the run order whichever worker thread asks first. Regression: the first thread to take the
    /// lock started its board, so under load the second board of a line could start before the first.
    #[test]
    fn boards_start_in_the_run_order() {
        let turns = Turns::default();
        let order = Mutex::new(Vec::new());
        let cancel = Cancel::new();
        thread::scope(|s| {
            // The last board's thread first: it must wait for the two before it.
            for k in [2, 1, 0] {
                let (turns, order, cancel) = (&turns, &order, &cancel);
                s.spawn(move || {
                    let started = wait_turn(turns, k, Duration::ZERO, cancel).expect("not cancelled");
                    order.lock().unwrap().push((started, k));
                });
            }
        });
        let mut order = order.into_inner().unwrap();
        order.sort();
        assert_eq!(order.iter().map(|o| o.1).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn a_cancelled_wait_ends() {
        let turns = Turns::default();
        let cancel = Cancel::new();
        cancel.cancel();
        assert_eq!(wait_turn(&turns, 1, Duration::ZERO, &cancel), None, "board 1 waits for board 0, which never comes");
    }
}
