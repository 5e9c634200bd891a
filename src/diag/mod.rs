//! Problems (errors and warnings) as every layer reports them, with their place in a source file, and their rendering.
//!
//! Each layer keeps its own `thiserror` enum with structured fields; those convert into [`Problem`], the unit that is
//! collected ("all problems at once") and rendered, either as plain `file:line:col` lines (logs, pipes) or through
//! `miette` with the offending source underlined (terminals). Pure except [`render`], which only formats text.

pub mod codes;

use std::{fmt, ops::Range, sync::Arc};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing, not wrong.
    Note,
    /// Probably wrong, or wrong for some consumer; the build still goes on.
    Warning,
    /// The build cannot produce correct artifacts.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// A text file problems can point into (a board description, a flash layout).
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown in messages (the path as the user gave it).
    pub name: String,
    /// The whole text.
    pub text: Arc<String>,
    /// Offsets of every `\n`: locating a problem is a binary search, not a rescan of the text (which made reporting
    /// quadratic: 19 s for a 1 MiB description full of unknown keys).
    newlines: Arc<Vec<usize>>,
}

impl SourceFile {
    /// Wrap a file's text.
    #[must_use]
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text: String = text.into();
        let newlines = text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i).collect();
        SourceFile { name: name.into(), text: Arc::new(text), newlines: Arc::new(newlines) }
    }

    /// 1-based line and column (in characters) of a byte offset.
    #[must_use]
    pub fn line_col(&self, byte: usize) -> (usize, usize) {
        let byte = byte.min(self.text.len());
        let before = self.newlines.partition_point(|&p| p < byte);
        let line_start = if before == 0 { 0 } else { self.newlines[before - 1] + 1 };
        let col = String::from_utf8_lossy(&self.text.as_bytes()[line_start..byte]).chars().count() + 1;
        (before + 1, col)
    }
}

/// One thing wrong (or worth a warning), ready to be reported with the others.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Error, warning or note.
    pub severity: Severity,
    /// Stable code, `layer::snake_case`; documented in the README and used by tests.
    pub code: &'static str,
    /// What is wrong, naming the file, partition, offset or field.
    pub message: String,
    /// What to change.
    pub help: Option<String>,
    /// Byte range in the board description (or other source) this is about.
    pub span: Option<Range<usize>>,
    /// `file:line:column` (or `file:line`) once resolved against a source.
    pub location: Option<String>,
}

impl Problem {
    /// A new error.
    #[must_use]
    pub fn error(code: &'static str, message: impl Into<String>) -> Problem {
        debug_assert!(codes::lookup(code).is_some(), "problem code `{code}` is not in diag::codes::CODES");
        Problem { severity: Severity::Error, code, message: message.into(), help: None, span: None, location: None }
    }

    /// A new warning.
    #[must_use]
    pub fn warning(code: &'static str, message: impl Into<String>) -> Problem {
        debug_assert!(codes::lookup(code).is_some(), "problem code `{code}` is not in diag::codes::CODES");
        Problem { severity: Severity::Warning, ..Problem::error(code, message) }
    }

    /// A new note.
    #[must_use]
    pub fn note(code: &'static str, message: impl Into<String>) -> Problem {
        debug_assert!(codes::lookup(code).is_some(), "problem code `{code}` is not in diag::codes::CODES");
        Problem { severity: Severity::Note, ..Problem::error(code, message) }
    }

    /// Attach advice.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }

    /// Attach a source span (resolved to a location by [`Problem::locate`]).
    #[must_use]
    pub fn with_span(mut self, span: Option<Range<usize>>) -> Problem {
        self.span = span;
        self
    }

    /// Attach an explicit location such as `flash.tsv:4`.
    #[must_use]
    pub fn at(mut self, location: impl Into<String>) -> Problem {
        self.location = Some(location.into());
        self
    }

    /// Resolve the span into `file:line:column`.
    #[must_use]
    pub fn locate(mut self, source: &SourceFile) -> Problem {
        if self.location.is_none() {
            self.location = Some(match &self.span {
                Some(span) => {
                    let (line, col) = source.line_col(span.start);
                    format!("{}:{line}:{col}", source.name)
                }
                None => source.name.clone(),
            });
        }
        self
    }

    /// Whether this stops a build.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]: ", self.severity, self.code)?;
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Whether any problem in the list is an error.
#[must_use]
pub fn has_errors(problems: &[Problem]) -> bool {
    problems.iter().any(Problem::is_error)
}

/// Sort problems for display: errors first, then by location, keeping the discovery order otherwise.
pub fn sort(problems: &mut [Problem]) {
    problems.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.span.as_ref().map(|s| s.start).cmp(&b.span.as_ref().map(|s| s.start))));
}

/// How to draw problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `severity[code]: file:line:col: message` lines, for logs and pipes.
    Plain,
    /// miette's report with the source line underlined, for terminals.
    Fancy,
}

/// Problems drawn with miette in [`Style::Fancy`]; the rest are plain lines.
pub const FANCY_LIMIT: usize = 50;

/// Render problems as text; `source` is the file the spans point into, when there is one.
#[must_use]
pub fn render(problems: &[Problem], source: Option<&SourceFile>, style: Style) -> String {
    let mut out = String::new();
    for (i, problem) in problems.iter().enumerate() {
        let problem = match source {
            Some(src) => problem.clone().locate(src),
            None => problem.clone(),
        };
        // miette scans the source for each report: past the first FANCY_LIMIT problems, plain lines keep a file with
        // thousands of problems from taking minutes to print.
        let style = if i < FANCY_LIMIT { style } else { Style::Plain };
        match (style, source, &problem.span) {
            (Style::Fancy, Some(src), Some(span)) => {
                let report = FancyProblem { problem: &problem, source: src, span: span.clone() };
                let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
                let mut text = String::new();
                if handler.render_report(&mut text, &report).is_ok() {
                    out.push_str(&text);
                    continue;
                }
                out.push_str(&problem.to_string());
                out.push('\n');
            }
            _ => {
                out.push_str(&problem.to_string());
                out.push('\n');
            }
        }
    }
    out
}

struct FancyProblem<'a> {
    problem: &'a Problem,
    source: &'a SourceFile,
    span: Range<usize>,
}

impl fmt::Debug for FancyProblem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for FancyProblem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.problem.location {
            write!(f, "{location}: ")?;
        }
        f.write_str(&self.problem.message)
    }
}

impl std::error::Error for FancyProblem<'_> {}

impl miette::Diagnostic for FancyProblem<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.problem.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.problem.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Note => miette::Severity::Advice,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.problem.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.source.text.as_ref() as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let len = self.span.end.saturating_sub(self.span.start);
        Some(Box::new(std::iter::once(miette::LabeledSpan::new(Some("here".into()), self.span.start, len))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let src = SourceFile::new("b.toml", "[board]\nname = \"x\"\n  soc = 1\n");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(8), (2, 1));
        assert_eq!(src.line_col(src.text.find("soc").unwrap()), (3, 3));
    }

    #[test]
    fn plain_rendering_names_file_line_column() {
        let src = SourceFile::new("b.toml", "[board]\nnmae = \"x\"\n");
        let p = Problem::error("board::unknown_key", "unknown key `nmae`").with_span(Some(8..12)).with_help("did you mean `name`?");
        let text = render(&[p], Some(&src), Style::Plain);
        assert_eq!(text, "error[board::unknown_key]: b.toml:2:1: unknown key `nmae`\n  help: did you mean `name`?\n");
        let fancy = render(&[Problem::error("board::syntax", "bad").with_span(Some(8..12))], Some(&src), Style::Fancy);
        assert!(fancy.contains("nmae"), "{fancy}");
    }
}
