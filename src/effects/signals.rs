//! Ctrl-C (SIGINT), SIGTERM and SIGHUP: one process-wide handler, installed once by `main`, that raises the
//! command's [`Cancel`] token. Nothing else happens in the handler; the work that polls the token stops, removes
//! what it staged and returns, and `main` exits with status 130.

use crate::cancel::Cancel;

/// Install the handler for `cancel`. Fails only if a handler is already installed in this process.
pub fn install(cancel: &Cancel) -> Result<(), String> {
    let token = cancel.clone();
    ctrlc::set_handler(move || token.cancel()).map_err(|e| e.to_string())
}
