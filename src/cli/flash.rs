//! `stm32mp-imager flash LAYOUT.tsv [--via builtin|stm32cubeprogrammer] [--port usbN … | --serial SN … | --usb-path
//! BUS-PORT … | --all] [--dry-run] [--programmer PATH] [--timeout SECONDS] [--log-dir DIR] [--jobs N] [--stagger
//! SECONDS] [--select-by auto|serial|index] [--force]`: flash a layout on one board or a line of boards, through
//! `STM32_Programmer_CLI` or the built-in USB DFU client. Without `--via`: ST's programmer when it is found, else the
//! built-in client; the first line printed says which.
//!
//! Arguments → the back end → the job (the library checks the layout, queries the programmer or reads the FSBL's
//! header, hashes, lists and selects the boards, and builds the [`FlashJob`](crate::flash::job::FlashJob)) → with
//! `--dry-run`, the job printed and nothing run; else the job run by `effects::fleet` → the table. Exit status: 0
//! all boards flashed, 1 layout or binaries wrong, 3 I/O, 4 a board (or the programmer) failed, 130 interrupted.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use clap::{Args, ValueEnum};

use crate::{
    diag,
    effects::{
        builtin::{self as builtin_usb, Builtin},
        flash_job, flash_progress,
        flashlog::file_stamp,
        fleet::{self, BoardOutcome},
        programmer::{CubeProgrammer, DOWNLOAD_URL, PROGRAMMER_ENV, ProgrammerError},
        usb,
    },
    error::{Error, Shown},
    flash::{
        Event, ResultKind,
        backend::{Backend, Via},
        builtin,
        cubeprog::version,
        devices::parse_usb_path,
        hints,
        job::{self, JobOptions},
        report::{self, Row},
        select::{self, SelectBy, SelectError, Selection},
    },
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

/// Which back end flashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ViaArg {
    /// The built-in USB DFU client (ROM → TF-A → U-Boot stm32prog, no STM32CubeProgrammer needed).
    Builtin,
    /// ST's STM32_Programmer_CLI.
    #[value(name = "stm32cubeprogrammer")]
    Stm32CubeProgrammer,
}

/// Arguments of `flash`.
#[derive(Debug, Args)]
pub struct FlashArgs {
    /// The flash layout (.tsv); the binaries it names are found relative to its folder.
    pub layout: PathBuf,
    /// What flashes: the built-in USB DFU client, or ST's STM32_Programmer_CLI [default: ST's when it is found,
    /// else the built-in client].
    #[arg(long, value_enum, value_name = "BACK-END")]
    pub via: Option<ViaArg>,
    /// A board by STM32_Programmer_CLI's index (`usb1`, as `stm32mp-imager devices` lists them); repeat for several.
    /// Not with the built-in client, which chooses boards by USB path or serial number.
    #[arg(long, value_name = "usbN", value_parser = parse_port, conflicts_with_all = ["all", "serial", "usb_path"])]
    pub port: Vec<u32>,
    /// A board by serial number; repeat for several.
    #[arg(long, value_name = "SN", conflicts_with_all = ["all", "usb_path"])]
    pub serial: Vec<String>,
    /// A board by the USB port its cable is in, as sysfs names it (`3-1`, `1-4.2`; `stm32mp-imager devices` shows
    /// it): the same across the board's re-enumerations. Repeat for several.
    #[arg(long, value_name = "BUS-PORT[.PORT…]", value_parser = parse_usb_path, conflicts_with = "all")]
    pub usb_path: Vec<String>,
    /// Every board in USB DFU mode. Without --port, --serial, --usb-path or --all, the only board present is flashed.
    #[arg(long)]
    pub all: bool,
    /// Print the job (boards, files with sizes and SHA-256, the command or the planned phases for each board, log
    /// and record paths) and flash nothing. The programmer is still asked its version and its board list (`-l
    /// usb`), the built-in client reads the USB device list: queries that leave the boards as they are. Nothing is
    /// written.
    #[arg(long)]
    pub dry_run: bool,
    /// The programmer [default: $STM32_PROGRAMMER_CLI, then PATH, then ~/STMicroelectronics/STM32Cube/STM32CubeProgrammer/bin
    /// and ~/stm32cube/bin].
    #[arg(long, value_name = "PATH")]
    pub programmer: Option<PathBuf>,
    /// Seconds a stage may go without progress before the board is stopped and reported as timed out (the
    /// programmer's `--version` and `-l usb` have their own bound). The built-in client bounds every wait for the
    /// board to come back, every transfer and every poll by it.
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
    /// How the programmer is told which board to use (the built-in client always follows a board by its USB path).
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

/// Parse a `--port` value: `usb1`, `USB1` or `1`.
pub fn parse_port(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let digits = t.strip_prefix("usb").or_else(|| t.strip_prefix("USB")).unwrap_or(t);
    match digits.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{text}` is not a programmer port: write usb1, usb2, … (see `stm32mp-imager devices`)")),
    }
}

fn check_interrupt(ctx: &super::Context) -> Result<(), Error> {
    if ctx.cancel.is_cancelled() { Err(Error::Interrupted) } else { Ok(()) }
}

/// What to do when the programmer is not found: install it, or point at it.
const INSTALL_HELP: &str = "install STM32CubeProgrammer 2.2.0 or later, not 2.2.1 (free account)";

/// Find the programmer as the command line and environment say; the not-found message says where it looked and
/// what to do, in three short lines.
pub fn find_programmer(option: Option<&Path>) -> Result<PathBuf, Error> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    crate::effects::programmer::find(option, std::env::var_os(PROGRAMMER_ENV).as_deref(), std::env::var_os("PATH").as_deref(), home.as_deref())
        .map_err(not_found)
}

/// The programmer is missing or cannot run: the error, then how to install it or point at it.
fn not_found(error: ProgrammerError) -> Error {
    let help = match error {
        ProgrammerError::NotFound { .. } => {
            format!("\n  {INSTALL_HELP}: {DOWNLOAD_URL}\n  then put its bin folder on PATH, set ${PROGRAMMER_ENV}, or pass --programmer PATH")
        }
        ProgrammerError::NotExecutable { .. } => String::new(),
    };
    Error::Programmer { error, help }
}

/// Read and judge the programmer's version; `Err` when it is known bad and `force` is off.
fn check_version(prg: &CubeProgrammer, force: bool) -> Result<Option<version::Version>, Error> {
    let v = match prg.read_version() {
        Ok(v) => v,
        Err(said) => {
            say!("warning: cannot read the version of {} ({said}); going on", prg.path().display());
            return Ok(None);
        }
    };
    if let Some(bad) = version::known_bad(v) {
        if !force {
            return Err(Error::ProgrammerVersion { path: prg.path().to_path_buf(), version: v.to_string(), reason: bad.reason });
        }
        say!("warning: using STM32CubeProgrammer {v} because of --force: {}", bad.reason);
    }
    Ok(Some(v))
}

fn selection(args: &FlashArgs) -> Selection {
    if args.all {
        Selection::All
    } else if !args.port.is_empty() {
        Selection::Ports(args.port.clone())
    } else if !args.serial.is_empty() {
        Selection::Serials(args.serial.clone())
    } else if !args.usb_path.is_empty() {
        Selection::UsbPaths(args.usb_path.clone())
    } else {
        Selection::Only
    }
}

/// A selection error, with the options that fix it.
fn select_error(e: &SelectError, selection: &Selection, listing_error: Option<&str>, via: Via) -> Error {
    match e {
        SelectError::Ambiguous { .. } => Error::Selection {
            error: e.clone(),
            advice: match via {
                Via::Builtin => "; choose with --usb-path BUS-PORT or --serial SN, or flash them all with --all",
                Via::Stm32CubeProgrammer => "; choose with --port usbN, --serial SN or --usb-path BUS-PORT, or flash them all with --all",
            }
            .to_string(),
        },
        SelectError::NeedListing(_) => {
            let how = match (selection, via) {
                (Selection::All, _) => "with --all",
                (Selection::Serials(_), _) => "with --serial",
                (Selection::UsbPaths(_), _) => "with --usb-path",
                (Selection::Only, Via::Builtin) => "without naming them",
                (Selection::Ports(_) | Selection::Only, _) => "without --port",
            };
            let list = match via {
                Via::Builtin => "the USB device list",
                Via::Stm32CubeProgrammer => "the programmer's board list (`-l usb`)",
            };
            Error::BoardListNeeded { list, how, listing: listing_error.unwrap_or("").to_string() }
        }
        SelectError::NoBoards | SelectError::NotListed { .. } => {
            Error::Selection { error: e.clone(), advice: format!("\n  hint: {}", hints::NO_DEVICE) }
        }
    }
}

fn outcome_row(o: &BoardOutcome) -> Row {
    Row {
        serial: o.serial.clone(),
        port: o.board.target.port(),
        usb_path: o.board.target.usb.as_ref().and_then(|u| u.path.clone()),
        verdict: o.verdict.clone(),
        duration: o.duration,
        bytes_sent: o.bytes_sent,
        log: o.log.as_ref().map(|p| p.display().to_string()),
        label: o.board.label.clone(),
    }
}

/// The back end a run uses.
enum Chosen {
    /// ST's programmer, at a path.
    Cube(CubeProgrammer),
    /// The built-in client.
    Builtin(Builtin),
}

impl Chosen {
    fn backend(&self) -> &dyn Backend {
        match self {
            Chosen::Cube(p) => p,
            Chosen::Builtin(b) => b,
        }
    }

    fn via(&self) -> Via {
        match self {
            Chosen::Cube(_) => Via::Stm32CubeProgrammer,
            Chosen::Builtin(_) => Via::Builtin,
        }
    }
}

/// Choose the back end as `--via` and `--programmer` say; the line that says which, printed first.
fn choose(args: &FlashArgs, ctx: &super::Context) -> Result<(Chosen, String), Error> {
    let cube = |path: PathBuf, why: &str| {
        let line = format!("via stm32cubeprogrammer: {} ({why})", path.display());
        (Chosen::Cube(CubeProgrammer::new(path, ctx.cancel.clone())), line)
    };
    match args.via {
        Some(ViaArg::Builtin) => Ok((Chosen::Builtin(Builtin::new(None)), "via builtin: the built-in USB DFU client (--via builtin)".to_string())),
        Some(ViaArg::Stm32CubeProgrammer) => Ok(cube(find_programmer(args.programmer.as_deref())?, "--via stm32cubeprogrammer")),
        None if args.programmer.is_some() => Ok(cube(find_programmer(args.programmer.as_deref())?, "--programmer")),
        None => match find_programmer(None) {
            Ok(path) => Ok(cube(path, "found; --via builtin uses the built-in client")),
            Err(_) => Ok((
                Chosen::Builtin(Builtin::new(None)),
                "via builtin: the built-in USB DFU client (STM32_Programmer_CLI not found; --via stm32cubeprogrammer requires it)".to_string(),
            )),
        },
    }
}

/// Run `flash`.
pub fn run(args: &FlashArgs, ctx: &super::Context) -> Result<(), Error> {
    let (mut chosen, first_line) = choose(args, ctx)?;
    say!("{first_line}");
    if matches!(chosen, Chosen::Builtin(_)) && !args.port.is_empty() {
        return Err(Error::PortWithBuiltin);
    }
    let checked = flash_job::check_layout(&args.layout)?;
    ctx.print_problems(&checked.problems, None);
    if diag::has_errors(&checked.problems) {
        let errors = checked.problems.iter().filter(|p| p.is_error()).count();
        return Err(Error::Problems { subject: Some(checked.shown.clone()), errors, shown: Shown::Above, undone: Some("flashed") });
    }
    let mut version = None;
    if let Chosen::Cube(prg) = &mut chosen {
        version = check_version(prg, args.force)?;
        prg.set_version(version);
    }
    check_interrupt(ctx)?;
    let layout = flash_job::hash_layout(&checked)?;
    check_interrupt(ctx)?;
    if let Chosen::Builtin(b) = &mut chosen {
        let plan = builtin::stages(&layout, None)?;
        let soc = builtin_usb::fsbl_soc(std::path::Path::new(&plan.fsbl.file.path))?;
        builtin::stages(&layout, Some(soc))?;
        *b = Builtin::new(Some(soc));
    }
    let via = chosen.via();
    let backend = chosen.backend();

    let selection = selection(args);
    let boards = flash_job::boards(backend, &args.sysfs_root);
    for w in &boards.warnings {
        say!("warning: {w}");
    }
    check_interrupt(ctx)?;
    if let Err(why) = &boards.listed
        && matches!(selection, Selection::Ports(_))
    {
        say!("warning: {why}; boards are selected by index and their serial numbers taken from the programmer's output");
    }
    let by = match (via, args.select_by) {
        (Via::Builtin, _) => SelectBy::UsbPath,
        (_, SelectByArg::Auto) => SelectBy::Auto,
        (_, SelectByArg::Serial) => SelectBy::Serial,
        (_, SelectByArg::Index) => SelectBy::Index,
    };
    let targets = select::select(&selection, boards.listed.as_ref().ok().map(Vec::as_slice), &boards.sysfs, by)
        .map_err(|e| select_error(&e, &selection, boards.listed.as_ref().err().map(String::as_str), via))?;

    let log_dir = args.log_dir.clone().unwrap_or_else(|| flash_job::default_log_dir(&layout.dir));
    let log_dir = if args.dry_run {
        std::path::absolute(&log_dir).unwrap_or(log_dir)
    } else {
        std::fs::create_dir_all(&log_dir).map_err(Error::file("create log folder", &log_dir))?;
        std::fs::canonicalize(&log_dir).unwrap_or(log_dir)
    };
    let now = SystemTime::now();
    let options = JobOptions {
        jobs: usize::from(args.jobs),
        stagger: args.stagger,
        stage_timeout: Duration::from_secs(args.timeout),
        log_dir,
        run_id: format!("{}-{}", file_stamp(now), std::process::id()),
        run_stamp: file_stamp(now),
    };
    let job = job::build(layout, targets, backend, &options);
    if args.dry_run {
        out!("{}", report::job(&job));
        return Ok(());
    }
    for n in &job.notes {
        say!("note: {n}");
    }
    let sent = job.layout.partitions.len();
    say!(
        "layout {}: lint clean, {sent} binar{} ({} per board)",
        job.layout.shown,
        if sent == 1 { "y" } else { "ies" },
        human_bytes(job.bytes_per_board())
    );
    match &chosen {
        Chosen::Cube(prg) => {
            say!("programmer {} (version {})", prg.path().display(), version.map_or_else(|| "unknown".to_string(), |v| v.to_string()));
        }
        Chosen::Builtin(_) => say!("{}", job.backend.name),
    }
    let n = job.boards.len();
    let pace =
        if n > 1 { format!(", {} at a time, starts {} s apart", job.schedule.jobs, job.schedule.stagger.as_secs_f64()) } else { String::new() };
    say!("{n} board{}{pace}; logs and records in {}", if n == 1 { "" } else { "s" }, job.log_dir.display());

    let renderer = flash_progress::for_stderr(ctx.style);
    let sink = |e: Event| {
        renderer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).event(&e);
    };
    let outcomes = fleet::run(&job, backend, &ctx.cancel, &sink);
    drop(renderer);

    let rows: Vec<Row> = outcomes.iter().map(outcome_row).collect();
    // The table goes to stdout; a reader that went away (`| head`) does not change the boards' verdict.
    let table = super::write_stdout(format_args!("{}", report::table(&rows)));
    super::write_stderr(format_args!("{}", report::failures(&rows)));
    if rows.iter().any(|r| r.verdict.result == ResultKind::Timeout) {
        say!("hint: the stage timeout is {} s; --timeout SECONDS changes it", args.timeout);
    }
    let mut record_errors = Vec::new();
    for o in &outcomes {
        for n in &o.notes {
            say!("warning: {n}");
        }
        if let Err(e) = &o.record {
            say!("error: {}: record not written: {e}", o.board.label);
            record_errors.push(e.clone());
        }
    }
    let summary =
        table.and_then(|()| super::write_stdout(format_args!("{}; records appended to {}\n", report::summary(&rows), job.records.display())));

    let interrupted = ctx.cancel.is_cancelled() || outcomes.iter().any(|o| o.verdict.result == ResultKind::Interrupted);
    let failed: Vec<String> =
        outcomes.iter().filter(|o| !o.verdict.is_success()).map(|o| format!("{} ({})", o.board.label, o.verdict.result)).collect();
    if interrupted {
        return Err(Error::Interrupted);
    }
    if !failed.is_empty() {
        return Err(Error::BoardsFailed { failed, total: outcomes.len() });
    }
    if let Some(e) = record_errors.into_iter().next() {
        return Err(Error::Records(e));
    }
    summary
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("NaN").is_err());
    }

    #[test]
    fn port_values() {
        assert_eq!(parse_port("usb3"), Ok(3));
        assert_eq!(parse_port("USB1"), Ok(1));
        assert_eq!(parse_port("2"), Ok(2));
        assert!(parse_port("usb0").is_err());
        assert!(parse_port("/dev/ttyACM0").is_err());
    }

    #[test]
    fn not_found_says_where_and_how_in_three_short_lines() {
        let e = crate::effects::programmer::find(None, None, Some(OsStr::new("/nonexistent-a:/nonexistent-b")), Some(Path::new("/h"))).unwrap_err();
        let m = not_found(e).to_string();
        assert!(m.starts_with("STM32_Programmer_CLI not found; looked in: every PATH folder (/nonexistent-a/STM32_Programmer_CLI, "), "{m}");
        assert!(m.contains(DOWNLOAD_URL) && m.contains("--programmer PATH") && m.contains("$STM32_PROGRAMMER_CLI"), "{m}");
        assert_eq!(m.lines().count(), 3, "{m}");
    }

    #[test]
    fn several_boards_name_the_options_that_choose() {
        let e = SelectError::Ambiguous {
            count: 3,
            listed: "usb1 004200343338510534383330, usb2 0019002C3431511733353431, usb3 (no serial number)".into(),
        };
        assert_eq!(
            select_error(&e, &Selection::Only, None, Via::Stm32CubeProgrammer).to_string(),
            "3 boards are in USB DFU mode (usb1 004200343338510534383330, usb2 0019002C3431511733353431, usb3 (no serial number)); \
choose with --port usbN, --serial SN or --usb-path BUS-PORT, or flash them all with --all"
        );
    }
}
