//! Board-description parser: TOML text → [`BoardFile`], every syntax and schema problem collected with its span.
//!
//! The `toml` crate's recoverable parser reads the text (every syntax error of the file, each with its span, and a
//! best-effort table of what did parse); a hand-written walker then checks the schema key by key, so every problem of
//! a description is reported at once (serde would stop at the first).

use std::{borrow::Cow, ops::Range};

use toml::{
    Spanned as TomlSpanned,
    de::{DeTable, DeValue},
};

use super::{
    BoardFile, BoardSection, BootSection, Chain, FlashMode, FlashSection, LineOpt, Media, MmcDevice, PartType, PartitionSpec, ProgrammerSection,
    SizeSpec, Soc, Spanned, StorageSection,
};
use crate::{
    diag::Problem,
    fwu,
    guid::{self, Guid},
    units::{ByteSize, Offset, parse_size},
};

/// A table of the parsed document.
type Table<'a> = DeTable<'a>;
/// A value with its span.
type Item<'a> = TomlSpanned<DeValue<'a>>;

const BOARD_KEYS: &[&str] = &["name", "soc"];
const BOOT_KEYS: &[&str] = &[
    "chain",
    "fsbl",
    "ssbl",
    "fip",
    "fsbl_size",
    "ssbl_size",
    "fip_size",
    "fsbl_type",
    "ssbl_type",
    "fip_type",
    "fwu",
    "metadata",
    "metadata_version",
];
const PROGRAMMER_KEYS: &[&str] = &["fsbl", "ssbl", "fip", "fip_ddr"];
const STORAGE_KEYS: &[&str] = &["media", "device", "image", "size", "uuid", "align"];
const FLASH_KEYS: &[&str] = &["layout", "mode", "legacy_types"];
const PARTITION_KEYS: &[&str] = &["name", "image", "size", "offset", "type", "uuid", "bootable", "opt", "id"];
const TOP_KEYS: &[&str] = &["board", "boot", "storage", "flash", "programmer", "partition"];
/// Lowest and highest Id a partition line may have: 0x01–0x03 are the programmer's RAM lines, 0xF1 and up U-Boot's
/// virtual phases.
const ID_RANGE: std::ops::RangeInclusive<u32> = 0x04..=0xF0;

/// Parse a board description. Returns the model when every required key is present with the right type (other
/// problems may still be reported), and every problem found, with byte spans into `text`.
#[must_use]
pub fn parse_board(text: &str) -> (Option<BoardFile>, Vec<Problem>) {
    let (doc, syntax_errors) = DeTable::parse_recoverable(text);
    let syntax = !syntax_errors.is_empty();
    let mut w = Walker { problems: Vec::new(), text_len: text.len(), after_syntax_error: syntax };
    // The parser may report several errors for one mistake on a line (`image = = "x"`: an extra `=`, then an
    // unexpected value): the first of each line is the cause.
    let mut syntax_errors: Vec<_> = syntax_errors.into_iter().map(|e| (e.span().map_or(0, |s| s.start), e)).collect();
    syntax_errors.sort_by_key(|(start, _)| *start);
    let first_syntax_error = syntax_errors.first().map(|(start, _)| *start);
    let mut last_line = None;
    // Line numbers counted on from the previous error (the errors are sorted): one pass over the text, however
    // many errors there are.
    let (mut counted_to, mut lines_before) = (0, 0);
    for (start, err) in syntax_errors {
        let start = start.min(text.len());
        lines_before += text.as_bytes()[counted_to..start].iter().filter(|&&b| b == b'\n').count();
        counted_to = start;
        let line = lines_before;
        if last_line.replace(line) == Some(line) {
            continue;
        }
        w.push(
            Problem::error("board::syntax", format!("TOML syntax error: {}", err.message().trim_end()))
                .with_span(err.span())
                .with_help("fix the TOML syntax; see board/README.md for the schema"),
        );
    }
    let root = doc.get_ref();
    w.check_top_keys(root, first_syntax_error);

    let board = w.section(root, "board").and_then(|t| w.board(t));
    let boot = w.section(root, "boot").and_then(|t| w.boot(t));
    let storage = w.section(root, "storage").and_then(|t| w.storage(t));
    let flash = match w.optional_section(root, "flash") {
        Some(t) => w.flash(t),
        None => w.flash_defaults(),
    };
    let programmer = match w.optional_section(root, "programmer") {
        Some(t) => w.programmer(t),
        None => Some(ProgrammerSection::default()),
    };
    let partitions = w.partitions(root);
    // Keys of two sections that contradict each other: planning either way would draw problems of the wrong cause.
    let consistent = match (&boot, &flash, &programmer) {
        (Some(boot), Some(flash), Some(programmer)) => w.cross_check(boot, flash, programmer),
        _ => true,
    };

    let file = match (board, boot, storage, flash, programmer, partitions) {
        // A description with a syntax error is never planned: what did parse may be missing keys or whole tables.
        (Some(board), Some(boot), Some(storage), Some(flash), Some(programmer), Some(partitions)) if !syntax && consistent => {
            Some(BoardFile { board, boot, storage, flash, programmer, partitions })
        }
        _ => None,
    };
    (file, w.problems)
}

struct Walker {
    problems: Vec<Problem>,
    text_len: usize,
    /// The file has a syntax error: a key or section that seems missing may be on the broken line, so "missing"
    /// problems are not reported (one cause, one error).
    after_syntax_error: bool,
}

fn item_span(item: &Item) -> Option<Range<usize>> {
    let span = item.span();
    (span.start < span.end).then_some(span)
}

fn type_name(item: &Item) -> &'static str {
    match item.get_ref() {
        DeValue::Table(_) => "a table",
        DeValue::Array(a) if !a.is_empty() && a.iter().all(|v| v.get_ref().is_table()) => "an array of tables",
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
    }
}

/// The entry for `key`: its key (with the key's span) and value.
fn entry<'t, 'a>(table: &'t Table<'a>, key: &str) -> Option<(&'t TomlSpanned<Cow<'a, str>>, &'t Item<'a>)> {
    table.get_key_value(key)
}

/// The value for `key`. A value the parser made up while recovering from a syntax error has an empty span: it is
/// not there (its line has the error already reported).
fn get<'t, 'a>(table: &'t Table<'a>, key: &str) -> Option<&'t Item<'a>> {
    table.get(key).filter(|item| item_span(item).is_some())
}

/// The span of `key`'s name in `table`, else of its value.
fn key_span(table: &Table, key: &str) -> Option<Range<usize>> {
    entry(table, key).and_then(|(k, v)| {
        let s = k.span();
        if s.start < s.end { Some(s) } else { item_span(v) }
    })
}

fn suggest(word: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

fn list(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

impl Walker {
    fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn eof(&self) -> Range<usize> {
        self.text_len..self.text_len
    }

    /// Report unknown top-level keys, except after a syntax error: keys under a broken `[section` header land at the
    /// top level, and the header's error is their cause.
    fn check_top_keys(&mut self, root: &Table, first_syntax_error: Option<usize>) {
        let before = self.problems.len();
        self.check_keys(root, TOP_KEYS, "the top level");
        if let Some(limit) = first_syntax_error {
            let mut index = 0;
            self.problems.retain(|p| {
                index += 1;
                index <= before || p.span.as_ref().is_none_or(|s| s.start < limit)
            });
        }
    }

    /// Report keys that the schema does not know.
    fn check_keys(&mut self, table: &Table, allowed: &[&str], section: &str) {
        for (key, _) in table.iter() {
            let key: &str = key.get_ref();
            if allowed.contains(&key) {
                continue;
            }
            let span = key_span(table, key);
            let mut problem = Problem::error("board::unknown_key", format!("unknown key `{key}` in {section}")).with_span(span);
            problem = match (key, suggest(key, allowed)) {
                ("partition-type" | "partition_type", _) => {
                    Problem::error("board::hybrid_mbr", format!("`{key}` asks for a hybrid MBR, which is refused"))
                        .with_span(problem.span.clone())
                        .with_help(
                            "remove it: a hybrid MBR stopped TF-A/U-Boot from finding `ssbl` (Buildroot commit 4d15114713); \
                     the image always gets a protective MBR, and the GPT type is set with `type`",
                        )
                }
                (_, Some(s)) => problem.with_help(format!("did you mean `{s}`? keys allowed here: {}", list(allowed))),
                (_, None) => problem.with_help(format!("keys allowed here: {}", list(allowed))),
            };
            self.push(problem);
        }
    }

    fn section<'t, 'a>(&mut self, root: &'t Table<'a>, key: &str) -> Option<&'t Table<'a>> {
        match get(root, key) {
            None if self.after_syntax_error => None,
            None => {
                self.push(
                    Problem::error("board::missing_section", format!("missing section [{key}]"))
                        .with_span(Some(self.eof()))
                        .with_help(format!("add a [{key}] table; see board/README.md")),
                );
                None
            }
            Some(item) => self.as_table(root, key, item),
        }
    }

    fn optional_section<'t, 'a>(&mut self, root: &'t Table<'a>, key: &str) -> Option<&'t Table<'a>> {
        get(root, key).and_then(|item| self.as_table(root, key, item))
    }

    fn as_table<'t, 'a>(&mut self, root: &'t Table<'a>, key: &str, item: &'t Item<'a>) -> Option<&'t Table<'a>> {
        match item.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                let span = key_span(root, key);
                self.push(
                    Problem::error("board::wrong_type", format!("`{key}` must be a table, found {}", type_name(item)))
                        .with_span(span)
                        .with_help(format!("write it as a `[{key}]` section")),
                );
                None
            }
        }
    }

    /// The span of the table's first key: where a missing key is reported.
    fn header_span(table: &Table) -> Option<Range<usize>> {
        table.iter().next().map(|(k, _)| k.span()).filter(|s| s.start < s.end)
    }

    fn missing(&mut self, table: &Table, section: &str, key: &str, example: &str) {
        if self.after_syntax_error {
            return;
        }
        let span = Self::header_span(table).unwrap_or(0..0);
        self.push(
            Problem::error("board::missing_key", format!("missing key `{key}` in {section}"))
                .with_span(Some(span))
                .with_help(format!("add `{key} = {example}`")),
        );
    }

    fn wrong_type(&mut self, item: &Item, key: &str, expected: &str, example: &str) {
        self.push(
            Problem::error("board::wrong_type", format!("`{key}` must be {expected}, found {}", type_name(item)))
                .with_span(item_span(item))
                .with_help(format!("write e.g. `{key} = {example}`")),
        );
    }

    fn string(&mut self, t: &Table, key: &str, example: &str) -> Option<Spanned<String>> {
        let item = get(t, key)?;
        match item.get_ref().as_str() {
            Some(s) => Some(Spanned::new(s.to_string(), item_span(item).unwrap_or(0..0))),
            None => {
                self.wrong_type(item, key, "a string", example);
                None
            }
        }
    }

    fn required_string(&mut self, t: &Table, section: &str, key: &str, example: &str) -> Option<Spanned<String>> {
        if get(t, key).is_none() {
            self.missing(t, section, key, example);
            return None;
        }
        self.string(t, key, example)
    }

    fn choice<T: Copy>(&mut self, t: &Table, key: &str, names: &[&str], values: &[T]) -> Option<Spanned<T>> {
        let example = format!("\"{}\"", names[0]);
        let s = self.string(t, key, &example)?;
        match names.iter().position(|n| *n == s.value) {
            Some(i) => Some(Spanned::new(values[i], s.span)),
            None => {
                let mut help = format!("write one of {}", list(names));
                if let Some(close) = suggest(&s.value.to_ascii_lowercase(), names) {
                    help = format!("did you mean `{close}`? {help}");
                }
                self.push(
                    Problem::error("board::bad_value", format!("`{key} = \"{}\"` is not a known value", s.value))
                        .with_span(Some(s.span))
                        .with_help(help),
                );
                None
            }
        }
    }

    fn required_choice<T: Copy>(&mut self, t: &Table, section: &str, key: &str, names: &[&str], values: &[T]) -> Option<Spanned<T>> {
        if get(t, key).is_none() {
            self.missing(t, section, key, &format!("\"{}\"", names[0]));
            return None;
        }
        self.choice(t, key, names, values)
    }

    /// A size: a non-negative integer, or a string such as `256M`, `0x40000`.
    fn size(&mut self, t: &Table, key: &str) -> Option<Spanned<u64>> {
        self.size_with(t, key, "")
    }

    /// [`Walker::size`], with `extra` appended to the help (the words a size key also accepts).
    fn size_with(&mut self, t: &Table, key: &str, extra: &str) -> Option<Spanned<u64>> {
        let item = get(t, key)?;
        let span = item_span(item).unwrap_or(0..0);
        let help = &format!("write bytes (`262144`), hex (`0x40000`) or a number with K, M or G (`\"256K\"`, `\"4M\"`){extra}");
        match item.get_ref() {
            DeValue::Integer(i) => match u64::from_str_radix(i.as_str(), i.radix()) {
                Ok(v) => Some(Spanned::new(v, span)),
                Err(_) if i.as_str().starts_with('-') => {
                    self.push(Problem::error("board::bad_size", format!("`{key}` must not be negative")).with_span(Some(span)).with_help(help));
                    None
                }
                Err(_) => {
                    self.push(Problem::error("board::bad_size", format!("`{key}` is too large")).with_span(Some(span)).with_help(help));
                    None
                }
            },
            DeValue::String(s) => match parse_size(s) {
                Ok(v) => Some(Spanned::new(v, span)),
                Err(e) => {
                    self.push(Problem::error("board::bad_size", format!("`{key}`: {e}")).with_span(Some(span)).with_help(help));
                    None
                }
            },
            _ => {
                self.wrong_type(item, key, "a size", "\"256M\"");
                None
            }
        }
    }

    fn bytesize(&mut self, t: &Table, key: &str) -> Option<Spanned<ByteSize>> {
        self.size(t, key).map(|s| Spanned::new(ByteSize::new(s.value), s.span))
    }

    /// A partition or slot size: bytes, `"auto"` (from the input), or, where `fill` is allowed (a `[[partition]]`),
    /// `"fill"` (to the end of the storage).
    fn size_spec(&mut self, t: &Table, key: &str, fill: bool) -> Option<Spanned<SizeSpec>> {
        if let Some(item) = get(t, key)
            && let DeValue::String(s) = item.get_ref()
        {
            let span = item_span(item).unwrap_or(0..0);
            match s.as_ref() {
                "auto" => return Some(Spanned::new(SizeSpec::Auto, span)),
                "fill" if fill => return Some(Spanned::new(SizeSpec::Fill, span)),
                "fill" => {
                    self.push(
                        Problem::error("board::bad_size", format!("`{key} = \"fill\"`: only the last [[partition]] can fill the storage"))
                            .with_span(Some(span))
                            .with_help(format!("give `{key}` a size such as `\"4M\"`, or `\"auto\"` to size the slot from its file")),
                    );
                    return None;
                }
                _ => {}
            }
        }
        let extra = if fill {
            ", `\"auto\"` (the file's size, rounded up to the alignment) or `\"fill\"` (up to the end of `[storage] size`)"
        } else {
            ", or `\"auto\"` (the file's size, rounded up to the erase unit)"
        };
        self.size_with(t, key, extra).map(|s| Spanned::new(SizeSpec::Bytes(ByteSize::new(s.value)), s.span))
    }

    /// A layout Id: an integer (`0x10`) or a hex string (`"0x10"`), 0x04–0xF0.
    fn line_id(&mut self, t: &Table, key: &str) -> Option<Spanned<u32>> {
        let item = get(t, key)?;
        let span = item_span(item).unwrap_or(0..0);
        let value = match item.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).ok(),
            DeValue::String(s) => parse_size(s).ok(),
            _ => {
                self.wrong_type(item, key, "an integer", "0x10");
                return None;
            }
        };
        match value.and_then(|v| u32::try_from(v).ok()).filter(|v| ID_RANGE.contains(v)) {
            Some(v) => Some(Spanned::new(v, span)),
            None => {
                self.push(
                    Problem::error("board::bad_value", format!("`{key}` must be a layout Id from 0x04 to 0xF0"))
                        .with_span(Some(span))
                        .with_help(
                            "0x01–0x03 are the programmer's RAM lines and 0xF1 and up U-Boot's own phases; ST numbers boot-loader partitions from 0x04 and file systems from 0x10, e.g. `id = 0x10`",
                        ),
                );
                None
            }
        }
    }

    fn metadata_version(&mut self, t: &Table) -> Option<Spanned<fwu::Version>> {
        let item = get(t, "metadata_version")?;
        let span = item_span(item).unwrap_or(0..0);
        let version = match item.get_ref() {
            DeValue::Integer(i) if i.as_str() == "1" => Some(fwu::Version::V1),
            DeValue::Integer(i) if i.as_str() == "2" => Some(fwu::Version::V2),
            DeValue::Integer(_) => None,
            _ => {
                self.wrong_type(item, "metadata_version", "an integer", "2");
                return None;
            }
        };
        if version.is_none() {
            self.push(Problem::error("board::bad_value", "`metadata_version` must be 1 or 2").with_span(Some(span.clone())).with_help(
                "write `2` (TF-A ≥ v2.10, U-Boot with CONFIG_FWU_MDATA_V2, ST's current flow) or `1` (TF-A v2.8, U-Boot with CONFIG_FWU_MDATA_V1)",
            ));
        }
        version.map(|v| Spanned::new(v, span))
    }

    fn guid(&mut self, t: &Table, key: &str) -> Option<Spanned<Guid>> {
        let s = self.string(t, key, "\"E91C4E10-16E6-4C0E-BD0E-77BECF4A3582\"")?;
        match Guid::parse(&s.value) {
            Some(g) => Some(Spanned::new(g, s.span)),
            None => {
                self.push(
                    Problem::error("board::bad_uuid", format!("`{key} = \"{}\"` is not a GUID", s.value))
                        .with_span(Some(s.span))
                        .with_help("write 36 characters in the form `8-4-4-4-12` hex digits, e.g. `\"E91C4E10-16E6-4C0E-BD0E-77BECF4A3582\"`"),
                );
                None
            }
        }
    }

    fn boolean(&mut self, t: &Table, key: &str) -> Option<Spanned<bool>> {
        let item = get(t, key)?;
        match item.get_ref().as_bool() {
            Some(b) => Some(Spanned::new(b, item_span(item).unwrap_or(0..0))),
            None => {
                self.wrong_type(item, key, "true or false", "true");
                None
            }
        }
    }

    fn board(&mut self, t: &Table) -> Option<BoardSection> {
        self.check_keys(t, BOARD_KEYS, "[board]");
        let name = self.required_string(t, "[board]", "name", "\"stm32mp157c-dk2\"");
        let soc = self.required_choice(t, "[board]", "soc", Soc::NAMES, &[Soc::Stm32mp13, Soc::Stm32mp15, Soc::Stm32mp25]);
        Some(BoardSection { name: name?, soc: soc? })
    }

    fn boot(&mut self, t: &Table) -> Option<BootSection> {
        self.check_keys(t, BOOT_KEYS, "[boot]");
        let chain = self.required_choice(t, "[boot]", "chain", Chain::NAMES, &[Chain::Trusted, Chain::Fip]);
        let fsbl = self.required_string(t, "[boot]", "fsbl", "\"tf-a-stm32mp157c-dk2.stm32\"");
        let ssbl = self.string(t, "ssbl", "\"u-boot.stm32\"");
        let fip = self.string(t, "fip", "\"fip.bin\"");
        let fsbl_size = self.size_spec(t, "fsbl_size", false);
        let ssbl_size = self.size_spec(t, "ssbl_size", false);
        let fip_size = self.size_spec(t, "fip_size", false);
        let fsbl_type = self.part_type(t, "fsbl_type");
        let ssbl_type = self.part_type(t, "ssbl_type");
        let fip_type = self.part_type(t, "fip_type");
        let fwu = self.boolean(t, "fwu");
        let metadata = self.string(t, "metadata", "\"metadata.bin\"");
        let metadata_version = self.metadata_version(t);
        let chain = chain?;
        let fsbl = fsbl?;
        let mut ok = true;
        for (key, parsed) in [
            ("fsbl_size", fsbl_size.is_some()),
            ("ssbl_size", ssbl_size.is_some()),
            ("fip_size", fip_size.is_some()),
            ("fsbl_type", fsbl_type.is_some()),
            ("ssbl_type", ssbl_type.is_some()),
            ("fip_type", fip_type.is_some()),
            ("fwu", fwu.is_some()),
            ("metadata", metadata.is_some()),
            ("metadata_version", metadata_version.is_some()),
        ] {
            // A key given with a bad value was reported: planning without it would draw misleading problems.
            ok &= get(t, key).is_none() || parsed;
        }
        let fwu_on = fwu.as_ref().is_some_and(|f| f.value);
        for (key, given) in
            [("metadata", metadata.as_ref().map(|m| m.span.clone())), ("metadata_version", metadata_version.as_ref().map(|m| m.span.clone()))]
        {
            if let Some(span) = given
                && !fwu_on
            {
                self.push(
                    Problem::error("board::conflicting_keys", format!("`{key}` is given but the description has no A/B firmware update"))
                        .with_span(Some(span))
                        .with_help(format!("add `fwu = true` (ST's metadata1/metadata2, fip-a/fip-b set), or remove `{key}`")),
                );
            }
        }
        if let (true, Some(ty)) = (fwu_on, &fip_type)
            && ty.value.guid != guid::FIP
        {
            self.push(
                Problem::error("board::conflicting_keys", format!("`fip_type` is {} but `fwu = true` needs the FIP type", ty.value.describe()))
                    .with_span(Some(ty.span.clone()))
                    .with_help("remove `fip_type`: stm32prog gives fip-a/fip-b the unique GUIDs the FWU metadata names only when their type is FIP"),
            );
        }
        match chain.value {
            Chain::Trusted => {
                if ssbl.is_none() && get(t, "ssbl").is_none() {
                    self.push(
                        Problem::error(
                            "board::missing_key",
                            "missing key `ssbl` in [boot]: the trusted chain loads U-Boot from the `ssbl` partition",
                        )
                        .with_span(Some(chain.span.clone()))
                        .with_help("add `ssbl = \"u-boot.stm32\"`, or use `chain = \"fip\"` with `fip = \"fip.bin\"`"),
                    );
                    ok = false;
                }
                if let Some(f) = &fip {
                    self.push(
                        Problem::error("board::conflicting_keys", "`fip` is given but `chain = \"trusted\"` has no FIP")
                            .with_span(Some(f.span.clone()))
                            .with_help("remove `fip`, or set `chain = \"fip\"` and remove `ssbl`"),
                    );
                }
                if let Some(s) = &fip_size {
                    self.push(
                        Problem::error("board::conflicting_keys", "`fip_size` is given but `chain = \"trusted\"` has no fip slot")
                            .with_span(Some(s.span.clone()))
                            .with_help("remove `fip_size` (the U-Boot slot is sized with `ssbl_size`)"),
                    );
                }
                if let Some(s) = &fip_type {
                    self.push(
                        Problem::error("board::conflicting_keys", "`fip_type` is given but `chain = \"trusted\"` has no fip slot")
                            .with_span(Some(s.span.clone()))
                            .with_help("remove `fip_type` (the U-Boot slot's type is `ssbl_type`)"),
                    );
                }
                if let Some(f) = fwu.as_ref().filter(|f| f.value) {
                    self.push(
                        Problem::error("board::conflicting_keys", "`fwu = true` needs `chain = \"fip\"`: the A/B set updates a FIP")
                            .with_span(Some(f.span.clone()))
                            .with_help("set `chain = \"fip\"` with `fip = \"fip.bin\"`, or remove `fwu`"),
                    );
                }
            }
            Chain::Fip => {
                if fip.is_none() && get(t, "fip").is_none() {
                    self.push(
                        Problem::error("board::missing_key", "missing key `fip` in [boot]: the fip chain loads U-Boot from the `fip` partition")
                            .with_span(Some(chain.span.clone()))
                            .with_help("add `fip = \"fip.bin\"`"),
                    );
                    ok = false;
                }
                if let Some(s) = &ssbl {
                    self.push(
                        Problem::error("board::conflicting_keys", "`ssbl` is given but `chain = \"fip\"` has no ssbl partition")
                            .with_span(Some(s.span.clone()))
                            .with_help("remove `ssbl` (U-Boot is inside the FIP), or set `chain = \"trusted\"`"),
                    );
                }
                if let Some(s) = &ssbl_size {
                    self.push(
                        Problem::error("board::conflicting_keys", "`ssbl_size` is given but `chain = \"fip\"` has no ssbl slot")
                            .with_span(Some(s.span.clone()))
                            .with_help("use `fip_size`"),
                    );
                }
                if let Some(s) = &ssbl_type {
                    self.push(
                        Problem::error("board::conflicting_keys", "`ssbl_type` is given but `chain = \"fip\"` has no ssbl slot")
                            .with_span(Some(s.span.clone()))
                            .with_help("use `fip_type`"),
                    );
                }
            }
        }
        if !ok {
            return None;
        }
        Some(BootSection { chain, fsbl, ssbl, fip, fsbl_size, ssbl_size, fip_size, fsbl_type, ssbl_type, fip_type, fwu, metadata, metadata_version })
    }

    fn programmer(&mut self, t: &Table) -> Option<ProgrammerSection> {
        self.check_keys(t, PROGRAMMER_KEYS, "[programmer]");
        let fsbl = self.string(t, "fsbl", "\"tf-a-stm32mp157f-dk2-usb.stm32\"");
        let ssbl = self.string(t, "ssbl", "\"u-boot.stm32\"");
        let fip = self.string(t, "fip", "\"fip.bin\"");
        let fip_ddr = self.string(t, "fip_ddr", "\"fip-stm32mp257f-dk-ddr-optee-sdcard.bin\"");
        let bad = [("fsbl", fsbl.is_some()), ("ssbl", ssbl.is_some()), ("fip", fip.is_some()), ("fip_ddr", fip_ddr.is_some())]
            .iter()
            .any(|(key, parsed)| get(t, key).is_some() && !parsed);
        (!bad).then_some(ProgrammerSection { fsbl, ssbl, fip, fip_ddr })
    }

    /// Keys of different sections that contradict each other; whether there is none.
    fn cross_check(&mut self, boot: &BootSection, flash: &FlashSection, programmer: &ProgrammerSection) -> bool {
        let before = self.problems.len();
        match boot.chain.value {
            Chain::Trusted => {
                if let Some(f) = &programmer.fip {
                    self.push(
                        Problem::error(
                            "board::conflicting_keys",
                            "`[programmer] fip` is given but `chain = \"trusted\"` sends U-Boot's `.stm32` on Id 0x03",
                        )
                        .with_span(Some(f.span.clone()))
                        .with_help("write `ssbl = \"…\"` in [programmer] instead"),
                    );
                }
            }
            Chain::Fip => {
                if let Some(s) = &programmer.ssbl {
                    self.push(
                        Problem::error("board::conflicting_keys", "`[programmer] ssbl` is given but `chain = \"fip\"` sends a FIP on Id 0x03")
                            .with_span(Some(s.span.clone()))
                            .with_help("write `fip = \"…\"` in [programmer] instead"),
                    );
                }
            }
        }
        if let (Some(legacy), true) = (flash.legacy_types.as_ref().filter(|l| l.value), boot.fwu()) {
            self.push(
                Problem::error(
                    "board::conflicting_keys",
                    "`legacy_types = true` with `fwu = true`: U-Boot before 2022.07 has no `FIP` or `FWU_MDATA` layout type",
                )
                .with_span(Some(legacy.span.clone()))
                .with_help(
                    "remove `legacy_types` (the A/B set needs U-Boot ≥ 2023.10 or ST's fork, whose stm32prog knows `FWU_MDATA` and gives fip-a/fip-b the GUIDs the metadata names), or remove `fwu = true` from [boot]",
                ),
            );
        }
        self.problems.len() == before
    }

    fn storage(&mut self, t: &Table) -> Option<StorageSection> {
        self.check_keys(t, STORAGE_KEYS, "[storage]");
        if let Some(item) = get(t, "media")
            && let Some(m) = item.get_ref().as_str()
            && ["nand", "nor", "spi-nand", "spinand", "nor-sdcard", "nor-emmc"].contains(&m.to_ascii_lowercase().as_str())
        {
            self.push(
                Problem::error("board::bad_value", format!("`media = \"{m}\"`: NAND and NOR flash are not supported"))
                    .with_span(item_span(item))
                    .with_help(
                        "they have no GPT (MTD offsets fixed by TF-A and U-Boot's device tree, UBI volumes for file systems); describe the SD card or the eMMC: `\"sdcard\"` or `\"emmc\"`",
                    ),
            );
            return None;
        }
        let media = self.required_choice(t, "[storage]", "media", Media::NAMES, &[Media::Sdcard, Media::Emmc]);
        let device = self.string(t, "device", "\"mmc0\"").and_then(|d| self.mmc_device(d));
        let image = self.string(t, "image", "\"sdcard.img\"");
        let size = self.bytesize(t, "size");
        let uuid = self.guid(t, "uuid");
        let align = self.bytesize(t, "align");
        let media = media?;
        let device_given = get(t, "device").is_some();
        let image_given = get(t, "image").is_some();
        if (device_given && device.is_none()) || (image_given && image.is_none()) {
            return None;
        }
        let default_span = media.span.clone();
        let device = device.unwrap_or_else(|| Spanned::new(MmcDevice(if media.value == Media::Emmc { 1 } else { 0 }), default_span.clone()));
        let image =
            image.unwrap_or_else(|| Spanned::new(if media.value == Media::Emmc { "emmc.img" } else { "sdcard.img" }.to_string(), default_span));
        Some(StorageSection { media, device, image, size, uuid, align })
    }

    fn mmc_device(&mut self, d: Spanned<String>) -> Option<Spanned<MmcDevice>> {
        let digits = d.value.strip_prefix("mmc").filter(|n| n.len() == 1 && n.as_bytes()[0].is_ascii_digit());
        match digits {
            Some(n) => Some(Spanned::new(MmcDevice(n.as_bytes()[0] - b'0'), d.span)),
            None => {
                self.push(
                    Problem::error("board::bad_value", format!("`device = \"{}\"` is not an MMC device U-Boot knows", d.value))
                        .with_span(Some(d.span))
                        .with_help("write `mmc` and one digit, as in flash.tsv: `\"mmc0\"` (SD on ST boards) or `\"mmc1\"` (eMMC)"),
                );
                None
            }
        }
    }

    fn flash_defaults(&mut self) -> Option<FlashSection> {
        Some(FlashSection { layout: Spanned::new("flash.tsv".to_string(), 0..0), mode: Spanned::new(FlashMode::Raw, 0..0), legacy_types: None })
    }

    fn flash(&mut self, t: &Table) -> Option<FlashSection> {
        self.check_keys(t, FLASH_KEYS, "[flash]");
        let layout_given = get(t, "layout").is_some();
        let mode_given = get(t, "mode").is_some();
        let layout = self.string(t, "layout", "\"flash.tsv\"");
        let mode = self.choice(t, "mode", FlashMode::NAMES, &[FlashMode::Raw, FlashMode::Partitions]);
        let legacy_types = self.boolean(t, "legacy_types");
        if (layout_given && layout.is_none()) || (mode_given && mode.is_none()) || (get(t, "legacy_types").is_some() && legacy_types.is_none()) {
            return None;
        }
        let span = Self::header_span(t).unwrap_or(0..0);
        Some(FlashSection {
            layout: layout.unwrap_or_else(|| Spanned::new("flash.tsv".to_string(), span.clone())),
            mode: mode.unwrap_or_else(|| Spanned::new(FlashMode::Raw, span)),
            legacy_types,
        })
    }

    fn partitions<'t, 'a>(&mut self, root: &'t Table<'a>) -> Option<Vec<PartitionSpec>> {
        let Some(item) = get(root, "partition") else {
            return Some(Vec::new());
        };
        let tables: Vec<&'t Table<'a>> = match item.get_ref() {
            DeValue::Array(a) => {
                let mut v = Vec::new();
                for value in a.iter() {
                    match value.get_ref().as_table() {
                        Some(t) => v.push(t),
                        None => {
                            self.push(
                                Problem::error("board::wrong_type", "each `partition` must be a table")
                                    .with_span(item_span(value))
                                    .with_help("write each partition as a `[[partition]]` section"),
                            );
                            return None;
                        }
                    }
                }
                v
            }
            _ => {
                self.wrong_type(item, "partition", "an array of tables", "[[partition]]");
                return None;
            }
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (index, t) in tables.into_iter().enumerate() {
            let section = format!("[[partition]] #{}", index + 1);
            match self.partition(t, &section) {
                Some(p) => out.push(p),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn partition(&mut self, t: &Table, section: &str) -> Option<PartitionSpec> {
        let name = self.required_string(t, section, "name", "\"rootfs\"");
        let section = match &name {
            Some(n) => format!("[[partition]] `{}`", n.value),
            None => section.to_string(),
        };
        self.check_keys(t, PARTITION_KEYS, &section);
        let image = self.string(t, "image", "\"rootfs.ext4\"");
        let size = self.size_spec(t, "size", true);
        let offset = self.size(t, "offset").map(|s| Spanned::new(Offset::new(s.value), s.span));
        let part_type = self.part_type(t, "type");
        let uuid = self.guid(t, "uuid");
        let bootable = self.boolean(t, "bootable");
        let opt = self.choice(t, "opt", LineOpt::NAMES, &LineOpt::ALL);
        let id = self.line_id(t, "id");
        let given_but_bad = |key: &str, parsed: bool| get(t, key).is_some() && !parsed;
        if given_but_bad("image", image.is_some())
            || given_but_bad("size", size.is_some())
            || given_but_bad("offset", offset.is_some())
            || given_but_bad("type", part_type.is_some())
            || given_but_bad("uuid", uuid.is_some())
            || given_but_bad("bootable", bootable.is_some())
            || given_but_bad("opt", opt.is_some())
            || given_but_bad("id", id.is_some())
        {
            return None;
        }
        let name = name?;
        let span_start = Self::header_span(t).map_or(name.span.start, |s| s.start);
        let span_end = t.iter().filter_map(|(_, i)| item_span(i)).map(|s| s.end).max().unwrap_or(name.span.end);
        Some(PartitionSpec { span: span_start..span_end, name, image, size, offset, part_type, uuid, bootable, opt, id })
    }

    fn part_type(&mut self, t: &Table, key: &str) -> Option<Spanned<PartType>> {
        let s = self.string(t, key, "\"linux\"")?;
        if let Some(g) = guid::type_by_name(&s.value).or_else(|| Guid::parse(&s.value)) {
            return Some(Spanned::new(PartType { guid: g, written: s.value }, s.span));
        }
        let names: Vec<&str> = guid::TYPE_NAMES.iter().map(|(n, _)| *n).collect();
        let mut help = format!("write one of {} or a type GUID such as `\"0FC63DAF-8483-4772-8E79-3D69D8477DE4\"`", list(&names));
        if let Some(close) = suggest(&s.value.to_ascii_lowercase(), &names) {
            help = format!("did you mean `{close}`? {help}");
        }
        self.push(
            Problem::error("board::bad_type", format!("`{key} = \"{}\"` is neither a known type name nor a GUID", s.value))
                .with_span(Some(s.span))
                .with_help(help),
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of(text: &str, p: &Problem) -> usize {
        let start = p.span.as_ref().map_or(usize::MAX, |s| s.start);
        text[..start.min(text.len())].matches('\n').count() + 1
    }

    /// Every problem of a file at once: three syntax errors (an unterminated string, an unquoted size, a doubled
    /// `=` that the parser reports twice) and two schema errors (an unknown key, a bad size) are five problems, each
    /// on its line; the value the parser made up for the broken line draws no error of its own.
    #[test]
    fn syntax_and_schema_errors_are_all_reported_once() {
        let text = "[board]\nname = \"b\"\nsoc = \"stm32mp15\"\ncolour = \"blue\"\n\n[boot]\nchain = \"trusted\"\n\
                    fsbl = \"tf-a.stm32\"\nssbl = \"u-boot.stm32\nssbl_size = 2M\n\n[storage]\nmedia = \"sdcard\"\n\
                    image = = \"sdcard.img\"\n\n[[partition]]\nname = \"rootfs\"\nsize = \"256Q\"\n";
        let (board, problems) = parse_board(text);
        assert!(board.is_none(), "a description with a syntax error is never planned");
        let got: Vec<(&str, usize)> = problems.iter().map(|p| (p.code, line_of(text, p))).collect();
        assert_eq!(
            got,
            vec![("board::syntax", 9), ("board::syntax", 10), ("board::syntax", 14), ("board::unknown_key", 4), ("board::bad_size", 18)],
            "{problems:#?}"
        );
    }

    /// A section on a broken line is not also reported missing.
    #[test]
    fn a_section_lost_to_a_syntax_error_is_not_also_missing() {
        let (_, problems) = parse_board("[board\nname = \"b\"\n");
        assert!(problems.iter().all(|p| p.code == "board::syntax"), "{problems:#?}");
        assert!(!problems.is_empty());
    }
}
