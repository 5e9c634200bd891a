//! U-Boot `stm32prog`'s layout parser, reproduced: the same tokenizer states (TAB runs, `\r`, `#` in the first field,
//! the trailing-TAB pitfall, an optional STM32 v1 header) and the same per-column rules, but every problem is reported
//! instead of only the first.

use super::{Ip, LayoutLine, Opt, TsvOffset, TsvType};
use crate::{diag::Problem, inputs::stm32};

/// Most data lines U-Boot accepts (`PHASE_LAST_USER`).
pub const MAX_LINES: usize = 0xF0;
/// Columns U-Boot parses.
const COLUMNS: usize = 6;

/// One record as U-Boot's tokenizer delimits it.
struct Record {
    /// 1-based physical line of the first field.
    line: usize,
    /// `(text, line, column)` of each non-empty field.
    fields: Vec<(String, usize, usize)>,
}

/// The result of parsing a layout.
#[derive(Debug, Clone, Default)]
pub struct ParsedLayout {
    /// Data lines that parsed (lines with errors are left out).
    pub lines: Vec<LayoutLine>,
    /// Every problem, located `file:line:column`.
    pub problems: Vec<Problem>,
}

struct Pos<'a> {
    file: &'a str,
    text: &'a [u8],
    /// Offsets of every `\n`, so locating a byte is a binary search: rescanning the text for each field made
    /// parsing quadratic (a 720 KB layout took 31 s, the 16 MiB `inspect` accepts would take hours).
    newlines: Vec<usize>,
}

impl<'a> Pos<'a> {
    fn new(file: &'a str, text: &'a [u8]) -> Pos<'a> {
        Pos { file, text, newlines: text.iter().enumerate().filter(|&(_, &b)| b == b'\n').map(|(i, _)| i).collect() }
    }

    fn line_col(&self, byte: usize) -> (usize, usize) {
        let byte = byte.min(self.text.len());
        let before = self.newlines.partition_point(|&p| p < byte);
        let start = if before == 0 { 0 } else { self.newlines[before - 1] + 1 };
        (before + 1, byte - start + 1)
    }
    fn at(&self, line: usize, col: usize) -> String {
        format!("{}:{line}:{col}", self.file)
    }
}

/// Parse a layout's bytes as U-Boot does. `file` names it in problems.
#[must_use]
pub fn parse(file: &str, bytes: &[u8]) -> ParsedLayout {
    let mut out = ParsedLayout::default();
    let mut text: &[u8] = bytes;
    if stm32::has_magic(bytes) {
        match stm32::parse_header(bytes) {
            Ok(h) if h.version.major == 1 => {
                let start = stm32::V1_HEADER_LEN;
                let len = usize::try_from(h.image_length).unwrap_or(usize::MAX);
                let end = start.saturating_add(len).min(bytes.len());
                let payload = &bytes[start.min(bytes.len())..end];
                let sum = stm32::payload_checksum(payload);
                if sum != h.checksum || end - start != len {
                    out.problems.push(
                        Problem::error("layout::bad_header", format!("Layout: invalid checksum : {sum:#x} expected {:#x}", h.checksum))
                            .at(format!("{file}:1"))
                            .with_help("re-wrap the layout with `mkimage -T stm32image`, or send it as plain text"),
                    );
                }
                text = payload;
            }
            Ok(h) => {
                out.problems.push(
                    Problem::error(
                        "layout::bad_header",
                        format!("the layout carries an STM32 header {}; U-Boot only strips v1.0 headers and would parse this one as text", h.version),
                    )
                    .at(format!("{file}:1"))
                    .with_help("send the layout as plain text (U-Boot ≥ 2022.04) or with a v1.0 header"),
                );
                return out;
            }
            Err(e) => {
                out.problems
                    .push(Problem::error("layout::bad_header", format!("the layout starts with an STM32 magic but {e}")).at(format!("{file}:1")));
                return out;
            }
        }
    }
    // U-Boot forces a NUL at the end and stops at the first NUL.
    if let Some(nul) = text.iter().position(|&b| b == 0) {
        let pos = Pos::new(file, text);
        let (line, col) = pos.line_col(nul);
        out.problems.push(
            Problem::warning("layout::nul_byte", "NUL byte: U-Boot stops reading the layout here")
                .at(pos.at(line, col))
                .with_help("remove it; a layout is plain text"),
        );
        text = &text[..nul];
    }
    let pos = Pos::new(file, text);
    check_physical_lines(&pos, &mut out.problems);

    let newlines_not_before_hash = text.iter().enumerate().filter(|&(i, &b)| b == b'\n' && text.get(i + 1) != Some(&b'#')).count();
    if newlines_not_before_hash + 1 > MAX_LINES {
        out.problems.push(
            Problem::error("layout::too_many_lines", format!("Layout: too many partition ({})", newlines_not_before_hash + 1))
                .at(format!("{file}:1"))
                .with_help(format!("U-Boot accepts at most {MAX_LINES} lines (comment lines after a newline do not count)")),
        );
    }

    let records = tokenize(&pos);
    for record in records {
        if let Some(line) = parse_record(&pos, &record, &mut out.problems) {
            out.lines.push(line);
        }
    }
    if out.lines.is_empty() && !crate::diag::has_errors(&out.problems) {
        out.problems
            .push(Problem::error("layout::empty", "Layout: no partition found").at(format!("{file}:1")).with_help("add at least one data line"));
    }
    out
}

/// Problems visible only per physical line: trailing TABs, stray `\r`, spaces that look like separators.
fn check_physical_lines(pos: &Pos, problems: &mut Vec<Problem>) {
    let mut start = 0;
    let lines: Vec<&[u8]> = pos.text.split(|&b| b == b'\n').collect();
    let count = lines.len();
    for (index, raw) in lines.into_iter().enumerate() {
        let line_no = index + 1;
        let content: Vec<u8> = raw.iter().copied().filter(|&b| b != b'\r').collect();
        let first = content.iter().position(|&b| b != b'\t');
        let is_data = first.is_some_and(|f| content[f] != b'#');
        if is_data && content.last() == Some(&b'\t') {
            let is_last = index + 1 == count || (index + 2 == count && pos.text.ends_with(b"\n"));
            let consequence = if is_last {
                "on the last line U-Boot then drops this line".to_string()
            } else {
                format!("U-Boot then reads the first field of line {} as an extra column of this line and misparses the rest", line_no + 1)
            };
            problems.push(
                Problem::error("layout::trailing_tab", format!("line ends with a TAB: {consequence}"))
                    .at(pos.at(line_no, content.len()))
                    .with_help("remove the trailing TAB (an empty last column cannot be written; use `none`)"),
            );
        }
        if let Some(cr) = raw.iter().position(|&b| b == b'\r')
            && cr + 1 != raw.len()
        {
            problems.push(
                Problem::warning("layout::stray_cr", "carriage return inside the line: U-Boot ends the field there")
                    .at(pos.at(line_no, cr + 1))
                    .with_help("remove it"),
            );
        }
        if is_data && !content.contains(&b'\t') && content.contains(&b' ') {
            problems.push(
                Problem::error("layout::spaces", "fields are separated by spaces: U-Boot separates fields only with TABs")
                    .at(pos.at(line_no, 1))
                    .with_help("use TAB characters between the columns"),
            );
        }
        start += raw.len() + 1;
    }
    let _ = start;
}

/// Split the text into records exactly as `parse_flash_layout`'s loop does.
fn tokenize(pos: &Pos) -> Vec<Record> {
    let mut buf = pos.text.to_vec();
    let last = buf.len();
    buf.push(0);
    let mut records = Vec::new();
    let mut fields: Vec<(String, usize, usize)> = Vec::new();
    let (mut p, mut col) = (0usize, 0usize);
    let mut column = 0usize;
    let (mut eol, mut eof) = (false, false);
    while !eof {
        match buf[p] {
            b'\r' => {
                buf[p] = 0;
                p += 1;
                continue;
            }
            0 => {
                eol = true;
                eof = true;
            }
            b'\n' => eol = true,
            b'\t' => {}
            b'#' if column == 0 && p == col => {
                while p < last && buf[p] != 0 {
                    p += 1;
                    if buf[p - 1] == b'\n' {
                        break;
                    }
                }
                col = p;
                if p >= last || buf[p] == 0 {
                    eof = true;
                    eol = true;
                }
                continue;
            }
            _ => {
                p += 1;
                continue;
            }
        }
        buf[p] = 0;
        p += 1;
        if p >= last {
            eof = true;
            eol = true;
        }
        let field_end = buf[col..].iter().position(|&b| b == 0).map_or(buf.len(), |e| col + e);
        if field_end == col {
            col = p;
            if column == 0 && eol {
                eol = false;
            }
            continue;
        }
        let (line, c) = pos.line_col(col);
        fields.push((String::from_utf8_lossy(&buf[col..field_end]).into_owned(), line, c));
        column += 1;
        col = p;
        if !eol {
            continue;
        }
        eol = false;
        let line = fields.first().map_or(1, |f| f.1);
        records.push(Record { line, fields: std::mem::take(&mut fields) });
        column = 0;
    }
    records
}

fn parse_record(pos: &Pos, record: &Record, problems: &mut Vec<Problem>) -> Option<LayoutLine> {
    let before = problems.len();
    if record.fields.len() < COLUMNS {
        let (_, line, col) = record.fields.last().cloned().unwrap_or_default();
        problems.push(
            Problem::error("layout::columns", format!("Layout line {}: no enought column: {} of the 6 required", record.line, record.fields.len()))
                .at(pos.at(line, col))
                .with_help("write Opt, Id, Name, Type, IP, Offset and Binary separated by TABs"),
        );
        return None;
    }
    let f = |i: usize| &record.fields[i];
    let at = |i: usize| pos.at(f(i).1, f(i).2);
    let opt = parse_opt(&f(0).0)
        .map_err(|m| {
            problems.push(
                Problem::error("layout::bad_opt", m).at(at(0)).with_help("write `-`, or `P` with optional `E` and `D` (e.g. `P`, `PD`, `PE`, `PED`)"),
            )
        })
        .ok();
    let id = parse_id(&f(1).0)
        .map_err(|m| problems.push(Problem::error("layout::bad_id", m).at(at(1)).with_help("write the phase in hex, `0x01`…`0xF0`")))
        .ok();
    let name = f(2).0.clone();
    if name.len() > 16 {
        problems.push(
            Problem::error("layout::name_too_long", format!("partition name too long [{}]: {name}", name.len()))
                .at(at(2))
                .with_help("names are at most 16 characters"),
        );
    }
    let part_type = parse_type(&f(3).0)
        .map_err(|m| {
            problems.push(
                Problem::error("layout::bad_type", m)
                    .at(at(3))
                    .with_help("one of Binary, Binary(N), FIP, FWU_MDATA, ENV, System, FileSystem, ESP, RawImage"),
            )
        })
        .ok();
    let ip = parse_ip(&f(4).0)
        .map_err(|m| {
            problems.push(Problem::error("layout::bad_ip", m).at(at(4)).with_help("one of none, mmcN, norN, nandN, spi-nandN (N one digit), ram…"))
        })
        .ok();
    let offset = parse_offset(&f(5).0)
        .map_err(|m| {
            problems.push(Problem::error("layout::bad_offset", m).at(at(5)).with_help("write `0x`-prefixed hex, or `boot1`/`boot2` on eMMC"))
        })
        .ok();
    if f(5).0.strip_prefix('0').is_some_and(|r| !r.is_empty() && !r.starts_with(['x', 'X'])) {
        problems.push(
            Problem::warning(
                "layout::octal_offset",
                format!("offset `{}` has a leading 0: U-Boot before 2023.10 reads it as octal, later versions as decimal", f(5).0),
            )
            .at(at(5))
            .with_help("write the offset in `0x` hex"),
        );
    }
    if matches!(offset, Some(TsvOffset::Boot1 | TsvOffset::Boot2)) && ip.as_ref().is_some_and(|ip| !matches!(ip, Ip::Mmc(_))) {
        problems.push(
            Problem::error("layout::hw_partition", format!("`{}` is only valid on an MMC device", f(5).0))
                .at(at(5))
                .with_help("boot1/boot2 are eMMC hardware boot partitions"),
        );
    }
    let binary = record.fields.get(6).map(|b| b.0.clone()).filter(|b| b != "none");
    // A line that drew only warnings is still a line of the layout: U-Boot reads it, and the checks across lines
    // (phase ids, addresses, files) must see it.
    if problems[before..].iter().any(Problem::is_error) {
        return None;
    }
    Some(LayoutLine { line: record.line, opt: opt?, id: id?, name, part_type: part_type?, ip: ip?, offset: offset?, binary })
}

fn parse_opt(text: &str) -> Result<Opt, String> {
    if text == "-" {
        return Ok(Opt::default());
    }
    let mut opt = Opt::default();
    for c in text.chars() {
        match c {
            'P' => opt.select = true,
            'E' => opt.empty = true,
            'D' => opt.delete = true,
            other => return Err(format!("invalid option '{other}' in {text}")),
        }
    }
    if !opt.select {
        return Err(format!("missing 'P' in option {text}"));
    }
    Ok(opt)
}

/// `strict_strtoul(p, 0)`: `0x` hex, leading `0` octal, otherwise decimal; the whole field must be consumed.
fn parse_c_ulong(text: &str) -> Option<u64> {
    let (digits, radix) = if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        (h, 16)
    } else if text.len() > 1 && text.starts_with('0') {
        (&text[1..], 8)
    } else {
        (text, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

fn parse_id(text: &str) -> Result<u32, String> {
    match parse_c_ulong(text) {
        Some(v) if v <= MAX_LINES as u64 => Ok(u32::try_from(v).unwrap_or(u32::MAX)),
        _ => Err(format!("invalid phase value = {text}")),
    }
}

fn parse_type(text: &str) -> Result<TsvType, String> {
    let err = || format!("type parsing error {text}");
    if let Some(rest) = text.strip_prefix("Binary") {
        if rest.is_empty() {
            return Ok(TsvType::Binary);
        }
        let n = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')).ok_or_else(err)?;
        let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
        let copies = digits.parse::<u32>().unwrap_or(0);
        return Ok(TsvType::BinaryCopies(copies));
    }
    Ok(match text {
        "FIP" => TsvType::Fip,
        "FWU_MDATA" => TsvType::FwuMdata,
        "ENV" => TsvType::Env,
        "System" => TsvType::System,
        "FileSystem" => TsvType::FileSystem,
        "ESP" => TsvType::Esp,
        "RawImage" => TsvType::RawImage,
        _ => return Err(err()),
    })
}

fn parse_ip(text: &str) -> Result<Ip, String> {
    if text == "none" {
        return Ok(Ip::None);
    }
    let err = || format!("ip parsing error {text}");
    if text.starts_with("ram") {
        return Ok(Ip::Ram(text.to_string()));
    }
    let (prefix, make): (&str, fn(u8) -> Ip) = if text.starts_with("mmc") {
        ("mmc", Ip::Mmc)
    } else if text.starts_with("nor") {
        ("nor", Ip::Nor)
    } else if text.starts_with("nand") {
        ("nand", Ip::Nand)
    } else if text.starts_with("spi-nand") {
        ("spi-nand", Ip::SpiNand)
    } else {
        return Err(err());
    };
    let rest = &text.as_bytes()[prefix.len()..];
    if rest.len() != 1 || !rest[0].is_ascii_digit() {
        return Err(err());
    }
    Ok(make(rest[0] - b'0'))
}

fn parse_offset(text: &str) -> Result<TsvOffset, String> {
    if let Some(rest) = text.strip_prefix("boot") {
        return match rest {
            "1" => Ok(TsvOffset::Boot1),
            "2" => Ok(TsvOffset::Boot2),
            _ => Err(format!("invalid part '{text}'")),
        };
    }
    let value = if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        (!h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit())).then(|| u64::from_str_radix(h, 16).ok()).flatten()
    } else {
        (!text.is_empty() && text.chars().all(|c| c.is_ascii_digit())).then(|| text.parse::<u64>().ok()).flatten()
    };
    value.map(|v| TsvOffset::Addr(crate::units::Offset::new(v))).ok_or_else(|| format!("invalid offset '{text}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Vec<LayoutLine> {
        let p = parse("t.tsv", text.as_bytes());
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        p.lines
    }

    #[test]
    fn tab_runs_comments_and_crlf() {
        let lines = ok("#Opt\tId\n-\t0x01\tfsbl1-boot\tBinary\tnone\t0x0\ttf-a.stm32\r\n\t\t\n\tP\t0x10\tsdcard\tRawImage\tmmc0\t\t0x0\tsdcard.img");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].line, 4);
        assert_eq!(lines[1].offset, TsvOffset::Addr(crate::units::Offset::ZERO));
        assert_eq!(lines[1].binary.as_deref(), Some("sdcard.img"));
        assert_eq!(lines[0].binary.as_deref(), Some("tf-a.stm32"));
    }

    /// A warning (a leading-0 offset) keeps the line: U-Boot reads it, and the checks across lines see it.
    #[test]
    fn a_line_with_only_a_warning_is_kept() {
        let p = parse("t.tsv", b"P\t0x04\tfsbl1\tBinary\tmmc0\t00017408\ta.stm32\nP\t0x04\tfsbl2\tBinary\tmmc0\t0x00004400\ta.stm32\n");
        assert_eq!(p.lines.len(), 2, "{:?}", p.problems);
        assert_eq!(p.lines[0].name, "fsbl1");
        assert!(p.problems.iter().all(|x| x.code == "layout::octal_offset"), "{:?}", p.problems);
    }

    #[test]
    fn trailing_tab_on_last_line_loses_it() {
        let p = parse("t.tsv", b"-\t0x01\ta\tBinary\tnone\t0x0\tx\nP\t0x10\tb\tRawImage\tmmc0\t0x0\tsd.img\t\n");
        assert_eq!(p.lines.len(), 1, "U-Boot drops the last line");
        assert_eq!(p.problems.iter().filter(|x| x.code == "layout::trailing_tab").count(), 1);
        assert_eq!(p.problems[0].location.as_deref(), Some("t.tsv:2:34"));
    }

    #[test]
    fn trailing_tab_mid_file_misparses_next_line() {
        let p = parse("t.tsv", b"-\t0x01\ta\tBinary\tnone\t0x0\tx\t\n-\t0x03\tb\tBinary\tnone\t0x0\ty\n");
        assert!(p.problems.iter().any(|x| x.code == "layout::trailing_tab"));
        assert!(p.problems.iter().any(|x| x.code == "layout::bad_opt"), "{:?}", p.problems);
    }

    #[test]
    fn column_rules() {
        let p = parse("t.tsv", b"X\t0x1F1\tname-longer-than-16\tBin\tmmc10\tboot3\tf\n");
        let codes: Vec<_> = p.problems.iter().map(|x| x.code).collect();
        assert_eq!(codes, ["layout::bad_opt", "layout::bad_id", "layout::name_too_long", "layout::bad_type", "layout::bad_ip", "layout::bad_offset"]);
        assert!(parse("t", b"E\t1\ta\tBinary\tnone\t0\n").problems[0].message.contains("missing 'P'"));
        assert_eq!(ok("PDE\t017\ta\tBinary(2)\tnand0\t0x0\n")[0].id, 0o17);
        assert!(parse("t", b"P\t1\ta\tBinary\tmmc0\n").problems[0].message.contains("no enought column"));
        assert!(parse("t", b"P 1 a Binary mmc0 0x0 x\n").problems.iter().any(|x| x.code == "layout::spaces"));
    }

    #[test]
    fn stm32_wrapped_layout_is_unwrapped() {
        let body = b"P\t0x10\tsd\tRawImage\tmmc0\t0x0\tsd.img\n";
        let img = crate::inputs::stm32::tests::v1_image(body);
        assert_eq!(ok(std::str::from_utf8(body).unwrap()), parse("t", &img).lines);
        let mut bad = img.clone();
        bad[270] ^= 1;
        assert_eq!(parse("t", &bad).problems[0].code, "layout::bad_header");
    }
}
