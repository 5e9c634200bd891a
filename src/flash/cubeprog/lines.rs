//! The programmer's output as a byte stream cut into [`Segment`]s: at `\n`, and at the `\r` with which it redraws a
//! progress bar in place (`\r\n` counts once). Chunks may end anywhere, inside `\r\n` or a UTF-8 sequence.
//!
//! Pure.

/// A piece of output between terminators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The text, without its terminator (invalid UTF-8 replaced).
    pub text: String,
    /// Ended by `\r`: a progress-bar redraw rather than a finished line.
    pub redraw: bool,
}

/// Splits a byte stream into [`Segment`]s at `\n` and `\r` (`\r\n` counts once).
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    after_cr: bool,
}

impl LineSplitter {
    /// A splitter with nothing buffered.
    #[must_use]
    pub fn new() -> LineSplitter {
        LineSplitter::default()
    }

    /// Feed bytes; returns the segments they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Segment> {
        let mut out = Vec::new();
        for &b in bytes {
            match b {
                b'\n' if self.after_cr && self.buf.is_empty() => self.after_cr = false,
                b'\n' | b'\r' => {
                    out.push(Segment { text: String::from_utf8_lossy(&self.buf).into_owned(), redraw: b == b'\r' });
                    self.buf.clear();
                    self.after_cr = b == b'\r';
                }
                _ => {
                    self.after_cr = false;
                    self.buf.push(b);
                }
            }
        }
        out
    }

    /// The stream ended: the unterminated rest, if any.
    pub fn finish(&mut self) -> Option<Segment> {
        self.after_cr = false;
        if self.buf.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        Some(Segment { text, redraw: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitter_handles_redraws_and_crlf() {
        let mut s = LineSplitter::new();
        let mut segs = s.push(b"Download in Progress:\n[==   ] 4");
        segs.extend(s.push(b"0%\r[===  ] 60%\r[=====] 100% \r\nFile download complete\r\nlast"));
        segs.extend(s.finish());
        let texts: Vec<(&str, bool)> = segs.iter().map(|s| (s.text.as_str(), s.redraw)).collect();
        assert_eq!(
            texts,
            vec![
                ("Download in Progress:", false),
                ("[==   ] 40%", true),
                ("[===  ] 60%", true),
                ("[=====] 100% ", true),
                ("File download complete", true),
                ("last", false)
            ]
        );
    }
}
