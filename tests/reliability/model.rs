//! A model of valid board descriptions for the property tests: a proptest strategy, the TOML it writes, and where the
//! documented placement rules (DESIGN.md, board/README.md) put every partition, computed independently of the planner.

use proptest::prelude::*;
use stm32mp_imager::{
    board::BoardFile,
    inputs::{InputFacts, stm32},
    plan::InputSet,
};

pub const SECTOR: u64 = 512;
pub const BACKUP_GPT: u64 = 33 * SECTOR;

/// What a `[[partition]]` holds.
#[derive(Debug, Clone)]
pub enum Content {
    /// An input file of this many bytes.
    Image(u64),
    /// Nothing (the partition stays empty).
    Empty,
}

#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub content: Content,
    /// Extra sectors on top of what the content needs; `None`: no `size` key (only with an image).
    pub extra_sectors: Option<u64>,
    /// `offset` given: this many erase units after where the previous partition ends.
    pub gap: Option<u64>,
    pub ty: &'static str,
    pub bootable: bool,
    pub uuid: Option<[u8; 16]>,
}

#[derive(Debug, Clone)]
pub struct BoardSpec {
    pub emmc: bool,
    pub fip: bool,
    pub soc: &'static str,
    pub partitions_mode: bool,
    pub align: Option<u64>,
    pub fsbl_extra: Option<u64>,
    pub second_extra: Option<u64>,
    pub fsbl_len: u64,
    pub second_len: u64,
    pub parts: Vec<Part>,
    /// Explicit `[storage] size`: the size needed plus this many sectors.
    pub size_extra: Option<u64>,
    pub disk_uuid: Option<[u8; 16]>,
}

pub const TYPES: &[&str] = &["linux", "basic-data", "u-boot-env", "esp", "binary", "fwu-mdata"];
const BASES: &[&str] = &["rootfs", "bootfs", "userfs", "vendorfs", "data", "env", "misc"];

pub fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

fn guid_text(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// What [`part`] draws: name base, content, extra sectors, gap, type, bootable, UUID.
pub type PartDraw = (usize, Content, Option<u64>, Option<u64>, usize, bool, Option<[u8; 16]>);

/// One `[[partition]]`: image contents up to `max_len` bytes.
pub fn part(max_len: u64) -> impl Strategy<Value = PartDraw> {
    (
        0..BASES.len(),
        prop_oneof![3 => (1..=max_len).prop_map(Content::Image), 1 => Just(Content::Empty)],
        proptest::option::of(0u64..2048),
        proptest::option::weighted(0.3, 0u64..8),
        0..TYPES.len(),
        any::<bool>(),
        proptest::option::weighted(0.2, any::<[u8; 16]>()),
    )
}

/// A valid board description. `fsbl_len` and `second_len` are the boot stages' sizes (real files in the image
/// tests); `None` draws them.
pub fn board(max_parts: usize, max_len: u64, fsbl_len: Option<u64>, second_len: Option<u64>) -> impl Strategy<Value = BoardSpec> {
    let lens = (
        fsbl_len.map_or_else(|| (600u64..200_000).boxed(), |l| Just(l).boxed()),
        second_len.map_or_else(|| (600u64..1_900_000).boxed(), |l| Just(l).boxed()),
    );
    (
        (any::<bool>(), any::<bool>(), 0usize..3, any::<bool>(), proptest::option::of(0usize..4)),
        (proptest::option::of(0u64..64), proptest::option::of(0u64..64), lens),
        proptest::collection::vec(part(max_len), 0..=max_parts),
        (proptest::option::of(0u64..4096), proptest::option::of(any::<[u8; 16]>())),
    )
        .prop_map(
            |((emmc, fip, soc, partitions_mode, align), (fsbl_extra, second_extra, (fsbl_len, second_len)), parts, (size_extra, disk_uuid))| {
                let soc = if fip { ["stm32mp13", "stm32mp15", "stm32mp25"][soc] } else { "stm32mp15" };
                let align = align.map(|m| if emmc { 0x8_0000 * [1, 2, 4, 8][m] } else { 512 * [1, 8, 2048, 4096][m] });
                let mut seen_rootfs = false;
                let parts = parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, (base, content, extra, gap, ty, bootable, uuid))| {
                        let base = BASES[base];
                        let name = if base == "rootfs" && !seen_rootfs {
                            seen_rootfs = true;
                            "rootfs".to_string()
                        } else {
                            format!("{base}{i}")
                        };
                        let extra_sectors = match content {
                            Content::Empty => Some(extra.unwrap_or(0)),
                            Content::Image(_) => extra,
                        };
                        Part { name, content, extra_sectors, gap, ty: TYPES[ty], bootable, uuid }
                    })
                    .collect();
                BoardSpec {
                    emmc,
                    fip,
                    soc,
                    partitions_mode,
                    align,
                    fsbl_extra: if emmc { None } else { fsbl_extra },
                    second_extra,
                    fsbl_len,
                    second_len,
                    parts,
                    size_extra,
                    disk_uuid,
                }
            },
        )
}

impl BoardSpec {
    pub fn erase(&self) -> u64 {
        if self.emmc { 0x8_0000 } else { SECTOR }
    }
    pub fn align(&self) -> u64 {
        self.align.unwrap_or_else(|| self.erase())
    }
    pub fn fsbl_slot(&self) -> u64 {
        self.fsbl_extra.map_or(256 * 1024, |x| align_up(self.fsbl_len, SECTOR) + x * SECTOR)
    }
    pub fn second_slot(&self) -> u64 {
        let default = if self.fip { 4 << 20 } else { 2 << 20 };
        self.second_extra.map_or(default, |x| align_up(self.second_len, SECTOR) + x * SECTOR)
    }
    pub fn second_name(&self) -> &'static str {
        if self.fip { "fip" } else { "ssbl" }
    }

    /// Every GPT partition the description implies, as `(name, start, size)` in disk order.
    pub fn placement(&self) -> Vec<(String, u64, u64)> {
        let mut out = Vec::new();
        let mut cursor = if self.emmc { 0x8_0000 } else { 0x4400 };
        if !self.emmc {
            // STM32MP25's ROM looks for its A35 FSBL in `fsbla1`/`fsbla2`.
            let names = if self.soc == "stm32mp25" { ["fsbla1", "fsbla2"] } else { ["fsbl1", "fsbl2"] };
            for n in names {
                out.push((n.to_string(), cursor, self.fsbl_slot()));
                cursor += self.fsbl_slot();
            }
        }
        out.push((self.second_name().to_string(), cursor, self.second_slot()));
        cursor += self.second_slot();
        for p in &self.parts {
            let start = match p.gap {
                Some(g) => align_up(cursor, self.erase()) + g * self.erase(),
                None => align_up(cursor, self.align()),
            };
            let size = match (&p.content, p.extra_sectors) {
                (Content::Image(len), None) => align_up(*len, self.align()),
                (Content::Image(len), Some(x)) => align_up(*len, SECTOR) + x * SECTOR,
                (Content::Empty, x) => (x.unwrap_or(0) + 1) * SECTOR,
            };
            out.push((p.name.clone(), start, size));
            cursor = start + size;
        }
        out
    }

    pub fn image_size(&self) -> u64 {
        let end = self.placement().iter().map(|(_, s, l)| s + l).max().unwrap_or(0);
        match self.size_extra {
            Some(x) => align_up(end + BACKUP_GPT, SECTOR) + x * SECTOR,
            None => align_up(end + BACKUP_GPT, 4096),
        }
    }

    /// Input file name of partition `i`.
    pub fn input_name(i: usize) -> String {
        format!("part{i}.bin")
    }

    pub fn toml(&self) -> String {
        let mut t = format!("[board]\nname = \"prop-board\"\nsoc = \"{}\"\n\n[boot]\n", self.soc);
        if self.fip {
            t.push_str("chain = \"fip\"\nfsbl = \"tf-a.stm32\"\nfip = \"fip.bin\"\n");
        } else {
            t.push_str("chain = \"trusted\"\nfsbl = \"tf-a.stm32\"\nssbl = \"u-boot.stm32\"\n");
        }
        if self.fsbl_extra.is_some() {
            t.push_str(&format!("fsbl_size = {}\n", self.fsbl_slot()));
        }
        if self.second_extra.is_some() {
            t.push_str(&format!("{}_size = \"{:#x}\"\n", self.second_name(), self.second_slot()));
        }
        if self.soc == "stm32mp25" {
            // STM32MP25's programmer loads the DDR firmware FIP on Id 0x02 (any FIP will do here).
            t.push_str("\n[programmer]\nfip_ddr = \"fip.bin\"\n");
        }
        t.push_str(&format!("\n[storage]\nmedia = \"{}\"\nimage = \"disk.img\"\n", if self.emmc { "emmc" } else { "sdcard" }));
        if self.size_extra.is_some() {
            t.push_str(&format!("size = {}\n", self.image_size()));
        }
        if let Some(a) = self.align {
            t.push_str(&format!("align = \"{}K\"\n", a / 1024).replace("\"0K\"", "512"));
        }
        if let Some(u) = &self.disk_uuid {
            t.push_str(&format!("uuid = \"{}\"\n", guid_text(u)));
        }
        t.push_str(&format!("\n[flash]\nlayout = \"flash.tsv\"\nmode = \"{}\"\n", if self.partitions_mode { "partitions" } else { "raw" }));
        let placed = self.placement();
        let user = &placed[placed.len() - self.parts.len()..];
        for (i, (p, (_, start, size))) in self.parts.iter().zip(user).enumerate() {
            t.push_str(&format!("\n[[partition]]\nname = \"{}\"\ntype = \"{}\"\n", p.name, p.ty));
            if let Content::Image(_) = p.content {
                t.push_str(&format!("image = \"{}\"\n", Self::input_name(i)));
            }
            if p.extra_sectors.is_some() {
                t.push_str(&format!("size = \"{size:#x}\"\n"));
            }
            if p.gap.is_some() {
                t.push_str(&format!("offset = \"{start:#x}\"\n"));
            }
            if p.bootable {
                t.push_str("bootable = true\n");
            }
            if let Some(u) = &p.uuid {
                t.push_str(&format!("uuid = \"{}\"\n", guid_text(u)));
            }
        }
        t
    }

    /// The size and first bytes of a modelled input, `None` for a name the model does not know.
    fn input(&self, name: &str) -> Option<(u64, Vec<u8>)> {
        Some(if name == "tf-a.stm32" {
            let v = match self.soc {
                "stm32mp13" => 0x0002_0000,
                "stm32mp25" => 0x0002_0200,
                _ => 0x0001_0000,
            };
            (self.fsbl_len, stm32_head(self.fsbl_len, v))
        } else if name == "u-boot.stm32" {
            (self.second_len, stm32_head(self.second_len, 0x0001_0000))
        } else if name == "fip.bin" {
            let mut h = vec![0u8; 56];
            h[..4].copy_from_slice(&0xAA64_0001u32.to_le_bytes());
            (self.second_len, h)
        } else {
            let i: usize = name.strip_prefix("part")?.strip_suffix(".bin")?.parse().ok()?;
            let Some(Part { content: Content::Image(len), .. }) = self.parts.get(i) else { return None };
            (*len, b"data".to_vec())
        })
    }

    fn facts(name: &str, size: u64, head: &[u8]) -> InputFacts {
        let sum = stm32::has_magic(head).then_some(0);
        let head = &head[..head.len().min(usize::try_from(size).unwrap_or(usize::MAX))];
        InputFacts::classify(name, name.into(), size, head, sum, None)
    }

    /// Input facts as `effects::inputs` would read them from well-formed files of the modelled sizes.
    pub fn synthetic_inputs(&self, board: &BoardFile) -> InputSet {
        let mut set = InputSet::default();
        for name in board.input_names() {
            let (size, head) = self.input(&name.value).unwrap_or_else(|| panic!("the model does not know input {}", name.value));
            set.facts.insert(name.value.clone(), Self::facts(&name.value, size, &head));
        }
        set
    }

    /// As [`Self::synthetic_inputs`], with a 4 KiB data file for names the model does not know (mutated descriptions).
    pub fn synthetic_inputs_lenient(&self, board: &BoardFile) -> InputSet {
        let mut set = InputSet::default();
        for name in board.input_names() {
            let (size, head) = self.input(&name.value).unwrap_or((4096, b"data".to_vec()));
            set.facts.insert(name.value.clone(), Self::facts(&name.value, size, &head));
        }
        set
    }
}

/// The first bytes of an STM32 image of `size` bytes whose payload is all zeros (checksum 0).
pub fn stm32_head(size: u64, version: u32) -> Vec<u8> {
    let header_len: u64 = if version == 0x0001_0000 { 256 } else { 512 };
    let mut h = vec![0u8; header_len as usize];
    h[..4].copy_from_slice(&stm32::MAGIC);
    h[0x48..0x4c].copy_from_slice(&version.to_le_bytes());
    h[0x4c..0x50].copy_from_slice(&u32::try_from(size - header_len).unwrap().to_le_bytes());
    if version != 0x0001_0000 {
        h[0x80..0x84].copy_from_slice(&0xFFFF_5453u32.to_le_bytes());
    }
    h
}
