//! Per-board log files and the traceability records file.
//!
//! A board's log holds the back end's raw output (the programmer's lines), each line (and each redrawn progress bar) with our RFC 3339
//! timestamp and its stream, framed by `#` lines saying what was run and how it ended. Records are appended to
//! `flash-records.jsonl` under an exclusive `flock` of the file (opened with `O_APPEND`), one whole line, then
//! synced, so boards finishing at the same time (or two runs sharing a folder) never interleave inside a line; an
//! append that fails (a full disk) is cut off again, so the file holds whole lines only.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    os::unix::fs::FileExt,
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

/// Append one record to `<dir>/flash-records.jsonl`: the file locked (`flock`, exclusive) while one whole line is
/// appended and synced; see [`append_line`] for what a failed append leaves.
pub fn append_record(dir: &Path, record: &FlashRecord) -> io::Result<PathBuf> {
    let path = dir.join(RECORDS_FILE);
    let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
    // Released when the file is closed. Other appenders (boards of this run, other runs) wait their turn, so the
    // length read below is the length the line is appended at.
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
    append_line(&mut file, &record.to_line())?;
    Ok(path)
}

/// A file lines are appended to: what [`append_line`] needs of it.
pub trait AppendFile {
    /// Its length, and its last byte when it has one.
    fn end(&mut self) -> io::Result<(u64, Option<u8>)>;
    /// Append what it can of `buf` (one `write`).
    fn append(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Cut it back to `len` bytes.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// Flush it to disk.
    fn sync(&mut self) -> io::Result<()>;
}

impl AppendFile for File {
    fn end(&mut self) -> io::Result<(u64, Option<u8>)> {
        let len = self.metadata()?.len();
        if len == 0 {
            return Ok((0, None));
        }
        let mut last = [0u8];
        self.read_exact_at(&mut last, len - 1)?;
        Ok((len, Some(last[0])))
    }
    fn append(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write(buf)
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// Append `line` (ending in `\n`) to `file`, whole or not at all: a file that does not end in `\n` (a line cut
/// short by an older version, or by a crash) gets one first, so the new line stands on its own; a failed write or
/// sync (a full disk) cuts the file back to its length before the append, so no half line is left for the next
/// record to be glued to. The caller keeps other appenders out meanwhile (a lock).
pub fn append_line(file: &mut impl AppendFile, line: &str) -> io::Result<()> {
    let (len, last) = file.end()?;
    let mut bytes = Vec::with_capacity(line.len() + 1);
    if last.is_some_and(|b| b != b'\n') {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(line.as_bytes());
    let mut done = 0;
    let result = loop {
        if done == bytes.len() {
            break file.sync();
        }
        match file.append(&bytes[done..]) {
            Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    let Err(e) = result else { return Ok(()) };
    match file.truncate(len).and_then(|()| file.sync()) {
        Ok(()) => Err(io::Error::new(
            e.kind(),
            format!(
                "{e}; this record was not written (the file is as it was); free space there and note this board's result from its log or the table"
            ),
        )),
        Err(cut) => Err(io::Error::new(
            e.kind(),
            format!(
                "{e}; the part written could not be removed again ({cut}): the file's last line is cut short; the next record starts on a new line"
            ),
        )),
    }
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

    /// A file in memory that takes `room` more bytes, then fails like a full disk.
    struct Small {
        bytes: Vec<u8>,
        room: usize,
    }

    impl AppendFile for Small {
        fn end(&mut self) -> io::Result<(u64, Option<u8>)> {
            Ok((self.bytes.len() as u64, self.bytes.last().copied()))
        }
        fn append(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(28));
            }
            let n = buf.len().min(self.room);
            self.bytes.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.bytes.truncate(usize::try_from(len).unwrap());
            Ok(())
        }
        fn sync(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Regression: a short write on a full disk was followed by a `write_all` of the rest, which failed too and left
    /// half a line, to which the next run's record was glued (neither line parsed).
    #[test]
    fn a_full_disk_leaves_whole_lines_only() {
        let mut f = Small { bytes: b"{\"a\":1}\n".to_vec(), room: 5 };
        let err = append_line(&mut f, "{\"b\":2}\n").unwrap_err();
        assert_eq!(f.bytes, b"{\"a\":1}\n", "cut back to what it was");
        assert!(err.to_string().contains("this record was not written (the file is as it was)"), "{err}");
        f.room = 100;
        append_line(&mut f, "{\"c\":3}\n").unwrap();
        assert_eq!(f.bytes, b"{\"a\":1}\n{\"c\":3}\n");
    }

    /// A file left without its last newline (by an older version, or a crash) gets one before the next line.
    #[test]
    fn a_cut_line_is_ended_before_the_next() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(RECORDS_FILE);
        std::fs::write(&path, "{\"a\":1}\n{\"b\":").unwrap();
        let mut file = OpenOptions::new().read(true).append(true).open(&path).unwrap();
        append_line(&mut file, "{\"c\":3}\n").unwrap();
        append_line(&mut file, "{\"d\":4}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"b\":\n{\"c\":3}\n{\"d\":4}\n");
        let mut empty = OpenOptions::new().create(true).read(true).append(true).open(tmp.path().join("new")).unwrap();
        append_line(&mut empty, "x\n").unwrap();
        assert_eq!(std::fs::read_to_string(tmp.path().join("new")).unwrap(), "x\n");
    }

    /// Boards finishing together append from several threads, each with its own open file: whole lines, none lost.
    #[test]
    fn parallel_appends_do_not_interleave() {
        let tmp = tempfile::tempdir().unwrap();
        let line = |i: usize| format!("{}\n", i.to_string().repeat(5000));
        std::thread::scope(|s| {
            for t in 0..4 {
                let dir = tmp.path();
                s.spawn(move || {
                    for i in 0..25 {
                        let path = dir.join(RECORDS_FILE);
                        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path).unwrap();
                        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).unwrap();
                        append_line(&mut file, &line(t * 100 + i)).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(tmp.path().join(RECORDS_FILE)).unwrap();
        let mut seen: Vec<&str> = text.lines().collect();
        assert_eq!(seen.len(), 100);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 100);
        assert!(text.lines().all(|l| l.len() % 5000 == 0 && l.chars().all(|c| c.is_ascii_digit())));
    }

    #[test]
    fn stamps() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_735_732_800);
        assert_eq!(file_stamp(t), "20250101T120000Z");
        assert_eq!(rfc3339(t), "2025-01-01T12:00:00.000Z");
    }
}
