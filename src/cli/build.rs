//! `stm32mp-imager build BOARD.toml [--images DIR] [--output DIR] [--no-bmap]`: write the disk image, `flash.tsv` and
//! the image's `.bmap`, all renamed into place together once complete.

use std::{
    cell::Cell,
    path::{Path, PathBuf},
};

use clap::Args;

use super::{images_dir, prepare, require_plan};
use crate::{
    effects::{
        failpoint,
        image::{self, ImageError, Piece, Progress, Source},
        inputs::HashPolicy,
        output::{OutputError, Staging},
        progress,
    },
    error::Error,
    flashlayout::BinaryPaths,
    gpt::{self, Table},
    plan::{Content, Plan},
    render,
    units::human_bytes,
};

/// Arguments of `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The board description (TOML).
    pub board: PathBuf,
    /// Folder holding the input binaries [default: the current folder].
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Folder the artifacts are written to [default: the images folder].
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Do not write `<image>.bmap`.
    #[arg(long)]
    pub no_bmap: bool,
    /// Flush every artifact to disk (fsync) before renaming them into place, so a power cut cannot lose them.
    /// Without it a crash or a kill still never mixes old and new artifacts; it costs the time to write the data out.
    #[arg(long)]
    pub sync: bool,
}

/// How `build` writes.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    /// Write `<image>.bmap`.
    pub bmap: bool,
    /// fsync the artifacts before the renames.
    pub sync: bool,
}

/// Inputs are hashed during `build` only up to this size (boot stages always): hashing a 3 GiB sparse rootfs costs
/// more than writing the whole image.
pub const BUILD_HASH_LIMIT: u64 = 64 << 20;

/// What a build wrote.
#[derive(Debug, Clone)]
pub struct BuildSummary {
    /// The plan that was built.
    pub plan: Plan,
    /// Paths written, image first.
    pub artifacts: Vec<PathBuf>,
    /// Data bytes written into the image.
    pub data_bytes: u64,
}

/// Run `build`.
pub fn run(args: &BuildArgs, ctx: &super::Context) -> Result<(), Error> {
    let images = images_dir(args.images.as_deref())?;
    let output = args.output.clone().unwrap_or_else(|| images.clone());
    create_output_folder(&output)?;
    let options = BuildOptions { bmap: !args.no_bmap, sync: args.sync };
    let summary = build(&args.board, &images, &output, options, ctx, &|| {
        eprintln!("waiting: another build is writing into {}", output.display());
    })?;
    print_summary(&summary);
    Ok(())
}

/// `--output DIR` may name a folder that does not exist yet: it is created, but only the folder itself, inside an
/// existing parent (nothing is created elsewhere).
fn create_output_folder(output: &Path) -> Result<(), Error> {
    if std::fs::symlink_metadata(output).is_ok() {
        return Ok(());
    }
    let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::Io(format!(
            "output folder {}: does not exist, and neither does its parent {}; create it first",
            output.display(),
            parent.display()
        )));
    }
    match std::fs::create_dir(output) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::Io(format!("cannot create output folder {}: {e}", output.display()))),
    }
}

/// Print what was written and how to flash it.
pub fn print_summary(summary: &BuildSummary) {
    for path in &summary.artifacts {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!("wrote {}  {size} bytes ({})", path.display(), human_bytes(size));
    }
    println!("image data: {} written; the rest of the image is holes", human_bytes(summary.data_bytes));
    if let Some(layout) = summary.artifacts.get(1) {
        println!("flash it: stm32mp-imager flash {}   (or: STM32_Programmer_CLI -c port=usb1 -w {})", layout.display(), layout.display());
    }
    if let (Some(img), Some(bmap)) = (summary.artifacts.first(), summary.artifacts.get(2)) {
        println!("or write a card: bmaptool copy --bmap {} {} /dev/sdX", bmap.display(), img.display());
    }
    print!("{}", super::report::transfer_estimate(&summary.plan));
}

fn canonical(dir: &Path, what: &str) -> Result<PathBuf, Error> {
    dir.canonicalize().map_err(|e| Error::Io(format!("{what} folder {}: {e}", dir.display())))
}

/// Plan and write everything; the pipeline `build` and `buildroot-post-image` share.
pub fn build(
    board: &Path,
    images: &Path,
    output: &Path,
    options: BuildOptions,
    ctx: &super::Context,
    on_wait: &dyn Fn(),
) -> Result<BuildSummary, Error> {
    build_prepared(prepare(board, images, HashPolicy::UpTo(BUILD_HASH_LIMIT))?, images, output, options, ctx, on_wait)
}

/// [`build`] from a description already read and planned (Buildroot mode lints the same one first).
pub fn build_prepared(
    prepared: super::Prepared,
    images: &Path,
    output: &Path,
    options: BuildOptions,
    ctx: &super::Context,
    on_wait: &dyn Fn(),
) -> Result<BuildSummary, Error> {
    let bmap = options.bmap;
    let (plan, prepared) = require_plan(prepared, ctx)?;
    let images_abs = canonical(images, "images")?;
    failpoint::hit("planned");
    let cancel = &ctx.cancel;
    cancel.check().map_err(|_| Error::Interrupted)?;
    let mut staging = Staging::begin(output, on_wait, cancel).map_err(|e| match e {
        OutputError::Cancelled => Error::Interrupted,
        other => other.into(),
    })?;
    failpoint::hit("locked");
    let output_abs = canonical(staging.dir(), "output")?;
    // Every failure before the commit leaves the folder as it was: say so, with the file being written.
    let unchanged = |e: &dyn std::fmt::Display| Error::Io(format!("{e}; nothing was replaced in {}", output_abs.display()));

    let bmap_name = format!("{}.bmap", plan.disk.file_name);
    let mut outputs = vec![plan.disk.file_name.clone(), plan.layout_name.clone()];
    if bmap {
        outputs.push(bmap_name.clone());
    }
    for name in prepared.inputs.facts.keys() {
        let input = images_abs.join(name);
        if let Some(out) = outputs.iter().find(|o| output_abs.join(o) == input) {
            return Err(Error::Invalid(format!(
                "output {out} would overwrite the input of the same name in {}; rename `[storage] image` or `[flash] layout`",
                output_abs.display()
            )));
        }
    }

    // The layout first: it is small, and a layout U-Boot would refuse must stop the build before the long write.
    let mut paths = BinaryPaths { inputs: Default::default(), image: plan.disk.file_name.clone() };
    for name in prepared.inputs.facts.keys() {
        let rel = pathdiff::diff_paths(images_abs.join(name), &output_abs).unwrap_or_else(|| images_abs.join(name));
        paths.inputs.insert(name.clone(), rel.to_string_lossy().into_owned());
    }
    let tsv = super::render_layout(&plan, &paths, ctx)?;

    let encoded = gpt::encode(&Table::from_plan(&plan));
    let labels: Vec<String> = plan
        .image_contents()
        .iter()
        .map(|(_, c)| match c {
            Content::ProtectiveMbr => "protective MBR".to_string(),
            Content::PrimaryHeader => "primary GPT header".to_string(),
            Content::PrimaryEntries => "primary GPT entries".to_string(),
            Content::Input { partition, name, .. } => format!("partition {partition} ({name})"),
            Content::BackupEntries => "backup GPT entries".to_string(),
            Content::BackupHeader => "backup GPT header".to_string(),
        })
        .collect();
    let input_paths: Vec<(String, PathBuf)> = prepared.inputs.facts.iter().map(|(k, v)| (k.clone(), v.path.clone())).collect();
    let contents = plan.image_contents();
    let mut pieces = Vec::with_capacity(contents.len());
    for ((offset, content), label) in contents.iter().zip(&labels) {
        let source = match content {
            Content::ProtectiveMbr => Source::Bytes(&encoded.mbr),
            Content::PrimaryHeader => Source::Bytes(&encoded.primary_header),
            Content::PrimaryEntries | Content::BackupEntries => Source::Bytes(&encoded.entries),
            Content::BackupHeader => Source::Bytes(&encoded.backup_header),
            Content::Input { name, size, .. } => {
                let path = input_paths
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, p)| p.as_path())
                    .ok_or_else(|| Error::Internal(format!("input {name} was not read")))?;
                Source::File { path, len: size.0 }
            }
        };
        pieces.push(Piece { offset: offset.0, source, label });
    }

    let progress = progress::for_stderr(&format!("writing {}", plan.disk.file_name), ctx.style);
    let largest = pieces
        .iter()
        .filter_map(|p| match p.source {
            Source::File { len, .. } => Some((len, p.label)),
            Source::Bytes(_) => None,
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, label)| label);
    let progress = FailpointProgress { inner: progress.as_ref(), trigger: largest, armed: Cell::new(false), fired: Cell::new(false) };
    let image_path = output_abs.join(&plan.disk.file_name);
    let image_file = staging.create(&plan.disk.file_name).map_err(|e| unchanged(&e))?;
    let written = image::write_image(image_file, plan.disk.size.0, &pieces, bmap, &progress, cancel).map_err(|e| match e {
        ImageError::Layout(m) => Error::Internal(m),
        ImageError::Cancelled => Error::Interrupted,
        ImageError::Write { .. } => unchanged(&format!("writing {}: {e}", image_path.display())),
        ImageError::Changed { .. } => Error::Io(e.to_string()),
        ImageError::Read { .. } => unchanged(&e),
    });
    let written = match written {
        Err(Error::Interrupted) => {
            drop(staging);
            eprintln!("interrupted: the temporaries were removed; nothing was replaced in {}", output_abs.display());
            return Err(Error::Interrupted);
        }
        other => other?,
    };
    staging.write_file(&plan.layout_name, tsv.as_bytes()).map_err(|e| unchanged(&e))?;
    if let Some(ranges) = &written.bmap {
        let zeros = "0".repeat(64);
        let draft = render::bmap(plan.disk.size.0, image::BLOCK, ranges, &zeros)?;
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(draft.as_bytes()));
        let text = render::bmap(plan.disk.size.0, image::BLOCK, ranges, &digest)?;
        staging.write_file(&bmap_name, text.as_bytes()).map_err(|e| unchanged(&e))?;
    }
    failpoint::hit("staged");
    if cancel.is_cancelled() {
        // Dropping the staging removes every temporary of this build; the previous artifacts stay as they were.
        drop(staging);
        eprintln!("interrupted: the temporaries were removed; nothing was replaced in {}", output_abs.display());
        return Err(Error::Interrupted);
    }
    // From here on an interruption lets the build finish: the renames are quick and all-or-nothing.
    let artifacts = staging.commit(options.sync).map_err(|e| match e {
        OutputError::Unfinished { .. } => Error::Io(e.to_string()),
        other => unchanged(&other),
    })?;
    Ok(BuildSummary { plan, artifacts, data_bytes: written.bytes_written })
}

/// Passes progress on, and hits the `writing` failpoint once the largest input's first chunk has been written.
struct FailpointProgress<'a> {
    inner: &'a dyn Progress,
    trigger: Option<&'a str>,
    armed: Cell<bool>,
    fired: Cell<bool>,
}

impl Progress for FailpointProgress<'_> {
    fn start(&self, total: u64) {
        self.inner.start(total);
    }
    fn piece(&self, label: &str) {
        self.armed.set(self.trigger == Some(label));
        self.inner.piece(label);
    }
    fn advance(&self, bytes: u64) {
        self.inner.advance(bytes);
        if self.armed.get() && !self.fired.get() {
            self.fired.set(true);
            failpoint::hit("writing");
        }
    }
    fn finish(&self) {
        self.inner.finish();
    }
}
