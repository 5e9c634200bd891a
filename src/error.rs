//! The top-level error of a command and its exit status (documented in the README).

use crate::{effects::image::ImageError, effects::output::OutputError, render::RenderError};

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: the board description, an input or a layout is wrong (every problem was reported).
pub const EXIT_INVALID: u8 = 1;
/// Exit status: the command line is wrong (clap's own code).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: reading or writing a file failed (disk full, permissions, an input changing under us).
pub const EXIT_IO: u8 = 3;
/// Exit status: flashing failed on at least one board.
pub const EXIT_FLASH: u8 = 4;
/// Exit status: a bug in this tool (a template that does not render, an impossible state).
pub const EXIT_INTERNAL: u8 = 70;
/// Exit status: interrupted (Ctrl-C, SIGTERM).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The description, an input or a layout is wrong; the problems were already printed.
    #[error("{0}")]
    Invalid(String),
    /// File I/O failed.
    #[error("{0}")]
    Io(String),
    /// Flashing failed.
    #[error("{0}")]
    Flash(String),
    /// The user interrupted.
    #[error("interrupted")]
    Interrupted,
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The process exit status for this error.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) => EXIT_INVALID,
            Error::Io(_) => EXIT_IO,
            Error::Flash(_) => EXIT_FLASH,
            Error::Interrupted => EXIT_INTERRUPTED,
            Error::Internal(_) => EXIT_INTERNAL,
        }
    }
}

impl From<OutputError> for Error {
    fn from(e: OutputError) -> Error {
        Error::Io(e.to_string())
    }
}

impl From<ImageError> for Error {
    fn from(e: ImageError) -> Error {
        match e {
            ImageError::Layout(m) => Error::Internal(m),
            other => Error::Io(other.to_string()),
        }
    }
}

impl From<RenderError> for Error {
    fn from(e: RenderError) -> Error {
        Error::Internal(e.to_string())
    }
}
