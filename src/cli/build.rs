//! `stm32mp-imager build BOARD.toml [--images DIR] [--output DIR] [--no-bmap] [--sync] [--dry-run]`: arguments →
//! one library call ([`crate::effects::build`]) → what was written. The job is planned in [`crate::job`] before
//! anything is written, and printed instead with `--dry-run`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{Prepared, images_dir, prepare, require_plan};
use crate::{
    effects::{
        build::{self, BuildError, Built, Hooks},
        inputs::HashPolicy,
        progress,
    },
    error::Error,
    job::{JobError, layout::LayoutError},
    plan::Plan,
    units::human_bytes,
};

pub use crate::effects::build::BuildOptions;

/// Arguments of `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The board description (TOML).
    pub board: PathBuf,
    /// Folder holding the input binaries [default: the current folder].
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Folder the artifacts are written to, with the binaries the layout names, so it can be copied and flashed
    /// anywhere [default: the images folder].
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Do not write `<image>.bmap` (one left by an earlier build is removed with the same commit).
    #[arg(long)]
    pub no_bmap: bool,
    /// Flush every artifact to disk (fsync) before renaming them into place, so a power cut cannot lose them.
    /// Without it a crash or a kill still never mixes old and new artifacts; it costs the time to write the data out.
    #[arg(long)]
    pub sync: bool,
    /// Print what would be written (every file, every piece of the image at its offset, the layout) and write
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Inputs are hashed during `build` only up to this size (boot stages always): hashing a 3 GiB sparse rootfs costs
/// more than writing the whole image.
pub const BUILD_HASH_LIMIT: u64 = 64 << 20;

/// What a build wrote.
#[derive(Debug, Clone)]
pub struct BuildSummary {
    /// The plan that was built.
    pub plan: Plan,
    /// Paths written: image, layout, block map (when written), then the binaries placed next to the layout.
    pub artifacts: Vec<PathBuf>,
    /// What was written, by kind.
    pub built: Built,
}

/// Run `build`.
pub fn run(args: &BuildArgs, ctx: &super::Context) -> Result<(), Error> {
    let images = images_dir(args.images.as_deref())?;
    let output = args.output.clone().unwrap_or_else(|| images.clone());
    let options = BuildOptions::new(!args.no_bmap, args.sync);
    let prepared = super::with_images_flag(prepare(&args.board, &images, HashPolicy::UpTo(BUILD_HASH_LIMIT))?);
    if args.dry_run {
        let (plan, prepared) = require_plan(prepared, ctx)?;
        // Nothing is created, not even a missing output folder: the job is planned for it as it would be.
        let job = build::plan_job(&plan, &prepared.inputs, &images, &output, options).map_err(|e| to_error(e, ctx))?;
        out!("{job}");
        return Ok(());
    }
    create_output_folder(&output)?;
    let summary = build_prepared(prepared, &images, &output, options, ctx, &|| {
        say!("waiting: another build is writing into {}", output.display());
    })?;
    print_summary(&summary)
}

/// `--output DIR` may name a folder that does not exist yet: it is created, but only the folder itself, inside an
/// existing parent (nothing is created elsewhere).
fn create_output_folder(output: &Path) -> Result<(), Error> {
    if std::fs::symlink_metadata(output).is_ok() {
        return Ok(());
    }
    let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        let why = format!("it does not exist, and neither does its parent {}; create it first", parent.display());
        return Err(Error::file("create output folder", output)(std::io::Error::new(std::io::ErrorKind::NotFound, why)));
    }
    match std::fs::create_dir(output) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::file("create output folder", output)(e)),
    }
}

/// Print what was written and how to flash it.
pub fn print_summary(summary: &BuildSummary) -> Result<(), Error> {
    for path in &summary.artifacts {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        outln!("wrote {}  {size} bytes ({})", path.display(), human_bytes(size));
    }
    let built = &summary.built;
    outln!("image data: {} written; the rest of the image is holes", built.data_bytes.human());
    if let Some(layout) = &built.layout {
        let by_hand = crate::flash::cubeprog::manual_command(layout);
        outln!("flash it: stm32mp-imager flash {}   (or: {by_hand})", layout.display());
    }
    if let Some(bmap) = &built.bmap {
        outln!("or write a card: bmaptool copy --bmap {} {} /dev/sdX", bmap.display(), built.image.display());
    }
    out!("{}", super::report::transfer_estimate(&summary.plan));
    Ok(())
}

/// A library error as the command reports it (and its exit status): what it says beyond the error itself is
/// printed here.
fn to_error(e: BuildError, ctx: &super::Context) -> Error {
    match &e {
        BuildError::Job(JobError::Layout(LayoutError::BreaksRules(problems))) => ctx.print_problems(problems, None),
        BuildError::Cancelled { staged_in: Some(dir) } => {
            say!("interrupted: the temporaries were removed; nothing was replaced in {}", dir.display());
        }
        _ => {}
    }
    Error::from(e)
}

/// Plan and write everything from a description already read and planned: the call `build` and
/// `buildroot-post-image` share (Buildroot mode lints the same description first).
pub fn build_prepared(
    prepared: Prepared,
    images: &Path,
    output: &Path,
    options: BuildOptions,
    ctx: &super::Context,
    on_wait: &dyn Fn(),
) -> Result<BuildSummary, Error> {
    let (plan, prepared) = require_plan(prepared, ctx)?;
    let progress = progress::for_stderr(&format!("writing {}", plan.disk.file_name), ctx.style);
    let hooks = Hooks { cancel: &ctx.cancel, progress: progress.as_ref(), on_wait };
    let built = build::build(&plan, &prepared.inputs, images, output, options, hooks).map_err(|e| to_error(e, ctx))?;
    Ok(BuildSummary { artifacts: built.artifacts(), plan, built })
}
