//! Gathering what a flash job needs, for any back end: the layout read (bounded), parsed and linted with `inspect`'s
//! rules, every binary it sends checked to exist, then hashed; the boards the back end lists joined with what sysfs
//! shows. The job itself is built from these by the pure `flash::job::build`. Nothing here sends anything to a board
//! (the back end's discovery is a query: ST's `-l usb`).

use std::{
    fs::File,
    io::{self, Read},
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use super::usb;
use crate::{
    diag::Problem,
    flash::{
        backend::Backend,
        devices::{DfuDevice, SysfsDevice},
        job::{JobLayout, JobPartition, SentBinary, binary_path, sent_binaries},
        records::FileDigest,
    },
    flashlayout::{self, LintOptions},
};

/// Largest flash layout read: a real one is a few KiB (at most 240 lines); `flash /dev/zero` must not read until
/// memory runs out. The same bound as `inspect`'s.
pub const MAX_LAYOUT_BYTES: u64 = 1 << 20;

/// The log folder a layout gets by default: `flash-logs/` beside it.
#[must_use]
pub fn default_log_dir(layout_dir: &Path) -> PathBuf {
    layout_dir.join("flash-logs")
}

/// Why a layout file cannot be used at all (its contents' problems are [`CheckedLayout::problems`]).
#[derive(Debug, thiserror::Error)]
pub enum LayoutFileError {
    /// It cannot be read.
    #[error("cannot read flash layout {shown}: {error}")]
    Read {
        /// The path as given.
        shown: String,
        /// Why.
        error: io::Error,
    },
    /// It is far larger than any layout.
    #[error("{shown}: more than {MAX_LAYOUT_BYTES} bytes; a flash layout has at most 240 lines (is this the right file?)")]
    TooLarge {
        /// The path as given.
        shown: String,
    },
    /// It names no file.
    #[error("{shown}: not a file")]
    NotAFile {
        /// The path as given.
        shown: String,
    },
}

impl LayoutFileError {
    /// Whether the file system failed (rather than the path naming the wrong thing).
    #[must_use]
    pub fn is_io(&self) -> bool {
        matches!(self, LayoutFileError::Read { .. })
    }
}

/// A layout, read, parsed and linted; its binaries checked to exist.
#[derive(Debug, Clone)]
pub struct CheckedLayout {
    /// As the user named it.
    pub shown: String,
    /// Its absolute path.
    pub path: PathBuf,
    /// Its folder.
    pub dir: PathBuf,
    /// Its file name.
    pub file_name: String,
    /// What it sends.
    pub sent: Vec<SentBinary>,
    /// Everything wrong with it (parse, lint, missing binaries); any error means nothing may be flashed.
    pub problems: Vec<Problem>,
}

/// Read, parse and lint a layout, and check that every binary it sends exists beside it.
pub fn check_layout(path: &Path) -> Result<CheckedLayout, LayoutFileError> {
    let shown = path.display().to_string();
    let read = |error| LayoutFileError::Read { shown: shown.clone(), error };
    let mut bytes = Vec::new();
    File::open(path).and_then(|f| f.take(MAX_LAYOUT_BYTES + 1).read_to_end(&mut bytes)).map_err(read)?;
    if bytes.len() as u64 > MAX_LAYOUT_BYTES {
        return Err(LayoutFileError::TooLarge { shown });
    }
    let abs = std::fs::canonicalize(path).map_err(read)?;
    let (Some(dir), Some(file)) = (abs.parent(), abs.file_name()) else {
        return Err(LayoutFileError::NotAFile { shown });
    };
    let parsed = flashlayout::parse(&shown, &bytes);
    let mut problems = parsed.problems;
    problems.extend(flashlayout::lint(&shown, &parsed.lines, &LintOptions::default()));
    let sent = sent_binaries(&parsed.lines);
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
    Ok(CheckedLayout { shown, path: abs.clone(), dir: dir.to_path_buf(), file_name: file.to_string_lossy().into_owned(), sent, problems })
}

/// A file could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {error}", .path.display())]
pub struct HashError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: io::Error,
}

/// The length and SHA-256 (lower-case hex) of everything `reader` gives: how a job's files are hashed, when the job
/// is made and again before each board is flashed.
pub fn hash_reader(reader: &mut impl Read) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Open every file (read only) and check that it is still what the job recorded: its length, then its SHA-256 read
/// through the handle returned (a file replaced afterwards, by a rename, is not seen through that handle; one
/// rewritten in place is). What both back ends do before each board (the built-in client sends from the handles;
/// `STM32_Programmer_CLI` reads the files itself, so it checks again after the board: see [`check_layout_files`]).
/// Each error names the file and says to run again.
pub fn verify_files(files: &[FileDigest]) -> Result<Vec<(PathBuf, File)>, String> {
    let mut out = Vec::with_capacity(files.len());
    for want in files {
        let path = PathBuf::from(&want.path);
        let mut file = File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let len = file.metadata().map_err(|e| format!("cannot read {}: {e}", path.display()))?.len();
        if len != want.size {
            return Err(format!("{} is {len} bytes now, {} when the job was made: it changed since; run again", path.display(), want.size));
        }
        let (size, sha256) = hash_reader(&mut file).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if size != want.size || sha256 != want.sha256 {
            return Err(format!(
                "{} changed since the job was made (sha256 {sha256}, {size} bytes; the job has {}, {} bytes); run again",
                path.display(),
                want.sha256,
                want.size
            ));
        }
        out.push((path, file));
    }
    Ok(out)
}

/// [`verify_files`] over the layout file and every binary it sends (once each).
pub fn check_layout_files(layout: &JobLayout) -> Result<(), String> {
    let mut files = vec![layout.digest.clone()];
    files.extend(layout.binaries());
    verify_files(&files).map(drop)
}

fn digest(name: &str, path: &Path) -> Result<FileDigest, HashError> {
    let fail = |error| HashError { path: path.to_path_buf(), error };
    let mut file = File::open(path).map_err(fail)?;
    let (size, sha256) = hash_reader(&mut file).map_err(fail)?;
    Ok(FileDigest { name: name.to_string(), path: path.display().to_string(), size, sha256 })
}

/// Hash the layout and each binary it sends (once per file), for the job and the records.
pub fn hash_layout(layout: &CheckedLayout) -> Result<JobLayout, HashError> {
    let own = digest(&layout.shown, &layout.path)?;
    let mut partitions: Vec<JobPartition> = Vec::new();
    for b in &layout.sent {
        let file = match partitions.iter().find(|p| p.file.name == b.binary) {
            Some(p) => p.file.clone(),
            None => digest(&b.binary, &binary_path(&layout.dir, &b.binary))?,
        };
        partitions.push(JobPartition { id: b.id, name: b.partition.clone(), line: b.line, ram: b.ram, file });
    }
    Ok(JobLayout { shown: layout.shown.clone(), dir: layout.dir.clone(), file_name: layout.file_name.clone(), digest: own, partitions })
}

/// The boards in USB DFU mode: the back end's list and what sysfs shows.
#[derive(Debug, Clone)]
pub struct Boards {
    /// The back end's list, or why it could not be had.
    pub listed: Result<Vec<DfuDevice>, String>,
    /// The USB devices sysfs shows.
    pub sysfs: Vec<SysfsDevice>,
    /// Anything odd, worth a warning.
    pub warnings: Vec<String>,
}

/// Ask the back end for its boards and read sysfs under `sysfs_root` (a missing or unreadable sysfs is a warning).
pub fn boards(backend: &dyn Backend, sysfs_root: &Path) -> Boards {
    let discovery = backend.discover();
    let mut warnings = discovery.warnings;
    let sysfs = usb_devices(sysfs_root, &mut warnings);
    Boards { listed: discovery.boards, sysfs, warnings }
}

/// The USB devices under `sysfs_root`; a failure to read them is a warning, not an error.
pub fn usb_devices(sysfs_root: &Path, warnings: &mut Vec<String>) -> Vec<SysfsDevice> {
    usb::scan(sysfs_root).unwrap_or_else(|e| {
        warnings.push(format!("cannot read USB devices from {}: {e}", sysfs_root.display()));
        Vec::new()
    })
}

/// What `devices` shows: the back end's list (when there is one and it answers) joined with sysfs, and warnings.
#[must_use]
pub fn device_list(backend: Option<&dyn Backend>, sysfs_root: &Path) -> (Vec<crate::flash::devices::Board>, Vec<String>) {
    let mut warnings = Vec::new();
    let sysfs = usb_devices(sysfs_root, &mut warnings);
    let listed = match backend.map(Backend::discover) {
        Some(d) => {
            warnings.extend(d.warnings);
            d.boards.unwrap_or_else(|why| {
                warnings.push(format!("{why}; showing what sysfs sees only"));
                Vec::new()
            })
        }
        None => Vec::new(),
    };
    (crate::flash::devices::join(&listed, &sysfs), warnings)
}
