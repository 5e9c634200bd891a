//! The command line: argument parsing (clap), dispatch to one file per subcommand, and what they share (loading a
//! board description with its inputs and plan, printing problems).

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
    diag::{self, Problem, SourceFile, Style},
    effects::inputs::{HashPolicy, read_inputs},
    error::Error,
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
    /// Flash a layout with STM32_Programmer_CLI, on one board or a line of boards; logs and JSON Lines records.
    Flash(flash::FlashArgs),
    /// List the boards waiting in USB DFU mode (programmer index, serial number, USB path).
    Devices(devices::DevicesArgs),
    /// Print udev rules so flashing needs no sudo.
    #[command(name = "udev-rules")]
    UdevRules(udev_rules::UdevRulesArgs),
    /// Buildroot mode (called by the BR2_EXTERNAL tree's post-image.sh): lint Buildroot's configuration against the
    /// board description, then build into BINARIES_DIR.
    #[command(name = "buildroot-post-image")]
    BuildrootPostImage(buildroot_post_image::BuildrootPostImageArgs),
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Check(a) => check::run(&a),
        Command::Build(a) => build::run(&a),
        Command::GenimageCfg(a) => genimage_cfg::run(&a),
        Command::Inspect(a) => inspect::run(&a),
        Command::Flash(a) => flash::run(&a),
        Command::Devices(a) => devices::run(&a),
        Command::UdevRules(a) => udev_rules::run(&a),
        Command::BuildrootPostImage(a) => buildroot_post_image::run(&a),
    }
}

static PLAIN_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Plain lines only from now on (Buildroot mode): problems as `file:line:col` lines and progress as lines, even when
/// stderr is a terminal, because the output is read as a log.
pub fn force_plain_output() {
    PLAIN_ONLY.store(true, std::sync::atomic::Ordering::Relaxed);
    crate::effects::progress::force_lines();
}

/// How problems are drawn on stderr.
#[must_use]
pub fn stderr_style() -> Style {
    if !PLAIN_ONLY.load(std::sync::atomic::Ordering::Relaxed) && std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        Style::Fancy
    } else {
        Style::Plain
    }
}

/// Print problems on stderr.
pub fn print_problems(problems: &[Problem], source: Option<&SourceFile>) {
    if problems.is_empty() {
        return;
    }
    let mut sorted = problems.to_vec();
    diag::sort(&mut sorted);
    eprint!("{}", diag::render(&sorted, source, stderr_style()));
}

/// Render a plan's flash layout and check it with U-Boot's own rules before anyone sees it: a layout this tool
/// writes that U-Boot would refuse or misread (or that draws any lint) is a bug, reported as one.
pub fn render_layout(plan: &Plan, paths: &crate::flashlayout::BinaryPaths) -> Result<String, Error> {
    use crate::flashlayout;
    let tsv = crate::render::flash_tsv(&flashlayout::from_plan(plan, paths))?;
    let parsed = flashlayout::parse(&plan.layout_name, tsv.as_bytes());
    let mut problems = parsed.problems;
    problems.extend(flashlayout::lint(&plan.layout_name, &parsed.lines, &flashlayout::LintOptions::default()));
    if let Some(first) = problems.first() {
        print_problems(&problems, None);
        return Err(Error::Internal(format!("the generated layout breaks U-Boot's rules: {}", first.message)));
    }
    Ok(tsv)
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
        None => std::env::current_dir().map_err(|e| Error::Io(format!("cannot read the current folder: {e}"))),
    }
}

/// Largest board description read: a real one is a few KiB; more is the wrong file, or a device that never ends
/// (`/dev/zero` would otherwise be read until memory runs out). Pipes such as `<(generate-board)` are fine.
pub const MAX_BOARD_BYTES: u64 = 1 << 20;

/// Load a board description, read its inputs from `images`, and plan.
pub fn prepare(board_path: &Path, images: &Path, policy: HashPolicy) -> Result<Prepared, Error> {
    let io = |e: std::io::Error| Error::Io(format!("cannot read board description {}: {e}", board_path.display()));
    let mut text = Vec::new();
    std::fs::File::open(board_path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_BOARD_BYTES + 1), &mut text))
        .map_err(io)?;
    if text.len() as u64 > MAX_BOARD_BYTES {
        return Err(Error::Invalid(format!(
            "{}: more than {MAX_BOARD_BYTES} bytes; a board description is a small TOML file (is this the right file?)",
            board_path.display()
        )));
    }
    let text = String::from_utf8(text)
        .map_err(|e| Error::Invalid(format!("{}: not UTF-8 text (byte {})", board_path.display(), e.utf8_error().valid_up_to())))?;
    let source = SourceFile::new(board_path.display().to_string(), text.clone());
    let (board, mut problems) = board::parse_board(&text);
    let mut inputs = InputSet::default();
    let mut plan = None;
    if let Some(b) = &board {
        inputs = read_inputs(b, images, policy);
        let outcome = plan::plan(b, &inputs);
        problems.extend(outcome.problems);
        if !diag::has_errors(&problems) {
            plan = outcome.plan;
        }
    }
    let problems = problems.into_iter().map(|p| p.locate(&source)).collect();
    Ok(Prepared { source, board, inputs, plan, problems })
}

/// Print a prepared description's problems and turn errors into [`Error::Invalid`].
pub fn require_plan(prepared: Prepared) -> Result<(Plan, Prepared), Error> {
    print_problems(&prepared.problems, Some(&prepared.source));
    let errors = prepared.problems.iter().filter(|p| p.is_error()).count();
    match prepared.plan.clone() {
        Some(plan) if errors == 0 => Ok((plan, prepared)),
        _ => Err(Error::Invalid(format!(
            "{}: {errors} error{} (all listed above); nothing was written",
            prepared.source.name,
            if errors == 1 { "" } else { "s" }
        ))),
    }
}
