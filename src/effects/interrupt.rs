//! Ctrl-C, SIGTERM and SIGHUP during `build`: the temporaries are removed and the process exits with status 130,
//! instead of dying with them on disk (the next build would remove them, but a 4 GiB temporary image may sit in the
//! output folder until then).
//!
//! While a build holds the output folder's lock, every `.stm32mp-imager.*.tmp` file in that folder is its own (the
//! stale ones were removed when the lock was taken, and no other build can create any), so the handler removes them
//! all. It never runs in the middle of the commit: the commit holds the same mutex, and once the outputs are renamed
//! into place the handler lets the build finish. Before the lock is held (planning, waiting for another build) there
//! is nothing of ours to remove, and the other build's temporaries are left alone.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
};

use super::output::TEMP_PREFIX;
use crate::error::EXIT_INTERRUPTED;

#[derive(Debug, Default)]
struct State {
    /// The output folder whose lock this build holds.
    dir: Option<PathBuf>,
    /// The outputs are in place: an interruption now changes nothing.
    committed: bool,
}

static STATE: Mutex<State> = Mutex::new(State { dir: None, committed: false });
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Install the handler (once per process). Returns whether it is installed; it is not when another handler (the
/// `flash` command's) was installed first, and then an interrupted build leaves its temporaries to the next one.
pub fn install() -> bool {
    *INSTALLED.get_or_init(|| ctrlc::set_handler(on_interrupt).is_ok())
}

fn on_interrupt() {
    let state = STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if state.committed {
        return;
    }
    if let Some(dir) = &state.dir {
        remove_temporaries(dir);
        eprintln!("interrupted: the temporaries were removed; nothing was replaced in {}", dir.display());
    } else {
        eprintln!("interrupted");
    }
    std::process::exit(i32::from(EXIT_INTERRUPTED));
}

fn remove_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_PREFIX) && name.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Run the commit with the handler held off. Afterwards the handler removes nothing: the outputs are in place, or
/// the commit failed and `Staging` removed its temporaries itself, or kept them with the journal on purpose (an
/// unfinished commit the next build completes). Once it succeeded, an interruption lets the build finish.
pub fn committing<T, E>(commit: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let mut state = STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let result = commit();
    state.dir = None;
    state.committed = result.is_ok();
    result
}

/// While alive, the handler may remove temporaries in the folder given to [`holding`]. Declare it after the
/// `Staging`, so it is dropped first: the folder is forgotten before its lock is released (a failed build's
/// temporaries are removed by `Staging` itself; another build may take the lock right after).
#[derive(Debug)]
pub struct Held(());

/// This build now holds the lock of the output folder `dir`: from now on until the returned guard is dropped, an
/// interruption removes the temporaries in `dir`.
#[must_use]
pub fn holding(dir: &Path) -> Held {
    let mut state = STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    *state = State { dir: Some(dir.to_path_buf()), committed: false };
    Held(())
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut state = STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.dir = None;
    }
}
