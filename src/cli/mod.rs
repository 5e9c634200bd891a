//! The command line: argument parsing (clap), dispatch to one file per subcommand, and what they share (loading a
//! board description with its inputs and plan, printing problems).

/// Writes to standard output, where results go (`out!`/`outln!` as `print!`/`println!`, ending in `?`). A reader
/// that closed it (`| head -1`, `| grep -q`) makes the command stop writing and end quietly ([`Error::StdoutClosed`],
/// exit status 0 unless something else failed) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!($($arg)*))?
    };
}

/// `out!` with a newline.
macro_rules! outln {
    () => {
        out!("\n")
    };
    ($($arg:tt)*) => {
        out!("{}\n", format_args!($($arg)*))
    };
}

/// Writes a message line to standard error (`eprintln!` that never panics: a closed stderr loses the message).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub mod build;
pub mod buildroot_post_image;
pub mod check;
pub mod devices;
pub mod flash;
pub mod genimage_cfg;
pub mod inspect;
mod report;
pub mod udev_rules;

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
};

use clap::{Parser, Subcommand};

use crate::{
    board::{self, BoardFile},
    cancel::Cancel,
    diag::{self, Problem, SourceFile, Style},
    effects::inputs::{HashPolicy, read_inputs},
    error::{Error, Shown},
    plan::{self, InputSet, Plan},
};

/// Turn one TOML board description into a bootable GPT image for STM32MP1 boards, its STM32CubeProgrammer flash
/// layout, and the hand-off to the flasher.
#[derive(Debug, Parser)]
#[command(name = "stm32mp-imager", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a board description and its inputs; print the plan and the lints. Writes nothing.
    Check(check::CheckArgs),
    /// Write the disk image, flash.tsv and the image's .bmap.
    Build(build::BuildArgs),
    /// Print the equivalent genimage.cfg (UUIDs, offsets, sizes pinned) on stdout.
    #[command(name = "genimage-cfg")]
    GenimageCfg(genimage_cfg::GenimageCfgArgs),
    /// Read back a GPT image, a .stm32 header, a FIP, or lint a flash layout (.tsv).
    Inspect(inspect::InspectArgs),
    /// Flash a layout on one board or a line of boards, with the built-in USB DFU client or STM32_Programmer_CLI;
    /// logs and JSON Lines records.
    Flash(flash::FlashArgs),
    /// List the boards waiting in USB DFU mode, read over USB (USB path, serial number, stage, SoC, alternates; the
    /// programmer's index when it is installed).
    Devices(devices::DevicesArgs),
    /// Print udev rules so flashing needs no sudo.
    #[command(name = "udev-rules")]
    UdevRules(udev_rules::UdevRulesArgs),
    /// Buildroot mode (called by the BR2_EXTERNAL tree's post-image.sh): lint Buildroot's configuration against the
    /// board description, then build into BINARIES_DIR.
    #[command(name = "buildroot-post-image")]
    BuildrootPostImage(buildroot_post_image::BuildrootPostImageArgs),
}

/// Write to standard output; a closed pipe is [`Error::StdoutClosed`].
pub fn write_stdout(args: std::fmt::Arguments) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args).map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => Error::StdoutClosed,
        _ => Error::File { action: "write to", path: "standard output".into(), source: e },
    })
}

/// Write to standard error, ignoring failure (there is nowhere left to report it).
pub fn write_stderr(args: std::fmt::Arguments) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// What every command is given besides its arguments: the one cancellation token (raised by Ctrl-C, SIGTERM,
/// SIGHUP) and how to draw on stderr. Made once by `main`; nothing else keeps global output state.
#[derive(Debug, Clone)]
pub struct Context {
    /// Raised by the signal handler; long work polls it.
    pub cancel: Cancel,
    /// Problems and progress: underlined reports and bars on a terminal, plain lines in logs and pipes.
    pub style: Style,
}

impl Context {
    /// The style stderr calls for (a terminal without `NO_COLOR`: fancy), and a fresh token.
    #[must_use]
    pub fn detect() -> Context {
        let fancy = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Context { cancel: Cancel::new(), style: if fancy { Style::Fancy } else { Style::Plain } }
    }

    /// The same context drawing plain lines only (Buildroot mode: `make`'s output is a log, and a bar redrawn with
    /// carriage returns garbles it).
    #[must_use]
    pub fn plain(&self) -> Context {
        Context { cancel: self.cancel.clone(), style: Style::Plain }
    }

    /// Print problems on stderr in this context's style.
    pub fn print_problems(&self, problems: &[Problem], source: Option<&SourceFile>) {
        if problems.is_empty() {
            return;
        }
        let mut sorted = problems.to_vec();
        diag::sort(&mut sorted);
        write_stderr(format_args!("{}", diag::render(&sorted, source, self.style)));
    }
}

/// Run a parsed command line.
pub fn run(cli: Cli, ctx: &Context) -> Result<(), Error> {
    let result = match cli.command {
        Command::Check(a) => check::run(&a, ctx),
        Command::Build(a) => build::run(&a, ctx),
        Command::GenimageCfg(a) => genimage_cfg::run(&a, ctx),
        Command::Inspect(a) => inspect::run(&a, ctx),
        Command::Flash(a) => flash::run(&a, ctx),
        Command::Devices(a) => devices::run(&a, ctx),
        Command::UdevRules(a) => udev_rules::run(&a, ctx),
        Command::BuildrootPostImage(a) => buildroot_post_image::run(&a, &ctx.plain()),
    };
    // However the work ended, a raised token means the user stopped it.
    if ctx.cancel.is_cancelled() && result.is_err() { Err(Error::Interrupted) } else { result }
}

/// A board description with its inputs and plan.
#[derive(Debug)]
pub struct Prepared {
    /// The description's text, for locating problems.
    pub source: SourceFile,
    /// The parsed description, when its required keys parsed.
    pub board: Option<BoardFile>,
    /// The inputs as read.
    pub inputs: InputSet,
    /// The plan, when nothing is wrong.
    pub plan: Option<Plan>,
    /// Every problem from parsing, inputs and planning, located in the description.
    pub problems: Vec<Problem>,
}

/// The folder inputs are read from: `--images`, or the current folder.
pub fn images_dir(images: Option<&Path>) -> Result<PathBuf, Error> {
    match images {
        Some(p) => Ok(p.to_path_buf()),
        None => std::env::current_dir().map_err(Error::file("read the current folder", ".")),
    }
}

/// Largest board description read: a real one is a few KiB; more is the wrong file, or a device that never ends
/// (`/dev/zero` would otherwise be read until memory runs out). Pipes such as `<(generate-board)` are fine.
pub const MAX_BOARD_BYTES: u64 = 1 << 20;

/// Load a board description, read its inputs from `images`, and plan.
pub fn prepare(board_path: &Path, images: &Path, policy: HashPolicy) -> Result<Prepared, Error> {
    let mut text = Vec::new();
    std::fs::File::open(board_path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_BOARD_BYTES + 1), &mut text))
        .map_err(Error::file("read board description", board_path))?;
    // Not a description at all: one problem, so `check --json` still prints its document.
    let not_text = |why: String| Prepared {
        source: SourceFile::new(board_path.display().to_string(), String::new()),
        board: None,
        inputs: InputSet::default(),
        plan: None,
        problems: vec![Problem::error("board::not_text", why).with_help("a board description is a small UTF-8 TOML file: is this the right file?")],
    };
    if text.len() as u64 > MAX_BOARD_BYTES {
        return Ok(not_text(format!("more than {MAX_BOARD_BYTES} bytes")));
    }
    let text = match String::from_utf8(text) {
        Ok(t) => t,
        Err(e) => return Ok(not_text(format!("not UTF-8 text (byte {:#x})", e.utf8_error().valid_up_to()))),
    };
    let source = SourceFile::new(board_path.display().to_string(), text.clone());
    let (board, mut problems) = board::parse_board(&text);
    let mut inputs = InputSet::default();
    let mut plan = None;
    if let Some(b) = &board {
        inputs = read_inputs(b, images, policy);
        let outcome = plan::plan(b, &inputs);
        problems.extend(outcome.problems);
        // What a build would refuse about the binaries it places next to the layout, reported here at the input.
        if let Some(p) = &outcome.plan {
            problems.extend(crate::job::placement_problems(b, p, &inputs));
        }
        if !diag::has_errors(&problems) {
            plan = outcome.plan;
        }
    }
    let problems = problems.into_iter().map(|p| p.locate(&source)).collect();
    Ok(Prepared { source, board, inputs, plan, problems })
}

/// Add the command-line flag to the advice of problems about the images folder (the library speaks of "the images
/// folder"; commands with `--images` say how to name another one).
#[must_use]
pub fn with_images_flag(mut prepared: Prepared) -> Prepared {
    for p in prepared.problems.iter_mut().filter(|p| p.code == "input::missing") {
        if let Some(help) = &mut p.help {
            help.push_str(" (`--images DIR`)");
        }
    }
    prepared
}

/// Print a prepared description's problems and turn errors into [`Error::Problems`].
pub fn require_plan(prepared: Prepared, ctx: &Context) -> Result<(Plan, Prepared), Error> {
    ctx.print_problems(&prepared.problems, Some(&prepared.source));
    let errors = prepared.problems.iter().filter(|p| p.is_error()).count();
    match prepared.plan.clone() {
        Some(plan) if errors == 0 => Ok((plan, prepared)),
        _ => Err(Error::Problems { subject: Some(prepared.source.name.clone()), errors, shown: Shown::Above, undone: Some("written") }),
    }
}
