//! Executing a build: the library entry point `build` and `buildroot-post-image` share. The job is made first
//! (pure, [`crate::job`]); then the output folder is locked, the image written (sparse, block map in the same pass),
//! the layout, the block map and the binaries next to the layout staged, and all of them renamed into place together
//! ([`super::output`]). Nothing is replaced unless everything was staged.

use std::{
    cell::Cell,
    fs::File,
    io,
    path::{Path, PathBuf},
};

use super::{
    failpoint,
    image::{self, CopyMode, FileStamp, ImageError, NoProgress, Piece, Progress, Source},
    output::{OutputError, Staging},
};
use crate::{
    cancel::Cancel,
    job::{BuildJob, Folders, JobError, JobOptions, PieceSource, Placement},
    plan::{InputSet, Plan},
    render,
    units::{ByteSize, Offset},
};

/// What the caller chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// Write `<image>.bmap`.
    pub bmap: bool,
    /// fsync the artifacts before the renames.
    pub sync: bool,
    /// Write the layout and what it names; without it a stale one is removed ([`crate::job::JobOptions::layout`]).
    pub layout: bool,
}

impl BuildOptions {
    /// Everything written: image, block map when `bmap`, layout.
    #[must_use]
    pub fn new(bmap: bool, sync: bool) -> BuildOptions {
        BuildOptions { bmap, sync, layout: true }
    }
}

/// How a build talks back while it runs.
#[derive(Clone, Copy)]
pub struct Hooks<'a> {
    /// Polled between chunks and while waiting for the folder's lock.
    pub cancel: &'a Cancel,
    /// Told about the image being written.
    pub progress: &'a dyn Progress,
    /// Told once when another build holds the output folder and this one waits.
    pub on_wait: &'a dyn Fn(),
}

/// What a build wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The image.
    pub image: PathBuf,
    /// The layout, when written.
    pub layout: Option<PathBuf>,
    /// The block map, when written.
    pub bmap: Option<PathBuf>,
    /// The files the tool made (FWU metadata), next to the layout.
    pub generated: Vec<PathBuf>,
    /// The binaries placed next to the layout.
    pub binaries: Vec<PathBuf>,
    /// Stale outputs removed (a layout from an earlier build, when this one writes none).
    pub removed: Vec<PathBuf>,
    /// Data bytes written into the image (the rest is holes).
    pub data_bytes: ByteSize,
}

impl Built {
    /// Every path written: image, layout, block map, generated files, binaries.
    #[must_use]
    pub fn artifacts(&self) -> Vec<PathBuf> {
        let mut out = vec![self.image.clone()];
        out.extend(self.layout.iter().cloned());
        out.extend(self.bmap.iter().cloned());
        out.extend(self.generated.iter().cloned());
        out.extend(self.binaries.iter().cloned());
        out
    }
}

/// Why a build failed. Every variant but [`BuildError::Unfinished`] leaves the output folder as it was.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A folder could not be resolved.
    #[error("{what} folder {}: {source}", path.display())]
    Folder {
        /// `images` or `output`.
        what: &'static str,
        /// As given.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// No job can be made from the plan.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The output folder could not be locked or tidied; nothing was touched.
    #[error(transparent)]
    Begin(OutputError),
    /// Staging failed; the temporaries are removed.
    #[error("{message}; nothing was replaced in {}", dir.display())]
    Unchanged {
        /// What failed.
        message: String,
        /// The output folder.
        dir: PathBuf,
    },
    /// An input changed between planning and copying (the message says nothing was replaced).
    #[error(transparent)]
    Changed(ImageError),
    /// The commit failed after its first rename; the next build completes it.
    #[error(transparent)]
    Unfinished(OutputError),
    /// Cancelled (Ctrl-C, SIGTERM, SIGHUP); `staged_in` is the folder whose temporaries were removed, if any.
    #[error("interrupted")]
    Cancelled {
        /// The output folder, when staging had begun.
        staged_in: Option<PathBuf>,
    },
    /// A bug.
    #[error("{0}")]
    Internal(String),
}

/// The two folders, made absolute. An output folder that does not exist yet (a dry run before `build` creates it)
/// is resolved inside its parent.
pub fn folders(images: &Path, output: &Path) -> Result<Folders, BuildError> {
    fn err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BuildError + 'a {
        move |source| BuildError::Folder { what, path: path.to_path_buf(), source }
    }
    let images = images.canonicalize().map_err(err("images", images))?;
    let output = match output.canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            match (parent.canonicalize(), output.file_name()) {
                (Ok(parent), Some(name)) => parent.join(name),
                _ => return Err(err("output", output)(e)),
            }
        }
        Err(e) => return Err(err("output", output)(e)),
    };
    Ok(Folders { images, output })
}

/// The job for a plan, its folders resolved: what [`execute`] does, and `build --dry-run` prints.
pub fn plan_job(plan: &Plan, inputs: &InputSet, images: &Path, output: &Path, options: BuildOptions) -> Result<BuildJob, BuildError> {
    Ok(BuildJob::new(plan, inputs, &folders(images, output)?, JobOptions { bmap: options.bmap, layout: options.layout })?)
}

/// Plan the job and execute it: the one call `build` and `buildroot-post-image` make.
pub fn build(plan: &Plan, inputs: &InputSet, images: &Path, output: &Path, options: BuildOptions, hooks: Hooks) -> Result<Built, BuildError> {
    let job = plan_job(plan, inputs, images, output, options)?;
    execute(&job, options.sync, hooks)
}

/// Write everything a job holds into its output folder, all or nothing.
pub fn execute(job: &BuildJob, sync: bool, hooks: Hooks) -> Result<Built, BuildError> {
    failpoint::hit("planned");
    let cancelled = |staged_in: Option<&Path>| BuildError::Cancelled { staged_in: staged_in.map(Path::to_path_buf) };
    hooks.cancel.check().map_err(|_| cancelled(None))?;
    let mut staging = Staging::begin(&job.output, hooks.on_wait, hooks.cancel).map_err(|e| match e {
        OutputError::Cancelled => cancelled(None),
        other => BuildError::Begin(other),
    })?;
    failpoint::hit("locked");
    let dir = job.output.clone();
    // Every failure before the commit leaves the folder as it was: say so, with the file being written.
    let unchanged = |e: &dyn std::fmt::Display| BuildError::Unchanged { message: e.to_string(), dir: dir.clone() };

    let file = staging.create(&job.image.name).map_err(|e| unchanged(&e))?;
    let written = write_image(job, file, hooks).map_err(|e| match e {
        ImageError::Layout(m) => BuildError::Internal(m),
        ImageError::Cancelled => cancelled(Some(&dir)),
        ImageError::Write { .. } => unchanged(&format!("writing {}: {e}", job.path(&job.image.name).display())),
        ImageError::Changed { .. } => BuildError::Changed(e),
        ImageError::Read { .. } => unchanged(&e),
    });
    // Dropping the staging (on any error) removes every temporary of this build.
    let written = written?;
    if job.write_layout {
        staging.write_file(&job.layout_name, job.layout.as_bytes()).map_err(|e| unchanged(&e))?;
    }
    if let (Some(name), Some(ranges)) = (&job.bmap, &written.bmap) {
        let text = render::bmap_file(job.image.size, ranges).map_err(|e| BuildError::Internal(e.to_string()))?;
        staging.write_file(name, text.as_bytes()).map_err(|e| unchanged(&e))?;
    }
    for g in &job.generated {
        staging.write_file(&g.name, &g.bytes).map_err(|e| unchanged(&e))?;
    }
    let removed: Vec<PathBuf> = job.remove.iter().map(|n| job.path(n)).filter(|p| std::fs::symlink_metadata(p).is_ok()).collect();
    for name in &job.remove {
        staging.remove_on_commit(name).map_err(|e| unchanged(&e))?;
    }
    for (i, b) in job.binaries.iter().enumerate() {
        place(&mut staging, b, &written.inputs, i == 0, hooks.cancel).map_err(|e| match e {
            PlaceError::Output(e) => unchanged(&e),
            PlaceError::Image(ImageError::Cancelled) => cancelled(Some(&dir)),
            PlaceError::Image(e @ ImageError::Changed { .. }) => BuildError::Changed(e),
            PlaceError::Image(e) => unchanged(&format!("placing {} next to the layout: {e}", b.name)),
        })?;
    }
    failpoint::hit("staged");
    if hooks.cancel.is_cancelled() {
        return Err(cancelled(Some(&dir)));
    }
    // From here on an interruption lets the build finish: the renames are quick and all-or-nothing.
    staging.commit(sync).map_err(|e| match e {
        OutputError::Unfinished { .. } => BuildError::Unfinished(e),
        other => unchanged(&other),
    })?;
    Ok(Built {
        image: job.path(&job.image.name),
        layout: job.write_layout.then(|| job.path(&job.layout_name)),
        bmap: job.bmap.as_ref().map(|n| job.path(n)),
        generated: job.generated.iter().map(|g| job.path(&g.name)).collect(),
        binaries: job.binaries.iter().map(|b| job.path(&b.name)).collect(),
        removed,
        data_bytes: written.bytes_written,
    })
}

fn write_image(job: &BuildJob, file: &File, hooks: Hooks) -> Result<image::Written, ImageError> {
    let pieces: Vec<Piece> = job
        .image
        .pieces
        .iter()
        .map(|p| Piece {
            offset: p.offset,
            label: &p.label,
            source: match &p.source {
                PieceSource::Table(kind) => Source::Bytes(job.image.table_bytes(*kind)),
                PieceSource::Bytes { bytes, .. } => Source::Bytes(bytes),
                PieceSource::Input { path, size, .. } => Source::File { path, len: *size },
                PieceSource::Erased { size } => Source::Zeros(*size),
            },
        })
        .collect();
    let largest = pieces
        .iter()
        .filter_map(|p| match p.source {
            Source::File { len, .. } => Some((len, p.label)),
            Source::Bytes(_) | Source::Zeros(_) => None,
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, label)| label);
    let progress = FailpointProgress { inner: hooks.progress, trigger: largest, armed: Cell::new(false), fired: Cell::new(false) };
    image::write_image(file, job.image.size, &pieces, job.bmap.is_some(), &progress, hooks.cancel)
}

enum PlaceError {
    Output(OutputError),
    Image(ImageError),
}

/// Stage a binary next to the layout: a reflink where the file system shares data (btrfs, XFS, bcachefs), else a
/// sparse copy (holes and zero blocks stay holes), checked against the size it had when planned like the image's
/// inputs. When the image holds the same input, the file must also be the one the image writer copied (the same
/// device, inode, size, modification and change times: [`FileStamp`]), before and after the reflink or copy, so the
/// copy next to the layout holds the bytes the image got; a file rewritten in place, or replaced, in between stops
/// the build (`changed while being read`). An input the image does not hold is checked the same way from before
/// to after its own copy. The first binary placed hits the `placing` failpoint between its checks.
///
/// Never a hard link, though it would cost nothing: tools that rebuild an input write it in place (`cp`,
/// `mke2fs` into an existing file), which would change this build's copy under its image and layout, and a
/// failed later build would no longer leave the previous artifacts as they were.
fn place(staging: &mut Staging, b: &Placement, copied: &[(PathBuf, FileStamp)], first: bool, cancel: &Cancel) -> Result<(), PlaceError> {
    let read_err = |source| PlaceError::Image(ImageError::Read { label: b.name.clone(), path: b.source.clone(), source });
    let changed = |detail: &str| PlaceError::Image(ImageError::Changed { label: b.name.clone(), path: b.source.clone(), detail: detail.to_string() });
    let src = File::open(&b.source).map_err(read_err)?;
    let meta = src.metadata().map_err(read_err)?;
    let len = meta.len();
    if len != b.size.get() {
        return Err(changed(&format!("it was {} bytes when planned and is {len:#x} now", b.size)));
    }
    let stamp = FileStamp::of(&meta);
    if copied.iter().any(|(path, in_image)| *path == b.source && *in_image != stamp) {
        return Err(changed("it was rewritten or replaced after it was copied into the image, before its copy next to the layout was made"));
    }
    let out = staging.create(&b.name).map_err(PlaceError::Output)?;
    if first {
        failpoint::hit("placing");
    }
    if rustix::fs::ioctl_ficlone(out, &src).is_err() {
        let piece = [Piece { offset: Offset::ZERO, source: Source::File { path: &b.source, len: b.size }, label: &b.name }];
        image::write_image_with(out, b.size, &piece, false, &NoProgress, cancel, CopyMode::for_output(out)).map_err(PlaceError::Image)?;
    }
    // The handle read (reflink) and the path (the copy opens it again) must both still be the file stamped.
    let after = [src.metadata(), std::fs::metadata(&b.source)];
    for m in after {
        if FileStamp::of(&m.map_err(read_err)?) != stamp {
            return Err(changed("it was rewritten or replaced while its copy next to the layout was made"));
        }
    }
    Ok(())
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
