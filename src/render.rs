//! Text outputs rendered from templates in `templates/` (minijinja, strict undefined): `flash.tsv`, `genimage.cfg`,
//! `.bmap`, udev rules.
//!
//! Pure: a plan (or values derived from it) in, text out. The templates are embedded in the binary.

use minijinja::{Environment, UndefinedBehavior, syntax::SyntaxConfig, value::Value};
use serde::Serialize;

use crate::{
    bmap::BmapRange,
    flashlayout::{LayoutLine, TsvOffset},
    plan::Plan,
    units::ByteSize,
};

/// A template failed to render: a bug in a template or its context, never a user error.
#[derive(Debug, thiserror::Error)]
#[error("template {template} failed: {source}")]
pub struct RenderError {
    /// Template name.
    pub template: &'static str,
    /// minijinja's error.
    #[source]
    pub source: minijinja::Error,
}

/// The embedded templates, by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("flash.tsv.j2", include_str!("../templates/flash.tsv.j2")),
    ("genimage.cfg.j2", include_str!("../templates/genimage.cfg.j2")),
    ("bmap.xml.j2", include_str!("../templates/bmap.xml.j2")),
    ("udev.rules.j2", include_str!("../templates/udev.rules.j2")),
];

fn hex2(v: u64) -> String {
    format!("{v:#04X}").replacen("0X", "0x", 1)
}

fn tsv_offset(v: Value) -> String {
    match v.as_i64() {
        Some(0) => "0x0".to_string(),
        Some(n) => format!("{n:#010X}").replacen("0X", "0x", 1),
        None => v.to_string(),
    }
}

/// Quote a genimage (libconfuse) string.
fn cfgstr(v: String) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(SyntaxConfig::builder().keep_trailing_newline(true).build().unwrap_or_default());
    env.add_filter("hex2", hex2);
    env.add_filter("tsv_offset", tsv_offset);
    env.add_filter("cfgstr", cfgstr);
    for (name, text) in TEMPLATES {
        env.add_template(name, text).unwrap_or_else(|e| panic!("embedded template {name} does not parse: {e}"));
    }
    env
}

fn render(template: &'static str, ctx: &impl Serialize) -> Result<String, RenderError> {
    let env = environment();
    env.get_template(template).and_then(|t| t.render(minijinja::value::Serde(ctx))).map_err(|source| RenderError { template, source })
}

#[derive(Serialize)]
#[serde(untagged)]
enum TsvOffsetValue {
    Addr(u64),
    Name(String),
}

#[derive(Serialize)]
struct TsvLine {
    opt: String,
    id: u32,
    name: String,
    #[serde(rename = "type")]
    part_type: String,
    ip: String,
    offset: TsvOffsetValue,
    binary: String,
}

/// Render layout lines as `flash.tsv`.
pub fn flash_tsv(lines: &[LayoutLine]) -> Result<String, RenderError> {
    let lines: Vec<TsvLine> = lines
        .iter()
        .map(|l| TsvLine {
            opt: l.opt.to_string(),
            id: l.id,
            name: l.name.clone(),
            part_type: l.part_type.to_string(),
            ip: l.ip.to_string(),
            offset: match l.offset {
                TsvOffset::Addr(a) => TsvOffsetValue::Addr(a.get()),
                other => TsvOffsetValue::Name(other.to_string()),
            },
            binary: l.binary.clone().unwrap_or_else(|| "none".to_string()),
        })
        .collect();
    #[derive(Serialize)]
    struct Ctx {
        lines: Vec<TsvLine>,
    }
    render("flash.tsv.j2", &Ctx { lines })
}

#[derive(Serialize)]
struct CfgPartition {
    name: String,
    offset: u64,
    size: u64,
    type_uuid: String,
    uuid: String,
    bootable: bool,
    image: Option<String>,
}

/// Render the genimage configuration that produces the same image (UUIDs, offsets, sizes and the image size pinned).
pub fn genimage_cfg(plan: &Plan) -> Result<String, RenderError> {
    let partitions: Vec<CfgPartition> = plan
        .partitions
        .iter()
        .map(|p| CfgPartition {
            name: p.name.clone(),
            offset: p.start.get(),
            size: p.size.get(),
            type_uuid: p.type_guid.to_string(),
            uuid: p.unique_guid.to_string(),
            bootable: p.bootable,
            image: p.input.as_ref().map(|i| i.name.clone()),
        })
        .collect();
    #[derive(Serialize)]
    struct Image<'a> {
        name: &'a str,
        size: u64,
        disk_uuid: String,
    }
    #[derive(Serialize)]
    struct Generated<'a> {
        name: &'a str,
        what: &'a str,
    }
    #[derive(Serialize)]
    struct Ctx<'a> {
        board: &'a str,
        image: Image<'a>,
        partitions: Vec<CfgPartition>,
        generated: Vec<Generated<'a>>,
    }
    let image = Image { name: &plan.disk.file_name, size: plan.disk.size.get(), disk_uuid: plan.disk.disk_guid.to_string() };
    let generated = plan.generated.iter().map(|g| Generated { name: &g.name, what: &g.what }).collect();
    render("genimage.cfg.j2", &Ctx { board: &plan.board, image, partitions, generated })
}

/// The `.bmap` file for an image of `image_size` bytes: rendered first with 64 zeros in its checksum field, whose
/// SHA-256 is then written there (bmaptool's own scheme).
pub fn bmap_file(image_size: ByteSize, ranges: &[BmapRange]) -> Result<String, RenderError> {
    let zeros = "0".repeat(64);
    let draft = bmap(image_size, crate::bmap::BLOCK, ranges, &zeros)?;
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(draft.as_bytes()));
    bmap(image_size, crate::bmap::BLOCK, ranges, &digest)
}

/// Render a bmap 2.0 file with `checksum` as its own SHA-256 ([`bmap_file`] computes it).
pub fn bmap(image_size: ByteSize, block_size: u64, ranges: &[BmapRange], checksum: &str) -> Result<String, RenderError> {
    let image_size = image_size.get();
    let blocks = image_size.div_ceil(block_size);
    let mapped: u64 = ranges.iter().map(|r| r.last - r.first + 1).sum();
    #[derive(Serialize)]
    struct Ctx<'a> {
        image_size: u64,
        image_size_human: String,
        block_size: u64,
        blocks: u64,
        mapped: u64,
        mapped_human: String,
        mapped_percent: String,
        checksum: &'a str,
        ranges: &'a [BmapRange],
    }
    let per_mille = (mapped * 1000).checked_div(blocks).unwrap_or(0);
    render(
        "bmap.xml.j2",
        &Ctx {
            image_size,
            image_size_human: crate::units::human_bytes(image_size),
            block_size,
            blocks,
            mapped,
            mapped_human: crate::units::human_bytes(mapped * block_size),
            mapped_percent: format!("{}.{}", per_mille / 10, per_mille % 10),
            checksum,
            ranges,
        },
    )
}

/// Render udev rules for the ST DFU device (ROM, TF-A and U-Boot all enumerate as `0483:df11`).
pub fn udev_rules(group: Option<&str>) -> Result<String, RenderError> {
    #[derive(Serialize)]
    struct Ctx<'a> {
        group: Option<&'a str>,
    }
    render("udev.rules.j2", &Ctx { group })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(hex2(1), "0x01");
        assert_eq!(hex2(0x10), "0x10");
        assert_eq!(tsv_offset(Value::from(0x4400)), "0x00004400");
        assert_eq!(tsv_offset(Value::from(0x1_0598_4400u64)), "0x105984400");
        assert_eq!(tsv_offset(Value::from(0)), "0x0");
        assert_eq!(tsv_offset(Value::from("boot1")), "boot1");
        assert_eq!(cfgstr("a\"b".into()), "\"a\\\"b\"");
    }

    #[test]
    fn all_templates_parse() {
        let _ = environment();
    }

    #[test]
    fn the_file_checksum_is_of_the_file_with_zeros() {
        let ranges = [BmapRange { first: 0, last: 0, sha256: "ab".repeat(32) }];
        let text = bmap_file(ByteSize::new(crate::bmap::BLOCK), &ranges).unwrap();
        let digest = text.split("<BmapFileChecksum>").nth(1).and_then(|t| t.split("</BmapFileChecksum>").next()).unwrap().trim().to_string();
        let zeroed = text.replace(&digest, &"0".repeat(64));
        assert_eq!(digest, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(zeroed.as_bytes())));
    }
}
