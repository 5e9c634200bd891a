//! The programmer's version: parsed from its banner (`STM32CubeProgrammer v2.2.0`, as v2.2.0 prints it) or from
//! `--version` (`STM32CubeProgrammer version: 2.11.0`), and checked against the versions known not to work for
//! STM32MP1.
//!
//! Pure.

use std::{cmp::Ordering, fmt};

use super::parse::{ProgrammerEvent, parse_line};

/// A programmer version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl Version {
    /// A version from its parts.
    #[must_use]
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version { major, minor, patch }
    }

    /// Parse `2.11.0` (a missing patch is 0; anything after the numbers is ignored).
    #[must_use]
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim().trim_start_matches(['v', 'V']);
        let mut nums = text.split('.').map(|p| {
            let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        });
        let major = nums.next()??;
        let minor = nums.next()??;
        let patch = nums.next().flatten().unwrap_or(0);
        Some(Version { major, minor, patch })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A version known not to work for STM32MP1, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownBad {
    /// The version.
    pub version: Version,
    /// Why, with the source.
    pub reason: &'static str,
}

/// Versions known not to work for STM32MP1.
pub const KNOWN_BAD: &[KnownBad] = &[KnownBad {
    version: Version::new(2, 2, 1),
    reason: "STM32CubeProgrammer 2.2.1 does not work for the STM32MP1 platform (ST wiki, quoted by Bootlin's factory-flashing \
guide, which uses 2.2.0 instead); install 2.2.0 or a later release",
}];

/// Find the version in a programmer's output (`--version`, or any output that starts with its banner).
#[must_use]
pub fn parse_output(text: &str) -> Option<Version> {
    text.lines().find_map(|l| match parse_line(l) {
        Some(ProgrammerEvent::Banner(v)) => Version::parse(&v),
        _ => None,
    })
}

/// Why a version must not be used for STM32MP1, if it is known bad.
#[must_use]
pub fn known_bad(version: Version) -> Option<&'static KnownBad> {
    KNOWN_BAD.iter().find(|k| k.version.cmp(&version) == Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_banner_forms() {
        assert_eq!(parse_output("                        STM32CubeProgrammer v2.2.0\n\nUsage :\n"), Some(Version::new(2, 2, 0)));
        assert_eq!(parse_output("STM32CubeProgrammer version: 2.11.0\n"), Some(Version::new(2, 11, 0)));
        assert_eq!(
            parse_output(
                "      -------------------------------------------------------------------\n                        STM32CubeProgrammer v2.17.0-B01\n"
            ),
            Some(Version::new(2, 17, 0))
        );
        assert_eq!(parse_output("Usage: something else\n"), None);
    }

    #[test]
    fn only_2_2_1_is_refused() {
        assert!(known_bad(Version::new(2, 2, 1)).is_some());
        assert!(known_bad(Version::new(2, 2, 0)).is_none());
        assert!(known_bad(Version::new(2, 11, 0)).is_none());
        assert!(Version::new(2, 11, 0) > Version::new(2, 2, 1), "numeric, not textual, order");
    }
}
