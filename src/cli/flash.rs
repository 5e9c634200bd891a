//! `stm32mp-imager flash LAYOUT.tsv [--port usbN … | --serial SN … | --all] [--programmer PATH] [--timeout SECONDS]
//! [--log-dir DIR] [--jobs N] [--stagger SECONDS] [--select-by serial|index] [--force]`: hand a flash layout to
//! `STM32_Programmer_CLI` for one board or a line of boards.
//!
//! Before anything is sent: the layout is linted with `inspect`'s rules and every binary it sends must exist; the
//! programmer is found and its version checked; the layout and binaries are hashed for the records. Then each board
//! gets its programmer process, log file and JSON Lines record; the run ends with a table. Exit status: 0 all boards
//! flashed, 1 layout or binaries wrong, 3 I/O, 4 a board (or the programmer) failed, 130 interrupted.
//!
//! The programmer's behaviour is known from published transcripts only (see `crate::flash`).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, SystemTime},
};

use clap::{Args, ValueEnum};

use crate::{
    diag::{self, Problem},
    effects::{
        flash_progress,
        flashlog::file_stamp,
        fleet::{self, BoardOutcome, RunContext},
        inputs::{HashPolicy, read_input},
        programmer::{self, CliProgrammer, PROGRAMMER_ENV, Programmer},
        usb,
    },
    error::Error,
    flash::{
        Event, ResultKind, devices, hints,
        plan::{self, SelectBy, SelectError, Selection},
        records::{FileDigest, ProgrammerInfo, RECORDS_FILE},
        report::{self, Row},
        version,
    },
    flashlayout::{self, LintOptions},
    units::human_bytes,
};

/// How the programmer is told which board to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SelectByArg {
    /// `-c port=usbN` when exactly one board is listed (as in ST's and Bootlin's examples), the serial number when
    /// several are.
    Auto,
    /// `-c port=usb sn=<serial>` (the serial number from `-l usb`); unverified for STM32MP on hardware.
    Serial,
    /// `-c port=usbN`; boards then go one at a time, since indexes shift while boards re-enumerate.
    Index,
}

/// Arguments of `flash`.
#[derive(Debug, Args)]
pub struct FlashArgs {
    /// The flash layout (.tsv); the binaries it names are found relative to its folder.
    pub layout: PathBuf,
    /// A board by the programmer's index (`usb1`, as `stm32mp-imager devices` lists them); repeat for several.
    #[arg(long, value_name = "usbN", value_parser = plan::parse_port, conflicts_with_all = ["all", "serial"])]
    pub port: Vec<u32>,
    /// A board by serial number; repeat for several.
    #[arg(long, value_name = "SN", conflicts_with = "all")]
    pub serial: Vec<String>,
    /// Every board in USB DFU mode. Without --port, --serial or --all, the only board present is flashed.
    #[arg(long)]
    pub all: bool,
    /// The programmer [default: $STM32_PROGRAMMER_CLI, then PATH, then ~/STMicroelectronics/STM32Cube/STM32CubeProgrammer/bin
    /// and ~/stm32cube/bin].
    #[arg(long, value_name = "PATH")]
    pub programmer: Option<PathBuf>,
    /// Seconds a stage may go without progress before the board is stopped and reported as timed out.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Where the per-board logs and flash-records.jsonl go [default: flash-logs/ beside the layout].
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// At most this many boards at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Seconds between two board starts (boards re-enumerate when they start).
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = parse_seconds)]
    pub stagger: Duration,
    /// How the programmer is told which board to use.
    #[arg(long, value_enum, default_value_t = SelectByArg::Auto)]
    pub select_by: SelectByArg,
    /// Use a programmer version known not to work for STM32MP1.
    #[arg(long)]
    pub force: bool,
    /// Root of the sysfs tree USB devices are read from (tests).
    #[arg(long, value_name = "DIR", default_value = usb::SYSFS_ROOT, hide = true)]
    pub sysfs_root: PathBuf,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("`{text}` is not a number of seconds between 0 and 3600")),
    }
}

fn check_interrupt(flag: &AtomicBool) -> Result<(), Error> {
    if flag.load(Ordering::SeqCst) { Err(Error::Interrupted) } else { Ok(()) }
}

/// A layout binary's path: absolute as written, else relative to the layout's folder.
fn binary_path(layout_dir: &Path, binary: &str) -> PathBuf {
    let p = Path::new(binary);
    if p.is_absolute() { p.to_path_buf() } else { layout_dir.join(p) }
}

fn digest(name: &str, path: &Path) -> Result<FileDigest, Error> {
    let facts = read_input(name, path, HashPolicy::All).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
    Ok(FileDigest {
        name: name.to_string(),
        path: path.display().to_string(),
        size: facts.size.get(),
        sha256: facts.sha256.map(hex::encode).unwrap_or_default(),
    })
}

/// A checked layout: where it is, what it sends.
struct Layout {
    shown: String,
    dir: PathBuf,
    file: String,
    path: PathBuf,
    sent: Vec<plan::SentBinary>,
}

fn load_layout(path: &Path, ctx: &super::Context) -> Result<Layout, Error> {
    let shown = path.display().to_string();
    // At most MAX_LAYOUT_BYTES (a real layout is a few KiB): `flash /dev/zero` must not read until memory runs out.
    let max = super::inspect::MAX_LAYOUT_BYTES;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, max + 1), &mut bytes))
        .map_err(|e| Error::Io(format!("cannot read flash layout {shown}: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(Error::Invalid(format!("{shown}: more than {max} bytes; a flash layout has at most 240 lines (is this the right file?)")));
    }
    let abs = std::fs::canonicalize(path).map_err(|e| Error::Io(format!("cannot resolve {shown}: {e}")))?;
    let (Some(dir), Some(file)) = (abs.parent(), abs.file_name()) else {
        return Err(Error::Invalid(format!("{shown}: not a file")));
    };
    let parsed = flashlayout::parse(&shown, &bytes);
    let mut problems = parsed.problems;
    problems.extend(flashlayout::lint(&shown, &parsed.lines, &LintOptions::default()));
    let sent = plan::sent_binaries(&parsed.lines);
    for b in &sent {
        let p = binary_path(dir, &b.binary);
        if !p.is_file() {
            problems.push(
                Problem::error(
                    "flash::missing_binary",
                    format!("`{}` (partition {} {:#04x}) not found: {}", b.binary, b.partition, b.id, p.display()),
                )
                .at(format!("{shown}:{}", b.line))
                .with_help("a layout's binaries are relative to the layout's folder; build them or fix the name"),
            );
        }
    }
    ctx.print_problems(&problems, None);
    let errors = problems.iter().filter(|p| p.is_error()).count();
    if diag::has_errors(&problems) {
        return Err(Error::Invalid(format!("{shown}: {errors} error{} (all listed above); nothing was flashed", if errors == 1 { "" } else { "s" })));
    }
    Ok(Layout { shown, dir: dir.to_path_buf(), file: file.to_string_lossy().into_owned(), path: abs.clone(), sent })
}

/// Find the programmer as the command line and environment say.
pub fn find_programmer(option: Option<&Path>) -> Result<PathBuf, Error> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    programmer::find(option, std::env::var_os(PROGRAMMER_ENV).as_deref(), std::env::var_os("PATH").as_deref(), home.as_deref())
        .map_err(|e| Error::Flash(e.to_string()))
}

fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("nothing")
}

/// Read and judge the programmer's version; `Err` when it is known bad and `force` is off.
fn check_version(prg: &dyn Programmer, force: bool) -> Result<Option<version::Version>, Error> {
    let out = prg.version();
    let Some(v) = version::parse_output(&out.text) else {
        eprintln!("warning: cannot read the version of {} (`--version` {}: {}); going on", prg.path().display(), out.end, first_line(&out.text));
        return Ok(None);
    };
    if let Some(bad) = version::known_bad(v) {
        if !force {
            return Err(Error::Flash(format!("{} is STM32CubeProgrammer {v}: {}; pass --force to use it anyway", prg.path().display(), bad.reason)));
        }
        eprintln!("warning: using STM32CubeProgrammer {v} because of --force: {}", bad.reason);
    }
    Ok(Some(v))
}

/// The programmer's board list, or why it is unavailable.
pub fn listing(prg: &dyn Programmer) -> Result<devices::Listing, String> {
    let out = prg.list_usb();
    let parsed = devices::parse_list(&out.text);
    if out.ok() || !parsed.devices.is_empty() {
        if let Some(n) = parsed.announced.filter(|&n| n as usize != parsed.devices.len()) {
            eprintln!("warning: the programmer announced {n} boards and listed {}", parsed.devices.len());
        }
        return Ok(parsed);
    }
    let said = if parsed.errors.is_empty() { first_line(&out.text).to_string() } else { parsed.errors.join(" / ") };
    Err(format!("`{} -l usb` {}: {said}", prg.path().display(), out.end))
}

fn outcome_row(o: &BoardOutcome) -> Row {
    Row {
        serial: o.serial.clone(),
        port: o.target.port(),
        usb_path: o.target.usb.as_ref().and_then(|u| u.path.clone()),
        verdict: o.verdict.clone(),
        duration: o.duration,
        bytes_sent: o.bytes_sent,
        log: o.log.as_ref().map(|p| p.display().to_string()),
        label: o.target.label(),
    }
}

/// Run `flash`.
pub fn run(args: &FlashArgs, cmd: &super::Context) -> Result<(), Error> {
    let cancel = cmd.cancel.flag();
    let layout = load_layout(&args.layout, cmd)?;
    let path = find_programmer(args.programmer.as_deref())?;
    let prg = CliProgrammer::new(path.clone(), Duration::from_secs(args.timeout), cancel);
    let version = check_version(&prg, args.force)?;
    check_interrupt(cancel)?;

    let layout_digest = digest(&layout.shown, &layout.path)?;
    let mut binaries: Vec<FileDigest> = Vec::new();
    let mut sizes = BTreeMap::new();
    let mut total_bytes = 0;
    for b in &layout.sent {
        let digest = match binaries.iter().find(|d| d.name == b.binary) {
            Some(d) => d.clone(),
            None => {
                let d = digest(&b.binary, &binary_path(&layout.dir, &b.binary))?;
                binaries.push(d.clone());
                d
            }
        };
        sizes.insert(b.binary.clone(), digest.size);
        total_bytes += digest.size;
    }
    check_interrupt(cancel)?;

    let by = match args.select_by {
        SelectByArg::Auto => SelectBy::Auto,
        SelectByArg::Serial => SelectBy::Serial,
        SelectByArg::Index => SelectBy::Index,
    };
    let selection = if args.all {
        Selection::All
    } else if !args.port.is_empty() {
        Selection::Ports(args.port.clone())
    } else if !args.serial.is_empty() {
        Selection::Serials(args.serial.clone())
    } else {
        Selection::Only
    };
    let listed = listing(&prg);
    check_interrupt(cancel)?;
    let sysfs = usb::scan(&args.sysfs_root).unwrap_or_else(|e| {
        eprintln!("warning: cannot read USB devices from {}: {e}", args.sysfs_root.display());
        Vec::new()
    });
    if let Err(why) = &listed
        && matches!(selection, Selection::Ports(_))
    {
        eprintln!("warning: {why}; boards are selected by index and their serial numbers taken from the programmer's output");
    }
    let targets = plan::select(&selection, listed.as_ref().ok().map(|l| l.devices.as_slice()), &sysfs, by).map_err(|e| match e {
        SelectError::Ambiguous { .. } => Error::Invalid(e.to_string()),
        SelectError::NeedListing(_) => Error::Flash(format!("{e}: {}", listed.as_ref().err().map_or("", String::as_str))),
        SelectError::NoBoards | SelectError::NotListed { .. } => Error::Flash(format!("{e}\n  hint: {}", hints::NO_DEVICE)),
    })?;
    let (schedule, notes) = plan::schedule(&targets, usize::from(args.jobs), args.stagger);
    for n in notes {
        eprintln!("note: {n}");
    }

    let log_dir = args.log_dir.clone().unwrap_or_else(|| fleet::default_log_dir(&layout.dir));
    std::fs::create_dir_all(&log_dir).map_err(|e| Error::Io(format!("cannot create log folder {}: {e}", log_dir.display())))?;
    let log_dir = std::fs::canonicalize(&log_dir).unwrap_or(log_dir);

    let now = SystemTime::now();
    let ctx = RunContext {
        layout_dir: layout.dir.clone(),
        layout_file: layout.file.clone(),
        log_dir: log_dir.clone(),
        run_id: format!("{}-{}", file_stamp(now), std::process::id()),
        run_stamp: file_stamp(now),
        sizes,
        total_bytes,
        layout: layout_digest,
        binaries,
        programmer: ProgrammerInfo { path: path.display().to_string(), version: version.map(|v| v.to_string()) },
        schedule,
    };
    eprintln!(
        "layout {}: lint clean, {} binar{} ({} per board)",
        layout.shown,
        layout.sent.len(),
        if layout.sent.len() == 1 { "y" } else { "ies" },
        human_bytes(total_bytes)
    );
    eprintln!("programmer {} (version {})", path.display(), version.map_or_else(|| "unknown".to_string(), |v| v.to_string()));
    let pace =
        if targets.len() > 1 { format!(", {} at a time, starts {} s apart", schedule.jobs, schedule.stagger.as_secs_f64()) } else { String::new() };
    eprintln!("{} board{}{pace}; logs and records in {}", targets.len(), if targets.len() == 1 { "" } else { "s" }, log_dir.display());

    let renderer = flash_progress::for_stderr(cmd.style);
    let sink = |e: Event| {
        renderer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).event(&e);
    };
    let outcomes = fleet::run(&prg, &targets, &ctx, cancel, &sink);
    drop(renderer);

    let rows: Vec<Row> = outcomes.iter().map(outcome_row).collect();
    print!("{}", report::table(&rows));
    eprint!("{}", report::failures(&rows));
    let mut record_errors = Vec::new();
    for o in &outcomes {
        for n in &o.notes {
            eprintln!("warning: {n}");
        }
        if let Err(e) = &o.record {
            eprintln!("error: {}: record not written: {e}", o.target.label());
            record_errors.push(e.clone());
        }
    }
    println!("{}; records appended to {}", report::summary(&rows), log_dir.join(RECORDS_FILE).display());

    let interrupted = cancel.load(Ordering::SeqCst) || outcomes.iter().any(|o| o.verdict.result == ResultKind::Interrupted);
    let failed: Vec<String> =
        outcomes.iter().filter(|o| !o.verdict.is_success()).map(|o| format!("{} ({})", o.target.label(), o.verdict.result)).collect();
    if interrupted {
        return Err(Error::Interrupted);
    }
    if !failed.is_empty() {
        return Err(Error::Flash(format!("flashing failed on {} of {} boards: {}", failed.len(), outcomes.len(), failed.join(", "))));
    }
    if let Some(e) = record_errors.into_iter().next() {
        return Err(Error::Io(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("NaN").is_err());
    }
}
