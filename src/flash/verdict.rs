//! The judgement on one board, whatever flashed it: the result kind (success, failed, timeout, interrupted), the
//! partition it stopped at, what went wrong in one sentence, the device's or programmer's own words, and a hint.
//!
//! Pure. Each back end judges its own runs (`cubeprog::judge` for ST's programmer); the runner, the records and the
//! final table only read verdicts.

use std::fmt;

/// A board's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultKind {
    /// Every partition sent and started, and the back end said so (for ST's programmer: exit 0, the completion
    /// line, no `Error:` line).
    Success,
    /// Anything else the back end or the board did.
    Failed,
    /// No progress within the per-stage timeout.
    Timeout,
    /// Stopped by Ctrl-C / SIGTERM, or never started because of it.
    Interrupted,
}

impl fmt::Display for ResultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResultKind::Success => "success",
            ResultKind::Failed => "failed",
            ResultKind::Timeout => "timeout",
            ResultKind::Interrupted => "interrupted",
        })
    }
}

/// The judgement on one board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Success, failed, timeout, interrupted.
    pub result: ResultKind,
    /// The partition (phase id) the failure happened at, when known.
    pub partition: Option<u8>,
    /// What went wrong, in one sentence that quotes the programmer or the device (`None` on success).
    pub error: Option<String>,
    /// The programmer's `Error:` lines (or the device's error texts), verbatim.
    pub programmer_errors: Vec<String>,
    /// Advice for a known cause.
    pub hint: Option<String>,
    /// The programmer's exit status, when it exited by itself.
    pub exit_status: Option<i32>,
}

impl Verdict {
    /// A verdict for a board that was never handed to the back end.
    #[must_use]
    pub fn not_run(result: ResultKind, error: impl Into<String>, hint: Option<String>) -> Verdict {
        Verdict { result, partition: None, error: Some(error.into()), programmer_errors: Vec::new(), hint, exit_status: None }
    }

    /// The programmer connected to a board with serial `seen` while `selected` was chosen: whatever it reported,
    /// the chosen board is not known flashed, and another one may have been flashed in its place.
    #[must_use]
    pub fn wrong_board(self, label: &str, selected: &str, seen: &str) -> Verdict {
        let what = format!("{label} was selected as serial {selected}, but the programmer connected to serial {seen}");
        Verdict {
            result: if self.result == ResultKind::Success { ResultKind::Failed } else { self.result },
            error: Some(match self.error {
                Some(e) => format!("{what}; {e}"),
                None => format!("{what}: {selected} is not known flashed, and {seen} may have been flashed in its place"),
            }),
            hint: Some(
                "indexes (`-c port=usbN`) shift while boards re-enumerate: flash a line by serial number (`--select-by \
                 serial`, or `auto` with several boards), or one board at a time; check both boards"
                    .to_string(),
            ),
            ..self
        }
    }

    /// Whether the board was flashed.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.result == ResultKind::Success
    }
}
