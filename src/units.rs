//! Typed byte quantities: [`Offset`], [`ByteSize`] and [`Lba`], their parsing (`256M`, `512K`, `0x80000`) and hex display.
//!
//! Pure: no I/O. Every address or size that crosses a module boundary is one of these types, never a bare `u64`.

use std::{
    fmt,
    ops::{Add, Sub},
};

/// The size of a logical block (sector), the unit of an [`Lba`]: 512 bytes on SD cards and eMMC, the only sector size
/// STM32MP boot ROMs use.
pub const SECTOR: ByteSize = ByteSize(512);

/// A byte offset from the start of a device or image. Displayed as `0x` hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Offset(u64);

/// A length in bytes. Displayed as `0x` hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(u64);

/// A logical block address in 512-byte sectors ([`SECTOR`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lba(u64);

impl Offset {
    /// The start of the device.
    pub const ZERO: Offset = Offset(0);

    /// An offset of `bytes` bytes.
    #[must_use]
    pub const fn new(bytes: u64) -> Offset {
        Offset(bytes)
    }
    /// The byte value.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
    /// `self + size`, or `None` on overflow.
    #[must_use]
    pub fn checked_add(self, size: ByteSize) -> Option<Offset> {
        self.0.checked_add(size.0).map(Offset)
    }
    /// `self + size`, stopping at the largest offset (for values from a description that are refused later anyway).
    #[must_use]
    pub fn saturating_add(self, size: ByteSize) -> Offset {
        Offset(self.0.saturating_add(size.0))
    }
    /// The distance from `earlier` to `self`, or `None` when `earlier` comes after `self`.
    #[must_use]
    pub fn checked_sub(self, earlier: Offset) -> Option<ByteSize> {
        self.0.checked_sub(earlier.0).map(ByteSize)
    }
    /// Whether the offset is a multiple of `align` (an `align` of 0 or 1 accepts everything).
    #[must_use]
    pub fn is_aligned(self, align: ByteSize) -> bool {
        align.0 <= 1 || self.0.is_multiple_of(align.0)
    }
    /// Round up to a multiple of `align`, or `None` on overflow.
    #[must_use]
    pub fn align_up(self, align: ByteSize) -> Option<Offset> {
        align_up(self.0, align.0).map(Offset)
    }
    /// The sector this offset falls in (offset / 512).
    #[must_use]
    pub fn lba(self) -> Lba {
        Lba(self.0 / SECTOR.0)
    }
}

impl ByteSize {
    /// Nothing.
    pub const ZERO: ByteSize = ByteSize(0);

    /// A size of `bytes` bytes.
    #[must_use]
    pub const fn new(bytes: u64) -> ByteSize {
        ByteSize(bytes)
    }
    /// The size of `sectors` whole sectors.
    #[must_use]
    pub const fn sectors(sectors: u64) -> ByteSize {
        ByteSize(sectors * SECTOR.0)
    }
    /// The byte value.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
    /// `self + other`, stopping at the largest size.
    #[must_use]
    pub fn saturating_add(self, other: ByteSize) -> ByteSize {
        ByteSize(self.0.saturating_add(other.0))
    }
    /// Round up to a multiple of `align`, or `None` on overflow.
    #[must_use]
    pub fn align_up(self, align: ByteSize) -> Option<ByteSize> {
        align_up(self.0, align.0).map(ByteSize)
    }
    /// Whether the size is a multiple of `align`.
    #[must_use]
    pub fn is_aligned(self, align: ByteSize) -> bool {
        align.0 <= 1 || self.0.is_multiple_of(align.0)
    }
    /// Number of whole sectors (size / 512).
    #[must_use]
    pub fn whole_sectors(self) -> u64 {
        self.0 / SECTOR.0
    }
    /// Human reading of the size, e.g. `256 MiB`, `231.6 KiB`.
    #[must_use]
    pub fn human(self) -> String {
        human_bytes(self.0)
    }
    /// The size as messages show it: the unit a person writes and the hex a BSP engineer checks,
    /// `256 MiB (0x10000000)`, `1536 KiB (0x180000)`; below 1 KiB, `512 B (0x200)`. The unit is the largest in which
    /// the size is a whole number below 10000, which is how sizes are written in a description (`256M`, `1536K`,
    /// `4G`); a size no one would write that way reads `4.2 GiB`.
    #[must_use]
    pub fn describe(self) -> String {
        format!("{} ({self})", written_bytes(self.0))
    }
}

impl Lba {
    /// Sector `sector`.
    #[must_use]
    pub const fn new(sector: u64) -> Lba {
        Lba(sector)
    }
    /// The sector number.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
    /// The byte offset of the start of this sector. A planned LBA always has one; an LBA read from a foreign image
    /// may not (use [`Lba::checked_offset`] there): this one saturates.
    #[must_use]
    pub fn offset(self) -> Offset {
        Offset(self.0.saturating_mul(SECTOR.0))
    }
    /// The byte offset of the start of this sector, or `None` past 2^64 bytes.
    #[must_use]
    pub fn checked_offset(self) -> Option<Offset> {
        self.0.checked_mul(SECTOR.0).map(Offset)
    }
    /// The sector `n` sectors earlier, stopping at sector 0.
    #[must_use]
    pub fn saturating_sub(self, n: u64) -> Lba {
        Lba(self.0.saturating_sub(n))
    }
}

/// `offset + size`. Panics on overflow in debug builds like any integer addition: use [`Offset::checked_add`] on
/// values that come from outside.
impl Add<ByteSize> for Offset {
    type Output = Offset;
    fn add(self, size: ByteSize) -> Offset {
        Offset(self.0 + size.0)
    }
}

/// The distance between two offsets (`end - start`). Panics in debug builds when `start` is the later one: use
/// [`Offset::checked_sub`] when that can happen.
impl Sub<Offset> for Offset {
    type Output = ByteSize;
    fn sub(self, start: Offset) -> ByteSize {
        ByteSize(self.0 - start.0)
    }
}

fn align_up(value: u64, align: u64) -> Option<u64> {
    if align <= 1 {
        return Some(value);
    }
    let rem = value % align;
    if rem == 0 { Some(value) } else { value.checked_add(align - rem) }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Display for Lba {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LBA {}", self.0)
    }
}

/// A byte count in the largest binary unit in which it is a whole number below 10000 (`1536 KiB`, `256 MiB`), else
/// as [`human_bytes`] shows it.
fn written_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        let divisor = 1u64 << shift;
        if bytes >= divisor && bytes.is_multiple_of(divisor) && bytes / divisor < 10_000 {
            return format!("{} {unit}", bytes / divisor);
        }
    }
    if bytes < 10_000 { format!("{bytes} B") } else { human_bytes(bytes) }
}

/// Format a byte count in binary units with at most one decimal (`4 KiB`, `231.6 KiB`, `256 MiB`).
#[must_use]
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut whole = bytes;
    while whole >= 1024 && unit < UNITS.len() - 1 {
        whole /= 1024;
        unit += 1;
    }
    if unit == 0 {
        return format!("{bytes} B");
    }
    let divisor = 1024u64.pow(u32::try_from(unit).unwrap_or(0));
    if bytes.is_multiple_of(divisor) {
        format!("{} {}", bytes / divisor, UNITS[unit])
    } else {
        // Display only; precision loss above 2^52 bytes is irrelevant here.
        #[allow(clippy::cast_precision_loss)]
        let value = bytes as f64 / divisor as f64;
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Why a size or offset string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Nothing to parse.
    #[error("empty size")]
    Empty,
    /// Not a number in any accepted form.
    #[error("`{0}` is not a size")]
    Malformed(String),
    /// The value does not fit in 64 bits.
    #[error("`{0}` is too large")]
    Overflow(String),
}

/// Parse a size or offset as written in a board description.
///
/// Accepted: decimal bytes (`262144`), hex with `0x` (`0x40000`), and a decimal number followed by a binary
/// unit `K`, `M`, `G` or `T` (optionally `KiB`, `MiB`, `GiB`, `TiB`), e.g. `256M` = 256 × 2²⁰.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(SizeError::Empty);
    }
    let malformed = || SizeError::Malformed(text.to_string());
    let overflow = || SizeError::Overflow(text.to_string());
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        let hex = hex.replace('_', "");
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed());
        }
        return u64::from_str_radix(&hex, 16).map_err(|_| overflow());
    }
    let digits_end = t.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(t.len());
    let (digits, suffix) = t.split_at(digits_end);
    let digits = digits.replace('_', "");
    if digits.is_empty() {
        return Err(malformed());
    }
    let number: u64 = digits.parse().map_err(|_| overflow())?;
    let shift = match suffix.trim() {
        "" => 0,
        "K" | "k" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        _ => return Err(malformed()),
    };
    number.checked_mul(1u64 << shift).ok_or_else(overflow)
}

/// Sizes serialize as the hex text they are shown as (`"0x40000"`), like every typed value in JSON output.
impl serde::Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_documented_forms() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("0x80000"), Ok(0x80000));
        assert_eq!(parse_size("0X4400"), Ok(0x4400));
        assert_eq!(parse_size("17408"), Ok(17408));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("1_048_576"), Ok(1 << 20));
    }

    #[test]
    fn rejects_garbage_and_overflow() {
        assert!(matches!(parse_size(""), Err(SizeError::Empty)));
        assert!(matches!(parse_size("12Q"), Err(SizeError::Malformed(_))));
        assert!(matches!(parse_size("0x"), Err(SizeError::Malformed(_))));
        assert!(matches!(parse_size("0xZZ"), Err(SizeError::Malformed(_))));
        assert!(matches!(parse_size("M"), Err(SizeError::Malformed(_))));
        assert!(matches!(parse_size("-5"), Err(SizeError::Malformed(_))));
        assert!(matches!(parse_size("99999999999T"), Err(SizeError::Overflow(_))));
        assert!(matches!(parse_size("0x1ffffffffffffffff"), Err(SizeError::Overflow(_))));
    }

    #[test]
    fn displays_hex_and_human() {
        assert_eq!(Offset::new(0x4400).to_string(), "0x4400");
        assert_eq!(ByteSize::new(256 << 20).human(), "256 MiB");
        assert_eq!(human_bytes(237_161), "231.6 KiB");
        assert_eq!(human_bytes(12), "12 B");
    }

    #[test]
    fn arithmetic() {
        assert_eq!(Offset::new(0x4400) + ByteSize::new(0x40000), Offset::new(0x44400));
        assert_eq!(Offset::new(0x44400) - Offset::new(0x4400), ByteSize::new(0x40000));
        assert_eq!(Offset::new(1).checked_sub(Offset::new(2)), None);
        assert_eq!(Offset::new(u64::MAX).checked_add(ByteSize::new(1)), None);
        assert_eq!(Offset::new(u64::MAX).saturating_add(ByteSize::new(1)), Offset::new(u64::MAX));
        assert_eq!(Lba::new(34).offset(), Offset::new(0x4400));
        assert_eq!(Offset::new(0x4400).lba(), Lba::new(34));
        assert_eq!(Lba::new(u64::MAX).checked_offset(), None);
        assert_eq!(ByteSize::sectors(33), ByteSize::new(33 * 512));
        assert_eq!(ByteSize::new(256 << 20).describe(), "256 MiB (0x10000000)");
        assert_eq!(ByteSize::new(512).describe(), "512 B (0x200)");
        assert_eq!(ByteSize::new(1536 << 10).describe(), "1536 KiB (0x180000)", "the unit a description uses");
        assert_eq!(ByteSize::new(4 << 30).describe(), "4 GiB (0x100000000)");
        assert_eq!(ByteSize::new(0x1_0d98_9000).describe(), "4.2 GiB (0x10d989000)", "no one writes 4412964K");
        assert_eq!(ByteSize::new(237_161).describe(), "231.6 KiB (0x39e69)");
    }

    #[test]
    fn alignment() {
        assert_eq!(Offset::new(0x4401).align_up(SECTOR), Some(Offset::new(0x4600)));
        assert!(Offset::new(0x80000).is_aligned(ByteSize::new(0x80000)));
        assert!(!Offset::new(0x84400).is_aligned(ByteSize::new(0x80000)));
        assert_eq!(Offset::new(u64::MAX).align_up(SECTOR), None);
    }
}
