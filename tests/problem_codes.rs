//! The problem-code registry (`src/diag/codes.rs`) is complete and the README documents exactly it: every code the
//! sources use is registered, every registered code is used, and the README's table lists the registry.

use std::collections::BTreeSet;

use stm32mp_imager::diag::codes::CODES;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `"layer::name"` string literals in the sources (outside the registry itself), for the layers the registry knows.
fn used_codes() -> BTreeSet<String> {
    let layers: BTreeSet<&str> = CODES.iter().filter_map(|c| c.id.split_once("::").map(|(l, _)| l)).collect();
    let mut used = BTreeSet::new();
    for entry in walkdir::WalkDir::new(root().join("src")) {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("diag/codes.rs") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        // Every `"` may open a literal (escaped quotes inside strings spoil a simple odd/even split).
        for piece in text.split('"').skip(1) {
            if let Some((layer, name)) = piece.split_once("::")
                && layers.contains(layer)
                && !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                used.insert(piece.to_string());
            }
        }
    }
    used
}

#[test]
fn every_code_used_is_registered_and_every_registered_code_is_used() {
    let registered: BTreeSet<String> = CODES.iter().map(|c| c.id.to_string()).collect();
    let used = used_codes();
    let unregistered: Vec<_> = used.difference(&registered).collect();
    let unused: Vec<_> = registered.difference(&used).collect();
    assert!(unregistered.is_empty(), "codes used in src/ but not in src/diag/codes.rs: {unregistered:?}");
    assert!(unused.is_empty(), "codes in src/diag/codes.rs that no source uses: {unused:?}");
}

#[test]
fn the_readme_documents_exactly_the_registered_codes() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let begin = readme.find("<!-- problem-codes:begin -->").expect("README has no problem-codes table");
    let end = readme.find("<!-- problem-codes:end -->").expect("README's problem-codes table has no end marker");
    let documented: Vec<&str> =
        readme[begin..end].lines().filter_map(|l| l.strip_prefix("| `")).filter_map(|l| l.split_once('`').map(|(code, _)| code)).collect();
    let registered: Vec<&str> = CODES.iter().map(|c| c.id).collect();
    let expected: String = CODES.iter().map(|c| format!("| `{}` | {} |\n", c.id, c.meaning)).collect();
    assert_eq!(documented, registered, "README.md's problem-code table differs from src/diag/codes.rs; it should read:\n{expected}");
}
