//! Board-description parser: TOML text → [`BoardFile`], every schema problem collected with its span.

use std::ops::Range;

use toml_edit::{Document, Item, TableLike, Value};

use super::{
    BoardFile, BoardSection, BootSection, Chain, FlashMode, FlashSection, Media, MmcDevice, PartType, PartitionSpec, Soc, Spanned, StorageSection,
};
use crate::{
    diag::Problem,
    guid::{self, Guid},
    units::{ByteSize, Offset, parse_size},
};

const BOARD_KEYS: &[&str] = &["name", "soc"];
const BOOT_KEYS: &[&str] = &["chain", "fsbl", "ssbl", "fip", "fsbl_size", "ssbl_size", "fip_size"];
const STORAGE_KEYS: &[&str] = &["media", "device", "image", "size", "uuid", "align"];
const FLASH_KEYS: &[&str] = &["layout", "mode"];
const PARTITION_KEYS: &[&str] = &["name", "image", "size", "offset", "type", "uuid", "bootable"];
const TOP_KEYS: &[&str] = &["board", "boot", "storage", "flash", "partition"];

/// Parse a board description. Returns the model when every required key is present with the right type (other
/// problems may still be reported), and every problem found, with byte spans into `text`.
#[must_use]
pub fn parse_board(text: &str) -> (Option<BoardFile>, Vec<Problem>) {
    let doc = match Document::parse(text.to_string()) {
        Ok(doc) => doc,
        Err(err) => {
            let problem = Problem::error("board::syntax", format!("TOML syntax error: {}", err.message()))
                .with_span(err.span())
                .with_help("fix the TOML syntax; see board/README.md for the schema");
            return (None, vec![problem]);
        }
    };
    let mut w = Walker { problems: Vec::new(), text_len: text.len() };
    let root = doc.as_table();
    w.check_keys(root, TOP_KEYS, "the top level");

    let board = w.section(root, "board").and_then(|t| w.board(t));
    let boot = w.section(root, "boot").and_then(|t| w.boot(t));
    let storage = w.section(root, "storage").and_then(|t| w.storage(t));
    let flash = match w.optional_section(root, "flash") {
        Some(t) => w.flash(t),
        None => w.flash_defaults(),
    };
    let partitions = w.partitions(root);

    let file = match (board, boot, storage, flash, partitions) {
        (Some(board), Some(boot), Some(storage), Some(flash), Some(partitions)) => Some(BoardFile { board, boot, storage, flash, partitions }),
        _ => None,
    };
    (file, w.problems)
}

struct Walker {
    problems: Vec<Problem>,
    text_len: usize,
}

fn item_span(item: &Item) -> Option<Range<usize>> {
    match item {
        Item::Table(t) => t.span(),
        Item::ArrayOfTables(a) => a.span(),
        Item::Value(v) => v.span(),
        Item::None => None,
    }
}

fn type_name(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Table(_) | Item::Value(Value::InlineTable(_)) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::Value(Value::String(_)) => "a string",
        Item::Value(Value::Integer(_)) => "an integer",
        Item::Value(Value::Float(_)) => "a float",
        Item::Value(Value::Boolean(_)) => "a boolean",
        Item::Value(Value::Datetime(_)) => "a date",
        Item::Value(Value::Array(_)) => "an array",
    }
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

    /// Report keys that the schema does not know.
    fn check_keys(&mut self, table: &dyn TableLike, allowed: &[&str], section: &str) {
        for (key, item) in table.iter() {
            if allowed.contains(&key) {
                continue;
            }
            let span = table.key(key).and_then(toml_edit::Key::span).or_else(|| item_span(item));
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

    fn section<'a>(&mut self, root: &'a dyn TableLike, key: &str) -> Option<&'a dyn TableLike> {
        match root.get(key) {
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

    fn optional_section<'a>(&mut self, root: &'a dyn TableLike, key: &str) -> Option<&'a dyn TableLike> {
        root.get(key).and_then(|item| self.as_table(root, key, item))
    }

    fn as_table<'a>(&mut self, root: &'a dyn TableLike, key: &str, item: &'a Item) -> Option<&'a dyn TableLike> {
        match item.as_table_like() {
            Some(t) if !matches!(item, Item::ArrayOfTables(_)) => Some(t),
            _ => {
                let span = root.key(key).and_then(toml_edit::Key::span).or_else(|| item_span(item));
                self.push(
                    Problem::error("board::wrong_type", format!("`{key}` must be a table, found {}", type_name(item)))
                        .with_span(span)
                        .with_help(format!("write it as a `[{key}]` section")),
                );
                None
            }
        }
    }

    fn header_span(table: &dyn TableLike) -> Option<Range<usize>> {
        table.iter().next().and_then(|(k, _)| table.key(k).and_then(toml_edit::Key::span))
    }

    fn missing(&mut self, table: &dyn TableLike, section: &str, key: &str, example: &str) {
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

    fn string(&mut self, t: &dyn TableLike, key: &str, example: &str) -> Option<Spanned<String>> {
        let item = t.get(key)?;
        match item.as_str() {
            Some(s) => Some(Spanned::new(s.to_string(), item_span(item).unwrap_or(0..0))),
            None => {
                self.wrong_type(item, key, "a string", example);
                None
            }
        }
    }

    fn required_string(&mut self, t: &dyn TableLike, section: &str, key: &str, example: &str) -> Option<Spanned<String>> {
        if t.get(key).is_none() {
            self.missing(t, section, key, example);
            return None;
        }
        self.string(t, key, example)
    }

    fn choice<T: Copy>(&mut self, t: &dyn TableLike, key: &str, names: &[&str], values: &[T]) -> Option<Spanned<T>> {
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

    fn required_choice<T: Copy>(&mut self, t: &dyn TableLike, section: &str, key: &str, names: &[&str], values: &[T]) -> Option<Spanned<T>> {
        if t.get(key).is_none() {
            self.missing(t, section, key, &format!("\"{}\"", names[0]));
            return None;
        }
        self.choice(t, key, names, values)
    }

    /// A size: a non-negative integer, or a string such as `256M`, `0x40000`.
    fn size(&mut self, t: &dyn TableLike, key: &str) -> Option<Spanned<u64>> {
        let item = t.get(key)?;
        let span = item_span(item).unwrap_or(0..0);
        let help = "write bytes (`262144`), hex (`0x40000`) or a number with K, M or G (`\"256K\"`, `\"4M\"`)";
        match item {
            Item::Value(Value::Integer(i)) => match u64::try_from(*i.value()) {
                Ok(v) => Some(Spanned::new(v, span)),
                Err(_) => {
                    self.push(Problem::error("board::bad_size", format!("`{key}` must not be negative")).with_span(Some(span)).with_help(help));
                    None
                }
            },
            Item::Value(Value::String(s)) => match parse_size(s.value()) {
                Ok(v) => Some(Spanned::new(v, span)),
                Err(e) => {
                    self.push(Problem::error("board::bad_size", format!("`{key}`: {e}")).with_span(Some(span)).with_help(help));
                    None
                }
            },
            other => {
                self.wrong_type(other, key, "a size", "\"256M\"");
                None
            }
        }
    }

    fn bytesize(&mut self, t: &dyn TableLike, key: &str) -> Option<Spanned<ByteSize>> {
        self.size(t, key).map(|s| Spanned::new(ByteSize::new(s.value), s.span))
    }

    fn guid(&mut self, t: &dyn TableLike, key: &str) -> Option<Spanned<Guid>> {
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

    fn boolean(&mut self, t: &dyn TableLike, key: &str) -> Option<Spanned<bool>> {
        let item = t.get(key)?;
        match item.as_bool() {
            Some(b) => Some(Spanned::new(b, item_span(item).unwrap_or(0..0))),
            None => {
                self.wrong_type(item, key, "true or false", "true");
                None
            }
        }
    }

    fn board(&mut self, t: &dyn TableLike) -> Option<BoardSection> {
        self.check_keys(t, BOARD_KEYS, "[board]");
        let name = self.required_string(t, "[board]", "name", "\"stm32mp157c-dk2\"");
        let soc = self.required_choice(t, "[board]", "soc", Soc::NAMES, &[Soc::Stm32mp13, Soc::Stm32mp15, Soc::Stm32mp25]);
        Some(BoardSection { name: name?, soc: soc? })
    }

    fn boot(&mut self, t: &dyn TableLike) -> Option<BootSection> {
        self.check_keys(t, BOOT_KEYS, "[boot]");
        let chain = self.required_choice(t, "[boot]", "chain", Chain::NAMES, &[Chain::Trusted, Chain::Fip]);
        let fsbl = self.required_string(t, "[boot]", "fsbl", "\"tf-a-stm32mp157c-dk2.stm32\"");
        let ssbl = self.string(t, "ssbl", "\"u-boot.stm32\"");
        let fip = self.string(t, "fip", "\"fip.bin\"");
        let fsbl_size = self.bytesize(t, "fsbl_size");
        let ssbl_size = self.bytesize(t, "ssbl_size");
        let fip_size = self.bytesize(t, "fip_size");
        let chain = chain?;
        let fsbl = fsbl?;
        let mut ok = true;
        match chain.value {
            Chain::Trusted => {
                if ssbl.is_none() && t.get("ssbl").is_none() {
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
            }
            Chain::Fip => {
                if fip.is_none() && t.get("fip").is_none() {
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
            }
        }
        if !ok {
            return None;
        }
        Some(BootSection { chain, fsbl, ssbl, fip, fsbl_size, ssbl_size, fip_size })
    }

    fn storage(&mut self, t: &dyn TableLike) -> Option<StorageSection> {
        self.check_keys(t, STORAGE_KEYS, "[storage]");
        let media = self.required_choice(t, "[storage]", "media", Media::NAMES, &[Media::Sdcard, Media::Emmc]);
        let device = self.string(t, "device", "\"mmc0\"").and_then(|d| self.mmc_device(d));
        let image = self.string(t, "image", "\"sdcard.img\"");
        let size = self.bytesize(t, "size");
        let uuid = self.guid(t, "uuid");
        let align = self.bytesize(t, "align");
        let media = media?;
        let device_given = t.get("device").is_some();
        let image_given = t.get("image").is_some();
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
        Some(FlashSection { layout: Spanned::new("flash.tsv".to_string(), 0..0), mode: Spanned::new(FlashMode::Raw, 0..0) })
    }

    fn flash(&mut self, t: &dyn TableLike) -> Option<FlashSection> {
        self.check_keys(t, FLASH_KEYS, "[flash]");
        let layout_given = t.get("layout").is_some();
        let mode_given = t.get("mode").is_some();
        let layout = self.string(t, "layout", "\"flash.tsv\"");
        let mode = self.choice(t, "mode", FlashMode::NAMES, &[FlashMode::Raw, FlashMode::Partitions]);
        if (layout_given && layout.is_none()) || (mode_given && mode.is_none()) {
            return None;
        }
        let span = Self::header_span(t).unwrap_or(0..0);
        Some(FlashSection {
            layout: layout.unwrap_or_else(|| Spanned::new("flash.tsv".to_string(), span.clone())),
            mode: mode.unwrap_or_else(|| Spanned::new(FlashMode::Raw, span)),
        })
    }

    fn partitions(&mut self, root: &dyn TableLike) -> Option<Vec<PartitionSpec>> {
        let Some(item) = root.get("partition") else {
            return Some(Vec::new());
        };
        let tables: Vec<&dyn TableLike> = match item {
            Item::ArrayOfTables(a) => a.iter().map(|t| t as &dyn TableLike).collect(),
            Item::Value(Value::Array(a)) => {
                let mut v = Vec::new();
                for value in a {
                    match value.as_inline_table() {
                        Some(t) => v.push(t as &dyn TableLike),
                        None => {
                            self.push(
                                Problem::error("board::wrong_type", "each `partition` must be a table")
                                    .with_span(value.span())
                                    .with_help("write each partition as a `[[partition]]` section"),
                            );
                            return None;
                        }
                    }
                }
                v
            }
            other => {
                self.wrong_type(other, "partition", "an array of tables", "[[partition]]");
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

    fn partition(&mut self, t: &dyn TableLike, section: &str) -> Option<PartitionSpec> {
        let name = self.required_string(t, section, "name", "\"rootfs\"");
        let section = match &name {
            Some(n) => format!("[[partition]] `{}`", n.value),
            None => section.to_string(),
        };
        self.check_keys(t, PARTITION_KEYS, &section);
        let image = self.string(t, "image", "\"rootfs.ext4\"");
        let size = self.bytesize(t, "size");
        let offset = self.size(t, "offset").map(|s| Spanned::new(Offset::new(s.value), s.span));
        let part_type = self.part_type(t);
        let uuid = self.guid(t, "uuid");
        let bootable = self.boolean(t, "bootable");
        let given_but_bad = |key: &str, parsed: bool| t.get(key).is_some() && !parsed;
        if given_but_bad("image", image.is_some())
            || given_but_bad("size", size.is_some())
            || given_but_bad("offset", offset.is_some())
            || given_but_bad("type", part_type.is_some())
            || given_but_bad("uuid", uuid.is_some())
            || given_but_bad("bootable", bootable.is_some())
        {
            return None;
        }
        let name = name?;
        let span_start = Self::header_span(t).map_or(name.span.start, |s| s.start);
        let span_end = t.iter().filter_map(|(_, i)| item_span(i)).map(|s| s.end).max().unwrap_or(name.span.end);
        Some(PartitionSpec { span: span_start..span_end, name, image, size, offset, part_type, uuid, bootable })
    }

    fn part_type(&mut self, t: &dyn TableLike) -> Option<Spanned<PartType>> {
        let s = self.string(t, "type", "\"linux\"")?;
        if let Some(g) = guid::type_by_name(&s.value) {
            return Some(Spanned::new(PartType(g), s.span));
        }
        if let Some(g) = Guid::parse(&s.value) {
            return Some(Spanned::new(PartType(g), s.span));
        }
        let names: Vec<&str> = guid::TYPE_NAMES.iter().map(|(n, _)| *n).collect();
        let mut help = format!("write one of {} or a type GUID such as `\"0FC63DAF-8483-4772-8E79-3D69D8477DE4\"`", list(&names));
        if let Some(close) = suggest(&s.value.to_ascii_lowercase(), &names) {
            help = format!("did you mean `{close}`? {help}");
        }
        self.push(
            Problem::error("board::bad_type", format!("`type = \"{}\"` is neither a known type name nor a GUID", s.value))
                .with_span(Some(s.span))
                .with_help(help),
        );
        None
    }
}
