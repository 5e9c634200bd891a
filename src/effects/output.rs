//! Atomic outputs: every artifact of a build is written to a temporary file in the output folder and all of them are
//! renamed into place together, under a lock, with a journal so a crash between renames is completed by the next run.
//!
//! Guarantees: a failed or interrupted build leaves the previous artifacts exactly as they were (image, layout and
//! block map from the same build) and no temporary file; a build killed with SIGKILL leaves temporaries that the next
//! run removes; two builds into one folder run one after the other.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
};

use tempfile::NamedTempFile;

use crate::cancel::Cancel;

/// How often a build waiting for another one's lock looks again (and at its cancellation token).
const LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Prefix of every temporary file this tool creates (so stale ones can be recognised and removed).
pub const TEMP_PREFIX: &str = ".stm32mp-imager.";
/// The commit journal's name.
pub const JOURNAL: &str = ".stm32mp-imager.journal";

/// Why outputs could not be staged or committed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output folder is missing or not a folder.
    #[error("output folder {}: {reason}", path.display())]
    NotAFolder {
        /// The path given.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The commit failed after its first rename: some outputs may already be the new ones. The journal and the
    /// temporaries not yet renamed are kept, so the next build into the folder completes the commit.
    #[error("{source}; the commit did not finish: the next build into {} completes it", dir.display())]
    Unfinished {
        /// The output folder.
        dir: PathBuf,
        /// What failed.
        #[source]
        source: Box<OutputError>,
    },
    /// An I/O operation on the output folder failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The command was cancelled while waiting for another build's lock; nothing was touched.
    #[error("interrupted while waiting for the output folder")]
    Cancelled,
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> OutputError + 'a {
    move |source| OutputError::Io { action, path: path.to_path_buf(), source }
}

/// A set of outputs being written into one folder.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    lock: File,
    files: Vec<(NamedTempFile, String)>,
    /// Names removed by the commit, after the renames.
    removals: Vec<String>,
}

impl Staging {
    /// Lock the output folder (waiting for another build there to finish; `on_wait` is told), finish or clean up what
    /// an interrupted earlier run left, and get ready to stage files.
    ///
    /// The wait polls `cancel`: once raised, it gives up with [`OutputError::Cancelled`] (nothing was touched).
    pub fn begin(dir: &Path, on_wait: &dyn Fn(), cancel: &Cancel) -> Result<Staging, OutputError> {
        let meta = fs::metadata(dir).map_err(|e| OutputError::NotAFolder {
            path: dir.to_path_buf(),
            reason: if e.kind() == io::ErrorKind::NotFound { "does not exist; create it first".to_string() } else { e.to_string() },
        })?;
        if !meta.is_dir() {
            return Err(OutputError::NotAFolder { path: dir.to_path_buf(), reason: "is not a folder".to_string() });
        }
        let lock = File::open(dir).map_err(io_err("cannot open", dir))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                on_wait();
                loop {
                    if cancel.is_cancelled() {
                        return Err(OutputError::Cancelled);
                    }
                    match lock.try_lock() {
                        Ok(()) => break,
                        // The other build holds it for seconds at most; a tenth of a second's latency is unnoticed.
                        Err(fs::TryLockError::WouldBlock) => std::thread::sleep(LOCK_POLL),
                        Err(fs::TryLockError::Error(e)) => return Err(io_err("cannot lock", dir)(e)),
                    }
                }
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err("cannot lock", dir)(e)),
        }
        let staging = Staging { dir: dir.to_path_buf(), lock, files: Vec::new(), removals: Vec::new() };
        staging.recover()?;
        Ok(staging)
    }

    /// Complete a commit that a crash interrupted, then remove stale temporaries.
    fn recover(&self) -> Result<(), OutputError> {
        let journal = self.dir.join(JOURNAL);
        match fs::read_to_string(&journal) {
            Ok(text) => {
                for line in text.lines() {
                    match line.split_once('\t') {
                        // A removal: an empty first field.
                        Some(("", fin)) if is_plain_name(fin) => remove_if_present(&self.dir.join(fin))?,
                        Some((tmp, fin)) if is_plain_name(tmp) && is_plain_name(fin) && self.dir.join(tmp).exists() => {
                            fs::rename(self.dir.join(tmp), self.dir.join(fin))
                                .map_err(io_err("cannot complete the interrupted commit of", &self.dir.join(fin)))?;
                        }
                        _ => {}
                    }
                }
                fs::remove_file(&journal).map_err(io_err("cannot remove", &journal))?;
                sync_dir(&self.dir)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("cannot read", &journal)(e)),
        }
        let entries = fs::read_dir(&self.dir).map_err(io_err("cannot list", &self.dir))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TEMP_PREFIX) && name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// The folder outputs go to.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Create a temporary file that becomes `name` on commit. `name` must be a plain file name.
    pub fn create(&mut self, name: &str) -> Result<&File, OutputError> {
        if !is_plain_name(name) {
            return Err(OutputError::NotAFolder {
                path: self.dir.join(name),
                reason: "refused: outputs must be plain file names inside the output folder".to_string(),
            });
        }
        if fs::symlink_metadata(self.dir.join(name)).is_ok_and(|m| m.is_dir()) {
            return Err(io_err("an output would replace the folder", &self.dir.join(name))(io::Error::from(io::ErrorKind::IsADirectory)));
        }
        let tmp = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .prefix(&format!("{TEMP_PREFIX}{name}."))
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .map_err(io_err("cannot create a temporary file in", &self.dir))?;
        self.files.push((tmp, name.to_string()));
        // The file was pushed on the line above: `last()` is always `Some`.
        Ok(self.files.last().map(|(t, _)| t.as_file()).unwrap_or_else(|| unreachable!()))
    }

    /// Stage a small text or binary output.
    pub fn write_file(&mut self, name: &str, bytes: &[u8]) -> Result<(), OutputError> {
        let dir = self.dir.clone();
        let mut file = self.create(name)?;
        file.write_all(bytes).map_err(io_err("cannot write", &dir.join(name)))
    }

    /// Remove `name` from the folder as part of the commit (after the renames, journalled like them), if it is there:
    /// an output an earlier build wrote that this one does not.
    pub fn remove_on_commit(&mut self, name: &str) -> Result<(), OutputError> {
        if !is_plain_name(name) {
            return Err(OutputError::NotAFolder {
                path: self.dir.join(name),
                reason: "refused: outputs must be plain file names inside the output folder".to_string(),
            });
        }
        self.removals.push(name.to_string());
        Ok(())
    }

    /// Flush every staged file to disk, then rename them all into place (journalled). `sync` makes the data durable
    /// before the renames (fsync); without it a power cut may lose the new artifacts, never mix them with old ones
    /// on a file system that orders replace-by-rename (ext4 `auto_da_alloc`, XFS, btrfs).
    pub fn commit(self, sync: bool) -> Result<Vec<PathBuf>, OutputError> {
        let Staging { dir, lock, files, removals } = self;
        if sync {
            for (tmp, name) in &files {
                tmp.as_file().sync_all().map_err(io_err("cannot flush", &dir.join(name)))?;
            }
        }
        let journal_text: String = files
            .iter()
            .map(|(tmp, name)| format!("{}\t{name}\n", tmp.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()))
            .chain(removals.iter().map(|name| format!("\t{name}\n")))
            .collect();
        let mut journal = tempfile::Builder::new()
            .prefix(&format!("{TEMP_PREFIX}journal."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(io_err("cannot create the journal in", &dir))?;
        journal.write_all(journal_text.as_bytes()).map_err(io_err("cannot write the journal in", &dir))?;
        journal.as_file().sync_all().map_err(io_err("cannot flush the journal in", &dir))?;
        journal.persist(dir.join(JOURNAL)).map_err(|e| io_err("cannot write", &dir.join(JOURNAL))(e.error))?;
        sync_dir(&dir)?;
        let mut done = Vec::new();
        let mut files = files.into_iter();
        while let Some((tmp, name)) = files.next() {
            let target = dir.join(&name);
            if let Err(e) = tmp.persist(&target) {
                // The journal names every file of this build and some may already be in place: keep the rest (this
                // one included) for the next run to rename, instead of letting them be deleted, which would leave
                // a mixed set for good.
                let _ = e.file.keep();
                for (rest, _) in files {
                    let _ = rest.keep();
                }
                let source = Box::new(io_err("cannot rename into place", &target)(e.error));
                return Err(OutputError::Unfinished { dir, source });
            }
            done.push(target);
        }
        let unfinished = |source| OutputError::Unfinished { dir: dir.clone(), source: Box::new(source) };
        for name in &removals {
            remove_if_present(&dir.join(name)).map_err(unfinished)?;
        }
        fs::remove_file(dir.join(JOURNAL)).map_err(io_err("cannot remove", &dir.join(JOURNAL))).map_err(unfinished)?;
        sync_dir(&dir).map_err(unfinished)?;
        drop(lock);
        Ok(done)
    }
}

/// Remove a file; one already gone is fine.
fn remove_if_present(path: &Path) -> Result<(), OutputError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("cannot remove", path)(e)),
    }
}

/// Open options are not needed elsewhere; this keeps the folder sync in one place.
fn sync_dir(dir: &Path) -> Result<(), OutputError> {
    OpenOptions::new().read(true).open(dir).and_then(|d| d.sync_all()).map_err(io_err("cannot flush", dir))
}

/// A file name with no folder part, no `..`, not hidden.
#[must_use]
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']) && Path::new(name).file_name().is_some_and(|n| n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_renames_everything_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.img"), b"old").unwrap();
        let mut s = Staging::begin(dir.path(), &|| {}, &Cancel::new()).unwrap();
        s.write_file("a.img", b"new").unwrap();
        s.write_file("a.tsv", b"tsv").unwrap();
        s.commit(false).unwrap();
        assert_eq!(fs::read(dir.path().join("a.img")).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn dropping_a_staging_keeps_old_files_and_removes_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.img"), b"old").unwrap();
        {
            let mut s = Staging::begin(dir.path(), &|| {}, &Cancel::new()).unwrap();
            s.write_file("a.img", b"new").unwrap();
        }
        assert_eq!(fs::read(dir.path().join("a.img")).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_interrupted_commit_is_completed_and_stale_temporaries_removed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("a.img"), b"old").unwrap();
        fs::write(d.join(".stm32mp-imager.a.img.X.tmp"), b"new").unwrap();
        fs::write(d.join(".stm32mp-imager.b.tsv.Y.tmp"), b"stale").unwrap();
        fs::write(d.join(JOURNAL), ".stm32mp-imager.a.img.X.tmp\ta.img\n").unwrap();
        let s = Staging::begin(d, &|| {}, &Cancel::new()).unwrap();
        drop(s);
        assert_eq!(fs::read(d.join("a.img")).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, vec!["a.img".to_string()]);
    }

    /// A removal is part of the commit: done with the renames, not before (a dropped staging removes nothing), and
    /// completed from the journal after a crash.
    #[test]
    fn removals_are_committed_with_the_renames() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("flash.tsv"), b"stale").unwrap();
        {
            let mut s = Staging::begin(d, &|| {}, &Cancel::new()).unwrap();
            s.write_file("a.img", b"new").unwrap();
            s.remove_on_commit("flash.tsv").unwrap();
            assert!(s.remove_on_commit("../x").is_err());
        }
        assert!(d.join("flash.tsv").exists(), "a dropped staging removes nothing");
        let mut s = Staging::begin(d, &|| {}, &Cancel::new()).unwrap();
        s.write_file("a.img", b"new").unwrap();
        s.remove_on_commit("flash.tsv").unwrap();
        s.remove_on_commit("never-there.bin").unwrap();
        s.commit(false).unwrap();
        assert!(!d.join("flash.tsv").exists());
        assert_eq!(fs::read(d.join("a.img")).unwrap(), b"new");
        // Interrupted after the journal was written: the next run removes it.
        fs::write(d.join("flash.tsv"), b"stale").unwrap();
        fs::write(d.join(JOURNAL), "\tflash.tsv\n").unwrap();
        drop(Staging::begin(d, &|| {}, &Cancel::new()).unwrap());
        let names: Vec<_> = fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, vec!["a.img".to_string()]);
    }

    #[test]
    fn refuses_paths() {
        assert!(!is_plain_name("../x"));
        assert!(!is_plain_name("a/b"));
        assert!(!is_plain_name(".."));
        assert!(is_plain_name("sdcard.img"));
        let dir = tempfile::tempdir().unwrap();
        let mut s = Staging::begin(dir.path(), &|| {}, &Cancel::new()).unwrap();
        assert!(s.create("../evil").is_err());
        let f = dir.path().join("file");
        fs::write(&f, b"").unwrap();
        assert!(matches!(Staging::begin(&f, &|| {}, &Cancel::new()), Err(OutputError::NotAFolder { .. })));
    }
}
