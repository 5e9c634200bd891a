//! STM32CubeProgrammer flash layouts (`flash.tsv`): the line model, U-Boot's parser and the §10 linter.
//!
//! Pure. The grammar and rules follow `flashlayout-spec.md` (U-Boot `stm32prog.c`); the text is rendered by
//! `templates/flash.tsv.j2`. The layout a plan implies is made above both, by [`crate::job`]; the layout types and
//! their GPT types are [`crate::guid`]'s.

mod lint;
mod parse;

use std::fmt;

pub use lint::{LintOptions, lint};
pub use parse::parse;

pub use crate::guid::TsvType;
use crate::units::Offset;

/// Column 5.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsvOffset {
    /// eMMC hardware boot partition 1.
    Boot1,
    /// eMMC hardware boot partition 2.
    Boot2,
    /// A byte address.
    Addr(Offset),
}

impl fmt::Display for TsvOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsvOffset::Boot1 => f.write_str("boot1"),
            TsvOffset::Boot2 => f.write_str("boot2"),
            TsvOffset::Addr(a) => write!(f, "{:#010X}", a.get()),
        }
    }
}

/// Column 1, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
