//! One line of `STM32_Programmer_CLI` output recognised ([`parse_line`] → [`ProgrammerEvent`]), and the sizes it
//! prints (`237161 Bytes`, `220.82 KB`).
//!
//! Pure. The line shapes are those of the published transcripts (the guide's v2.2.0 success run with a reconnect,
//! its user's TF-A start failure, the v2.11.0 mailing-list session in `flashers.md` §1.2); they are verified against
//! those texts only, not against a live programmer.

/// The line that ends a successful run.
pub const COMPLETED_LINE: &str = "Flashing service completed successfully";

/// A size as the programmer printed it (`237161 Bytes` is exact, `220.82 KB` is rounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintedSize {
    /// Bytes (rounded when the programmer printed KB/MB/GB).
    pub bytes: u64,
    /// Whether the programmer printed the size in bytes.
    pub exact: bool,
}

/// One recognised line of programmer output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgrammerEvent {
    /// `STM32CubeProgrammer v2.2.0` or `STM32CubeProgrammer version: 2.11.0`.
    Banner(String),
    /// `USB speed   : High Speed (480MBit/s)`: a connection block begins.
    UsbSpeed(String),
    /// `Manuf. ID   : STMicroelectronics` (empty when the device is in a bad state).
    Manufacturer(String),
    /// `Product ID  : DFU in HS Mode @Device ID /0x500, …` (ROM/TF-A) or `USB download gadget@…` (U-Boot).
    Product(String),
    /// `SN          : 0042…` (empty when the device is in a bad state).
    Serial(String),
    /// `Device ID   : 0x0500`.
    DeviceId(String),
    /// A bare `IAP` line: the device answered with empty descriptors (`flashers.md` §1.2).
    Iap,
    /// `Start Embedded Flashing service`.
    ServiceStarted,
    /// `Opening and parsing file: NAME`.
    OpeningFile(String),
    /// `File          : NAME`.
    FileName(String),
    /// `Size          : 237161 Bytes` / `220.82 KB`.
    Size(PrintedSize),
    /// `Partition ID  : 0x01`.
    PartitionId(u8),
    /// `Download in Progress:`.
    DownloadStarted,
    /// A progress bar `[=====     ] 42%`.
    Percent(u8),
    /// `File download complete`.
    DownloadComplete,
    /// `Time elapsed during download operation: 00:00:00.444`.
    Elapsed(String),
    /// `RUNNING Program ...`.
    Running,
    /// `PartID:      :0x01`.
    RunningPartition(u8),
    /// `Start operation done successfully at partition 0x01`.
    PartitionStarted(u8),
    /// `Flashlayout Programming ...`.
    LayoutProgramming,
    /// `Flashlayout partition started successfully`.
    LayoutStarted,
    /// `reconnecting the device ...`.
    Reconnecting,
    /// `Flashing service completed successfully`.
    Completed,
    /// `Error: …` (the whole line).
    Error(String),
    /// `Warning: …` (the whole line).
    Warning(String),
}

pub(crate) fn parse_hex_u8(text: &str) -> Option<u8> {
    let t = text.trim().trim_start_matches(':').trim();
    let digits = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"))?;
    let digits: String = digits.chars().take_while(char::is_ascii_hexdigit).collect();
    u8::from_str_radix(&digits, 16).ok()
}

/// Parse `237161 Bytes`, `220.82 KB`, `1.5 MB`, `2 GB` (binary multiples).
#[must_use]
pub fn parse_printed_size(text: &str) -> Option<PrintedSize> {
    let mut parts = text.split_whitespace();
    let number = parts.next()?;
    let unit = parts.next().unwrap_or("B").to_ascii_lowercase();
    let factor: u64 = match unit.as_str() {
        "b" | "byte" | "bytes" => 1,
        "kb" | "kib" | "kbytes" => 1 << 10,
        "mb" | "mib" | "mbytes" => 1 << 20,
        "gb" | "gib" | "gbytes" => 1 << 30,
        _ => return None,
    };
    if factor == 1 {
        return number.parse::<u64>().ok().map(|bytes| PrintedSize { bytes, exact: true });
    }
    let value: f64 = number.parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let bytes = (value * factor as f64).round() as u64;
    Some(PrintedSize { bytes, exact: false })
}

/// The percentage of a progress bar such as `[=====     ] 42%` (the bar may be preceded by text or `\r`).
fn parse_percent(line: &str) -> Option<u8> {
    let open = line.find('[')?;
    let close = open + line[open..].find(']')?;
    let inside = &line[open + 1..close];
    if !inside.chars().all(|c| matches!(c, '=' | ' ' | '>' | '#' | '-' | '*' | '.')) {
        return None;
    }
    let rest = line[close + 1..].trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || !rest[digits.len()..].trim_start().starts_with('%') {
        return None;
    }
    digits.parse::<u32>().ok().map(|p| u8::try_from(p.min(100)).unwrap_or(100))
}

/// Lower-case a key and collapse its spaces: `Partition ID  ` → `partition id`.
fn norm_key(key: &str) -> String {
    key.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase()
}

/// Recognise one line of programmer output (without its line terminator). Unknown lines give `None`.
#[must_use]
pub fn parse_line(raw: &str) -> Option<ProgrammerEvent> {
    // The guide's user comment shows "…" where the programmer prints "...".
    let owned = raw.replace('…', "...");
    let line = owned.trim();
    if line.is_empty() {
        return None;
    }
    if let Some(p) = parse_percent(line) {
        return Some(ProgrammerEvent::Percent(p));
    }
    let lower = line.to_ascii_lowercase();
    if lower.starts_with("error:") || lower.starts_with("error :") {
        return Some(ProgrammerEvent::Error(line.to_string()));
    }
    if lower.starts_with("warning:") || lower.starts_with("warning :") {
        return Some(ProgrammerEvent::Warning(line.to_string()));
    }
    if let Some(rest) = line.strip_prefix("STM32CubeProgrammer") {
        let rest = rest.trim();
        let version = rest.strip_prefix("version:").or_else(|| rest.strip_prefix("version")).unwrap_or(rest).trim();
        let version = version.strip_prefix('v').or_else(|| version.strip_prefix('V')).unwrap_or(version);
        if version.starts_with(|c: char| c.is_ascii_digit()) {
            return Some(ProgrammerEvent::Banner(version.split_whitespace().next().unwrap_or(version).to_string()));
        }
        return None;
    }
    if line == "IAP" {
        return Some(ProgrammerEvent::Iap);
    }
    if let Some(rest) = lower.strip_prefix("start operation done successfully at partition") {
        return parse_hex_u8(rest).map(ProgrammerEvent::PartitionStarted);
    }
    match lower.as_str() {
        "start embedded flashing service" => return Some(ProgrammerEvent::ServiceStarted),
        "download in progress:" => return Some(ProgrammerEvent::DownloadStarted),
        "file download complete" => return Some(ProgrammerEvent::DownloadComplete),
        "flashlayout partition started successfully" => return Some(ProgrammerEvent::LayoutStarted),
        l if l == COMPLETED_LINE.to_ascii_lowercase() => return Some(ProgrammerEvent::Completed),
        _ => {}
    }
    if lower.starts_with("running program") {
        return Some(ProgrammerEvent::Running);
    }
    if lower.starts_with("flashlayout programming") {
        return Some(ProgrammerEvent::LayoutProgramming);
    }
    if lower.starts_with("reconnecting the device") {
        return Some(ProgrammerEvent::Reconnecting);
    }
    let (key, value) = line.split_once(':')?;
    let value = value.trim();
    match norm_key(key).as_str() {
        "opening and parsing file" => Some(ProgrammerEvent::OpeningFile(value.to_string())),
        "file" => Some(ProgrammerEvent::FileName(value.to_string())),
        "size" => parse_printed_size(value).map(ProgrammerEvent::Size),
        "partition id" => parse_hex_u8(value).map(ProgrammerEvent::PartitionId),
        "partid" => parse_hex_u8(value).map(ProgrammerEvent::RunningPartition),
        "time elapsed during download operation" => Some(ProgrammerEvent::Elapsed(value.to_string())),
        "usb speed" => Some(ProgrammerEvent::UsbSpeed(value.to_string())),
        "manuf. id" => Some(ProgrammerEvent::Manufacturer(value.to_string())),
        "product id" => Some(ProgrammerEvent::Product(value.to_string())),
        "sn" => Some(ProgrammerEvent::Serial(value.to_string())),
        "device id" => Some(ProgrammerEvent::DeviceId(value.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_the_guide_parse() {
        use ProgrammerEvent as E;
        assert_eq!(parse_line("                        STM32CubeProgrammer v2.2.0                  "), Some(E::Banner("2.2.0".into())));
        assert_eq!(parse_line("STM32CubeProgrammer version: 2.11.0"), Some(E::Banner("2.11.0".into())));
        assert_eq!(parse_line("SN          : 004200343338510534383330"), Some(E::Serial("004200343338510534383330".into())));
        assert_eq!(parse_line("Opening and parsing file: tf-a-stm32mp157c-dk2.stm32"), Some(E::OpeningFile("tf-a-stm32mp157c-dk2.stm32".into())));
        assert_eq!(parse_line("  Size          : 237161 Bytes"), Some(E::Size(PrintedSize { bytes: 237_161, exact: true })));
        assert_eq!(parse_line("  Size          : 220.82 KB"), Some(E::Size(PrintedSize { bytes: 226_120, exact: false })));
        assert_eq!(parse_line("  Partition ID  : 0x01 "), Some(E::PartitionId(1)));
        assert_eq!(parse_line("[==================================================] 100% "), Some(E::Percent(100)));
        assert_eq!(parse_line("[=====================                             ] 42%"), Some(E::Percent(42)));
        assert_eq!(parse_line("  PartID:      :0x03 "), Some(E::RunningPartition(3)));
        assert_eq!(parse_line("PartID: :0x01"), Some(E::RunningPartition(1)));
        assert_eq!(parse_line("RUNNING Program … "), Some(E::Running));
        assert_eq!(parse_line("Start operation done successfully at partition 0x10"), Some(E::PartitionStarted(0x10)));
        assert_eq!(parse_line("reconnecting the device ..."), Some(E::Reconnecting));
        assert_eq!(parse_line("Flashing service completed successfully"), Some(E::Completed));
        assert_eq!(
            parse_line("Error: Start operation failed at partition 0x01"),
            Some(E::Error("Error: Start operation failed at partition 0x01".into()))
        );
        assert_eq!(
            parse_line("Product ID  : USB download gadget@Device ID /0x500, @Revision ID /0x0000"),
            Some(E::Product("USB download gadget@Device ID /0x500, @Revision ID /0x0000".into()))
        );
        assert_eq!(parse_line("Memory Programming ..."), None);
        assert_eq!(parse_line("[not a bar] 12%"), None);
        assert_eq!(parse_line(""), None);
    }

    #[test]
    fn printed_sizes() {
        assert_eq!(parse_printed_size("1.5 MB"), Some(PrintedSize { bytes: 1_572_864, exact: false }));
        assert_eq!(parse_printed_size("12 parsecs"), None);
        assert_eq!(parse_printed_size("-1 KB"), None);
    }
}
