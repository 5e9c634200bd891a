//! The one cancellation token of a command: raised by Ctrl-C, SIGTERM or SIGHUP (the handler is installed once, by
//! `main`, in `effects::signals`), polled by long work (the image writer, the wait for an output folder's lock, the
//! flashing of every board), which then stops cleanly and reports [`Cancelled`].
//!
//! Pure: a shared flag, no signal handling here.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

/// A clonable handle on one flag; every clone sees the same state.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

/// The work stopped because the command was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted")]
pub struct Cancelled;

impl Cancel {
    /// A token nobody has raised yet.
    #[must_use]
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Raise it (from a signal handler, or a test).
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether it was raised.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(Cancelled)` once raised: `cancel.check()?` between steps.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() { Err(Cancelled) } else { Ok(()) }
    }

    /// The shared flag, for code that polls an `AtomicBool`.
    #[must_use]
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let a = Cancel::new();
        let b = a.clone();
        assert_eq!(b.check(), Ok(()));
        a.cancel();
        assert!(b.is_cancelled());
        assert_eq!(b.check(), Err(Cancelled));
    }
}
