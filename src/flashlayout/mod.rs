//! STM32CubeProgrammer flash layouts (`flash.tsv`): the line model, U-Boot's parser, the §10 linter, and the layout
//! a [`Plan`](crate::plan::Plan) implies.
//!
//! Pure. The grammar and rules follow `flashlayout-spec.md` (U-Boot `stm32prog.c`); the text is rendered by
//! `templates/flash.tsv.j2`.

mod generate;
mod lint;
mod parse;

use std::fmt;

pub use generate::{BinaryPaths, from_plan};
pub use lint::{LintOptions, lint};
pub use parse::parse;

use crate::guid::{self, Guid};

/// Column 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TsvType {
    /// `Binary`.
    Binary,
    /// `Binary(N)`: U-Boot writes N copies (NAND FSBL only).
    BinaryCopies(u32),
    /// `FIP`.
    Fip,
    /// `FWU_MDATA`.
    FwuMdata,
    /// `ENV`.
    Env,
    /// `System` (bootable Linux).
    System,
    /// `FileSystem`.
    FileSystem,
    /// `ESP`.
    Esp,
    /// `RawImage` (whole device).
    RawImage,
}

impl TsvType {
    /// Whether ST's generator numbers this type in the 0x04–0x0F range.
    #[must_use]
    pub fn is_binary_range(self) -> bool {
        matches!(self, TsvType::Binary | TsvType::BinaryCopies(_) | TsvType::Fip | TsvType::FwuMdata | TsvType::Env)
    }

    /// The GPT type U-Boot gives a partition of this type (`create_gpt_partitions`).
    #[must_use]
    pub fn gpt_type(self) -> Option<Guid> {
        match self {
            TsvType::Binary | TsvType::BinaryCopies(_) => Some(guid::LINUX_RESERVED),
            TsvType::Fip => Some(guid::FIP),
            TsvType::FwuMdata => Some(guid::FWU_MDATA),
            TsvType::Env => Some(guid::UBOOT_ENV),
            TsvType::System | TsvType::FileSystem => Some(guid::LINUX_FS),
            TsvType::Esp => Some(guid::ESP),
            TsvType::RawImage => None,
        }
    }
}

impl fmt::Display for TsvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsvType::Binary => f.write_str("Binary"),
            TsvType::BinaryCopies(n) => write!(f, "Binary({n})"),
            TsvType::Fip => f.write_str("FIP"),
            TsvType::FwuMdata => f.write_str("FWU_MDATA"),
            TsvType::Env => f.write_str("ENV"),
            TsvType::System => f.write_str("System"),
            TsvType::FileSystem => f.write_str("FileSystem"),
            TsvType::Esp => f.write_str("ESP"),
            TsvType::RawImage => f.write_str("RawImage"),
        }
    }
}

/// The layout type that makes `stm32prog` create a partition with this GPT type and bootable flag, if any.
#[must_use]
pub fn tsv_type_for(type_guid: Guid, bootable: bool) -> Option<TsvType> {
    match type_guid {
        g if g == guid::LINUX_FS => Some(if bootable { TsvType::System } else { TsvType::FileSystem }),
        g if g == guid::FIP => Some(TsvType::Fip),
        g if g == guid::UBOOT_ENV => Some(TsvType::Env),
        g if g == guid::ESP => Some(TsvType::Esp),
        g if g == guid::FWU_MDATA => Some(TsvType::FwuMdata),
        g if g == guid::LINUX_RESERVED => Some(TsvType::Binary),
        _ => None,
    }
}

/// Column 5.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Ip {
    /// Not a storage target (RAM-loaded programmer stages).
    None,
    /// `mmcD`.
    Mmc(u8),
    /// `norD`.
    Nor(u8),
    /// `nandD`.
    Nand(u8),
    /// `spi-nandD`.
    SpiNand(u8),
    /// `ram…`.
    Ram(String),
}

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ip::None => f.write_str("none"),
            Ip::Mmc(n) => write!(f, "mmc{n}"),
            Ip::Nor(n) => write!(f, "nor{n}"),
            Ip::Nand(n) => write!(f, "nand{n}"),
            Ip::SpiNand(n) => write!(f, "spi-nand{n}"),
            Ip::Ram(s) => f.write_str(s),
        }
    }
}

/// Column 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TsvOffset {
    /// eMMC hardware boot partition 1.
    Boot1,
    /// eMMC hardware boot partition 2.
    Boot2,
    /// A byte address.
    Addr(u64),
}

impl fmt::Display for TsvOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsvOffset::Boot1 => f.write_str("boot1"),
            TsvOffset::Boot2 => f.write_str("boot2"),
            TsvOffset::Addr(a) => write!(f, "{a:#010X}").map(|()| ()),
        }
    }
}

/// Column 1, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Opt {
    /// `P`: program.
    pub select: bool,
    /// `E`: keep empty.
    pub empty: bool,
    /// `D`: erase first.
    pub delete: bool,
}

impl fmt::Display for Opt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.select {
            return f.write_str("-");
        }
        f.write_str("P")?;
        if self.empty {
            f.write_str("E")?;
        }
        if self.delete {
            f.write_str("D")?;
        }
        Ok(())
    }
}

/// One data line of a layout.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LayoutLine {
    /// 1-based line number in the file (0 for generated lines not yet written).
    pub line: usize,
    /// Column 1.
    pub opt: Opt,
    /// Column 2 (phase).
    pub id: u32,
    /// Column 3.
    pub name: String,
    /// Column 4.
    pub part_type: TsvType,
    /// Column 5.
    pub ip: Ip,
    /// Column 6.
    pub offset: TsvOffset,
    /// Column 7 (host only): path relative to the layout, or `none`.
    pub binary: Option<String>,
}
