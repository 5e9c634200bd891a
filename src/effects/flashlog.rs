//! Per-board log files and the traceability records file.
//!
//! A board's log holds the back end's raw output (the programmer's lines), each line (and each redrawn progress bar) with our RFC 3339
//! timestamp and its stream, framed by `#` lines saying what was run and how it ended. Records are appended to
//! `flash-records.jsonl` one whole line per `write` on a file opened with `O_APPEND`, then synced, so boards
//! finishing at the same time (or two runs sharing a folder) never interleave inside a line.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    time::SystemTime,
};

use crate::flash::{
    job::file_safe,
    records::{FlashRecord, RECORDS_FILE},
};

/// Now, RFC 3339 with milliseconds, UTC.
#[must_use]
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// A time as RFC 3339 with milliseconds, UTC.
#[must_use]
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A compact UTC stamp for file names: `20250101T120000Z`.
#[must_use]
pub fn file_stamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string().replace(['-', ':'], "")
}

/// One board's log file. Write errors are remembered, not fatal: the board is flashed all the same.
#[derive(Debug)]
pub struct BoardLog {
    file: File,
    path: PathBuf,
    error: Option<io::Error>,
}

impl BoardLog {
    /// Create `<dir>/<name>.log` (`<name>-2.log`, … if it exists).
    pub fn create(dir: &Path, name: &str) -> io::Result<BoardLog> {
        let name = file_safe(name);
        for n in 1..1000 {
            let path = if n == 1 { dir.join(format!("{name}.log")) } else { dir.join(format!("{name}-{n}.log")) };
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok(BoardLog { file, path, error: None }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{}/{name}.log and 998 others exist", dir.display())))
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, line: &str) {
        if self.error.is_none()
            && let Err(e) = self.file.write_all(line.as_bytes())
        {
            self.error = Some(e);
        }
    }

    /// A note of ours: `# text`.
    pub fn note(&mut self, text: &str) {
        for l in text.lines() {
            self.write(&format!("# {l}\n"));
        }
    }

    /// A line of the back end's output: `<time> out| text` (`out\r|` for a redrawn bar); `source` is `out`, `err`,
    /// or what the back end calls its trace.
    pub fn output(&mut self, source: &str, text: &str, redraw: bool) {
        let redrawn = if redraw { "\\r" } else { "" };
        self.write(&format!("{} {source}{redrawn}| {text}\n", now_rfc3339()));
    }

    /// Flush to disk; the first write error, if any.
    pub fn close(mut self) -> Option<io::Error> {
        if self.error.is_none()
            && let Err(e) = self.file.sync_data()
        {
            self.error = Some(e);
        }
        self.error
    }
}

/// Append one record to `<dir>/flash-records.jsonl`: one `write` of one whole line, with `O_APPEND`, then sync.
pub fn append_record(dir: &Path, record: &FlashRecord) -> io::Result<PathBuf> {
    let path = dir.join(RECORDS_FILE);
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let line = record.to_line();
    let n = file.write(line.as_bytes())?;
    if n != line.len() {
        // A short write on a regular file means the disk is full; finish the line so the file stays parseable.
        file.write_all(&line.as_bytes()[n..])?;
    }
    file.sync_data()?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_do_not_collide() {
        let tmp = tempfile::tempdir().unwrap();
        let a = BoardLog::create(tmp.path(), "20250101T120000Z-usb1").unwrap();
        let b = BoardLog::create(tmp.path(), "20250101T120000Z-usb1").unwrap();
        assert_ne!(a.path(), b.path());
        assert!(b.path().ends_with("20250101T120000Z-usb1-2.log"));
        let mut c = BoardLog::create(tmp.path(), "a/b c").unwrap();
        assert!(c.path().ends_with("a_b_c.log"));
        c.output("out", "[==] 42%", true);
        c.note("finished");
        let path = c.path().to_path_buf();
        assert!(c.close().is_none());
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains(" out\\r| [==] 42%\n") && text.ends_with("# finished\n"), "{text}");
    }

    #[test]
    fn stamps() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_735_732_800);
        assert_eq!(file_stamp(t), "20250101T120000Z");
        assert_eq!(rfc3339(t), "2025-01-01T12:00:00.000Z");
    }
}
