//! Aligned plain-text tables for terminal and log output (the plan, the flashing summary).
//!
//! Pure: rows of cells in, text out. Columns are padded to their widest cell and separated by two spaces; the last
//! column is not padded and trailing spaces are trimmed.

use std::fmt::Write;

/// Render rows (the first is usually the header) as aligned text, one line per row.
#[must_use]
pub fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns_and_trims() {
        let rows = vec![vec!["a".to_string(), "bb".to_string(), "c".to_string()], vec!["dddd".to_string(), "e".to_string()]];
        assert_eq!(super::render(&rows), "a     bb  c\ndddd  e\n");
    }
}
