//! The top-level error of a command and its exit status (documented in the README).
//!
//! Typed: each variant keeps what failed (the file and the OS error, the library error, the count of problems
//! already printed); the text is made only when it is shown, and the exit status follows from the variant.

use std::{io, path::PathBuf};

use crate::{
    effects::{
        build::BuildError,
        flash_job::{HashError, LayoutFileError},
    },
    flash::select::SelectError,
    job::JobError,
    render::RenderError,
};

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

/// Where the problems that an [`Error::Problems`] counts were shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Printed on stderr, one by one.
    Above,
    /// In the JSON document printed on stdout.
    InJson,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The description, an input or a layout is wrong: `errors` problems were already shown, each with its place.
    #[error("{}", problems_text(subject.as_deref(), *errors, *shown, *undone))]
    Problems {
        /// The file they are in (a description, a layout), when there is one.
        subject: Option<String>,
        /// How many errors (warnings are not counted).
        errors: usize,
        /// Where they were shown.
        shown: Shown,
        /// What was therefore not done (`written`, `flashed`), if anything.
        undone: Option<&'static str>,
    },
    /// Files that could not be read, each already shown with its OS error (`inspect` goes on to the next file).
    #[error("{count} file{} could not be read (listed above)", if *count == 1 { "" } else { "s" })]
    Unread {
        /// How many.
        count: usize,
    },
    /// An argument or a file is refused outright, for one reason.
    #[error("{subject}: {reason}")]
    Refused {
        /// What is refused (a file, an option).
        subject: String,
        /// Why, and what to do.
        reason: String,
    },
    /// Reading or writing a file or folder failed.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        /// What was being done (`read board description`, `create output folder`).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The build stopped (an output or input problem found while writing, or a refused output name).
    #[error(transparent)]
    Build(BuildError),
    /// A flash layout cannot be read, or is not a file.
    #[error(transparent)]
    LayoutFile(#[from] LayoutFileError),
    /// A file the layout sends could not be hashed for the records.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// No board, or not the one asked for; `advice` says which options choose one.
    #[error("{error}{advice}")]
    Selection {
        /// Why no board could be chosen.
        error: SelectError,
        /// What to do, when the error itself does not say it (`; choose with --port usbN …`).
        advice: String,
    },
    /// Choosing the boards needs the programmer's board list, which it did not give.
    #[error("{list} is needed to select boards {how}: {listing}")]
    BoardListNeeded {
        /// Which list (`the USB device list`, `the programmer's board list`).
        list: &'static str,
        /// The selection asked for (`with --all`).
        how: &'static str,
        /// Why the list is missing.
        listing: String,
    },
    /// `--port` (STM32_Programmer_CLI's board index) with the built-in client.
    #[error("--port usbN is STM32_Programmer_CLI's board index; the built-in client chooses boards by --usb-path BUS-PORT, --serial SN or --all")]
    PortWithBuiltin,
    /// The layout cannot be sent by the built-in client (a missing RAM stage, a phase it cannot reach).
    #[error(transparent)]
    BuiltinPlan(#[from] crate::flash::builtin::PlanError),
    /// The FSBL the built-in client would send names no SoC it knows.
    #[error(transparent)]
    FsblSoc(#[from] crate::effects::builtin::FsblSocError),
    /// STM32_Programmer_CLI was not found or cannot run; `help` says how to install it or point at it.
    #[error("{error}{help}")]
    Programmer {
        /// What the search found.
        error: crate::effects::programmer::ProgrammerError,
        /// How to fix it (may be empty).
        help: String,
    },
    /// A programmer version known not to work for STM32MP1 (and no `--force`).
    #[error("{} is STM32CubeProgrammer {version}: {reason}; pass --force to use it anyway", path.display())]
    ProgrammerVersion {
        /// The programmer.
        path: PathBuf,
        /// Its version.
        version: String,
        /// Why it does not work.
        reason: &'static str,
    },
    /// At least one board was not flashed.
    #[error("flashing failed on {} of {total} boards: {}", failed.len(), failed.join(", "))]
    BoardsFailed {
        /// Each failed board's label and result.
        failed: Vec<String>,
        /// Boards in the run.
        total: usize,
    },
    /// Every board was flashed but a traceability record could not be written.
    #[error("flash records not written: {0}")]
    Records(String),
    /// Standard output was closed by its reader (`| head -1`): the command ends quietly.
    #[error("standard output closed")]
    StdoutClosed,
    /// The user interrupted.
    #[error("interrupted")]
    Interrupted,
    /// A bug: a layout this tool made that U-Boot would refuse, a template that does not render.
    #[error("internal error: {0}")]
    Internal(String),
}

fn problems_text(subject: Option<&str>, errors: usize, shown: Shown, undone: Option<&str>) -> String {
    let count = format!("{errors} error{}", if errors == 1 { "" } else { "s" });
    let mut text = match (subject, shown) {
        (Some(s), Shown::Above) => format!("{s}: {count} (all listed above)"),
        (Some(s), Shown::InJson) => format!("{s}: {count} (in the JSON above)"),
        // Problems of several files (Buildroot's configuration and the description; several `inspect` files).
        (None, Shown::Above) => format!("{count} (listed above)"),
        (None, Shown::InJson) => format!("{count} (in the JSON above)"),
    };
    if let Some(undone) = undone {
        text.push_str(&format!("; nothing was {undone}"));
    }
    text
}

impl Error {
    /// A file operation that failed.
    pub fn file(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::File { action, path, source }
    }

    /// The process exit status for this error.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Problems { .. } | Error::Refused { .. } | Error::PortWithBuiltin | Error::BuiltinPlan(_) => EXIT_INVALID,
            Error::FsblSoc(crate::effects::builtin::FsblSocError::Read { .. }) => EXIT_IO,
            Error::FsblSoc(_) => EXIT_INVALID,
            Error::File { .. } | Error::Unread { .. } => EXIT_IO,
            Error::Build(e) => build_exit_code(e),
            Error::LayoutFile(e) if e.is_io() => EXIT_IO,
            Error::LayoutFile(_) => EXIT_INVALID,
            Error::Hash(_) | Error::Records(_) => EXIT_IO,
            Error::Selection { error: SelectError::Ambiguous { .. }, .. } => EXIT_INVALID,
            Error::Selection { .. }
            | Error::BoardListNeeded { .. }
            | Error::Programmer { .. }
            | Error::ProgrammerVersion { .. }
            | Error::BoardsFailed { .. } => EXIT_FLASH,
            Error::StdoutClosed => EXIT_OK,
            Error::Interrupted => EXIT_INTERRUPTED,
            Error::Internal(_) => EXIT_INTERNAL,
        }
    }
}

fn build_exit_code(e: &BuildError) -> u8 {
    match e {
        BuildError::Job(JobError::InputNotRead(_) | JobError::Layout(_)) | BuildError::Internal(_) => EXIT_INTERNAL,
        BuildError::Job(_) => EXIT_INVALID,
        BuildError::Cancelled { .. } | BuildError::Begin(crate::effects::output::OutputError::Cancelled) => EXIT_INTERRUPTED,
        BuildError::Folder { .. } | BuildError::Begin(_) | BuildError::Unchanged { .. } | BuildError::Changed(_) | BuildError::Unfinished(_) => {
            EXIT_IO
        }
    }
}

impl From<RenderError> for Error {
    fn from(e: RenderError) -> Error {
        Error::Internal(e.to_string())
    }
}

impl From<BuildError> for Error {
    fn from(e: BuildError) -> Error {
        match e {
            BuildError::Cancelled { .. } | BuildError::Begin(crate::effects::output::OutputError::Cancelled) => Error::Interrupted,
            other => Error::Build(other),
        }
    }
}
