//! Buildroot's `.config` (Kconfig syntax: `KEY=value`, `KEY="string"`, `# KEY is not set`) as values, and make
//! variable words (`KEY=VALUE …`, TF-A's `ADDITIONAL_VARIABLES`).

use std::collections::BTreeMap;

use crate::diag::Problem;

/// A value in a `.config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KValue {
    /// `KEY=value` (`y`, a number) or `KEY="string"` (unescaped).
    Set(String),
    /// `# KEY is not set`.
    NotSet,
}

/// A parsed `.config`: every symbol with its value and 1-based line.
#[derive(Debug, Clone, Default)]
pub struct Kconfig {
    /// The file name shown in messages.
    pub name: String,
    /// Symbol → (value, line).
    pub entries: BTreeMap<String, (KValue, usize)>,
}

impl Kconfig {
    /// The value of a set symbol (strings unquoted).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        match self.entries.get(key) {
            Some((KValue::Set(v), _)) => Some(v.as_str()),
            _ => None,
        }
    }

    /// Whether a bool symbol is `y`.
    #[must_use]
    pub fn is_y(&self, key: &str) -> bool {
        self.get(key) == Some("y")
    }

    /// `file:line` of a symbol, or the file name when it is absent.
    #[must_use]
    pub fn location(&self, key: &str) -> String {
        match self.entries.get(key) {
            Some((_, line)) => format!("{}:{line}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Parse a Kconfig `.config`: `KEY=value`, `KEY="quoted \"text\""`, `# KEY is not set`, comments, blank lines.
/// Lines that fit none of these are reported as warnings and skipped.
#[must_use]
pub fn parse_kconfig(name: &str, text: &str) -> (Kconfig, Vec<Problem>) {
    let mut config = Kconfig { name: name.to_string(), entries: BTreeMap::new() };
    let mut problems = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let number = i + 1;
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some(key) = rest.strip_suffix(" is not set")
                && is_symbol(key)
            {
                config.entries.insert(key.to_string(), (KValue::NotSet, number));
            }
            continue;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = line.split_once('=').and_then(|(key, value)| {
            if !is_symbol(key) {
                return None;
            }
            let value = if let Some(inner) = value.strip_prefix('"') { unquote(inner)? } else { value.to_string() };
            Some((key.to_string(), value))
        });
        match parsed {
            Some((key, value)) => {
                config.entries.insert(key, (KValue::Set(value), number));
            }
            None => problems.push(
                Problem::warning("buildroot::config_syntax", format!("line not understood: `{line}`; skipped"))
                    .at(format!("{name}:{number}"))
                    .with_help("a .config line is `KEY=value`, `KEY=\"text\"` or `# KEY is not set`; regenerate it with `make olddefconfig`"),
            ),
        }
    }
    (config, problems)
}

fn is_symbol(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The inside of a Kconfig string after its opening quote: `\"` and `\\` escapes, closing quote last.
fn unquote(inner: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.as_str().trim().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// Kconfig string quoting, the inverse of [`unquote`].
pub(super) fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Make-style `KEY=VALUE` words; a later word overrides an earlier one, as on make's command line.
#[must_use]
pub fn make_variables(words: &str) -> BTreeMap<String, String> {
    words.split_whitespace().filter_map(|w| w.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Set `KEY=VALUE` in a variables string: replace the existing word(s), or append.
pub(super) fn with_variable(words: &str, key: &str, value: &str) -> String {
    let prefix = format!("{key}=");
    let mut out: Vec<String> = Vec::new();
    let mut replaced = false;
    for w in words.split_whitespace() {
        if w.starts_with(&prefix) {
            if !replaced {
                out.push(format!("{key}={value}"));
                replaced = true;
            }
        } else {
            out.push(w.to_string());
        }
    }
    if !replaced {
        out.push(format!("{key}={value}"));
    }
    out.join(" ")
}

/// Remove every `KEY=…` word from a variables string.
pub(super) fn without_variable(words: &str, key: &str) -> String {
    let prefix = format!("{key}=");
    words.split_whitespace().filter(|w| !w.starts_with(&prefix)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kconfig_values_strings_and_unset() {
        let (c, p) = parse_kconfig(".config", "# comment\nA=y\nB=\"x \\\"q\\\" \\\\ y\"\n# C is not set\nD=0x10\n\n");
        assert!(p.is_empty(), "{p:?}");
        assert!(c.is_y("A"));
        assert_eq!(c.get("B"), Some("x \"q\" \\ y"));
        assert_eq!(c.entries.get("C"), Some(&(KValue::NotSet, 4)));
        assert_eq!(c.get("C"), None);
        assert_eq!(c.get("D"), Some("0x10"));
        assert_eq!(c.location("D"), ".config:5");
        let (_, p) = parse_kconfig("c", "garbage line\nE=\"unterminated\n");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].location.as_deref(), Some("c:1"));
    }

    #[test]
    fn quoting_round_trips() {
        let s = "a \"b\" c\\d";
        assert_eq!(unquote(&quote(s)[1..]).as_deref(), Some(s));
    }
}
